// capture/session.cpp: the Session (capture/session.hpp), the only code that calls llama.cpp.
//
// Why ~780 lines in one file: model loading (with llama.cpp's log captured for errors), the eval-callback capture
// that stops the graph after the deepest requested tensor, chat rendering in llama.cpp's Jinja engine (with the
// --system-prompt rules) and tokenisation all work on the same private llama.cpp state (Session::Impl: model,
// context, vocabulary, template); split apart they would each need that state exposed in a header.
#include "capture/session.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "capture/cpu_variant.hpp"
#include "capture/gguf_header.hpp"
#include "capture/llama_init.hpp"
#include "ggml-backend.h"
#include "ggml.h"
#include "llama.h"

// llama.cpp's Jinja engine (common/jinja); its headers define static helpers that this file does not all use.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "jinja/lexer.h"
#include "jinja/parser.h"
#include "jinja/runtime.h"
#include "jinja/value.h"
#pragma GCC diagnostic pop

namespace mona {
namespace {

// llama.cpp logs through one global callback. We keep its last error lines so that a failed load can say why,
// and forward everything to stderr only when asked.
struct LlamaLog {
    std::mutex mu;
    std::deque<std::string> recent;
    std::vector<std::string> weight_buffers;  // "<name> model buffer size" lines of the last model load
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
    // "load_tensors:   CPU_REPACK model buffer size =    12.66 MiB": which buffer types hold the weights.
    if (const char* at = std::strstr(text, " model buffer size =")) {
        const char* colon = std::strchr(text, ':');
        if (colon != nullptr && colon < at) {
            std::string name(colon + 1, at);
            name.erase(0, name.find_first_not_of(' '));
            if (!name.empty()) state.weight_buffers.push_back(std::move(name));
        }
    }
    if (level == GGML_LOG_LEVEL_ERROR || level == GGML_LOG_LEVEL_WARN) {
        std::string line(text);
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
        if (line.empty()) return;
        state.recent.push_back(std::move(line));
        if (state.recent.size() > 4) state.recent.pop_front();
    }
}

std::vector<std::string> take_weight_buffers() {
    LlamaLog& state = llama_log_state();
    std::lock_guard<std::mutex> lock(state.mu);
    std::vector<std::string> out = std::move(state.weight_buffers);
    state.weight_buffers.clear();
    return out;
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
        load_cpu_variant_once();
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

llama_model_params to_llama(const ModelLoadSettings& settings) {
    llama_model_params params = llama_model_default_params();
    params.vocab_only = settings.vocab_only;
    params.use_extra_bufts = settings.use_extra_bufts;
    params.n_gpu_layers = settings.n_gpu_layers;
    return params;
}

Result<llama_model*> load_model(const std::string& path, const ModelLoadSettings& settings, bool verbose) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return not_found(fmt::format("model file {} does not exist", path));
    if (S_ISDIR(st.st_mode)) return invalid_input(fmt::format("model {} is a directory, expected a .gguf file", path));
    init_llama_once(verbose);
    if (!cpu_variant_state().error.empty()) return not_found(cpu_variant_state().error);
    take_llama_errors();
    take_weight_buffers();
    // A tensor table llama.cpp would abort on is refused here (capture/gguf_header.hpp).
    auto checked = read_gguf_tensor_table(path);
    if (!checked.ok()) {
        std::string why = take_llama_errors();
        std::string message = checked.status().message();
        if (message.rfind(path + ": ", 0) == 0) message.erase(0, path.size() + 2);  // the path is said once
        return invalid_input(fmt::format("cannot load model {}: {}{}{}", path, message,
                                         why.empty() ? "" : " (ggml: ", why.empty() ? "" : why + ")"));
    }
    llama_model* model = llama_model_load_from_file(path.c_str(), to_llama(settings));
    if (model == nullptr) {
        std::string why = take_llama_errors();
        return invalid_input(fmt::format("cannot load model {}: not a GGUF file llama.cpp can read{}{}", path,
                                         why.empty() ? "" : " (llama.cpp: ", why.empty() ? "" : why + ")"));
    }
    return model;
}

ModelInfo describe(const llama_model* model, const std::string& path) {
    ModelInfo info;
    info.weight_buffers = take_weight_buffers();
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
    int64_t width = 0;  // expected row width; 0 = take the tensor's own (set on first sight)
    std::vector<float>* out = nullptr;
    int64_t rows_done = 0;
    // Session::capture_to_tensor: rows go into this backend tensor [width, >= n_tokens] instead of `out`, by
    // ggml_backend_tensor_copy (device to device when both live on the same device, never through mona's memory
    // when they do).
    ggml_tensor* dest = nullptr;
};

struct CaptureState {
    std::vector<CaptureSlot> slots;
    int64_t n_tokens = 0;    // rows per tensor over the whole capture() call (sizes the outputs)
    int64_t call_end = 0;    // rows_done every slot reaches when the current decode call is complete
    int64_t n_complete = 0;  // slots with every row of the current decode call captured
    bool active = false;
    std::string error;
    ggml_context* view_ctx = nullptr;  // views of CaptureSlot::dest (metadata only)

