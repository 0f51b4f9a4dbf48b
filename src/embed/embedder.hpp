// embed/embedder.hpp: the pipeline stage every job runs: samples in, per-token SAE codes and pooled vectors out.
//
// The Embedder packs tokenised samples into decode batches (BatchRule: up to SessionOptions::batch_tokens tokens
// and max_seqs samples per llama_decode call; a longer sample runs alone) and hands each batch to an EmbedBackend,
// which captures the residual stream at the configured layer, SAE-encodes every token and mean- (or sum-) pools
// the tokens chosen by the token mode. Results are delivered in submission order through a callback, so a pass
// over a pool is one stream. `mona select`, `embed`, `score`, `eval`, `activations` and the `train-sae` loop all
// run their model passes through it; none assembles capture -> encode -> pool by itself.
//
// The backend seam: the Embedder owns batching and ordering, an EmbedBackend computes one batch. The CPU backend
// (make_cpu_backend) is the reference: llama.cpp's capture on whatever device the Session runs, then SAE encode,
// TopK and pooling on the CPU. A device backend (SAE encode + TopK + pooling where the model runs) replaces it by
// implementing EmbedBackend; it must give every sample exactly the vectors the CPU backend gives (or state its
// bound), and it must not let a sample's results depend on the other samples of its batch.
// With no SAE the CPU backend captures only: every sample's residual rows (SAE training, activation dumps).
//
// Usage sketch: Embedder embedder(session, sae, options, [&](EmbeddedSample& s) { ...; return Status(); });
// then embedder.add(tag, tokens) per sample and embedder.flush() at the end.
// Thread-safety: single-threaded, like the Session it drives.
//
// Token modes (which rows of a sample are pooled):
//   all       every token, BOS included
//   no-bos    every token except the first (default; method.md decision). The first token is BOS, or, in models
//             that add no BOS, the chat template's first token; it is the attention sink either way, with a
//             residual norm ~100x a normal token's (measured on SmolLM2-135M: 24,976 vs a median of 222).
//   prompt    the tokens before the first assistant turn's content (rendered prompt incl. the assistant header),
//             without the first token
//   response  the tokens from the first assistant turn's content on
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "capture/session.hpp"
#include "embed/token_mode.hpp"
#include "mona/status.hpp"
#include "mona/types.hpp"
#include "pool/pool.hpp"
#include "sae/sae.hpp"

namespace mona {

// [begin, end) rows of a tokenised sample that the mode pools.
std::pair<int64_t, int64_t> pooled_rows(const TokenizedSample& sample, TokenMode mode);

struct EmbeddedSample;

struct EmbedOptions {
    // Called once, with the first batch the backend runs: its samples, their residual rows at `layer`
    // [sum n_tokens, d_in] and per-token codes (CSR, one row per token, sample after sample), before pooling. Read
    // only: the SAE health check of select and embed (jobs/check.hpp), which must change no output.
    using BatchProbe =
        std::function<void(std::span<const EmbeddedSample> batch, const float* rows, const SparseCodes& codes)>;

