// The device EmbedBackend (embed/device_backend.hpp) on ggml's CPU device against the CPU reference backend on
// the tiny model: the layer rows go device to device into the SAE graph, and every sample's pooled vector has the
// reference's latents with values within 1e-5 relative (F32 SAE weights), for both pooling modes and with samples
// spread over several decode batches. The RPC variant (the same path through another process) is in
// rpc_backend_test.cpp.
#include "embed/device_backend.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "integration/tiny_model_util.hpp"

namespace mona {
namespace {

std::vector<TokenizedSample> tokenize_pool(Session& session) {
    std::vector<TokenizedSample> out;
    for (const fixtures::LabelledSample& ls : fixtures::make_labelled_pool(3)) {
        Sample s;
        s.format = InputFormat::kMessages;
        s.turns.push_back({Role::kUser, ls.user});
        s.turns.push_back({Role::kAssistant, ls.assistant});
        Result<TokenizedSample> t = session.tokenize(s);
        EXPECT_TRUE(t.ok()) << t.status().message();
        if (t.ok()) out.push_back(std::move(*t));
    }
    return out;
}

std::vector<EmbeddedSample> run_all(std::unique_ptr<EmbedBackend> backend, const std::vector<TokenizedSample>& pool) {
    std::vector<EmbeddedSample> out;
    Embedder embedder(std::move(backend), [&](EmbeddedSample& item) -> Status {
        out.push_back(std::move(item));
        return Status();
    });
    for (size_t i = 0; i < pool.size(); ++i) EXPECT_TRUE(embedder.add(i, pool[i]).ok());
    EXPECT_TRUE(embedder.flush().ok());
    return out;
}

TEST(DeviceBackendTest, CpuDeviceGivesTheCpuBackendsVectors) {
    const std::string dir = fixtures::make_temp_dir("mona-device-backend-test");
    ASSERT_FALSE(dir.empty());
    const std::string model = dir + "/tiny.gguf";
    ASSERT_TRUE(fixtures::write_tiny_llama_gguf(model, fixtures::TinyModelSpec{}).ok());
    auto tiny_sae = fixtures::write_tiny_sparsify_sae(dir + "/sae", 64, 256, 8, 99, "");
    ASSERT_TRUE(tiny_sae.ok()) << tiny_sae.status().message();
    auto sae = SaeModel::open(SaeOpenOptions{tiny_sae->folder});
    ASSERT_TRUE(sae.ok()) << sae.status().message();
    SessionOptions sopts;
    sopts.model_path = model;
    sopts.n_threads = 1;
    sopts.batch_tokens = 128;  // several batches over the pool
    sopts.max_tokens = 256;
    auto session = Session::open(sopts);
    ASSERT_TRUE(session.ok()) << session.status().message();
    const std::vector<TokenizedSample> pool = tokenize_pool(*session);
    ASSERT_GE(pool.size(), 12u);

    for (PoolingMode mode : {PoolingMode::kMean, PoolingMode::kSum}) {
        EmbedOptions eopts;
        eopts.layer = 2;
        eopts.pooling = mode;
        const std::vector<EmbeddedSample> want = run_all(make_cpu_backend(*session, &*sae, eopts), pool);
        DeviceBackendOptions dopts;
        dopts.device = "CPU";
        dopts.weight_type = SaeWeightType::kF32;
        dopts.chunk_bytes = 48 * 256 * 4;  // 48-row chunks: chunks cut through samples
        std::string name;
        auto device = make_device_backend(*session, *sae, eopts, dopts, &name);
        ASSERT_TRUE(device.ok()) << device.status().message();
        EXPECT_EQ("ggml:CPU:f32", name);
        const std::vector<EmbeddedSample> got = run_all(std::move(*device), pool);
        ASSERT_EQ(want.size(), got.size());
        for (size_t s = 0; s < want.size(); ++s) {
            EXPECT_EQ(want[s].tag, got[s].tag);
            EXPECT_EQ(want[s].n_pooled, got[s].n_pooled);
            ASSERT_FALSE(want[s].pooled.idx.empty()) << "sample " << s;
            ASSERT_EQ(want[s].pooled.idx, got[s].pooled.idx) << "sample " << s;
            for (size_t i = 0; i < want[s].pooled.val.size(); ++i) {
                const double a = want[s].pooled.val[i];
                const double b = got[s].pooled.val[i];
                EXPECT_LE(std::fabs(a - b), 1e-5 * std::fabs(a)) << "sample " << s << " entry " << i;
            }
        }
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

TEST(DeviceBackendTest, RefusesRowsAndUnknownDevicesByName) {
    const std::string dir = fixtures::make_temp_dir("mona-device-backend-test");
    const std::string model = dir + "/tiny.gguf";
    ASSERT_TRUE(fixtures::write_tiny_llama_gguf(model, fixtures::TinyModelSpec{}).ok());
    auto tiny_sae = fixtures::write_tiny_sparsify_sae(dir + "/sae", 64, 128, 4, 5, "");
    ASSERT_TRUE(tiny_sae.ok());
    auto sae = SaeModel::open(SaeOpenOptions{tiny_sae->folder});
    ASSERT_TRUE(sae.ok());
    SessionOptions sopts;
    sopts.model_path = model;
    sopts.n_threads = 1;
    auto session = Session::open(sopts);
    ASSERT_TRUE(session.ok());
    EmbedOptions eopts;
    eopts.layer = 1;
    DeviceBackendOptions dopts;
    dopts.device = "NoSuchDevice0";
    auto unknown = make_device_backend(*session, *sae, eopts, dopts);
    ASSERT_FALSE(unknown.ok());
    EXPECT_NE(std::string::npos, unknown.status().message().find("NoSuchDevice0")) << unknown.status().message();
    EXPECT_NE(std::string::npos, unknown.status().message().find("CPU")) << "lists the devices present";
    eopts.keep_rows = true;
    dopts.device = "CPU";
    EXPECT_FALSE(make_device_backend(*session, *sae, eopts, dopts).ok());
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace mona