    ~CaptureState() {
        if (view_ctx != nullptr) ggml_free(view_ctx);
    }
};

// Copies the rows of `t` after the `rows_done` already captured into a view of slot.dest.
bool copy_rows_to_tensor(const ggml_tensor* t, CaptureSlot& slot, CaptureState& state) {
    if (!ggml_is_contiguous(t)) {
        state.error = fmt::format("tensor {} is not contiguous: it cannot be copied on the device", t->name);
        return false;
    }
    if (state.view_ctx == nullptr) {
        ggml_init_params params{};
        params.mem_size = ggml_tensor_overhead() * 4;
        params.no_alloc = true;
        state.view_ctx = ggml_init(params);
    }
    ggml_reset(state.view_ctx);
    ggml_tensor* view = ggml_view_2d(state.view_ctx, slot.dest, slot.width, t->ne[1], slot.dest->nb[1],
                                     static_cast<size_t>(slot.rows_done) * slot.dest->nb[1]);
    if (ggml_backend_view_init(view) != GGML_STATUS_SUCCESS) {
        state.error = fmt::format("cannot view the device rows of tensor {}", t->name);
        return false;
    }
    ggml_backend_tensor_copy(const_cast<ggml_tensor*>(t), view);
    slot.rows_done += t->ne[1];
    return true;
}

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
                ggml_backend_tensor_get(const_cast<ggml_tensor*>(t), dst + row * slot.width, row * t->nb[1], row_bytes);
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
        state->error =
            fmt::format("tensor {} has type {} and shape [{}, {}, {}, {}], expected f32 rows of width {}", t->name,
                        ggml_type_name(t->type), t->ne[0], t->ne[1], t->ne[2], t->ne[3], slot->width);
        return false;
    }
    if (slot->rows_done + t->ne[1] > state->call_end) {
        state->error = fmt::format("tensor {} has {} rows, more than the {} tokens submitted", t->name,
                                   slot->rows_done + t->ne[1], state->call_end);
        return false;
    }
    if (slot->dest != nullptr) {
        if (!copy_rows_to_tensor(t, *slot, *state)) return false;
    } else {
        copy_rows(t, *slot);
    }
    if (slot->rows_done == state->call_end) ++state->n_complete;
    // Stop the graph once every row of every requested tensor is captured; llama_decode still returns 0.
    return state->n_complete < static_cast<int64_t>(state->slots.size());
}

}  // namespace

void detail::init_llama(bool verbose) { init_llama_once(verbose); }
std::string detail::take_llama_error_lines() { return take_llama_errors(); }

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
        return invalid_input(
            fmt::format("layer {} has no MLP gate: model {} has {} layers; the gate of the block "
                        "writing hidden_states[L] exists for L in 1..{}",
                        layer, model_path, n_layer, n_layer - 1));
    }
    return fmt::format("ffn_gate-{}", layer - 1);
}

