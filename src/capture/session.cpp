#include "capture/session.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "ggml-backend.h"
#include "capture/gguf_header.hpp"
#include "ggml.h"
#include "llama.h"

namespace mona {
namespace {

// llama.cpp logs through one global callback. We keep its last error lines so that a failed load can say why,
// and forward everything to stderr only when asked.
struct LlamaLog {
    std::mutex mu;
    std::deque<std::string> recent;
    bool verbose = false;
};

LlamaLog& llama_log_state() {
    static LlamaLog state;
    return state;
}

void llama_log_callback(ggml_log_level level, const char* text, void* /*user*/) {
    LlamaLog& state = llama_log_state();
    std::lock_guard<std::mutex> lock(state.mu);
    if (state.verbose) std::fputs(text, stderr);
    if (level == GGML_LOG_LEVEL_ERROR || level == GGML_LOG_LEVEL_WARN) {
        std::string line(text);
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
        if (line.empty()) return;
        state.recent.push_back(std::move(line));
        if (state.recent.size() > 4) state.recent.pop_front();
    }
}

std::string take_llama_errors() {
    LlamaLog& state = llama_log_state();
    std::lock_guard<std::mutex> lock(state.mu);
    std::string out;
    for (const auto& line : state.recent) {
        if (!out.empty()) out += "; ";
        out += line;
    }
    state.recent.clear();
    return out;
}

void init_llama_once(bool verbose) {
    static std::once_flag once;
    std::call_once(once, [] {
        llama_log_set(llama_log_callback, nullptr);
        llama_backend_init();
    });
    std::lock_guard<std::mutex> lock(llama_log_state().mu);
    llama_log_state().verbose = verbose;
}

std::string meta_string(const llama_model* model, const char* key) {
    char buf[512];
    int32_t n = llama_model_meta_val_str(model, key, buf, sizeof(buf));
    if (n < 0) return "";
    if (static_cast<size_t>(n) >= sizeof(buf)) {
        std::string big(static_cast<size_t>(n) + 1, '\0');
        llama_model_meta_val_str(model, key, big.data(), big.size());
        big.resize(static_cast<size_t>(n));
        return big;
    }
    return std::string(buf, static_cast<size_t>(n));
}

Result<llama_model*> load_model(const std::string& path, bool vocab_only, bool verbose) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return not_found(fmt::format("model file {} does not exist", path));
    if (S_ISDIR(st.st_mode)) return invalid_input(fmt::format("model {} is a directory, expected a .gguf file", path));
    init_llama_once(verbose);
    take_llama_errors();
    // A tensor table llama.cpp would abort on is refused here (capture/gguf_header.hpp).
    auto checked = read_gguf_tensor_table(path);
    if (!checked.ok()) {
        std::string why = take_llama_errors();
        return invalid_input(fmt::format("cannot load model {}: {}{}{}", path, checked.status().message(),
                                         why.empty() ? "" : " (ggml: ", why.empty() ? "" : why + ")"));
    }
    llama_model_params params = llama_model_default_params();
    params.vocab_only = vocab_only;
    llama_model* model = llama_model_load_from_file(path.c_str(), params);
    if (model == nullptr) {
        std::string why = take_llama_errors();
        return invalid_input(fmt::format("cannot load model {}: not a GGUF file llama.cpp can read{}{}", path,
                                         why.empty() ? "" : " (llama.cpp: ", why.empty() ? "" : why + ")"));
    }
    return model;
}

ModelInfo describe(const llama_model* model, const std::string& path) {
    ModelInfo info;
    info.path = path;
    info.arch = meta_string(model, "general.architecture");
    info.name = meta_string(model, "general.name");
    char desc[256];
    llama_model_desc(model, desc, sizeof(desc));
    info.desc = desc;
    info.n_layer = llama_model_n_layer(model);
    info.n_embd = llama_model_n_embd(model);
    info.n_ctx_train = llama_model_n_ctx_train(model);
    info.n_params = llama_model_n_params(model);
    info.size_bytes = llama_model_size(model);
    const llama_vocab* vocab = llama_model_get_vocab(model);
    info.n_vocab = llama_vocab_n_tokens(vocab);
    info.add_bos = llama_vocab_get_add_bos(vocab);
    info.bos = llama_vocab_bos(vocab);
    const char* tmpl = llama_model_chat_template(model, nullptr);
    info.chat_template = tmpl ? tmpl : "";
    return info;
}

// One tensor to capture in a decode call.
struct CaptureSlot {
    std::string name;
    int64_t width = 0;          // expected row width; 0 = take the tensor's own (set on first sight)
    std::vector<float>* out = nullptr;
    int64_t rows_done = 0;
};

struct CaptureState {
    std::vector<CaptureSlot> slots;
    int64_t n_tokens = 0;      // rows expected per tensor in this decode call
    int64_t n_complete = 0;    // slots with every row captured
    bool active = false;
    std::string error;
};

// Copies the rows of `t` after the `rows_done` already captured into slot.out.
void copy_rows(const ggml_tensor* t, CaptureSlot& slot) {
    const int64_t rows = t->ne[1];
    float* dst = slot.out->data() + slot.rows_done * slot.width;
    const size_t row_bytes = static_cast<size_t>(slot.width) * sizeof(float);
    const bool host = t->buffer == nullptr || ggml_backend_buffer_is_host(t->buffer);
    if (ggml_is_contiguous(t)) {
        if (host) {
            std::memcpy(dst, t->data, row_bytes * static_cast<size_t>(rows));
        } else {
            ggml_backend_tensor_get(const_cast<ggml_tensor*>(t), dst, 0, row_bytes * static_cast<size_t>(rows));
        }
    } else {
        for (int64_t row = 0; row < rows; ++row) {
            if (host) {
                std::memcpy(dst + row * slot.width, static_cast<const char*>(t->data) + row * t->nb[1], row_bytes);
            } else {
                ggml_backend_tensor_get(const_cast<ggml_tensor*>(t), dst + row * slot.width, row * t->nb[1],
                                        row_bytes);
            }
        }
    }
    slot.rows_done += rows;
}

// ggml_backend_sched_eval_callback: ask == true asks whether we want to see tensor t; ask == false hands it over
// after it was computed. Returning false from the second phase stops the graph: layers above are skipped. We stop
// once every requested tensor has all its rows.
bool capture_callback(ggml_tensor* t, bool ask, void* user_data) {
    auto* state = static_cast<CaptureState*>(user_data);
    if (state == nullptr || !state->active) return !ask;
    CaptureSlot* slot = nullptr;
    for (CaptureSlot& s : state->slots) {
        if (std::strcmp(t->name, s.name.c_str()) == 0) {
            slot = &s;
            break;
        }
    }
    if (ask) return slot != nullptr;
    if (slot == nullptr) return true;
    if (slot->width == 0 && t->type == GGML_TYPE_F32 && t->ne[0] > 0) {
        slot->width = t->ne[0];
        slot->out->assign(static_cast<size_t>(state->n_tokens * slot->width), 0.0f);
    }
    if (t->type != GGML_TYPE_F32 || t->ne[0] != slot->width || t->ne[2] != 1 || t->ne[3] != 1) {
        state->error = fmt::format("tensor {} has type {} and shape [{}, {}, {}, {}], expected f32 rows of width {}",
                                   t->name, ggml_type_name(t->type), t->ne[0], t->ne[1], t->ne[2], t->ne[3],
                                   slot->width);
        return false;
    }
    if (slot->rows_done + t->ne[1] > state->n_tokens) {
        state->error = fmt::format("tensor {} has {} rows, more than the {} tokens submitted", t->name,
                                   slot->rows_done + t->ne[1], state->n_tokens);
        return false;
    }
    copy_rows(t, *slot);
    if (slot->rows_done == state->n_tokens) ++state->n_complete;
    // Stop the graph once every row of every requested tensor is captured; llama_decode still returns 0.
    return state->n_complete < static_cast<int64_t>(state->slots.size());
}

}  // namespace

