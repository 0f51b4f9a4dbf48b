// mona/sae.hpp (public; src/sae/sae.hpp forwards here): sparse autoencoder encoders read from disk.
//
// Supported on-disk formats (detected by the files present in the folder, see spec sae-formats.md §5):
//   sparsify   cfg.json + sae.safetensors          (EleutherAI; the MoNA paper's SAE)
//   saelens    cfg.json + sae_weights.safetensors  (architecture standard|topk|jumprelu; v6+ and pre-6 cfgs)
// Weights may be F32, F16 or BF16; they are held as f32. The encoder matrix orientation is resolved by shape
// against d_in (never by name); a square matrix (d_in == d_sae) is taken in the format's documented orientation
// (sparsify encoder.weight [d_sae, d_in], saelens W_enc [d_in, d_sae]). The matrix is kept as stored and the
// sgemm transpose flag absorbs the difference, so a 2 GB encoder is never copied. The decoder is never loaded
// here (encoding does not need it); the SAE health check loads it separately (src/sae/health.hpp).
//
// Folder resolution: SaeOpenOptions.path may name the SAE folder, a file inside it (cfg.json), or a parent folder
// holding exactly one sparsify layer folder (`layers.N` or `layer_N`), which is then used; a parent holding
// several is a kInvalidInput error listing them.
//
// Config rules (unknown keys are ignored everywhere):
//   sparsify  d_in (required), expansion_factor (default 32), num_latents (0 -> d_in * expansion_factor),
//             k (default 32), activation topk (groupmax -> kUnsupported), transcode (true -> s = 0).
//   saelens   d_in, d_sae (required); architecture standard|topk|jumprelu (default standard; gated and others ->
//             kUnsupported); pre-6 cfgs: activation_fn_str relu|topk with activation_fn_kwargs.k;
//             topk k from `k` (default 100) or activation_fn_kwargs.k; apply_b_dec_to_input (default true);
//             normalize_activations none|constant_norm_rescale (expected_average_only_in, layer_norm, `true` ->
//             kUnsupported); rescale_acts_by_decoder_norm true and reshape_activations hook_z -> kUnsupported.
//
// Encode, per token x (length d_in):
//   x'   = normalise(x)                (saelens constant_norm_rescale: x * sqrt(d_in)/||x||; else identity)
//   pre  = W_enc^T (x' - s*b_dec) + b_enc   (s = 1 for sparsify unless transcode, saelens apply_b_dec_to_input)
//   z    = activation(pre):
//          sparsify topk:  TopK_k(ReLU(pre))
//          saelens topk:   ReLU(TopK_k(pre))
//          jumprelu:       ReLU(pre) * (pre > threshold), threshold per latent
//          standard/relu:  ReLU(pre)
// Ties inside TopK keep the lower latent index; k >= d_sae keeps every positive entry. Only entries > 0 are
// emitted (a NaN pre-activation never is). A token with ||x|| = 0 is left unscaled by constant_norm_rescale.
// The pre-activations are computed for row chunks of at most 256 tokens (fewer for wide SAEs, so the chunk's
// [rows, d_sae] block stays near 32 MB).
//
// Errors from open(): kNotFound (missing folder or files; the message names the folder and the files looked
// for), kInvalidInput (bad JSON naming cfg.json, a bad field, a tensor missing or of the wrong shape, naming the
// tensor with expected and found shapes), kUnsupported (an architecture/activation/normalisation mona does not
// implement), kIo.
//
// Thread-safety: a loaded SaeModel is immutable; encode() may be called from many threads (its product runs on
// one BLAS thread, so results do not depend on the machine's core count).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mona/status.hpp"
#include "mona/types.hpp"

