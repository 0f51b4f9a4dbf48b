// eval/methods.hpp: the registry of `mona eval` methods, one row per method.
//
// A row says what the method scores (its representation: pooled SAE codes, the mean raw residual row, pooled gate
// codes, or nothing the model computes), which ablation options it takes, how it scores, and the definition text
// eval.json records. Adding a method is adding a row to kEvalMethods in methods.cpp (and, for a new kind of
// representation, teaching eval/representations.cpp to compute it); nothing else in eval/ switches on a method.
//
// Two kinds of rows:
//   streamed    (rep != kNone) score(sample, target) is called per pool sample and target while the pool streams,
//               on the sample's representation and the target's (eval/representations.hpp);
//   whole-pool  (rep == kNone) run_pool() is called once per target after the pool was read, with what the pool
//               pass collected (the BM25 index when a row sets needs_bm25) and the run's n and seed.
// Either way a method with scores selects its top n (score/topn.hpp top_n); one without scores (random) gives its
// selection itself.
//
// Thread-safety: the registry is immutable; every function here is pure.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "eval/metrics.hpp"
#include "mona/status.hpp"
#include "mona/types.hpp"
#include "pool/pool.hpp"
#include "score/prototype_mode.hpp"

namespace mona {

class Bm25Index;

// What a streamed method scores per sample.
enum class RepKind {
    kNone,  // whole-pool method: no per-sample model representation
    kSae,   // pooled SAE codes at the SAE's layer (k and pooling may differ from the run's)
    kRaw,   // mean of the raw residual rows over the pooled tokens (always the mean), in double
    kPoly,  // pooled TopK(SiLU(gate)) codes of the gated MLP of the block that writes the layer
};

// One sample's representation: `sparse` for kSae/kPoly, `dense` for kRaw.
struct RepVector {
    SparseVec sparse;
    std::vector<double> dense;
};

// One target's representation: the prototype of its exemplars' vectors (kSae/kPoly), or the mean of their dense
// vectors with its L2 norm (kRaw).
struct TargetRep {
    Prototype proto;
    std::vector<double> dense;
    double dense_norm = 0.0;
};

// What a whole-pool method sees for one target.
struct PoolMethodInput {
    uint64_t n_pool = 0;
    uint64_t n_select = 0;                                   // the budget n, 1 <= n <= n_pool
    uint64_t seed = 0;                                       // --seed
    const Bm25Index* bm25 = nullptr;                         // the pool's texts, when some row sets needs_bm25
    const std::vector<std::string>* target_texts = nullptr;  // the target's exemplar texts (sample_plain_text)
};

struct EvalMethodDef {
    const char* name;  // as given to --method and written in every output
    RepKind rep;
    bool takes_layer;    // NAME:layer=L
    bool takes_k;        // NAME:k=K
    bool takes_pooling;  // NAME:pooling=mean|sum
    // Streamed rows: the score of one pool sample against one target.
    double (*score)(const RepVector& sample, const TargetRep& target);
    // Whole-pool rows: the scores (or, when it has none, the selection) for one target.
    EvalMethodRun (*run_pool)(const PoolMethodInput& input);
    bool needs_bm25;         // the pool pass indexes every pool text for BM25
    bool uses_seed;          // the run's settings show --seed
    bool explains_latents;   // the report's prototype latents are those of the first method with this set
    const char* definition;  // eval.json config.method_definitions[name]
};

// Every method, in the order they run when none is asked for.
std::span<const EvalMethodDef> eval_methods();

// The row named `name`; anything else is kInvalidInput naming the value and the accepted names.
Result<const EvalMethodDef*> find_eval_method(std::string_view name);

// A method with its ablation options: `NAME[:layer=L][:k=K][:pooling=mean|sum]`, e.g. `mona:k=64`,
// `raw-cosine:layer=10`, `poly-jaccard:layer=10:k=32`, `mona:pooling=sum`. Unset options take the run's values
// (--layer / the SAE's layer, --k / the SAE's k, --pooling). Which options a method takes is its row's
// takes_* (SAE methods take a layer only at the SAE's own layer, checked when the run resolves them).
// Methods on sparse vectors (mona, sae-cosine, poly-jaccard) also take the options beyond the paper
// (docs/beyond.md), each as in `mona select`:
//   diversity=LAMBDA     MMR among the top C*n by score (score/diversity.hpp), LAMBDA >= 0
//   candidates=C         C of diversity/dedup (default 4), C >= 1
//   dedup=T              drop exact and near (Jaccard >= T) duplicates (score/dedup.hpp), 0 < T <= 1
//   prototype=mean|contrast:BETA   the prototype scored against (score/prototype_mode.hpp)
//   length-strata=B      scores standardised within B length strata (score/length_strata.hpp), B >= 1
// e.g. `mona:diversity=0.3`, `mona:dedup=0.9`, `mona:prototype=contrast:1.5`. The canonical name (options in the
// order layer, k, pooling, prototype, length-strata, diversity, candidates, dedup; an option equal to its default is
// left out) names the method in every output, so `mona:diversity=0` is `mona`.
struct EvalMethodSpec {
    const EvalMethodDef* method = nullptr;
    int32_t layer = -1;                  // -1 = the run's layer
    int32_t k = 0;                       // 0 = the run's k
    std::optional<PoolingMode> pooling;  // unset = the run's --pooling
    PrototypeMode prototype;             // mean = the paper's
    double diversity = 0.0;              // LAMBDA; 0 = the paper's top n
    uint32_t candidates = 4;             // C
    double dedup = 0.0;                  // T; 0 = off
    uint32_t length_strata = 0;          // B; 0 = off (score/length_strata.hpp)
    std::string name;

    // True when the selection is not the top n by score (MMR or dedup over the candidates).
    bool reranks() const { return diversity > 0.0 || dedup > 0.0; }
};
Result<EvalMethodSpec> parse_eval_method_spec(std::string_view text);
EvalMethodSpec default_method_spec(const EvalMethodDef& method);
// One spec per row of eval_methods(), options unset.
std::vector<EvalMethodSpec> default_method_specs();

}  // namespace mona