Result<std::string> layer_tensor_name(int32_t layer, int32_t n_layer, const std::string& model_path) {
    if (layer < 0 || layer >= n_layer) {
        return invalid_input(fmt::format(
            "layer {} out of range: model {} has {} layers (valid: 0..{}, HF hidden_states numbering; {} would be "
            "after the final norm and is not available)",
            layer, model_path, n_layer, n_layer - 1, n_layer));
    }
    if (layer == 0) return std::string("embd");  // `inp_embd` is the vector-input leaf, never computed
    return fmt::format("l_out-{}", layer - 1);
}

Result<std::string> ffn_gate_tensor_name(int32_t layer, int32_t n_layer, const std::string& model_path) {
    if (layer < 1 || layer >= n_layer) {
        return invalid_input(fmt::format("layer {} has no MLP gate: model {} has {} layers; the gate of the block "
                                         "writing hidden_states[L] exists for L in 1..{}",
                                         layer, model_path, n_layer, n_layer - 1));
    }
    return fmt::format("ffn_gate-{}", layer - 1);
}

Result<ModelInfo> read_model_info(const std::string& path) {
    // Not vocab_only: in that mode the pinned llama.cpp loads the vocabulary but leaves the hyperparameters
    // (n_layer, n_embd, n_ctx_train) at 0. The weights are mmapped, not read, so the cost is the header parse.
    MONA_TRY(llama_model * model, load_model(path, /*vocab_only=*/false, /*verbose=*/false));
    ModelInfo info = describe(model, path);
    llama_model_free(model);
    return info;
}

