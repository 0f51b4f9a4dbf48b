#include "embed/embedder.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace mona {

std::pair<int64_t, int64_t> pooled_rows(const TokenizedSample& sample, TokenMode mode) {
    const int64_t n = static_cast<int64_t>(sample.tokens.size());
    // Position 0 is BOS, or, in models that add none (SmolLM2, Qwen2), the template's first token; either way it
    // is the attention sink, whose residual norm is ~100x a normal token's and would dominate every pooled vector.
    const int64_t first = 1;
    const int64_t n_prompt = std::clamp<int64_t>(sample.n_prompt, 0, n);
    switch (mode) {
        case TokenMode::kAll: return {0, n};
        case TokenMode::kNoBos: return {std::min(first, n), n};
        case TokenMode::kPrompt: return {std::min(first, n_prompt), n_prompt};
        case TokenMode::kResponse: return {std::min(std::max(first, n_prompt), n), n};
    }
    return {0, n};
}

bool BatchRule::run_before(int32_t n_queued, int64_t queued_tokens, int64_t n) const {
    return n_queued > 0 && (queued_tokens + n > std::max<int64_t>(budget, n) || queued_tokens + n > max_batch_tokens ||
                            n_queued >= max_seqs);
}

size_t open_batch_start(const BatchRule& rule, std::span<const int64_t> n_tokens) {
    size_t start = 0;
    int64_t queued_tokens = 0;
    for (size_t sample_idx = 0; sample_idx < n_tokens.size(); ++sample_idx) {
        if (rule.run_before(static_cast<int32_t>(sample_idx - start), queued_tokens, n_tokens[sample_idx])) {
            start = sample_idx;
            queued_tokens = 0;
        }
        queued_tokens += n_tokens[sample_idx];
        if (rule.run_after(queued_tokens)) {
            start = sample_idx + 1;
            queued_tokens = 0;
        }
    }
    return start;
}

namespace {

// The CPU reference: capture on the session's device, then encode, TopK and pooling here, one sample at a time.
class CpuEmbedBackend final : public EmbedBackend {
   public:
    CpuEmbedBackend(Session& session, const SaeModel* sae, EmbedOptions options)
        : session_(session), sae_(sae), options_(std::move(options)), pooler_(sae ? sae->info().d_sae : 0) {
        for (const std::string& name : options_.extra_tensors) extra_.push_back({name, 0, {}});
    }

    BatchRule rule() const override {
        return BatchRule{session_.options().batch_tokens, session_.max_batch_tokens(), session_.options().max_seqs,
                         !options_.defer_full_batch};
    }

    Status run(std::span<EmbeddedSample> batch) override {
        std::vector<const std::vector<int32_t>*> seqs;
        seqs.reserve(batch.size());
        for (const auto& item : batch) {
            if (!item.tokens.tokens.empty()) seqs.push_back(&item.tokens.tokens);
        }
        MONA_RETURN_IF_ERROR(session_.capture(seqs, options_.layer, rows_, extra_.empty() ? nullptr : &extra_));
        const int64_t d_in = sae_ != nullptr ? sae_->info().d_in : session_.info().n_embd;
        codes_.clear();
        if (sae_ != nullptr) {
            // One encode call per sample: where a sample's rows fall in the batch must not change its codes.
            int64_t sample_row0 = 0;
            for (const auto& item : batch) {
                const int64_t n = static_cast<int64_t>(item.tokens.tokens.size());
                sae_->encode(rows_.data() + sample_row0 * d_in, n, codes_, options_.k_override);
                sample_row0 += n;
            }
        }
        if (options_.first_batch_probe && sae_ != nullptr) {
            const EmbedOptions::BatchProbe probe = std::move(options_.first_batch_probe);
            options_.first_batch_probe = nullptr;
            probe(batch, rows_.data(), codes_);
        }
        int64_t row0 = 0;
        for (auto& item : batch) {
            const int64_t n = static_cast<int64_t>(item.tokens.tokens.size());
            if (sae_ != nullptr) {
                auto [begin, end] = pooled_rows(item.tokens, options_.token_mode);
                item.n_pooled = end - begin;
                item.pooled = pooler_.pool(codes_, row0 + begin, row0 + end, options_.pooling);
            }
            if (options_.keep_rows || sae_ == nullptr) {
                item.rows.assign(rows_.begin() + row0 * d_in, rows_.begin() + (row0 + n) * d_in);
            }
            if (options_.keep_rows && sae_ != nullptr) {
                item.codes.clear();
                for (int64_t row = row0; row < row0 + n; ++row) {
                    for (uint64_t pos = codes_.offsets[row]; pos < codes_.offsets[row + 1]; ++pos) {
                        item.codes.idx.push_back(codes_.idx[pos]);
                        item.codes.val.push_back(codes_.val[pos]);
                    }
                    item.codes.offsets.push_back(item.codes.idx.size());
                }
            }
            item.extra.clear();
            item.extra_width.clear();
            for (const ExtraCapture& e : extra_) {
                item.extra.emplace_back(e.rows.begin() + row0 * e.width, e.rows.begin() + (row0 + n) * e.width);
                item.extra_width.push_back(e.width);
            }
            row0 += n;
        }
        return Status();
    }

   private:
    Session& session_;
    const SaeModel* sae_;
    EmbedOptions options_;
    Pooler pooler_;
    std::vector<float> rows_;
    std::vector<ExtraCapture> extra_;
    SparseCodes codes_;
};

}  // namespace

std::unique_ptr<EmbedBackend> make_cpu_backend(Session& session, const SaeModel* sae, EmbedOptions options) {
    return std::make_unique<CpuEmbedBackend>(session, sae, std::move(options));
}

Embedder::Embedder(Session& session, const SaeModel& sae, EmbedOptions options, Sink sink)
    : Embedder(make_cpu_backend(session, &sae, std::move(options)), std::move(sink)) {}

Embedder::Embedder(std::unique_ptr<EmbedBackend> backend, Sink sink)
    : backend_(std::move(backend)), rule_(backend_->rule()), sink_(std::move(sink)) {}

Status Embedder::add(uint64_t tag, TokenizedSample tokens) {
    const int64_t n = static_cast<int64_t>(tokens.tokens.size());
    if (rule_.run_before(static_cast<int32_t>(queue_.size()), queued_tokens_, n)) MONA_RETURN_IF_ERROR(run_batch());
    EmbeddedSample item;
    item.tag = tag;
    item.tokens = std::move(tokens);
    queue_.push_back(std::move(item));
    queued_tokens_ += n;
    if (rule_.run_after(queued_tokens_)) MONA_RETURN_IF_ERROR(run_batch());
    return Status();
}

Status Embedder::flush() {
    if (queue_.empty()) return Status();
    return run_batch();
}

Status Embedder::run_batch() {
    MONA_RETURN_IF_ERROR(backend_->run(queue_));
    n_tokens_run_ += static_cast<uint64_t>(queued_tokens_);
    for (auto& item : queue_) MONA_RETURN_IF_ERROR(sink_(item));
    queue_.clear();
    queued_tokens_ = 0;
    return Status();
}

}  // namespace mona
