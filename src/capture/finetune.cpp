// capture/finetune.cpp: TrainableModel and make_trainable_copy (capture/finetune.hpp) over llama.cpp's training API.
#include "capture/finetune.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <span>

#include "capture/llama_init.hpp"
#include "ggml-backend.h"
#include "ggml-opt.h"
#include "ggml.h"
#include "gguf.h"
#include "llama.h"
#include "util/random.hpp"

namespace mona {
namespace {

// The rows of d loss / d logits that count for the example being trained (llama_opt_epoch trains the dataset's
// examples in order, one optimizer step each, so the k-th CROSS_ENTROPY_LOSS_BACK of an epoch is example k).
struct MaskState {
    const std::vector<std::vector<uint8_t>>* masks = nullptr;  // [example in epoch order][position]
    size_t next = 0;                                           // examples masked so far this epoch
    int64_t steps_done = 0;
    int64_t steps_total = 0;
    const TrainProgressFn* progress = nullptr;
    bool failed = false;  // a gradient node of an unexpected shape: the step is not masked
};

bool mask_gradient(ggml_tensor* t, bool ask, void* user_data) {
    if (t->op != GGML_OP_CROSS_ENTROPY_LOSS_BACK) return false;
    if (ask) return true;
    auto* state = static_cast<MaskState*>(user_data);
    if (state->masks == nullptr || state->next >= state->masks->size() || t->type != GGML_TYPE_F32) {
        state->failed = true;
        return true;
    }
    const std::vector<uint8_t>& mask = (*state->masks)[state->next++];
    const int64_t n_vocab = t->ne[0];
    const int64_t n_rows = t->ne[1];
    if (n_rows != static_cast<int64_t>(mask.size())) {
        state->failed = true;
        return true;
    }
    const int64_t n_counted = std::count(mask.begin(), mask.end(), uint8_t{1});
    const float scale = n_counted > 0 ? static_cast<float>(n_rows) / static_cast<float>(n_counted) : 0.0f;
    std::vector<float> rows(static_cast<size_t>(n_vocab * n_rows));
    ggml_backend_tensor_get(t, rows.data(), 0, rows.size() * sizeof(float));
    for (int64_t row = 0; row < n_rows; ++row) {
        const float f = mask[static_cast<size_t>(row)] ? scale : 0.0f;
        float* r = rows.data() + row * n_vocab;
        for (int64_t col = 0; col < n_vocab; ++col) r[col] *= f;
    }
    ggml_backend_tensor_set(t, rows.data(), 0, rows.size() * sizeof(float));
    ++state->steps_done;
    if (state->progress != nullptr && *state->progress) (*state->progress)(state->steps_done, state->steps_total);
    return true;
}

ggml_opt_optimizer_params optimizer_params(void* user_data) {
    const auto* options = static_cast<const TrainOptions*>(user_data);
    ggml_opt_optimizer_params params = ggml_opt_get_default_optimizer_params(nullptr);
    params.adamw.alpha = options->learning_rate;
    params.adamw.wd = options->weight_decay;
    return params;
}

// The tokens of `ex` a sequence of at most `n` tokens holds: all of a short example; of a longer one, a window that
// starts at most n/2 tokens before the first scored token (a long prompt loses its start, not the answer).
struct Window {
    size_t start = 0;
    size_t end = 0;
    int32_t first_scored = 0;  // index (into ex.tokens) of the first scored token: > start, >= n_prompt
};
Window window_of(const LossExample& ex, int32_t n) {
    Window w;
    const size_t len = ex.tokens.size();
    const size_t cap = static_cast<size_t>(n);
    if (len > cap) {
        const int64_t want = static_cast<int64_t>(ex.n_prompt) - n / 2;
        w.start = static_cast<size_t>(std::clamp<int64_t>(want, 0, static_cast<int64_t>(len - cap)));
    }
    w.end = std::min(len, w.start + cap);
    w.first_scored = std::max<int32_t>(ex.n_prompt, static_cast<int32_t>(w.start) + 1);
    return w;
}

}  // namespace

// Every weight llama.cpp would train must be F32 (its backward pass writes F32 gradients into them).
Status check_trainable_model(const std::string& path) {
    gguf_init_params params{/*no_alloc=*/true, /*ctx=*/nullptr};
    gguf_context* gguf = gguf_init_from_file(path.c_str(), params);
    if (gguf == nullptr) return invalid_input(fmt::format("cannot read GGUF {}", path));
    Status status;
    for (int64_t i = 0; i < gguf_get_n_tensors(gguf); ++i) {
        const ggml_type type = gguf_get_tensor_type(gguf, i);
        if (type != GGML_TYPE_F32) {
            status = invalid_input(fmt::format(
                "model {} cannot be fine-tuned: tensor {} is {} (llama.cpp trains F32 weights; mona eval --finetune "
                "makes an F32 copy of a quantised model)",
                path, gguf_get_tensor_name(gguf, i), ggml_type_name(type)));
            break;
        }
    }
    gguf_free(gguf);
    return status;
}

struct TrainableModel::Impl {
    llama_model* model = nullptr;
    llama_context* eval_ctx = nullptr;  // made on first use, dropped when training changes the graph's settings
    int32_t n_threads = 1;
    int32_t n_ctx = 0;
    int32_t n_vocab = 0;

