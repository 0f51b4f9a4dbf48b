// The device path through ggml's RPC backend: mona-rpc-server (CPU only, loopback) makes a second process a ggml
// device whose memory this process cannot read. The tiny model's layers are offloaded there, the layer tensor is
// copied into the SAE graph's input on that device, the SAE graph runs there, and only pooled blocks come back;
// the vectors must be the CPU backend's (same latents, values within 1e-5 relative, F32 SAE weights).
// Skipped, saying so, in a build without -DMONA_RPC=ON.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "embed/device_backend.hpp"
#include "integration/tiny_model_util.hpp"

namespace mona {
namespace {

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

TEST(RpcBackendTest, RpcDeviceGivesTheCpuBackendsVectors) {
    const std::string server = MONA_TEST_RPC_SERVER;
    if (server.empty()) GTEST_SKIP() << "this build has no RPC backend: configure with -DMONA_RPC=ON to run it";
    const int port = 50000 + static_cast<int>(::getpid() % 10000);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        const std::string port_text = std::to_string(port);
        execl(server.c_str(), server.c_str(), "-H", "127.0.0.1", "-p", port_text.c_str(), "-t", "1",
              static_cast<char*>(nullptr));
        _exit(127);
    }
    struct Stop {
        pid_t pid;
        ~Stop() {
            ::kill(pid, SIGTERM);
            ::waitpid(pid, nullptr, 0);
        }
    } stop{pid};
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the server binds its port

    const std::string dir = fixtures::make_temp_dir("mona-rpc-backend-test");
    const std::string model = dir + "/tiny.gguf";
    ASSERT_TRUE(fixtures::write_tiny_llama_gguf(model, fixtures::TinyModelSpec{}).ok());
    auto tiny_sae = fixtures::write_tiny_sparsify_sae(dir + "/sae", 64, 256, 8, 99, "");
    ASSERT_TRUE(tiny_sae.ok()) << tiny_sae.status().message();
    auto sae = SaeModel::open(SaeOpenOptions{tiny_sae->folder});
    ASSERT_TRUE(sae.ok());
    const std::string endpoint = "rpc:127.0.0.1:" + std::to_string(port);
    auto rpc_name = resolve_device_name(endpoint);
    ASSERT_TRUE(rpc_name.ok()) << rpc_name.status().message();

    std::vector<TokenizedSample> pool;
    std::vector<EmbeddedSample> want;
    EmbedOptions eopts;
    eopts.layer = 2;
    {
        SessionOptions cpu_opts;
        cpu_opts.model_path = model;
        cpu_opts.n_threads = 1;
        cpu_opts.batch_tokens = 128;
        cpu_opts.max_tokens = 256;
        auto cpu_session = Session::open(cpu_opts);
        ASSERT_TRUE(cpu_session.ok()) << cpu_session.status().message();
        for (const fixtures::LabelledSample& ls : fixtures::make_labelled_pool(2)) {
            Sample s;
            s.format = InputFormat::kMessages;
            s.turns.push_back({Role::kUser, ls.user});
            s.turns.push_back({Role::kAssistant, ls.assistant});
            auto t = cpu_session->tokenize(s);
            ASSERT_TRUE(t.ok());
            pool.push_back(std::move(*t));
        }
        want = run_all(make_cpu_backend(*cpu_session, &*sae, eopts), pool);
    }
    SessionOptions rpc_opts;
    rpc_opts.model_path = model;
    rpc_opts.n_threads = 1;
    rpc_opts.batch_tokens = 128;
    rpc_opts.max_tokens = 256;
    rpc_opts.gpu_layers = -1;  // every layer on the RPC device (a GPU-type device)
    auto rpc_session = Session::open(rpc_opts);
    ASSERT_TRUE(rpc_session.ok()) << rpc_session.status().message();
    bool weights_on_rpc = false;
    for (const std::string& buffer : rpc_session->info().weight_buffers) weights_on_rpc |= buffer.find("RPC") == 0;
    EXPECT_TRUE(weights_on_rpc) << "the model's layers are offloaded to the RPC device";
    DeviceBackendOptions dopts;
    dopts.device = endpoint;
    dopts.weight_type = SaeWeightType::kF32;
    std::string name;
    auto backend = make_device_backend(*rpc_session, *sae, eopts, dopts, &name);
    ASSERT_TRUE(backend.ok()) << backend.status().message();
    EXPECT_EQ("ggml:" + *rpc_name + ":f32", name);
    const std::vector<EmbeddedSample> got = run_all(std::move(*backend), pool);
    ASSERT_EQ(want.size(), got.size());
    for (size_t s = 0; s < want.size(); ++s) {
        ASSERT_EQ(want[s].pooled.idx, got[s].pooled.idx) << "sample " << s;
        for (size_t i = 0; i < want[s].pooled.val.size(); ++i) {
            EXPECT_NEAR(want[s].pooled.val[i], got[s].pooled.val[i], 1e-5 * std::fabs(want[s].pooled.val[i]))
                << "sample " << s << " entry " << i;
        }
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace mona