namespace mona {

enum class SaeActivation { kTopK, kReluTopK, kJumpRelu, kRelu };
enum class SaeNorm { kNone, kConstantNormRescale };

struct SaeInfo {
    std::string path;          // the folder
    std::string format;        // "sparsify" | "saelens"
    std::string architecture;  // "topk" | "jumprelu" | "standard"
    SaeActivation activation = SaeActivation::kTopK;
    SaeNorm norm = SaeNorm::kNone;
    int64_t d_in = 0;
    int64_t d_sae = 0;
    int32_t k = 0;  // TopK k; 0 when the activation has no k
    bool subtract_b_dec = true;
    std::string dtype;         // dtype of the encoder weights on disk
    std::string weights_file;  // path of the safetensors file (for hashing)
    // Layer the SAE records for itself, converted to HF hidden_states[L] numbering, if it records one:
    // sparsify folder layers.N / layer_N -> N+1; saelens hook_name blocks.N.hook_resid_post or
    // model.layers.N -> N+1; hook_layer N (pre-6 cfg with resid_post hook) -> N+1.
    std::optional<int32_t> layer;
    std::string hook;  // the hook name as written (folder name or hook_name), "" if none
};

struct SaeOpenOptions {
    std::string path;  // folder holding the SAE (or the cfg.json inside it, or a parent with one layers.N folder)
};

// HF hidden_states[L] layer recorded by a sparsify hookpoint folder name: `layers.N` or `layer_N` -> N+1;
// anything else (`embed_tokens`, `layers.N.mlp`) -> nullopt.
std::optional<int32_t> layer_from_sparsify_folder(const std::string& folder_name);

// HF hidden_states[L] layer recorded by a SAELens hook name: `blocks.N.hook_resid_post` or `model.layers.N`
// -> N+1, `blocks.N.hook_resid_pre` -> N. Otherwise, when `hook_layer` (pre-6 cfg) is given and the hook is a
// resid_post (resid_pre) hook, hook_layer+1 (hook_layer). Anything else (MLP, attention hooks) -> nullopt.
std::optional<int32_t> layer_from_saelens_hook(const std::string& hook_name,
                                               std::optional<int32_t> hook_layer = std::nullopt);

class SaeModel {
   public:
    static Result<SaeModel> open(const SaeOpenOptions& options);
    // Builds a model from canonical in-memory parameters (tests, the trainer's output checks).
    // w_enc is [d_in, d_sae] row-major; b_dec may be empty when info.subtract_b_dec is false;
    // threshold is required (length d_sae) for kJumpRelu and ignored otherwise.
    // Errors: kInvalidInput when a length disagrees with info.d_in/d_sae, a width is < 1 or > INT32_MAX, or
    // info.k < 1 for a TopK family.
    static Result<SaeModel> from_params(SaeInfo info, std::vector<float> w_enc, std::vector<float> b_enc,
                                        std::vector<float> b_dec, std::vector<float> threshold);

    SaeModel(SaeModel&&) noexcept;
    SaeModel& operator=(SaeModel&&) noexcept;
    ~SaeModel();

    const SaeInfo& info() const;

    // Encodes n_tokens rows of x [n_tokens, d_in] (row-major) and appends one CSR row per token to `out`.
    // k_override > 0 replaces the TopK k (TopK families only). Uses BLAS sgemm for the pre-activations.
    // x may be null only when n_tokens == 0 (anything else is a bug and aborts). Input values never make it
    // fail: NaN pre-activations are simply not emitted.
    void encode(const float* x, int64_t n_tokens, SparseCodes& out, int32_t k_override = 0) const;

    // The encoder's parameters as loaded, for code that runs the same encoder elsewhere (the ggml graph of
    // src/embed/sae_graph.hpp). Pointers stay valid while the model lives; b_dec is null unless
    // info().subtract_b_dec, threshold null unless kJumpRelu.
    struct EncoderView {
        const float* w_enc = nullptr;  // [d_in, d_sae] row-major, or [d_sae, d_in] when latent_major
        bool latent_major = false;
        const float* b_enc = nullptr;      // [d_sae]
        const float* b_dec = nullptr;      // [d_in]
        const float* threshold = nullptr;  // [d_sae]
    };
    EncoderView encoder_view() const;

   private:
    struct Impl;
    explicit SaeModel(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace mona