struct Session::Impl {
    SessionOptions options;
    ModelInfo info;
    llama_model* model = nullptr;
    llama_context* ctx = nullptr;
    const llama_vocab* vocab = nullptr;
    std::string tmpl;  // template string handed to llama_chat_apply_template ("" for plain)
    CaptureState capture;
    int32_t n_ctx = 0;

    ~Impl() {
        if (ctx) llama_free(ctx);
        if (model) llama_model_free(model);
    }
};

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

const ModelInfo& Session::info() const { return impl_->info; }
const SessionOptions& Session::options() const { return impl_->options; }
int32_t Session::max_batch_tokens() const { return impl_->n_ctx; }

Result<Session> Session::open(const SessionOptions& options) {
    if (options.batch_tokens < 1) return invalid_input(fmt::format("--batch-tokens must be >= 1, got {}", options.batch_tokens));
    if (options.max_tokens < 1) return invalid_input(fmt::format("--max-tokens must be >= 1, got {}", options.max_tokens));
    if (options.max_seqs < 1 || options.max_seqs > 256) {
        return invalid_input(fmt::format("max sequences per batch must be in 1..256, got {}", options.max_seqs));
    }
    auto impl = std::make_unique<Impl>();
    impl->options = options;
    MONA_TRY(impl->model, load_model(options.model_path, /*vocab_only=*/false, options.verbose));
    impl->info = describe(impl->model, options.model_path);
    impl->vocab = llama_model_get_vocab(impl->model);

    if (options.template_name == "model") {
        if (impl->info.chat_template.empty()) {
            return invalid_input(fmt::format("model {} has no chat template (tokenizer.chat_template); use "
                                             "--template plain or a llama.cpp built-in template name such as chatml",
                                             options.model_path));
        }
        impl->tmpl = impl->info.chat_template;
    } else if (options.template_name != "plain") {
        impl->tmpl = options.template_name;
    }
    if (!impl->tmpl.empty()) {
        // Probe the template once so an unsupported one fails here, not on sample 1.
        llama_chat_message probe[2] = {{"user", "hi"}, {"assistant", "hello"}};
        char buf[256];
        if (llama_chat_apply_template(impl->tmpl.c_str(), probe, 2, false, buf, sizeof(buf)) < 0) {
            return unsupported(fmt::format("chat template '{}' is not one llama.cpp can apply without Jinja; use "
                                           "--template plain or a built-in name (chatml, llama3, ...)",
                                           options.template_name == "model" ? "of " + options.model_path
                                                                            : options.template_name));
        }
    }

    const int32_t n_threads =
        options.n_threads > 0 ? options.n_threads : std::max(1, static_cast<int32_t>(std::thread::hardware_concurrency()));
    const int32_t n_ctx = std::max(options.batch_tokens, options.max_tokens);
    llama_context_params cparams = llama_context_default_params();
    cparams.n_ctx = static_cast<uint32_t>(n_ctx);
    cparams.n_batch = static_cast<uint32_t>(n_ctx);
    cparams.n_ubatch = static_cast<uint32_t>(n_ctx);
    cparams.n_seq_max = static_cast<uint32_t>(std::min(options.max_seqs, n_ctx));  // llama.cpp: n_seq_max <= n_batch
    cparams.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;  // CPU FA's kernel depends on batch size
    cparams.kv_unified = true;
    cparams.n_threads = n_threads;
    cparams.n_threads_batch = n_threads;
    cparams.no_perf = true;
    cparams.cb_eval = capture_callback;
    cparams.cb_eval_user_data = &impl->capture;
    impl->ctx = llama_init_from_model(impl->model, cparams);
    if (impl->ctx == nullptr) {
        return internal_error(fmt::format("llama.cpp could not create a context for {} (n_ctx {}): {}",
                                          options.model_path, n_ctx, take_llama_errors()));
    }
    impl->n_ctx = static_cast<int32_t>(llama_n_ctx(impl->ctx));
    return Session(std::move(impl));
}

