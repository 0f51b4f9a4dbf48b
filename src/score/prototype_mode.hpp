// score/prototype_mode.hpp: which prototype a target is scored against (`--prototype`, eval's `:prototype=`), an
// option beyond the paper (docs/beyond.md).
//
//   mean             the paper's prototype: the mean of the exemplars' pooled vectors (pool/pool.hpp make_prototype)
//   contrast:BETA    p'_k = max(0, p_k - BETA * m_k), p the mean prototype, m the pool's mean pooled vector (the
//                    make_prototype of every pool vector, in pool order), computed in double from the float
//                    values and rounded once to float. Latents that every pool sample carries (chat template,
//                    common tokens, length) lose weight in proportion to how common they are in the pool; latents
//                    specific to the target keep theirs. BETA > 0; scoring stays generalized Jaccard against p'.
// The pool mean needs every pool vector before any score, so a job that uses it scores after the pool is known
// (eval: from its kept vectors; score: one extra pass over the store; select: from its own store).
//
// Thread-safety: pure functions; a PoolMean is not synchronised.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mona/status.hpp"
#include "mona/types.hpp"
#include "pool/pool.hpp"

namespace mona {

struct PrototypeMode {
    double contrast_beta = 0.0;  // 0 = mean (the paper's)
    bool is_mean() const { return contrast_beta == 0.0; }
};

// "mean" or "contrast:BETA" (BETA a finite number > 0); errors name the value.
Result<PrototypeMode> parse_prototype_mode(std::string_view text);
// "mean" or "contrast:BETA" with BETA as %g.
std::string prototype_mode_name(const PrototypeMode& mode);

// The running mean of pooled vectors, equal bit for bit to make_prototype() of the same vectors in the same
// order (sums in double in arrival order, one division, one cast to float).
class PoolMean {
   public:
    explicit PoolMean(int64_t d_sae);
    void add(const SparseVec& vec);  // precondition (asserted): every index < d_sae
    uint64_t count() const { return n_; }
    Prototype mean() const;

   private:
    std::vector<double> sum_;
    uint64_t n_ = 0;
};

// The prototype to score against: `proto` itself for mean, else the contrast above (pool_mean of the same width,
// asserted).
Prototype apply_prototype_mode(const Prototype& proto, const Prototype& pool_mean, const PrototypeMode& mode);

}  // namespace mona
