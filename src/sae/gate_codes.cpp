#include "sae/gate_codes.hpp"

#include <cmath>

#include "mona/status.hpp"
#include "sae/topk.hpp"

namespace mona {

void gate_topk_codes(const float* gate, int64_t n_rows, int64_t width, int32_t k, SparseCodes& out) {
    MONA_ASSERT(k >= 1 && k <= width, "gate_topk_codes: k out of range");
    // Only positive values are emitted, and they rank above every other value, so offering only them keeps the
    // top k of the whole row (ties: lower index, sae/topk.hpp) minus its non-positive entries.
    LatentTopK top(static_cast<size_t>(k));
    for (int64_t row = 0; row < n_rows; ++row) {
        const float* x = gate + row * width;
        top.reset(static_cast<size_t>(k));
        for (int64_t col = 0; col < width; ++col) {
            const double v = x[col];
            const float silu = static_cast<float>(v / (1.0 + std::exp(-v)));
            if (silu > 0.0f) top.offer(silu, static_cast<uint32_t>(col));
        }
        for (const LatentValue& kept : top.sort_by_latent()) {
            out.idx.push_back(kept.latent_idx);
            out.val.push_back(kept.value);
        }
        out.offsets.push_back(out.idx.size());
    }
}

}  // namespace mona