ModelLoadSettings model_load_settings(const SessionOptions& options, bool vocab_only) {
    ModelLoadSettings settings;
    settings.vocab_only = vocab_only;
    // Extra buffer types are where llama.cpp repacks weights for faster CPU kernels. The AMX one crashes on many
    // AMX machines (SIGSEGV/SIGILL in ggml_backend_amx_mul_mat, upstream llama.cpp #20824: worker threads run
    // tile instructions without the kernel's XTILEDATA permission). mona builds ggml without AMX
    // (cmake/mona_llama.cmake), and uses the remaining repacking (CPU_REPACK) only when asked: --cpu-repack on.
    settings.use_extra_bufts = options.cpu_repack;
    // --gpu-layers: all layers on a GPU when one is present, unless told otherwise. A CPU-only build has no GPU
    // device, so it loads exactly as before.
    settings.n_gpu_layers = options.gpu_layers >= 0 ? options.gpu_layers : (gpu_device() != nullptr ? 999 : 0);
    return settings;
}

std::vector<std::string> cpu_extra_buffer_types() {
    init_llama_once(false);
    std::vector<std::string> names;
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (cpu == nullptr) return names;
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(cpu);
    auto get_extra = reinterpret_cast<ggml_backend_dev_get_extra_bufts_t>(
        ggml_backend_reg_get_proc_address(reg, "ggml_backend_dev_get_extra_bufts"));
    if (get_extra == nullptr) return names;
    for (ggml_backend_buffer_type_t* buft = get_extra(cpu); buft != nullptr && *buft != nullptr; ++buft) {
        names.emplace_back(ggml_backend_buft_name(*buft));
    }
    return names;
}

std::string cpu_backend_features() {
    init_llama_once(false);
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (cpu == nullptr) return "";
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(cpu);
    auto get_features = reinterpret_cast<ggml_backend_get_features_t>(
        ggml_backend_reg_get_proc_address(reg, "ggml_backend_get_features"));
    if (get_features == nullptr) return "";
    std::string out;
    for (ggml_backend_feature* f = get_features(reg); f != nullptr && f->name != nullptr; ++f) {
        if (!out.empty()) out += ' ';
        out += fmt::format("{}={}", f->name, f->value);
    }
    return out;
}

ggml_backend_device* gpu_device() {
    init_llama_once(false);
    for (size_t dev_idx = 0; dev_idx < ggml_backend_dev_count(); ++dev_idx) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(dev_idx);
        const enum ggml_backend_dev_type type = ggml_backend_dev_type(dev);
        if (type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU) return dev;
    }
    return nullptr;
}

std::string device_name(ggml_backend_device* device) { return ggml_backend_dev_name(device); }

Result<std::string> resolve_device_name(const std::string& name) {
    if (name.rfind("rpc:", 0) != 0) return name;
    init_llama_once(false);
    const std::string endpoint = name.substr(4);
    static std::mutex mu;
    static std::map<std::string, std::string> connected;  // endpoint -> device name
    const std::lock_guard<std::mutex> lock(mu);
    if (auto it = connected.find(endpoint); it != connected.end()) return it->second;
    ggml_backend_reg_t rpc = ggml_backend_reg_by_name("RPC");
    if (rpc == nullptr) {
        return unsupported(
            fmt::format("--device {}: this build has no RPC backend (configure with -DMONA_RPC=ON)", name));
    }
    using AddServer = ggml_backend_reg_t (*)(const char*);
    auto add_server =
        reinterpret_cast<AddServer>(ggml_backend_reg_get_proc_address(rpc, "ggml_backend_rpc_add_server"));
    if (add_server == nullptr) return unsupported("the RPC backend of this build cannot add servers");
    ggml_backend_reg_t reg = add_server(endpoint.c_str());
    if (reg == nullptr || ggml_backend_reg_dev_count(reg) == 0) {
        return invalid_input(fmt::format("--device {}: no rpc-server answers at {}", name, endpoint));
    }
    ggml_backend_register(reg);
    const std::string dev_name = ggml_backend_dev_name(ggml_backend_reg_dev_get(reg, 0));
    connected[endpoint] = dev_name;
    return dev_name;
}