    ~Impl() {
        if (eval_ctx != nullptr) llama_free(eval_ctx);
        if (model != nullptr) llama_model_free(model);
    }

    llama_context_params context_params() const {
        llama_context_params cparams = llama_context_default_params();
        cparams.n_ctx = static_cast<uint32_t>(n_ctx);
        cparams.n_batch = static_cast<uint32_t>(n_ctx);
        cparams.n_ubatch = static_cast<uint32_t>(n_ctx);
        cparams.n_seq_max = 1;
        cparams.n_threads = n_threads;
        cparams.n_threads_batch = n_threads;
        cparams.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;  // FLASH_ATTN_EXT has no backward pass
        cparams.type_k = GGML_TYPE_F32;  // OUT_PROD has no F16 path (llama.cpp's examples/training does the same)
        cparams.type_v = GGML_TYPE_F32;
        cparams.no_perf = true;
        return cparams;
    }

    Result<llama_context*> eval_context() {
        if (eval_ctx != nullptr) return eval_ctx;
        eval_ctx = llama_init_from_model(model, context_params());
        if (eval_ctx == nullptr) {
            return internal_error(
                fmt::format("llama.cpp could not create a context: {}", detail::take_llama_error_lines()));
        }
        return eval_ctx;
    }

    // One llama_decode over `tokens` (<= n_ctx) with the logits of every position.
    Status decode_all(llama_context* ctx, const std::vector<int32_t>& tokens) {
        llama_memory_clear(llama_get_memory(ctx), true);
        llama_batch batch = llama_batch_init(static_cast<int32_t>(tokens.size()), 0, 1);
        for (size_t i = 0; i < tokens.size(); ++i) {
            batch.token[i] = tokens[i];
            batch.pos[i] = static_cast<llama_pos>(i);
            batch.n_seq_id[i] = 1;
            batch.seq_id[i][0] = 0;
            batch.logits[i] = 1;
        }
        batch.n_tokens = static_cast<int32_t>(tokens.size());
        const int32_t rc = llama_decode(ctx, batch);
        llama_batch_free(batch);
        if (rc != 0) return internal_error(fmt::format("llama_decode failed ({})", rc));
        return Status();
    }
};

TrainableModel::TrainableModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TrainableModel::TrainableModel(TrainableModel&&) noexcept = default;
TrainableModel& TrainableModel::operator=(TrainableModel&&) noexcept = default;
TrainableModel::~TrainableModel() = default;

int32_t TrainableModel::n_vocab() const { return impl_->n_vocab; }
int32_t TrainableModel::n_ctx() const { return impl_->n_ctx; }

Result<TrainableModel> TrainableModel::load(const std::string& path, int32_t n_threads, int32_t n_ctx) {
    // llama.cpp pads a context to a multiple of 256 tokens, and trains on sequences of the context's length.
    if (n_ctx < 256 || n_ctx % 256 != 0) {
        return invalid_input(fmt::format("fine-tuning context length {} must be a multiple of 256", n_ctx));
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return not_found(fmt::format("model file {} does not exist", path));
    MONA_RETURN_IF_ERROR(check_trainable_model(path));
    detail::init_llama(false);
    detail::take_llama_error_lines();
    llama_model_params params = llama_model_default_params();
    params.load_mode = LLAMA_LOAD_MODE_NONE;  // weights in memory of their own: training writes them
    params.n_gpu_layers = 0;
    params.use_extra_bufts = false;
    llama_model* model = llama_model_load_from_file(path.c_str(), params);
    if (model == nullptr) {
        return invalid_input(fmt::format("cannot load model {} ({})", path, detail::take_llama_error_lines()));
    }
    auto impl = std::make_unique<Impl>();
    impl->model = model;
    impl->n_threads = n_threads > 0 ? n_threads : 1;
    impl->n_ctx = n_ctx;
    impl->n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    return TrainableModel(std::move(impl));
}

Result<std::vector<float>> TrainableModel::logits(const std::vector<int32_t>& tokens) {
    if (tokens.empty() || tokens.size() > static_cast<size_t>(impl_->n_ctx)) {
        return invalid_input(fmt::format("{} tokens: expected 1..{}", tokens.size(), impl_->n_ctx));
    }
    MONA_TRY(llama_context * ctx, impl_->eval_context());
    MONA_RETURN_IF_ERROR(impl_->decode_all(ctx, tokens));
    const size_t n_vocab = static_cast<size_t>(impl_->n_vocab);
    std::vector<float> out(tokens.size() * n_vocab);
    for (size_t i = 0; i < tokens.size(); ++i) {
        const float* row = llama_get_logits_ith(ctx, static_cast<int32_t>(i));
        if (row == nullptr) return internal_error("llama.cpp returned no logits");
        std::memcpy(out.data() + i * n_vocab, row, n_vocab * sizeof(float));
    }
    return out;
}

Result<LossSum> TrainableModel::loss(const std::vector<LossExample>& examples) {
    MONA_TRY(llama_context * ctx, impl_->eval_context());
    const int32_t n_vocab = impl_->n_vocab;
    LossSum sum;
    std::vector<int32_t> tokens;
    for (const LossExample& ex : examples) {
        const Window w = window_of(ex, impl_->n_ctx);
        if (static_cast<size_t>(w.first_scored) >= w.end) continue;
        tokens.assign(ex.tokens.begin() + static_cast<std::ptrdiff_t>(w.start),
                      ex.tokens.begin() + static_cast<std::ptrdiff_t>(w.end));
        const int32_t first = w.first_scored - static_cast<int32_t>(w.start);
        MONA_RETURN_IF_ERROR(impl_->decode_all(ctx, tokens));
        // Position i predicts token i + 1: log_softmax(logits_i)[tokens[i + 1]], in double.
        for (int32_t i = first - 1; i + 1 < static_cast<int32_t>(tokens.size()); ++i) {
            const float* row = llama_get_logits_ith(ctx, i);
            if (row == nullptr) return internal_error("llama.cpp returned no logits");
            double max = row[0];
            for (int32_t v = 1; v < n_vocab; ++v) max = std::max<double>(max, row[v]);
            double z = 0.0;
            for (int32_t v = 0; v < n_vocab; ++v) z += std::exp(static_cast<double>(row[v]) - max);
            sum.sum_nll += std::log(z) + max - static_cast<double>(row[tokens[static_cast<size_t>(i) + 1]]);
            ++sum.n_tokens;
        }
    }
    return sum;
}

Result<int64_t> TrainableModel::train(const std::vector<LossExample>& examples, const TrainOptions& options,
                                      const TrainProgressFn& progress) {
    if (options.epochs < 1) return invalid_input(fmt::format("epochs {} must be >= 1", options.epochs));
    if (!(options.learning_rate > 0.0f)) return invalid_input("the learning rate must be > 0");
    const int32_t n_ctx = impl_->n_ctx;
    // Inputs tokens[0..n_ctx), labels tokens[1..n_ctx]; a row counts when its label is a scored, real token.
    std::vector<size_t> usable;
    for (size_t i = 0; i < examples.size(); ++i) {
        const Window w = window_of(examples[i], n_ctx + 1);
        if (static_cast<size_t>(w.first_scored) < w.end) usable.push_back(i);
    }
    if (usable.empty()) return invalid_input("no training example has an assistant token within the context length");

    // The graph of the training context differs (no KV cache between ubatches): the evaluation context is remade.
    if (impl_->eval_ctx != nullptr) {
        llama_free(impl_->eval_ctx);
        impl_->eval_ctx = nullptr;
    }
    MaskState state;
    state.progress = &progress;
    state.steps_total = static_cast<int64_t>(usable.size()) * options.epochs;
    llama_context_params cparams = impl_->context_params();
    cparams.cb_eval = mask_gradient;
    cparams.cb_eval_user_data = &state;
    llama_context* ctx = llama_init_from_model(impl_->model, cparams);
    if (ctx == nullptr) {
        return internal_error(
            fmt::format("llama.cpp could not create a training context: {}", detail::take_llama_error_lines()));
    }
    const TrainOptions opt_options = options;
    llama_opt_params lopt{};
    lopt.n_ctx_train = 0;
    lopt.param_filter = llama_opt_param_filter_all;
    lopt.param_filter_ud = nullptr;
    lopt.get_opt_pars = optimizer_params;
    lopt.get_opt_pars_ud = const_cast<TrainOptions*>(&opt_options);
    lopt.optimizer_type = GGML_OPT_OPTIMIZER_TYPE_ADAMW;
    llama_opt_init(ctx, impl_->model, lopt);
    // llama.cpp hands the thread count to the CPU backend, and the eval callback to the scheduler that
    // llama_opt_init made anew, in llama_decode only; the optimizer's graphs run on both, so one decode of one token
    // after llama_opt_init sets them before training (a full sequence: the training graph attends within a whole
    // ubatch of n_ctx tokens).
    {
        const std::vector<int32_t>& first = examples[usable[0]].tokens;
        std::vector<int32_t> warm(static_cast<size_t>(n_ctx));
        for (size_t i = 0; i < warm.size(); ++i) warm[i] = first[i % first.size()];
        Status st = impl_->decode_all(ctx, warm);
        if (!st.ok()) {
            llama_free(ctx);
            return st;
        }
        llama_memory_clear(llama_get_memory(ctx), true);
    }

    const int64_t n_data = static_cast<int64_t>(usable.size());
    ggml_opt_dataset_t dataset = ggml_opt_dataset_init(GGML_TYPE_I32, GGML_TYPE_I32, n_ctx, n_ctx, n_data, 1);
    ggml_opt_result_t result_train = ggml_opt_result_init();
    ggml_opt_result_t result_eval = ggml_opt_result_init();
    std::vector<std::vector<uint8_t>> masks(static_cast<size_t>(n_data));
    SplitMix64 rng(splitmix64_hash(options.seed ^ 0x6d6f6e612d66744bULL));
    std::vector<size_t> order = usable;
    Status status;
    for (int32_t epoch = 0; epoch < options.epochs && status.ok(); ++epoch) {
        shuffle_in_place(std::span<size_t>(order), rng);
        auto* data = static_cast<int32_t*>(ggml_opt_dataset_data(dataset)->data);
        auto* labels = static_cast<int32_t*>(ggml_opt_dataset_labels(dataset)->data);
        for (int64_t d = 0; d < n_data; ++d) {
            const LossExample& ex = examples[order[static_cast<size_t>(d)]];
            const Window w = window_of(ex, n_ctx + 1);
            const int32_t* tok = ex.tokens.data() + w.start;
            const int32_t n = static_cast<int32_t>(w.end - w.start);
            const int32_t first = w.first_scored - static_cast<int32_t>(w.start);
            std::vector<uint8_t>& mask = masks[static_cast<size_t>(d)];
            mask.assign(static_cast<size_t>(n_ctx), 0);
            for (int32_t i = 0; i < n_ctx; ++i) {
                // Padding repeats the last real token: any valid id does, its rows are masked out.
                data[d * n_ctx + i] = tok[std::min(i, n - 1)];
                labels[d * n_ctx + i] = tok[std::min(i + 1, n - 1)];
                mask[static_cast<size_t>(i)] = (i + 1 < n && i + 1 >= first) ? 1 : 0;
            }
        }
        state.masks = &masks;
        state.next = 0;
        llama_opt_epoch(ctx, dataset, result_train, result_eval, /*idata_split=*/n_data, nullptr, nullptr);
        ggml_opt_result_reset(result_train);
        ggml_opt_result_reset(result_eval);
        if (state.failed || static_cast<int64_t>(state.next) != n_data) {
            status = internal_error(fmt::format(
                "fine-tuning: the loss gradient was masked in {} of {} steps (llama.cpp's training graph is not the "
                "one mona expects)",
                state.next, n_data));
        }
    }
    ggml_opt_result_free(result_train);
    ggml_opt_result_free(result_eval);
    ggml_opt_dataset_free(dataset);
    llama_free(ctx);
    if (!status.ok()) return status;
    return n_data;
}

Status make_trainable_copy(const std::string& in_path, const std::string& out_path, int32_t n_threads) {
    struct stat st {};
    if (::stat(in_path.c_str(), &st) != 0) return not_found(fmt::format("model file {} does not exist", in_path));
    detail::init_llama(false);
    detail::take_llama_error_lines();
    llama_model_quantize_params params = llama_model_quantize_default_params();
    params.nthread = n_threads > 0 ? n_threads : 1;
    params.ftype = LLAMA_FTYPE_ALL_F32;
    params.allow_requantize = true;  // dequantise Q4_1 & co. to F32
    params.quantize_output_tensor = true;
    params.output_tensor_type = GGML_TYPE_F32;
    params.token_embedding_type = GGML_TYPE_F32;
    params.pure = true;
    const std::string tmp = out_path + ".tmp";
    if (llama_model_quantize(in_path.c_str(), tmp.c_str(), &params) != 0) {
        std::remove(tmp.c_str());
        return internal_error(
            fmt::format("cannot write an F32 copy of {} to {}: {}", in_path, tmp, detail::take_llama_error_lines()));
    }
    if (std::rename(tmp.c_str(), out_path.c_str()) != 0) {
        std::remove(tmp.c_str());
        return io_error(fmt::format("cannot rename {} to {}", tmp, out_path));
    }
    return Status();
}

}  // namespace mona
