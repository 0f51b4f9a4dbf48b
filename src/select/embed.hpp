// select/embed.hpp: samples in, pooled SAE vectors out.
//
// The Embedder packs tokenised samples into decode batches (up to SessionOptions::batch_tokens tokens and
// max_seqs samples per llama_decode call; a longer sample runs alone), captures the residual stream at the
// configured layer, SAE-encodes every token and mean- (or sum-) pools the tokens chosen by the token mode.
// Results are delivered in submission order through a callback, so a pass over a pool is one stream.
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
#include <span>
#include <string>
#include <vector>

#include "capture/session.hpp"
#include "mona/status.hpp"
#include "mona/types.hpp"
#include "pool/pool.hpp"
#include "sae/sae.hpp"

namespace mona {

enum class TokenMode { kAll, kNoBos, kPrompt, kResponse };
Result<TokenMode> parse_token_mode(const std::string& name);
const char* token_mode_name(TokenMode mode);

// [begin, end) rows of a tokenised sample that the mode pools.
std::pair<int64_t, int64_t> pooled_rows(const TokenizedSample& sample, TokenMode mode);

struct EmbedOptions {
    int32_t layer = 0;              // HF hidden_states numbering
    int32_t k_override = 0;         // 0 = the SAE's own k
    TokenMode token_mode = TokenMode::kNoBos;
    PoolingMode pooling = PoolingMode::kMean;
    bool keep_rows = false;         // also hand per-token residual rows and codes to the callback
    // Further llama.cpp tensors captured in the same pass (Session::capture, ExtraCapture), handed to the callback
    // per sample in EmbeddedSample::extra, in this order. Must not name the layer's own tensor.
    std::vector<std::string> extra_tensors;
};

struct EmbeddedSample {
    uint64_t tag = 0;               // the caller's tag from add()
    TokenizedSample tokens;
    SparseVec pooled;
    int64_t n_pooled = 0;           // rows that went into the pool
    // Only with keep_rows: residual rows [n_tokens, d_in] and the per-token codes of this sample.
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

    // Whether the queued batch (n_queued >= 1 samples, queued_tokens tokens) runs before a sample of n tokens joins.
    bool run_before(int32_t n_queued, int64_t queued_tokens, int64_t n) const;
    // Whether the batch runs as soon as a sample has joined it (queued_tokens now queued).
    bool run_after(int64_t queued_tokens) const { return queued_tokens >= budget; }
};

// Samples with these token counts are added in order to a fresh Embedder following `rule`: the index of the first
// sample still queued at the end (n_tokens.size() when the last batch has run).
size_t open_batch_start(const BatchRule& rule, std::span<const int64_t> n_tokens);

class Embedder {
   public:
    using Sink = std::function<Status(EmbeddedSample&)>;

    Embedder(Session& session, const SaeModel& sae, EmbedOptions options, Sink sink);

    // Queues a tokenised sample; runs a batch when the queue is full. Errors come from the model or the sink.
    Status add(uint64_t tag, TokenizedSample tokens);
    // Runs whatever is queued.
    Status flush();

    uint64_t n_tokens_run() const { return n_tokens_run_; }
    BatchRule rule() const;

   private:
    Status run_batch();

    Session& session_;
    const SaeModel& sae_;
    EmbedOptions options_;
    Sink sink_;
    Pooler pooler_;
    std::vector<EmbeddedSample> queue_;
    int64_t queued_tokens_ = 0;
    std::vector<float> rows_;
    std::vector<ExtraCapture> extra_;
    SparseCodes codes_;
    uint64_t n_tokens_run_ = 0;
};

}  // namespace mona