namespace {

const char* chat_role(Role role) {
    switch (role) {
        case Role::kSystem: return "system";
        case Role::kUser: return "user";
        case Role::kAssistant: return "assistant";
    }
    return "user";
}

Result<std::string> apply_template(const std::string& tmpl, const std::vector<Turn>& turns, size_t n_turns,
                                   bool add_assistant) {
    std::vector<llama_chat_message> msgs;
    size_t total = 0;
    for (size_t turn_idx = 0; turn_idx < n_turns; ++turn_idx) {
        msgs.push_back({chat_role(turns[turn_idx].role), turns[turn_idx].content.c_str()});
        total += turns[turn_idx].content.size();
    }
    std::string buf(2 * total + 1024, '\0');
    int32_t n = llama_chat_apply_template(tmpl.c_str(), msgs.data(), msgs.size(), add_assistant, buf.data(),
                                          static_cast<int32_t>(buf.size()));
    if (n > static_cast<int32_t>(buf.size())) {
        buf.resize(static_cast<size_t>(n));
        n = llama_chat_apply_template(tmpl.c_str(), msgs.data(), msgs.size(), add_assistant, buf.data(), n);
    }
    if (n < 0) return invalid_input("the chat template could not render this sample");
    buf.resize(static_cast<size_t>(n));
    return buf;
}

std::string render_plain(const std::vector<Turn>& turns, size_t n_turns) {
    std::string out;
    for (size_t turn_idx = 0; turn_idx < n_turns; ++turn_idx) {
        if (!out.empty()) out += "\n\n";
        out += turns[turn_idx].content;
    }
    return out;
}

}  // namespace

Result<std::string> Session::render(const Sample& sample) const {
    if (sample.format == InputFormat::kText) return sample.text;
    if (impl_->tmpl.empty()) return render_plain(sample.turns, sample.turns.size());
    return apply_template(impl_->tmpl, sample.turns, sample.turns.size(), false);
}

namespace {

Result<std::vector<int32_t>> tokenize_text(const llama_vocab* vocab, const std::string& text, bool parse_special) {
    std::vector<int32_t> tokens(text.size() + 8);
    int32_t n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                               static_cast<int32_t>(tokens.size()), /*add_special=*/true, parse_special);
    if (n < 0 && n != INT32_MIN) {
        tokens.resize(static_cast<size_t>(-n));
        n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                           static_cast<int32_t>(tokens.size()), true, parse_special);
    }
    if (n < 0) return invalid_input("the tokenizer failed on this sample");
    tokens.resize(static_cast<size_t>(n));
    // A template that writes BOS itself plus a tokenizer that adds one gives two; keep exactly one.
    const int32_t bos = llama_vocab_bos(vocab);
    if (bos >= 0 && tokens.size() >= 2 && tokens[0] == bos && tokens[1] == bos) tokens.erase(tokens.begin());
    return tokens;
}

}  // namespace

Result<TokenizedSample> Session::tokenize(const Sample& sample) const {
    TokenizedSample out;
    MONA_TRY(std::string text, render(sample));
    const bool templated = !impl_->tmpl.empty() && sample.format != InputFormat::kText;
    MONA_TRY(out.tokens, tokenize_text(impl_->vocab, text, templated));
    out.n_prompt = static_cast<int32_t>(out.tokens.size());
    if (sample.format != InputFormat::kText) {
        size_t first_assistant = sample.turns.size();
        for (size_t turn_idx = 0; turn_idx < sample.turns.size(); ++turn_idx) {
            if (sample.turns[turn_idx].role == Role::kAssistant) {
                first_assistant = turn_idx;
                break;
            }
        }
        if (first_assistant < sample.turns.size()) {
            std::string prompt;
            if (templated) {
                MONA_TRY(prompt, apply_template(impl_->tmpl, sample.turns, first_assistant, true));
            } else {
                prompt = render_plain(sample.turns, first_assistant);
                if (!prompt.empty()) prompt += "\n\n";
            }
            MONA_TRY(std::vector<int32_t> prompt_tokens, tokenize_text(impl_->vocab, prompt, templated));
            out.n_prompt = static_cast<int32_t>(std::min(prompt_tokens.size(), out.tokens.size()));
        }
    }
    const int32_t bos = llama_vocab_bos(impl_->vocab);
    out.has_bos = !out.tokens.empty() && bos >= 0 && out.tokens[0] == bos;
    out.n_full = static_cast<int32_t>(out.tokens.size());
    if (out.n_full > impl_->options.max_tokens) {
        out.tokens.resize(static_cast<size_t>(impl_->options.max_tokens));
        out.truncated = true;
        out.n_prompt = std::min(out.n_prompt, impl_->options.max_tokens);
    }
    return out;
}

