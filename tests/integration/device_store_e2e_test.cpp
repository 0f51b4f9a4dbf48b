// `mona embed --device`: a store records the backend it was begun on (parameter "backend", absent for the CPU
// reference backend, so CPU stores keep their bytes and older stores read as cpu), and a resume on another
// backend is refused by name unless --allow-mixed-backends. Runs on ggml's CPU device (the device backend's code
// path in host memory), so it needs no GPU.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "integration/run_util.hpp"
#include "integration/tiny_model_util.hpp"

namespace mona {
namespace {

namespace fs = std::filesystem;

struct Out {
    int code = -1;
    std::string err;
};

class DeviceStoreE2eTest : public ::testing::Test {
   protected:
    static void SetUpTestSuite() {
        for (const char* var : {"MONA_MODEL", "MONA_SAE", "MONA_KEEP", "MONA_SHARD", "MONA_SHARD_ROWS", "MONA_VALUES"})
            ::unsetenv(var);
        dir_ = fixtures::make_temp_dir("mona-device-store-e2e");
        model_ = dir_ + "/tiny.gguf";
        ASSERT_TRUE(fixtures::write_tiny_llama_gguf(model_, fixtures::TinyModelSpec{}).ok());
        auto sae = fixtures::write_tiny_sparsify_sae(dir_ + "/sae", 64, 256, 8, 7, "layers.1");
        ASSERT_TRUE(sae.ok()) << sae.status().message();
        sae_dir_ = sae->folder;
        pool_ = dir_ + "/pool.jsonl";
        ASSERT_TRUE(fixtures::write_jsonl(pool_, fixtures::make_labelled_pool(3)).ok());
    }
    static void TearDownTestSuite() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    static Out mona(const std::string& args) {
        const std::string err = dir_ + "/stderr.txt";
        const std::string cmd = "OMP_WAIT_POLICY=passive " + fixtures::shell_quote(MONA_BIN) + " " + args +
                                " --quiet --threads 1 >/dev/null 2>" + fixtures::shell_quote(err);
        const int status = std::system(cmd.c_str());
        return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, fixtures::read_file(err)};
    }
    static std::string embed_args(const std::string& store, const std::string& extra) {
        return "embed --model " + fixtures::shell_quote(model_) + " --sae " + fixtures::shell_quote(sae_dir_) +
               " --pool " + fixtures::shell_quote(pool_) + " --values f32 --out " + fixtures::shell_quote(store) + " " +
               extra;
    }
    static nlohmann::json params(const std::string& store) {
        return nlohmann::json::parse(fixtures::read_file(store + "/manifest.json")).at("params");
    }

    static inline std::string dir_, model_, sae_dir_, pool_;
};

TEST_F(DeviceStoreE2eTest, CpuStoresRecordNoBackendAndRefuseTheDevice) {
    const std::string store = dir_ + "/cpu-store";
    Out first = mona(embed_args(store, "--device cpu"));
    ASSERT_EQ(0, first.code) << first.err;
    EXPECT_FALSE(params(store).contains("backend")) << "CPU stores keep the parameters older stores have";
    // The default (--device auto) on a build without a GPU is the CPU backend: the same store resumes.
    Out resumed = mona(embed_args(store, ""));
    EXPECT_EQ(0, resumed.code) << resumed.err;
    Out device = mona(embed_args(store, "--device CPU --sae-dtype f32"));
    EXPECT_EQ(1, device.code);
    EXPECT_NE(std::string::npos, device.err.find("begun on backend cpu")) << device.err;
    EXPECT_NE(std::string::npos, device.err.find("ggml:CPU:f32")) << device.err;
    EXPECT_NE(std::string::npos, device.err.find("--allow-mixed-backends")) << device.err;
    Out mixed = mona(embed_args(store, "--device CPU --sae-dtype f32 --allow-mixed-backends"));
    EXPECT_EQ(0, mixed.code) << mixed.err;
    EXPECT_FALSE(params(store).contains("backend")) << "a mixed store keeps the name it was begun with";
}

TEST_F(DeviceStoreE2eTest, DeviceStoresRecordTheirBackendAndRefuseTheCpu) {
    const std::string store = dir_ + "/device-store";
    Out first = mona(embed_args(store, "--device CPU --sae-dtype f32"));
    ASSERT_EQ(0, first.code) << first.err;
    EXPECT_EQ("ggml:CPU:f32", params(store).value("backend", std::string()));
    Out cpu = mona(embed_args(store, "--device cpu"));
    EXPECT_EQ(1, cpu.code);
    EXPECT_NE(std::string::npos, cpu.err.find("begun on backend ggml:CPU:f32")) << cpu.err;
    EXPECT_NE(std::string::npos, cpu.err.find("--device CPU")) << cpu.err;
    // Another weight type on the same device is another backend too (its floats differ).
    Out f16 = mona(embed_args(store, "--device CPU --sae-dtype f16"));
    EXPECT_EQ(1, f16.code);
    EXPECT_NE(std::string::npos, f16.err.find("ggml:CPU:f16")) << f16.err;
    Out unknown = mona(embed_args(dir_ + "/nowhere", "--device NoSuchGpu0"));
    EXPECT_EQ(1, unknown.code);
    EXPECT_NE(std::string::npos, unknown.err.find("NoSuchGpu0")) << unknown.err;
}

}  // namespace
}  // namespace mona