    int32_t layer = 0;       // HF hidden_states numbering
    int32_t k_override = 0;  // 0 = the SAE's own k
    TokenMode token_mode = TokenMode::kNoBos;
    PoolingMode pooling = PoolingMode::kMean;
    bool keep_rows = false;  // also hand per-token residual rows and codes to the callback
    // Further llama.cpp tensors captured in the same pass (Session::capture, ExtraCapture), handed to the callback
    // per sample in EmbeddedSample::extra, in this order. Must not name the layer's own tensor.
    std::vector<std::string> extra_tensors;
    // A batch that reaches the token budget runs when the next sample arrives (or at flush) instead of at once:
    // the same batches, run later (BatchRule::run_when_full = false). `mona train-sae` sets it: it stops taking
    // documents once training has seen enough tokens, so when a batch runs decides which documents it counts.
    bool defer_full_batch = false;
    BatchProbe first_batch_probe;  // empty = none; the CPU backend calls it (with an SAE) on its first batch
};

struct EmbeddedSample {
    uint64_t tag = 0;  // the caller's tag from add()
    TokenizedSample tokens;
    SparseVec pooled;
    int64_t n_pooled = 0;  // rows that went into the pool
    // Only with keep_rows (rows also from a capture-only backend): residual rows [n_tokens, d_in] and the
    // per-token codes of this sample.
    std::vector<float> rows;
    SparseCodes codes;
    // One per EmbedOptions::extra_tensors: rows [n_tokens, extra_width[i]] of this sample.
    std::vector<std::vector<float>> extra;
    std::vector<int64_t> extra_width;
};

// Where the Embedder's decode batches end: a function of the samples' token counts alone, so that a resumed pass
// can rebuild the batch an interruption cut and compute every sample exactly as an uninterrupted pass (run_embed).
struct BatchRule {
    int64_t budget = 512;            // SessionOptions::batch_tokens
    int64_t max_batch_tokens = 512;  // Session::max_batch_tokens()
    int32_t max_seqs = 64;           // SessionOptions::max_seqs
    bool run_when_full = true;       // false: a batch at the budget waits for the next sample (same batches)

    // Whether the queued batch (n_queued >= 1 samples, queued_tokens tokens) runs before a sample of n tokens joins.
    bool run_before(int32_t n_queued, int64_t queued_tokens, int64_t n) const;
    // Whether the batch runs as soon as a sample has joined it (queued_tokens now queued).
    bool run_after(int64_t queued_tokens) const { return run_when_full && queued_tokens >= budget; }
};

// Samples with these token counts are added in order to a fresh Embedder following `rule`: the index of the first
// sample still queued at the end (n_tokens.size() when the last batch has run).
size_t open_batch_start(const BatchRule& rule, std::span<const int64_t> n_tokens);

// The backend seam (see the top of this file): computes one decode batch.
class EmbedBackend {
   public:
    virtual ~EmbedBackend() = default;
    // The limits batches must keep (BatchRule: budget, the session's context, max_seqs).
    virtual BatchRule rule() const = 0;
    // For every sample of `batch` (tokens set, tags and order as queued): pooled and
    // n_pooled, with keep_rows (or without an SAE) the residual rows and per-token codes, and the extra tensors.
    // A sample's results must not depend on the other samples of the batch. Errors come from the model.
    virtual Status run(std::span<EmbeddedSample> batch) = 0;
};

// The CPU reference backend over `session` (and `sae`, which must outlive it; nullptr = capture only: rows, no
// codes, an empty pooled vector). The session must outlive the backend.
std::unique_ptr<EmbedBackend> make_cpu_backend(Session& session, const SaeModel* sae, EmbedOptions options);

class Embedder {
   public:
    using Sink = std::function<Status(EmbeddedSample&)>;

    // The CPU backend (make_cpu_backend(session, &sae, options)).
    Embedder(Session& session, const SaeModel& sae, EmbedOptions options, Sink sink);
    // Any backend.
    Embedder(std::unique_ptr<EmbedBackend> backend, Sink sink);

    // Queues a tokenised sample; runs a batch when the queue is full. Errors come from the model or the sink.
    Status add(uint64_t tag, TokenizedSample tokens);
    // Runs whatever is queued.
    Status flush();

    // Tokens of the batches run so far.
    uint64_t n_tokens_run() const { return n_tokens_run_; }
    // The rule this Embedder batches by (the backend's).
    BatchRule rule() const { return rule_; }

   private:
    Status run_batch();

    std::unique_ptr<EmbedBackend> backend_;
    BatchRule rule_;
    Sink sink_;
    std::vector<EmbeddedSample> queue_;
    int64_t queued_tokens_ = 0;
    uint64_t n_tokens_run_ = 0;
};

}  // namespace mona
