// The CPU backend mona runs on: no code path may reach ggml's AMX kernels (they crash on many AMX machines,
// upstream llama.cpp #20824), and weight repacking is used only when asked for.
//
// These checks fail on every machine if the default load parameters change; the ones on the backend's compiled-in
// features and buffer types fail on an AMX machine if the build let the compiler target AMX again.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "capture/cpu_variant.hpp"
#include "capture/session.hpp"
#include "integration/tiny_model_util.hpp"

namespace mona {
namespace {

bool names_amx(const std::string& text) { return text.find("AMX") != std::string::npos; }

TEST(CpuBackendTest, ModelsLoadWithoutExtraBufferTypesByDefault) {
    SessionOptions options;
    const ModelLoadSettings settings = model_load_settings(options, /*vocab_only=*/false);
    EXPECT_FALSE(settings.use_extra_bufts) << "repacking (and with it any AMX buffer) must be opt-in";
    EXPECT_FALSE(settings.vocab_only);
    EXPECT_EQ(0, settings.n_gpu_layers);
    options.cpu_repack = true;
    EXPECT_TRUE(model_load_settings(options, false).use_extra_bufts);
    EXPECT_TRUE(model_load_settings(options, /*vocab_only=*/true).vocab_only);
}

TEST(CpuBackendTest, TheBuildHasNoAmxKernels) {
    const std::string features = cpu_backend_features();
    ASSERT_FALSE(features.empty()) << "the CPU backend reports no features";
    EXPECT_EQ(std::string::npos, features.find("AMX_INT8=1")) << features;
    for (const std::string& name : cpu_extra_buffer_types()) EXPECT_FALSE(names_amx(name)) << name;
}

TEST(CpuBackendTest, NoWeightBufferIsAnAmxBufferEvenWithRepacking) {
    const std::string dir = fixtures::make_temp_dir("mona-cpu-backend-test");
    ASSERT_FALSE(dir.empty());
    const std::string model = dir + "/tiny.gguf";
    ASSERT_TRUE(fixtures::write_tiny_llama_gguf(model, fixtures::TinyModelSpec{}).ok());
    for (bool repack : {false, true}) {
        SessionOptions options;
        options.model_path = model;
        options.n_threads = 1;
        options.cpu_repack = repack;
        Result<Session> session = Session::open(options);
        ASSERT_TRUE(session.ok()) << session.status().message();
        const std::vector<std::string>& buffers = session->info().weight_buffers;
        ASSERT_FALSE(buffers.empty()) << "llama.cpp reported no model buffer (log format changed?)";
        for (const std::string& name : buffers) {
            EXPECT_FALSE(names_amx(name)) << name << " (repack " << repack << ")";
            // F32 weights are never repacked, and without --cpu-repack nothing is.
            EXPECT_EQ(std::string::npos, name.find("REPACK")) << name;
        }
        // Rows still come out: the session works with either setting.
        Sample sample;
        sample.format = InputFormat::kText;
        sample.text = "hello world";
        Result<TokenizedSample> tokens = session->tokenize(sample);
        ASSERT_TRUE(tokens.ok()) << tokens.status().message();
        std::vector<float> rows;
        ASSERT_TRUE(session->capture({&tokens->tokens}, 1, rows).ok());
        EXPECT_EQ(tokens->tokens.size() * static_cast<size_t>(session->info().n_embd), rows.size());
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

TEST(CpuBackendTest, TheVariantPickerTakesTheBestScoreButNeverAmx) {
    // Scores as ggml's x86 variants give them on a Sapphire Rapids CPU (ggml-cpu/arch/x86/cpu-feats.cpp: one point
    // per feature the module needs and the CPU has; 0 when the CPU lacks one).
    const std::vector<CpuVariantCandidate> spr = {{"x64", 1},        {"haswell", 64},          {"skylakex", 128},
                                                  {"icelake", 1024}, {"sapphirerapids", 8192}, {"zen4", 2048}};
    EXPECT_EQ(5, pick_cpu_variant(spr)) << "zen4 (AVX-512 VNNI/BF16), not sapphirerapids (AMX)";
    EXPECT_FALSE(cpu_variant_allowed("sapphirerapids"));
    EXPECT_TRUE(cpu_variant_allowed("skylakex"));
    EXPECT_EQ(-1, pick_cpu_variant({{"sapphirerapids", 9}, {"haswell", 0}})) << "no allowed module runs here";
    EXPECT_EQ(-1, pick_cpu_variant({}));
    EXPECT_EQ(0, pick_cpu_variant({{"haswell", 7}, {"alderlake", 7}})) << "first on ties";
}

TEST(CpuBackendTest, APortableBuildLoadsAnAllowedVariantForThisCpu) {
    const std::string features = cpu_backend_features();  // starts llama.cpp, which loads the variant
    const CpuVariantState& state = cpu_variant_state();
    if (!state.dynamic) GTEST_SKIP() << "built without -DMONA_CPU_ALL_VARIANTS=ON: the CPU backend is linked in";
    ASSERT_TRUE(state.error.empty()) << state.error;
    EXPECT_TRUE(cpu_variant_allowed(state.tag)) << state.tag;
    EXPECT_NE(std::string::npos, state.path.find("libggml-cpu-" + state.tag)) << state.path;
    EXPECT_FALSE(features.empty());
    EXPECT_EQ(std::string::npos, features.find("AMX_INT8=1")) << features;
}

}  // namespace
}  // namespace mona