bool device_is_gpu(ggml_backend_device* device) {
    const enum ggml_backend_dev_type type = ggml_backend_dev_type(device);
    return type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU;
}

ggml_backend_device* device_by_name(const std::string& name) {
    init_llama_once(false);
    return ggml_backend_dev_by_name(name.c_str());
}

Result<ModelInfo> read_model_info(const std::string& path) {
    // Not vocab_only: in that mode the pinned llama.cpp loads the vocabulary but leaves the hyperparameters
    // (n_layer, n_embd, n_ctx_train) at 0. The weights are mmapped, not read, so the cost is the header parse.
    SessionOptions header_only;
    header_only.gpu_layers = 0;  // the header is all we read: no weights on a GPU
    MONA_TRY(llama_model * model, load_model(path, model_load_settings(header_only, /*vocab_only=*/false),
                                             /*verbose=*/false));
    ModelInfo info = describe(model, path);
    llama_model_free(model);
    return info;
}

SystemPrompt system_prompt_from_flag(const std::string& value) {
    if (value == "none") return {SystemPrompt::Mode::kNone, ""};
    return {SystemPrompt::Mode::kText, value};
}

std::string system_prompt_param(const SystemPrompt& prompt) {
    switch (prompt.mode) {
        case SystemPrompt::Mode::kTemplate: return "template";
        case SystemPrompt::Mode::kNone: return "none";
        case SystemPrompt::Mode::kText: return "text:" + prompt.text;
    }
    return "template";
}

Result<SystemPrompt> parse_system_prompt_param(const std::string& param) {
    if (param == "template") return SystemPrompt{};
    if (param == "none") return SystemPrompt{SystemPrompt::Mode::kNone, ""};
    if (param.rfind("text:", 0) == 0) return SystemPrompt{SystemPrompt::Mode::kText, param.substr(5)};
    return invalid_input(fmt::format("system prompt parameter '{}': expected template, none or text:TEXT", param));
}

namespace {

enum class RenderKind { kPlain, kBuiltin, kJinja };

// One message as the template sees it.
struct ChatMessage {
    const char* role;
    const std::string* content;
};

// Text no sample plausibly contains: the content of the system turn whose rendering `--system-prompt none` cuts.
const std::string kSystemMarker = "\x01mona-system-turn-marker\x01";

}  // namespace

struct Session::Impl {
    SessionOptions options;
    ModelInfo info;
    llama_model* model = nullptr;
    llama_context* ctx = nullptr;
    const llama_vocab* vocab = nullptr;
    RenderKind kind = RenderKind::kPlain;
    std::string tmpl;  // kBuiltin: the name handed to llama_chat_apply_template; kJinja: the template source
    std::unique_ptr<jinja::program> program;  // kJinja
    std::string bos_text, eos_text;           // kJinja: HF's bos_token / eos_token ("" = the vocab has none)
    bool has_bos_text = false, has_eos_text = false;
    // kJinja with SystemPrompt::kNone: the rendering of no message and of the marker system turn alone, when
    // the marker system turn is a prefix block the template writes before the conversation (else cut_system false).
    bool cut_system = false;
    std::string render_empty, render_marker;
    CaptureState capture;
    int32_t n_ctx = 0;

    ~Impl() {
        if (ctx) llama_free(ctx);
        if (model) llama_model_free(model);
    }

