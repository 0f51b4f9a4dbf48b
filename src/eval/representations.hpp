// eval/representations.hpp: the per-sample vectors the streamed eval methods score, from one Embedder pass.
//
// Each streamed method (eval/methods.hpp, rep != kNone) is resolved against the run's values into a
// Representation (kind, layer, k, pooling, llama.cpp tensor); methods that resolve to the same one share it, so
// `mona` and `sae-cosine` encode once. The Embedder (select/embed.hpp) runs the capture, the SAE encode and the
// pooling at the run's k and --pooling, which is the `mona` vector itself. What the Embedder does not compute is
// derived here from the rows it hands over (EmbedOptions::keep_rows / extra_tensors):
//   kSae at another k or pooling   the layer rows re-encoded (SaeModel::encode with that k) and pooled
//   kRaw                           mean_rows() of the layer rows (or of an extra l_out tensor at another layer)
//   kPoly                          gate_topk_codes() of the captured ffn_gate tensor, pooled
// all over the token range the Embedder pooled (pooled_rows(), --tokens).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "capture/session.hpp"
#include "embed/embedder.hpp"
#include "eval/methods.hpp"
#include "mona/status.hpp"
#include "pool/pool.hpp"
#include "sae/sae.hpp"

namespace mona {

struct Representation {
    RepKind kind = RepKind::kSae;
    int32_t layer = 0;
    int32_t k = 0;  // kSae, kPoly
    PoolingMode pooling = PoolingMode::kMean;
    std::string tensor;      // the llama.cpp tensor its rows come from
    int64_t width = 0;       // kSae: d_sae; kRaw: d_in; kPoly: the MLP width (learnt from the first capture)
    bool main = false;       // kSae: equals the Embedder's own pooled vector
    int32_t extra_idx = -1;  // index into EmbedOptions::extra_tensors; -1 = the Embedder's layer rows

    bool same_as(const Representation& o) const {
        return kind == o.kind && layer == o.layer && k == o.k && pooling == o.pooling;
    }
};

// A method as it runs: its row, its canonical name and, for streamed methods, its representation.
struct ResolvedMethod {
    const EvalMethodDef* def = nullptr;
    std::string name;
    size_t rep = SIZE_MAX;  // index into RepresentationSet; SIZE_MAX for whole-pool methods
    EvalMethodSpec spec;    // as parsed: the prototype and selection options beyond the paper
};

// The run's values that unset method options take.
struct RepDefaults {
    int32_t layer = -1;  // resolved layer (HF hidden_states numbering); -1 when no method runs the model
    int32_t k = 0;       // --k as given (0 = the SAE's k)
    PoolingMode pooling = PoolingMode::kMean;
    TokenMode token_mode = TokenMode::kNoBos;
    std::string model_path;
};

// kInvalidInput unless `k` (0 = the SAE's own) is a k the SAE can encode with; `what` names the option.
Status check_sae_k(const SaeModel& sae, int32_t k, const std::string& what);

class RepresentationSet {
   public:
    // Resolves `specs` (sae may be null only when no spec is streamed) and the Embedder options that capture
    // every representation in one pass. Errors (kInvalidInput) name the method: an SAE method at another layer
    // than the SAE's, a k the SAE cannot encode, a layer the model does not have, poly-jaccard without a k.
    static Result<RepresentationSet> resolve(const std::vector<EvalMethodSpec>& specs, const RepDefaults& defaults,
                                             const SaeModel* sae, const ModelInfo& model);

    const std::vector<ResolvedMethod>& methods() const { return methods_; }
    const EmbedOptions& embed_options() const { return embed_options_; }
    size_t size() const { return reps_.size(); }
    const Representation& operator[](size_t rep) const { return reps_[rep]; }
    // The representation whose prototype latents the report explains (first method with explains_latents), or
    // SIZE_MAX.
    size_t latent_rep() const { return latent_rep_; }

    // out[rep] for every representation of one embedded sample; the sample's rows are released afterwards.
    // kInvalidInput when a poly-jaccard k exceeds the MLP width found in the first capture.
    Status compute(EmbeddedSample& item, std::vector<RepVector>& out);

   private:
    const SaeModel* sae_ = nullptr;
    TokenMode token_mode_ = TokenMode::kNoBos;
    int64_t d_in_ = 0;
    std::vector<ResolvedMethod> methods_;
    std::vector<Representation> reps_;
    EmbedOptions embed_options_;
    size_t latent_rep_ = SIZE_MAX;
    std::vector<std::optional<Pooler>> poolers_;
    SparseCodes scratch_codes_;
};

}  // namespace mona
