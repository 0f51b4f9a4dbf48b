// mona/vectors.hpp (public): pooling per-token SAE codes into sample vectors, and their generalized Jaccard
// similarity, for callers that compute activations or codes elsewhere (e.g. the Python binding's mona.pool and
// mona.jaccard) and want exactly the numbers the jobs compute.
//
//   pool_codes   z(s) = (1/n) Σ_t z_t (mean) or Σ_t z_t (sum) over rows [row_begin, row_end) of CSR codes;
//                accumulated in double in row order, each value rounded once to float, zeros dropped, l1 the sum
//                of the stored values (src/pool/pool.hpp, the code the jobs run).
//   jaccard      J(a, b) = Σ min(a_k, b_k) / Σ max(a_k, b_k), J(0, 0) = 0, using a.l1 and b.l1 as given
//                (src/score/jaccard.hpp; symmetric bit for bit).
//
// Errors (pool_codes): kInvalidInput for a pooling name other than mean|sum, a row range outside the codes,
// inconsistent CSR arrays, or a latent index >= d_sae; the message names which. jaccard checks nothing beyond
// equal idx/val lengths (asserted): indices must ascend and values be >= 0, as pool_codes returns them.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "mona/status.hpp"
#include "mona/types.hpp"

namespace mona {

Result<SparseVec> pool_codes(const SparseCodes& codes, int64_t row_begin, int64_t row_end, int64_t d_sae,
                             std::string_view pooling);

double jaccard(const SparseVec& a, const SparseVec& b);

}  // namespace mona
