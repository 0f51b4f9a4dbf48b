// pool/pool.hpp: turn per-token SAE codes into one vector per sample, and sample vectors into a task prototype.
//
// Method (spec method.md, Pipeline step 1d and step 2):
//   sample vector   z(s)  = (1/n) Σ_t z_t          over the n tokens t of the sample   (PoolingMode::kMean)
//                   z(s)  =       Σ_t z_t                                               (PoolingMode::kSum)
//   task prototype  z_tgt = (1/M) Σ_j z(s_j)       over the M target exemplars
// Mean pooling is the paper's choice; sum pooling is kept for the ablation (it adds a length bias that cost up
// to 3.9 points in the paper).
//
// Numerics: every accumulation is in double, in input order (rows in order, entries of a row in order), so the
// result is deterministic and, for integer-valued inputs, exact. Each output value is rounded once to float
// (after the division, for the mean). Entries that end up exactly 0 are dropped. The L1 norm stored with a
// result is Σ_k |v_k| over the stored float values, summed in double; for non-negative SAE codes that is the
// sum of the values, and it makes J(a, a) == 1 exact in score/jaccard.hpp.
//
// Usage sketch: make one Pooler per thread with the SAE width, call pool() once per sample with the sample's
// row range in the CSR codes, keep the returned SparseVec. Pool the target exemplars the same way and pass
// their vectors to make_prototype(); score pool samples against it with score/jaccard.hpp.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "mona/status.hpp"
#include "mona/types.hpp"

namespace mona {

enum class PoolingMode { kMean, kSum };

// Parses "mean" | "sum". Anything else: kInvalidInput naming the value and the accepted names.
Result<PoolingMode> parse_pooling_mode(std::string_view name);
// "mean" | "sum".
const char* pooling_mode_name(PoolingMode mode);

// Reusable pooling scratch for one SAE width. Holds a dense double accumulator [d_sae] and the list of the
// indices touched by the current call; only those are reset, so a call costs O(nnz of the rows + t log t) with
// t the number of distinct touched latents, not O(d_sae).
//
// Thread-safety: pool() mutates the scratch; use one Pooler per thread.
class Pooler {
   public:
    // d_sae: number of SAE latents, 0 <= d_sae <= 2^32. Allocates d_sae doubles + d_sae bytes.
    explicit Pooler(int64_t d_sae);

    // Pools rows [row_begin, row_end) of `codes` (one row per token). Returns the pooled vector: indices
    // ascending, zeros dropped, l1 as described above. An empty range gives an empty vector with l1 = 0 in
    // either mode (the mean of zero tokens is defined as the zero vector).
    // Preconditions (asserted; callers validate anything read from a file first):
    //   0 <= row_begin <= row_end <= codes.n_rows(), every index in the range < d_sae, and the CSR arrays are
    //   consistent (offsets non-decreasing, idx.size() == val.size() >= offsets.back()).
    SparseVec pool(const SparseCodes& codes, int64_t row_begin, int64_t row_end, PoolingMode mode);

    int64_t d_sae() const { return d_sae_; }

   private:
    int64_t d_sae_;
    std::vector<double> acc_;        // [d_sae], all zero between calls
    std::vector<uint8_t> seen_;      // [d_sae], 1 for indices in touched_, all zero between calls
    std::vector<uint32_t> touched_;  // indices written by the current call
};

// A dense task prototype z_tgt [d_sae] with its norms, ready to score sparse vectors against.
struct Prototype {
    std::vector<float> dense;  // [d_sae], all >= 0 for MoNA features
    double l1 = 0.0;           // Σ_k |dense[k]|, summed in double over the float values
    double l2 = 0.0;           // sqrt(Σ_k dense[k]^2), summed in double; used by cosine()
};

// Mean of `vecs` as a dense prototype of width d_sae: dense[k] = float((Σ_j vecs[j]_k) / M), accumulated in
// double in the order of `vecs`. M = 0 gives the zero prototype (l1 = l2 = 0). Only the stored entries of each
// vector are used (their l1 fields are not); the prototype's own l1/l2 are computed from `dense`.
// Preconditions (asserted): d_sae >= 0, every index < d_sae, idx.size() == val.size() for every vector.
Prototype make_prototype(std::span<const SparseVec> vecs, int64_t d_sae);

// Wraps an existing dense vector [d_sae] (e.g. one read back from a report) and computes l1 and l2.
Prototype prototype_from_dense(std::vector<float> dense);

}  // namespace mona
