#include "sae/gate_codes.hpp"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "mona/status.hpp"

namespace mona {

void gate_topk_codes(const float* gate, int64_t n_rows, int64_t width, int32_t k, SparseCodes& out) {
    MONA_ASSERT(k >= 1 && k <= width, "gate_topk_codes: k out of range");
    std::vector<std::pair<float, uint32_t>> act(static_cast<size_t>(width));
    auto better = [](const std::pair<float, uint32_t>& a, const std::pair<float, uint32_t>& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    for (int64_t row = 0; row < n_rows; ++row) {
        const float* x = gate + row * width;
        for (int64_t col = 0; col < width; ++col) {
            const double v = x[col];
            act[col] = {static_cast<float>(v / (1.0 + std::exp(-v))), static_cast<uint32_t>(col)};
        }
        std::nth_element(act.begin(), act.begin() + (k - 1), act.end(), better);
        std::sort(act.begin(), act.begin() + k, [](const auto& a, const auto& b) { return a.second < b.second; });
        for (int32_t slot = 0; slot < k; ++slot) {
            if (!(act[slot].first > 0.0f)) continue;
            out.idx.push_back(act[slot].second);
            out.val.push_back(act[slot].first);
        }
        out.offsets.push_back(out.idx.size());
    }
}

}  // namespace mona