    // Runs the Jinja template over `messages` with HF's variables; kInvalidInput with the engine's message.
    Result<std::string> run_jinja(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;
    // Renders turns[0, n_turns) of a chat sample with the session's template and system prompt.
    Result<std::string> render_turns(const Sample& sample, size_t n_turns, bool add_generation_prompt) const;
};

namespace {

std::string token_piece(const llama_vocab* vocab, llama_token token) {
    std::string piece(64, '\0');
    int32_t n = llama_token_to_piece(vocab, token, piece.data(), static_cast<int32_t>(piece.size()), 0, true);
    if (n < 0) {
        piece.resize(static_cast<size_t>(-n));
        n = llama_token_to_piece(vocab, token, piece.data(), static_cast<int32_t>(piece.size()), 0, true);
    }
    piece.resize(static_cast<size_t>(std::max(n, 0)));
    return piece;
}

}  // namespace

Result<std::string> Session::Impl::run_jinja(const std::vector<ChatMessage>& messages,
                                             bool add_generation_prompt) const {
    // The variables of transformers' apply_chat_template: messages, tools and documents (None when not given),
    // add_generation_prompt, and the tokenizer's special tokens by name.
    try {
        jinja::context ctx(tmpl);
        auto list = jinja::mk_val<jinja::value_array>();
        for (const ChatMessage& m : messages) {
            auto msg = jinja::mk_val<jinja::value_object>();
            msg->insert("role", jinja::mk_val<jinja::value_string>(std::string(m.role)));
            msg->insert("content", jinja::mk_val<jinja::value_string>(*m.content));
            list->push_back(msg);
        }
        ctx.set_val("messages", list);
        ctx.set_val("tools", jinja::mk_val<jinja::value_none>());
        ctx.set_val("documents", jinja::mk_val<jinja::value_none>());
        ctx.set_val("add_generation_prompt", jinja::mk_val<jinja::value_bool>(add_generation_prompt));
        if (has_bos_text) ctx.set_val("bos_token", jinja::mk_val<jinja::value_string>(bos_text));
        if (has_eos_text) ctx.set_val("eos_token", jinja::mk_val<jinja::value_string>(eos_text));
        jinja::runtime runtime(ctx);
        const jinja::value results = runtime.execute(*program);
        return jinja::runtime::gather_string_parts(results)->as_string().str();
    } catch (const std::exception& e) {
        return invalid_input(
            fmt::format("the chat template of {} failed on this sample: {}", options.model_path, e.what()));
    }
}

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

const ModelInfo& Session::info() const { return impl_->info; }
const SessionOptions& Session::options() const { return impl_->options; }
int32_t Session::max_batch_tokens() const { return std::max(impl_->options.batch_tokens, impl_->n_ctx); }

Result<Session> Session::open(const SessionOptions& options) {
    if (options.batch_tokens < 1)
        return invalid_input(fmt::format("--batch-tokens must be >= 1, got {}", options.batch_tokens));
    if (options.max_tokens < 1)
        return invalid_input(fmt::format("--max-tokens must be >= 1, got {}", options.max_tokens));
    if (options.max_seqs < 1 || options.max_seqs > 256) {
        return invalid_input(fmt::format("max sequences per batch must be in 1..256, got {}", options.max_seqs));
    }
    auto impl = std::make_unique<Impl>();
    impl->options = options;
    MONA_TRY(impl->model,
             load_model(options.model_path, model_load_settings(options, /*vocab_only=*/false), options.verbose));
    impl->info = describe(impl->model, options.model_path);
    impl->vocab = llama_model_get_vocab(impl->model);

    if (options.template_name == "model") {
        if (impl->info.chat_template.empty()) {
            return invalid_input(
                fmt::format("model {} has no chat template (tokenizer.chat_template); use "
                            "--template plain or a llama.cpp built-in template name such as chatml",
                            options.model_path));
        }
        impl->kind = RenderKind::kJinja;
        impl->tmpl = impl->info.chat_template;
        try {
            jinja::lexer lexer;
            const jinja::lexer_result lexed = lexer.tokenize(impl->tmpl);
            impl->program = std::make_unique<jinja::program>(jinja::parse_from_tokens(lexed));
        } catch (const std::exception& e) {
            return unsupported(
                fmt::format("the chat template of {} is Jinja that llama.cpp's engine cannot parse "
                            "({}); use --template plain or a built-in name (chatml, llama3, ...)",
                            options.model_path, e.what()));
        }
        const llama_token bos = llama_vocab_bos(impl->vocab);
        const llama_token eos = llama_vocab_eos(impl->vocab);
        impl->has_bos_text = bos != LLAMA_TOKEN_NULL;
        impl->has_eos_text = eos != LLAMA_TOKEN_NULL;
        if (impl->has_bos_text) impl->bos_text = token_piece(impl->vocab, bos);
        if (impl->has_eos_text) impl->eos_text = token_piece(impl->vocab, eos);
        const std::string hi = "hi", hello = "hello";
        auto probe = impl->run_jinja({{"user", &hi}, {"assistant", &hello}}, false);
        if (!probe.ok()) {
            return unsupported(fmt::format("{}; use --template plain or a built-in name (chatml, llama3, ...)",
                                           probe.status().message()));
        }
        if (options.system_prompt.mode == SystemPrompt::Mode::kNone) {
            // Where the template writes a system turn as a block before the conversation, that block is what
            // `none` cuts: render(marker + turns) = render([]) + block + rest, and the result is render([]) + rest.
            auto empty = impl->run_jinja({}, false);
            auto marker = impl->run_jinja({{"system", &kSystemMarker}}, false);
            if (empty.ok() && marker.ok() && marker->find(kSystemMarker) != std::string::npos &&
                marker->rfind(*empty, 0) == 0) {
                impl->cut_system = true;
                impl->render_empty = std::move(*empty);
                impl->render_marker = std::move(*marker);
            }
        }
    } else if (options.template_name != "plain") {
        impl->kind = RenderKind::kBuiltin;
        impl->tmpl = options.template_name;
        // Probe the template once so an unsupported one fails here, not on sample 1.
        llama_chat_message probe[2] = {{"user", "hi"}, {"assistant", "hello"}};
        char buf[256];
        if (llama_chat_apply_template(impl->tmpl.c_str(), probe, 2, false, buf, sizeof(buf)) < 0) {
            return unsupported(
                fmt::format("'{}' is not a llama.cpp built-in chat template; use --template model "
                            "(the GGUF's own), plain, or a built-in name (chatml, llama3, ...)",
                            options.template_name));
        }
    }

    const int32_t n_threads = options.n_threads > 0
                                  ? options.n_threads
                                  : std::max(1, static_cast<int32_t>(std::thread::hardware_concurrency()));
    // Every sample is decoded on its own (see capture()), so the context holds one sample: its size, and so every
    // computed value, does not depend on --batch-tokens.
    const int32_t n_ctx = options.max_tokens;
    llama_context_params cparams = llama_context_default_params();
    cparams.n_ctx = static_cast<uint32_t>(n_ctx);
    cparams.n_batch = static_cast<uint32_t>(n_ctx);
    cparams.n_ubatch = static_cast<uint32_t>(n_ctx);
    cparams.n_seq_max = 1;
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

Result<std::string> apply_builtin(const std::string& tmpl, const std::vector<ChatMessage>& messages,
                                  bool add_assistant) {
    std::vector<llama_chat_message> msgs;
    size_t total = 0;
    for (const ChatMessage& m : messages) {
        msgs.push_back({m.role, m.content->c_str()});
        total += m.content->size();
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

std::string render_plain(const std::vector<ChatMessage>& messages) {
    std::string out;
    for (const ChatMessage& m : messages) {
        if (!out.empty()) out += "\n\n";
        out += *m.content;
    }
    return out;
}

// Index of the first assistant turn, or turns.size().
size_t first_assistant_turn(const std::vector<Turn>& turns) {
    for (size_t turn_idx = 0; turn_idx < turns.size(); ++turn_idx) {
        if (turns[turn_idx].role == Role::kAssistant) return turn_idx;
    }
    return turns.size();
}

// The messages of turns[0, n_turns) under the system prompt setting (decided on the whole sample).
std::vector<ChatMessage> chat_messages(const Sample& sample, size_t n_turns, const SystemPrompt& prompt) {
    std::vector<ChatMessage> out;
    bool has_system = false;
    for (const Turn& turn : sample.turns) has_system = has_system || turn.role == Role::kSystem;
    if (prompt.mode == SystemPrompt::Mode::kText && !has_system) out.push_back({"system", &prompt.text});
    for (size_t turn_idx = 0; turn_idx < n_turns; ++turn_idx) {
        const Turn& turn = sample.turns[turn_idx];
        if (prompt.mode == SystemPrompt::Mode::kNone && turn.role == Role::kSystem) continue;
        out.push_back({chat_role(turn.role), &turn.content});
    }
    return out;
}

}  // namespace

Result<std::string> Session::Impl::render_turns(const Sample& sample, size_t n_turns,
                                                bool add_generation_prompt) const {
    const Impl& impl = *this;
    std::vector<ChatMessage> messages = chat_messages(sample, n_turns, impl.options.system_prompt);
    switch (impl.kind) {
        case RenderKind::kPlain: {
            std::string text = render_plain(messages);
            if (add_generation_prompt && !text.empty()) text += "\n\n";
            return text;
        }
        case RenderKind::kBuiltin: return apply_builtin(impl.tmpl, messages, add_generation_prompt);
        case RenderKind::kJinja: break;
    }
    if (impl.options.system_prompt.mode == SystemPrompt::Mode::kNone && impl.cut_system) {
        std::vector<ChatMessage> marked;
        marked.push_back({"system", &kSystemMarker});
        marked.insert(marked.end(), messages.begin(), messages.end());
        auto text = impl.run_jinja(marked, add_generation_prompt);
        if (text.ok() && text->rfind(impl.render_marker, 0) == 0) {
            return impl.render_empty + text->substr(impl.render_marker.size());
        }
    }
    return impl.run_jinja(messages, add_generation_prompt);
}

Result<std::string> Session::render(const Sample& sample) const {
    if (sample.format == InputFormat::kText) return sample.text;
    return impl_->render_turns(sample, sample.turns.size(), false);
}

Result<std::string> Session::render_prompt(const Sample& sample) const {
    if (sample.format == InputFormat::kText) return sample.text;
    const size_t first_assistant = first_assistant_turn(sample.turns);
    if (first_assistant == sample.turns.size()) return render(sample);
    return impl_->render_turns(sample, first_assistant, true);
}

namespace {

Result<std::vector<int32_t>> tokenize_text(const llama_vocab* vocab, const std::string& text, bool add_special,
                                           bool parse_special) {
    std::vector<int32_t> tokens(text.size() + 8);
    int32_t n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                               static_cast<int32_t>(tokens.size()), add_special, parse_special);
    if (n < 0 && n != INT32_MIN) {
        tokens.resize(static_cast<size_t>(-n));
        n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                           static_cast<int32_t>(tokens.size()), add_special, parse_special);
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
    const bool chat = sample.format != InputFormat::kText;
    const bool templated = chat && impl_->kind != RenderKind::kPlain;
    // HF's apply_chat_template tokenises with add_special_tokens=False: the Jinja template writes BOS itself.
    const bool add_special = !(chat && impl_->kind == RenderKind::kJinja);
    MONA_TRY(out.tokens, tokenize_text(impl_->vocab, text, add_special, templated));
    out.n_prompt = static_cast<int32_t>(out.tokens.size());
    if (chat && first_assistant_turn(sample.turns) < sample.turns.size()) {
        MONA_TRY(std::string prompt, render_prompt(sample));
        MONA_TRY(std::vector<int32_t> prompt_tokens, tokenize_text(impl_->vocab, prompt, add_special, templated));
        out.n_prompt = static_cast<int32_t>(std::min(prompt_tokens.size(), out.tokens.size()));
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

Status Session::capture_to_tensor(const std::vector<const std::vector<int32_t>*>& seqs, int32_t layer,
                                  ggml_tensor* dest) {
    int64_t n_tokens = 0;
    for (const auto* seq : seqs) n_tokens += static_cast<int64_t>(seq->size());
    if (dest == nullptr || dest->type != GGML_TYPE_F32 || dest->ne[0] != impl_->info.n_embd || dest->ne[1] < n_tokens ||
        !ggml_is_contiguous(dest) || dest->buffer == nullptr) {
        return internal_error(
            fmt::format("capture_to_tensor: the destination must be an allocated f32 tensor of "
                        "{} rows of width {}",
                        n_tokens, impl_->info.n_embd));
    }
    std::vector<float> unused;
    return capture_impl(seqs, layer, unused, nullptr, dest);
}

Status Session::capture(const std::vector<const std::vector<int32_t>*>& seqs, int32_t layer, std::vector<float>& out,
                        std::vector<ExtraCapture>* extra) {
    return capture_impl(seqs, layer, out, extra, nullptr);
}

Status Session::capture_impl(const std::vector<const std::vector<int32_t>*>& seqs, int32_t layer,
                             std::vector<float>& out, std::vector<ExtraCapture>* extra, ggml_tensor* dest) {
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
    for (const auto* seq : seqs)
        MONA_ASSERT(static_cast<int32_t>(seq->size()) <= impl_->n_ctx, "sample larger than the context");
    MONA_ASSERT(static_cast<int32_t>(seqs.size()) <= impl_->options.max_seqs, "too many sequences in one batch");

    if (dest == nullptr) out.assign(static_cast<size_t>(n_tokens) * static_cast<size_t>(impl_->info.n_embd), 0.0f);
    CaptureState& state = impl_->capture;
    state.slots.clear();
    state.slots.push_back({name, impl_->info.n_embd, &out, 0, dest});
    if (extra) {
        for (ExtraCapture& e : *extra) {
            bool dup = e.tensor == name;
            for (const CaptureSlot& s : state.slots) dup = dup || s.name == e.tensor;
            MONA_ASSERT(!dup, "a tensor requested twice in one capture");
            e.width = 0;
            e.rows.clear();
            state.slots.push_back({e.tensor, 0, &e.rows, 0, nullptr});
        }
    }
    state.n_tokens = n_tokens;
    state.call_end = 0;
    state.error.clear();

    // One llama_decode per sample, each alone in an empty KV cache. Packing several samples into one call (one
    // sequence each) is no faster on the CPU, and it made a sample's rows depend on its batch: with other
    // samples' tokens in the cache, the attention sums run over a longer, differently aligned span (measured:
    // scores moved by up to 1.4e-3 between --batch-tokens 256 and 2048). Now a sample's rows are a function of
    // the sample alone, bit for bit, whatever --batch-tokens, --threads or the order of the pool.
    llama_batch batch = llama_batch_init(impl_->n_ctx, 0, 1);
    int32_t rc = 0;
    for (const auto* seq : seqs) {
        const auto& tokens = *seq;
        if (tokens.empty()) continue;
        batch.n_tokens = static_cast<int32_t>(tokens.size());
        for (size_t token_idx = 0; token_idx < tokens.size(); ++token_idx) {
            batch.token[token_idx] = tokens[token_idx];
            batch.pos[token_idx] = static_cast<llama_pos>(token_idx);
            batch.n_seq_id[token_idx] = 1;
            batch.seq_id[token_idx][0] = 0;
            batch.logits[token_idx] = 0;
        }
        state.call_end += static_cast<int64_t>(tokens.size());
        state.n_complete = 0;
        state.active = true;
        llama_memory_clear(llama_get_memory(impl_->ctx), true);
        rc = llama_decode(impl_->ctx, batch);
        state.active = false;
        // rc 2 means "aborted" in llama.cpp; our callback stopping the graph is not an error.
        if (!state.error.empty() || (rc != 0 && rc != 2)) break;
        rc = 0;
    }
    llama_batch_free(batch);
    llama_memory_clear(llama_get_memory(impl_->ctx), true);

    if (!state.error.empty()) return internal_error("capturing " + name + ": " + state.error);
    if (rc != 0) {
        return internal_error(fmt::format("llama_decode failed with code {} on a sample of a batch of {} tokens: {}",
                                          rc, n_tokens, take_llama_errors()));
    }
    for (size_t slot_idx = 0; slot_idx < state.slots.size(); ++slot_idx) {
        const CaptureSlot& slot = state.slots[slot_idx];
        if (slot.rows_done != n_tokens) {
            return internal_error(
                fmt::format("captured {} of {} token rows of tensor {}; the model graph of "
                            "architecture '{}' may not have a tensor named {}",
                            slot.rows_done, n_tokens, slot.name, impl_->info.arch, slot.name));
        }
        if (slot_idx > 0) (*extra)[slot_idx - 1].width = slot.width;
    }
    return Status();
}

}  // namespace mona
