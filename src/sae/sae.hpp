// sae/sae.hpp: sparse autoencoder encoders read from disk.
//
// Supported on-disk formats (detected by the files present in the folder, see spec sae-formats.md §5):
//   sparsify   cfg.json + sae.safetensors          (EleutherAI; the MoNA paper's SAE)
//   saelens    cfg.json + sae_weights.safetensors  (architecture standard|topk|jumprelu; v6+ and pre-6 cfgs)
// Weights may be F32, F16 or BF16; they are held as f32. The encoder matrix orientation is resolved by shape
// against d_in (never by name) and canonicalised to W_enc [d_in, d_sae] row-major. The decoder is never loaded.
//
// Encode, per token x (length d_in):
//   x'   = normalise(x)                (saelens constant_norm_rescale: x * sqrt(d_in)/||x||; else identity)
//   pre  = W_enc^T (x' - s*b_dec) + b_enc   (s = 1 for sparsify unless transcode, saelens apply_b_dec_to_input)
//   z    = activation(pre):
//          sparsify topk:  TopK_k(ReLU(pre))
//          saelens topk:   ReLU(TopK_k(pre))
//          jumprelu:       pre * (pre > threshold), threshold per latent
//          standard/relu:  ReLU(pre)
// Ties inside TopK keep the lower latent index. Only non-zero entries are emitted.
//
// Thread-safety: a loaded SaeModel is immutable; encode() may be called from many threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

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
    int32_t k = 0;              // TopK k; 0 when the activation has no k
    bool subtract_b_dec = true;
    std::string dtype;          // dtype of the encoder weights on disk
    std::string weights_file;   // path of the safetensors file (for hashing)
    // Layer the SAE records for itself, converted to HF hidden_states[L] numbering, if it records one:
    // sparsify folder layers.N / layer_N -> N+1; saelens hook_name blocks.N.hook_resid_post or
    // model.layers.N -> N+1; hook_layer N (pre-6 cfg with resid_post hook) -> N+1.
    std::optional<int32_t> layer;
    std::string hook;           // the hook name as written (folder name or hook_name), "" if none
};

struct SaeOpenOptions {
    std::string path;  // folder holding the SAE (or the cfg.json inside it)
};

class SaeModel {
   public:
    static Result<SaeModel> open(const SaeOpenOptions& options);
    // Builds a model from canonical in-memory parameters (tests, the trainer's output checks).
    // w_enc is [d_in, d_sae] row-major; b_dec may be empty when info.subtract_b_dec is false;
    // threshold is required (length d_sae) for kJumpRelu and ignored otherwise.
    static Result<SaeModel> from_params(SaeInfo info, std::vector<float> w_enc, std::vector<float> b_enc,
                                        std::vector<float> b_dec, std::vector<float> threshold);

    SaeModel(SaeModel&&) noexcept;
    SaeModel& operator=(SaeModel&&) noexcept;
    ~SaeModel();

    const SaeInfo& info() const;

    // Encodes n_tokens rows of x [n_tokens, d_in] (row-major) and appends one CSR row per token to `out`.
    // k_override > 0 replaces the TopK k (TopK families only). Uses BLAS sgemm for the pre-activations.
    void encode(const float* x, int64_t n_tokens, SparseCodes& out, int32_t k_override = 0) const;

   private:
    struct Impl;
    explicit SaeModel(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace mona
