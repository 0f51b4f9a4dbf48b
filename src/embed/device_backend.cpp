// embed/device_backend.cpp: the pool pass on one ggml device (embed/device_backend.hpp).
#include "embed/device_backend.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>

#include "ggml-backend.h"
#include "mona/log.hpp"

namespace mona {

std::string backend_param(const DeviceBackendOptions& options, const std::string& device_name) {
    return fmt::format("ggml:{}:{}", device_name, sae_weight_type_name(options.weight_type));
}

namespace {

std::string device_names() {
    std::string names;
    for (size_t dev_idx = 0; dev_idx < ggml_backend_dev_count(); ++dev_idx) {
        if (!names.empty()) names += ", ";
        names += ggml_backend_dev_name(ggml_backend_dev_get(dev_idx));
    }
    return names;
}

class DeviceEmbedBackend final : public EmbedBackend {
   public:
    DeviceEmbedBackend(Session& session, EmbedOptions options, ggml_backend_t backend, std::unique_ptr<SaeGraph> graph)
        : session_(session), options_(std::move(options)), backend_(backend), graph_(std::move(graph)) {}
    ~DeviceEmbedBackend() override {
        // MONA_DEVICE_PROFILE=1: where the pass spent its time (bench/gpu/run.sh prints it as the breakdown).
        const char* profile = std::getenv("MONA_DEVICE_PROFILE");
        if (profile != nullptr && std::string(profile) == "1" && n_tokens_ > 0) {
            const SaeGraphTimes& t = graph_->times();
            log_message(LogLevel::kInfo,
                        fmt::format("mona: device profile: {} tokens; forward to layer {} + device copy {:.3f} s; SAE "
                                    "encode + TopK + pooling {:.3f} s; pooled block to host + sparse {:.3f} s; "
                                    "batch setup {:.3f} s",
                                    n_tokens_, options_.layer, capture_s_, t.graph_s, t.readback_s, setup_s_));
        }
        graph_.reset();  // frees its buffers before the backend
        ggml_backend_free(backend_);
    }

    BatchRule rule() const override {
        return BatchRule{session_.options().batch_tokens, session_.max_batch_tokens(), session_.options().max_seqs,
                         !options_.defer_full_batch};
    }

    Status run(std::span<EmbeddedSample> batch) override {
        std::vector<const std::vector<int32_t>*> seqs;
        spans_.clear();
        int64_t row0 = 0;
        for (auto& item : batch) {
            const int64_t n = static_cast<int64_t>(item.tokens.tokens.size());
            if (n > 0) seqs.push_back(&item.tokens.tokens);
            auto [begin, end] = pooled_rows(item.tokens, options_.token_mode);
            item.n_pooled = end - begin;
            spans_.push_back({row0 + begin, row0 + end});
            row0 += n;
        }
        const auto t0 = std::chrono::steady_clock::now();
        MONA_TRY(ggml_tensor * rows, graph_->input_rows(row0));
        const auto t1 = std::chrono::steady_clock::now();
        if (row0 > 0) MONA_RETURN_IF_ERROR(session_.capture_to_tensor(seqs, options_.layer, rows));
        setup_s_ += std::chrono::duration<double>(t1 - t0).count();
        capture_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
        n_tokens_ += row0;
        MONA_RETURN_IF_ERROR(graph_->encode_pool_tensor(rows, row0, spans_, options_.pooling, pooled_));
        for (size_t s = 0; s < batch.size(); ++s) {
            batch[s].pooled = std::move(pooled_[s]);
            batch[s].rows.clear();
            batch[s].codes.clear();
            batch[s].extra.clear();
            batch[s].extra_width.clear();
        }
        return Status();
    }

   private:
    Session& session_;
    EmbedOptions options_;
    ggml_backend_t backend_;
    std::unique_ptr<SaeGraph> graph_;
    std::vector<PooledSpan> spans_;
    std::vector<SparseVec> pooled_;
    int64_t n_tokens_ = 0;
    double capture_s_ = 0.0;
    double setup_s_ = 0.0;
};

}  // namespace

Result<std::unique_ptr<EmbedBackend>> make_device_backend(Session& session, const SaeModel& sae, EmbedOptions options,
                                                          const DeviceBackendOptions& device,
                                                          std::string* backend_name) {
    if (options.keep_rows || !options.extra_tensors.empty()) {
        return invalid_input("the device backend returns pooled vectors only (no per-token rows or extra tensors)");
    }
    ggml_backend_dev_t dev = nullptr;
    if (device.device.empty()) {
        dev = gpu_device();
        if (dev == nullptr) dev = device_by_name("CPU");
    } else {
        MONA_TRY(const std::string name, resolve_device_name(device.device));
        dev = device_by_name(name);
        if (dev == nullptr) {
            return invalid_input(fmt::format("--device {}: no such ggml device in this build (present: {})",
                                             device.device, device_names()));
        }
    }
    if (dev == nullptr) return internal_error("no ggml device to run the SAE graph on");
    ggml_backend_t backend = ggml_backend_dev_init(dev, nullptr);
    if (backend == nullptr) {
        return internal_error(fmt::format("cannot start ggml device {}", ggml_backend_dev_name(dev)));
    }
    SaeGraphOptions gopts;
    gopts.weight_type = device.weight_type;
    gopts.k_override = options.k_override;
    gopts.chunk_bytes = device.chunk_bytes;
    gopts.n_threads = device.n_threads;
    auto graph = SaeGraph::create(sae, backend, gopts);
    if (!graph.ok()) {
        ggml_backend_free(backend);
        return graph.status();
    }
    if (backend_name != nullptr) *backend_name = backend_param(device, ggml_backend_dev_name(dev));
    return std::unique_ptr<EmbedBackend>(
        new DeviceEmbedBackend(session, std::move(options), backend, std::move(*graph)));
}

}  // namespace mona
