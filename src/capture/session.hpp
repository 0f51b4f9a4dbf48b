// capture/session.hpp: the one place that talks to llama.cpp.
//
// A Session loads a GGUF model, renders samples to text (the model's own chat template, a llama.cpp built-in
// template by name, or `plain`), tokenises them, and runs forward passes that capture the residual stream at one
// layer for every token of several samples per llama_decode call (each sample is its own sequence).
//
// The model's own template (`model`, the default) is the GGUF's `tokenizer.chat_template` run by llama.cpp's Jinja
// engine (common/jinja, as `llama-server --jinja`) with the variables HF transformers' apply_chat_template passes
// (messages, add_generation_prompt, bos_token, eos_token, tools = documents = None), and the text is tokenised
// without adding special tokens (HF's add_special_tokens=False: the template writes BOS itself where it wants
// one), so the ids are HF's apply_chat_template(tokenize=True). tests/fixtures/chat_template checks that.
// SystemPrompt changes which system turn a sample is rendered with (see there).
//
// Layer numbering follows HF transformers `hidden_states[L]`:
//   L = 0             token embeddings                    llama.cpp tensor `embd`
//   L = 1..n_layer-1  residual stream after block L-1     llama.cpp tensor `l_out-(L-1)`, sparsify `layers.(L-1)`
//   L = n_layer       not available: HF applies the final norm there, llama.cpp gathers output rows only.
// The eval callback stops the graph right after the captured tensor, so later layers are never computed.
// Other tensors of the graph (e.g. the MLP gate `ffn_gate-N`) can be captured in the same pass (ExtraCapture).
//
// Thread-safety: a Session is single-threaded (llama.cpp uses its own worker threads inside decode).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mona/status.hpp"
#include "text/formats.hpp"

struct ggml_tensor;
struct ggml_backend_device;

namespace mona {

// The first GPU (or integrated GPU) device ggml offers in this build, or null (a CPU-only build). Registers
// llama.cpp's backends on first use.
ggml_backend_device* gpu_device();
// The ggml device of that name (as ggml_backend_dev_name reports it: "CPU", "CUDA0", "RPC0", ...), or null.
ggml_backend_device* device_by_name(const std::string& name);
std::string device_name(ggml_backend_device* device);
// "rpc:HOST:PORT": connects ggml's RPC backend to that rpc-server (once per endpoint) and returns the name of its
// first device ("RPC0"); any other name is returned as given. kUnsupported in a build without -DMONA_RPC=ON.
Result<std::string> resolve_device_name(const std::string& name);
// A GPU or integrated GPU (llama.cpp offloads layers to those; the RPC device counts as one).
bool device_is_gpu(ggml_backend_device* device);

struct ModelInfo {
    std::string path;
    std::string arch;  // general.architecture
    std::string name;  // general.name, "" if absent
    std::string desc;  // llama.cpp's one-line description
    int32_t n_layer = 0;
    int32_t n_embd = 0;
    int32_t n_vocab = 0;
    int32_t n_ctx_train = 0;
    uint64_t n_params = 0;
    uint64_t size_bytes = 0;
    bool add_bos = false;  // the tokenizer prepends BOS
    int32_t bos = -1;
    std::string chat_template;                // the GGUF's tokenizer.chat_template, "" if none
    std::vector<std::string> weight_buffers;  // llama.cpp buffer types holding the weights, e.g. CPU_Mapped
};

// --system-prompt: the system turn a rendered sample gets.
//   kTemplate  the sample's own turns, as they are: a template that inserts a default system prompt when the
//              conversation has none (SmolLM2, Qwen2) does so, as HF does. The default.
//   kNone      no system turn at all: the sample's own system turns are dropped, and a template's default system
//              prompt is cut out (rendered with a marker system turn whose span, from the template's start-of-text
//              up to the next turn, is removed; a template that ignores or folds a system turn into another turn
//              is rendered without one). Not the same as an empty system turn, which templates render.
//   kText      `text` as the system turn of a sample that has none; a sample with its own system turn keeps it.
// Text samples (format text) are never changed.
struct SystemPrompt {
    enum class Mode { kTemplate, kNone, kText };
    Mode mode = Mode::kTemplate;
    std::string text;  // kText only

