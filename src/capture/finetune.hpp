// capture/finetune.hpp: llama.cpp's training API (llama_opt_init / llama_opt_epoch, ggml-opt) as mona uses it for
// `mona eval --finetune` (eval/finetune.hpp): the mean per-token loss of a model on chat samples, scored on the
// assistant tokens only, and full fine-tuning of a fresh copy of the weights with the same loss.
//
// A LossExample is a tokenised sample (Session::tokenize) and n_prompt, the tokens before the first assistant turn's
// content (TokenizedSample::n_prompt, the `response` token mode's split): the loss counts the prediction of every
// token at index >= max(n_prompt, 1), i.e. the assistant turns and what the template writes after them. An example
// longer than the sequence is cut to a window that starts at most half a sequence before n_prompt (a long prompt
// loses its start, the answer is kept), the same for training and for the loss.
//
// Training. ggml-opt only knows a cross-entropy over every row of the logits, and llama_opt_epoch fills the labels
// itself (a one-hot row per position). The prompt rows are masked where the gradient starts: the scheduler's eval
// callback stops on the CROSS_ENTROPY_LOSS_BACK node (d loss / d logits), zeroes the rows of prompt and padding
// positions and scales the others by n_ctx / n_counted, so each example contributes the gradient of its mean loss
// over its assistant tokens. Every example is one sequence of n_ctx tokens (truncated, padded at the end; causal
// attention leaves the real positions untouched by the padding), trained in an order shuffled per epoch from the
// seed; one optimizer step (AdamW) per example. llama.cpp trains F32 weights (its OUT_PROD backward has no
// quantised path that writes back): make_trainable_copy() writes such a GGUF from a quantised one.
// token_embd is not trained (llama.cpp's FIXME in llama_context::opt_init), so a tied output matrix is not either.
//
// Thread-safety: a TrainableModel is single-threaded (llama.cpp uses its own workers). Fixed seed and threads give
// the same losses on the same machine (the integration test checks it).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mona/status.hpp"

namespace mona {

struct LossExample {
    std::vector<int32_t> tokens;
    int32_t n_prompt = 0;  // tokens[n_prompt..] are scored (index 0 never: nothing predicts it)
};

// Sum of the negative log-likelihoods (nats) of the scored tokens, and their count.
struct LossSum {
    double sum_nll = 0.0;
    int64_t n_tokens = 0;
    double mean() const { return n_tokens > 0 ? sum_nll / static_cast<double>(n_tokens) : 0.0; }
};

struct TrainOptions {
    int32_t epochs = 1;
    float learning_rate = 1e-4f;  // AdamW alpha (beta1 0.9, beta2 0.999, eps 1e-8: ggml-opt's defaults)
    float weight_decay = 0.0f;
    uint64_t seed = 0;  // the order of the examples in each epoch
};

// Progress of train(): optimizer steps done of the total, and the tokens those steps ran (n_ctx each).
using TrainProgressFn = std::function<void(int64_t steps_done, int64_t steps_total)>;

class TrainableModel {
   public:
    // Loads the GGUF's weights into memory of its own (not mmapped: training writes them). n_ctx: the length of
    // every training sequence and the longest scored window, a multiple of 256 (llama.cpp pads contexts to one).
    static Result<TrainableModel> load(const std::string& path, int32_t n_threads, int32_t n_ctx);
    TrainableModel(TrainableModel&&) noexcept;
    TrainableModel& operator=(TrainableModel&&) noexcept;
    ~TrainableModel();

    int32_t n_vocab() const;
    int32_t n_ctx() const;

    // Mean loss over the scored tokens of every example (one llama_decode per example's window).
    Result<LossSum> loss(const std::vector<LossExample>& examples);
    // The logits of every position of `tokens` (<= n_ctx): [n_tokens, n_vocab] row-major (tests' reference).
    Result<std::vector<float>> logits(const std::vector<int32_t>& tokens);
    // Fine-tunes the weights in place. Examples with no scored token within n_ctx are left out (counted in the
    // return value: the number of examples trained on). kInvalidInput when none is left.
    Result<int64_t> train(const std::vector<LossExample>& examples, const TrainOptions& options,
                          const TrainProgressFn& progress = {});

   private:
    struct Impl;
    explicit TrainableModel(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// OK when every tensor of the GGUF is F32; kInvalidInput naming the first that is not.
Status check_trainable_model(const std::string& path);

// Writes `out_path`: `in_path` with every tensor as F32 (llama_model_quantize, ftype ALL_F32, requantising
// allowed), written to a temporary name and renamed into place.
Status make_trainable_copy(const std::string& in_path, const std::string& out_path, int32_t n_threads);

}  // namespace mona
