// sae/gate_codes.hpp: sparse per-token codes from a gated MLP, the "polysemantic" representation of the MoNA
// paper's ablation (`mona eval --method poly-jaccard`): TopK(SiLU(W_gate x)) with the same K as the SAE.
#pragma once

#include <cstdint>

#include "mona/types.hpp"

namespace mona {

// For each row of the gate pre-activations `gate` [n_rows, width] (row-major): SiLU of every value (x / (1 + e^-x),
// computed in double, rounded to float), the k largest (ties to the lower index), of those only the values > 0
// (SiLU is negative for x < 0, and Jaccard needs non-negative vectors), appended to `out` as one CSR row with
// ascending indices. Precondition (asserted): 1 <= k <= width.
void gate_topk_codes(const float* gate, int64_t n_rows, int64_t width, int32_t k, SparseCodes& out);

}  // namespace mona