std::string Session::token_text(int32_t token) const {
    char buf[256];
    int32_t n = llama_token_to_piece(impl_->vocab, token, buf, sizeof(buf), 0, true);
    if (n < 0) return "";
    return std::string(buf, static_cast<size_t>(n));
}

bool Session::is_special(int32_t token) const {
    if (llama_vocab_is_control(impl_->vocab, token) || llama_vocab_is_eog(impl_->vocab, token)) return true;
    return token == llama_vocab_bos(impl_->vocab);
}

Status Session::capture(const std::vector<const std::vector<int32_t>*>& seqs, int32_t layer, std::vector<float>& out,
                        std::vector<ExtraCapture>* extra) {
    MONA_TRY(std::string name, layer_tensor_name(layer, impl_->info.n_layer, impl_->options.model_path));
    int64_t n_tokens = 0;
    for (const auto* seq : seqs) n_tokens += static_cast<int64_t>(seq->size());
    if (seqs.empty() || n_tokens == 0) {
        out.clear();
        if (extra) {
            for (ExtraCapture& e : *extra) e.rows.clear();
        }
        return Status();
    }
    MONA_ASSERT(n_tokens <= impl_->n_ctx, "batch larger than the context");
    MONA_ASSERT(static_cast<int32_t>(seqs.size()) <= impl_->options.max_seqs, "too many sequences in one batch");

    llama_batch batch = llama_batch_init(static_cast<int32_t>(n_tokens), 0, 1);
    int32_t pos_in_batch = 0;
    for (size_t seq_idx = 0; seq_idx < seqs.size(); ++seq_idx) {
        const auto& tokens = *seqs[seq_idx];
        for (size_t token_idx = 0; token_idx < tokens.size(); ++token_idx) {
            batch.token[pos_in_batch] = tokens[token_idx];
            batch.pos[pos_in_batch] = static_cast<llama_pos>(token_idx);
            batch.n_seq_id[pos_in_batch] = 1;
            batch.seq_id[pos_in_batch][0] = static_cast<llama_seq_id>(seq_idx);
            batch.logits[pos_in_batch] = 0;
            ++pos_in_batch;
        }
    }
    batch.n_tokens = pos_in_batch;

    out.assign(static_cast<size_t>(n_tokens) * static_cast<size_t>(impl_->info.n_embd), 0.0f);
    CaptureState& state = impl_->capture;
    state.slots.clear();
    state.slots.push_back({name, impl_->info.n_embd, &out, 0});
    if (extra) {
        for (ExtraCapture& e : *extra) {
            bool dup = e.tensor == name;
            for (const CaptureSlot& s : state.slots) dup = dup || s.name == e.tensor;
            MONA_ASSERT(!dup, "a tensor requested twice in one capture");
            e.width = 0;
            e.rows.clear();
            state.slots.push_back({e.tensor, 0, &e.rows, 0});
        }
    }
    state.n_tokens = n_tokens;
    state.n_complete = 0;
    state.active = true;
    state.error.clear();

    llama_memory_clear(llama_get_memory(impl_->ctx), true);
    const int32_t rc = llama_decode(impl_->ctx, batch);
    llama_batch_free(batch);
    state.active = false;
    llama_memory_clear(llama_get_memory(impl_->ctx), true);

    if (!state.error.empty()) return internal_error("capturing " + name + ": " + state.error);
    // rc 2 means "aborted" in llama.cpp; our callback stopping the graph is not an error.
    if (rc != 0 && rc != 2) {
        return internal_error(fmt::format("llama_decode failed with code {} on a batch of {} tokens: {}", rc,
                                          n_tokens, take_llama_errors()));
    }
    for (size_t slot_idx = 0; slot_idx < state.slots.size(); ++slot_idx) {
        const CaptureSlot& slot = state.slots[slot_idx];
        if (slot.rows_done != n_tokens) {
            return internal_error(fmt::format("captured {} of {} token rows of tensor {}; the model graph of "
                                              "architecture '{}' may not have a tensor named {}",
                                              slot.rows_done, n_tokens, slot.name, impl_->info.arch, slot.name));
        }
        if (slot_idx > 0) (*extra)[slot_idx - 1].width = slot.width;
    }
    return Status();
}

}  // namespace mona