    bool operator==(const SystemPrompt& other) const { return mode == other.mode && text == other.text; }
};
// From the --system-prompt value: "none" -> kNone, anything else -> kText (an empty text is an empty system turn).
SystemPrompt system_prompt_from_flag(const std::string& value);
// For manifests and store parameters: "template", "none", or "text:" followed by the text.
std::string system_prompt_param(const SystemPrompt& prompt);
// Inverse of system_prompt_param; kInvalidInput for anything else.
Result<SystemPrompt> parse_system_prompt_param(const std::string& param);

// Defaults of the decode batch and the per-sample token cap, shared by SessionOptions and the configs of the jobs
// that fill it (SelectConfig); the CLI's flag table shows them.
inline constexpr int32_t kDefaultBatchTokens = 512;
inline constexpr int32_t kDefaultMaxTokens = 2048;

struct SessionOptions {
    std::string model_path;
    int32_t n_threads = 0;                       // 0 = all hardware threads
    int32_t batch_tokens = kDefaultBatchTokens;  // target tokens per llama_decode call (samples are packed up to this)
    int32_t max_tokens = kDefaultMaxTokens;  // per-sample cap; longer samples are truncated (and counted by the caller)
    int32_t max_seqs = 64;                   // most samples in one decode call (<= 256, llama.cpp's LLAMA_MAX_SEQ)
    std::string template_name = "model";     // "model" | "plain" | a llama.cpp built-in template name
    bool cpu_repack = false;  // let llama.cpp repack weights for its CPU kernels (never AMX: see model_load_settings)
    SystemPrompt system_prompt;  // default: the template's own behaviour
    bool verbose = false;        // forward llama.cpp's log to stderr
    // --gpu-layers: layers llama.cpp offloads to the GPU; -1 = all of them when a GPU device is present, else 0.
    // 0 (everything on the CPU) unless a job asks: only `mona embed` with a device backend does.
    int32_t gpu_layers = 0;
};

// The llama_model_params mona loads a model with (the subset it sets; the rest are llama.cpp's defaults).
struct ModelLoadSettings {
    bool vocab_only = false;
    bool use_extra_bufts = false;  // extra (repacking) CPU buffer types
    int32_t n_gpu_layers = 0;
};
ModelLoadSettings model_load_settings(const SessionOptions& options, bool vocab_only);
// Names of the extra buffer types the CPU backend of this build offers (e.g. CPU_REPACK; never AMX).
std::vector<std::string> cpu_extra_buffer_types();
// The CPU backend's compiled-in features as "NAME=VALUE ..." (e.g. "AVX2=1 AVX512=1 REPACK=1").
std::string cpu_backend_features();

// A tokenised sample.
struct TokenizedSample {
    std::vector<int32_t> tokens;  // at most max_tokens
    int32_t n_prompt = 0;         // tokens before the first assistant turn's content (== size for prompt-only)
    int32_t n_full = 0;           // token count before truncation
    bool truncated = false;
    bool has_bos = false;  // tokens[0] is the BOS token
};

// Reads what a GGUF says about the model (hyperparameters, vocabulary, template, tensor counts). llama.cpp loads
// the model with its weights mmapped, not read (its vocab_only mode would leave the hyperparameters at 0).
Result<ModelInfo> read_model_info(const std::string& path);

// HF hidden_states[L] -> llama.cpp tensor name ("embd" or "l_out-(L-1)"), or an error naming the range.
Result<std::string> layer_tensor_name(int32_t layer, int32_t n_layer, const std::string& model_path);
// The gated MLP's gate pre-activation W_gate·norm(x) of the block that writes hidden_states[L]: llama.cpp tensor
// "ffn_gate-(L-1)", width n_ff (SiLU is not applied: llama.cpp fuses it with the up projection). L in 1..n_layer-1.
Result<std::string> ffn_gate_tensor_name(int32_t layer, int32_t n_layer, const std::string& model_path);

// A further tensor captured in the same forward pass as the layer rows (Session::capture): every token's row of
// the llama.cpp tensor named `tensor` (f32, any width), sample after sample, into `rows` [n_tokens, width].
struct ExtraCapture {
    std::string tensor;
    int64_t width = 0;        // set by capture()
    std::vector<float> rows;  // [n_tokens, width], set by capture()
};

class Session {
   public:
    static Result<Session> open(const SessionOptions& options);
    Session(Session&&) noexcept;
    Session& operator=(Session&&) noexcept;
    ~Session();

    const ModelInfo& info() const;
    const SessionOptions& options() const;

    // Renders a sample to text with the session's template and system prompt.
    Result<std::string> render(const Sample& sample) const;
    // Renders the prompt before the first assistant turn, ending with the template's generation prompt (HF
    // add_generation_prompt=True); the whole sample when it has no assistant turn.
    Result<std::string> render_prompt(const Sample& sample) const;
    // Renders and tokenises; BOS appears at most once, at the start.
    Result<TokenizedSample> tokenize(const Sample& sample) const;
    // Text of one token (for reports and the activations dump).
    std::string token_text(int32_t token) const;
    // True for BOS/EOS and other control tokens (chat-template markers): SAE training skips their rows.
    bool is_special(int32_t token) const;

    // Runs a forward pass over each of `seqs` (each a full sample of <= max_tokens tokens, count <= max_seqs;
    // one llama_decode per sample, so a sample's rows do not depend on the others) and writes the layer-L residual rows
    // of every token, sample after sample, into `out` [sum n_tokens, n_embd] row-major. Each of `extra` (may be null)
    // is captured in the same pass; the graph stops once the last requested tensor is complete, so the deepest one sets
    // the cost.
    Status capture(const std::vector<const std::vector<int32_t>*>& seqs, int32_t layer, std::vector<float>& out,
                   std::vector<ExtraCapture>* extra = nullptr);

    // The same pass, but the layer rows are copied with ggml_backend_tensor_copy into `dest`, an allocated f32
    // backend tensor [n_embd, >= n_tokens] (contiguous): device to device when `dest` lives where the layer is
    // computed, so the rows never cross to the host. No extra tensors.
    Status capture_to_tensor(const std::vector<const std::vector<int32_t>*>& seqs, int32_t layer, ggml_tensor* dest);

    // Largest total number of tokens the Embedder packs into one capture() call (each sample is still decoded
    // on its own).
    int32_t max_batch_tokens() const;

   private:
    Status capture_impl(const std::vector<const std::vector<int32_t>*>& seqs, int32_t layer, std::vector<float>& out,
                        std::vector<ExtraCapture>* extra, ggml_tensor* dest);

    struct Impl;
    explicit Session(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace mona
