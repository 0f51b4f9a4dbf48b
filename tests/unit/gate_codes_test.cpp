// gate_topk_codes (sae/gate_codes.hpp) against a plain reference: SiLU in double, a full sort, ties to the lower
// index, positive values only.
#include "sae/gate_codes.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace mona {
namespace {

std::vector<std::pair<uint32_t, float>> reference_row(const std::vector<float>& x, int32_t k) {
    std::vector<std::pair<double, uint32_t>> act;
    for (size_t col = 0; col < x.size(); ++col) {
        const double v = x[col];
        act.push_back({static_cast<float>(v / (1.0 + std::exp(-v))), static_cast<uint32_t>(col)});
    }
    std::stable_sort(act.begin(), act.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<std::pair<uint32_t, float>> out;
    for (int32_t slot = 0; slot < k; ++slot) {
        if (act[slot].first > 0) out.push_back({act[slot].second, static_cast<float>(act[slot].first)});
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::pair<uint32_t, float>> row_of(const SparseCodes& codes, int64_t row) {
    std::vector<std::pair<uint32_t, float>> out;
    for (uint64_t pos = codes.offsets[row]; pos < codes.offsets[row + 1]; ++pos)
        out.push_back({codes.idx[pos], codes.val[pos]});
    return out;
}

TEST(GateCodesTest, MatchesAFullSortOnRandomRows) {
    std::mt19937_64 rng(5);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    const int64_t width = 97, n_rows = 40;
    for (int32_t k : {1, 5, 32, 97}) {
        std::vector<float> gate(static_cast<size_t>(width * n_rows));
        for (float& v : gate) v = normal(rng);
        SparseCodes codes;
        gate_topk_codes(gate.data(), n_rows, width, k, codes);
        ASSERT_EQ(n_rows, codes.n_rows());
        for (int64_t row = 0; row < n_rows; ++row) {
            const std::vector<float> x(gate.begin() + row * width, gate.begin() + (row + 1) * width);
            EXPECT_EQ(reference_row(x, k), row_of(codes, row)) << "k " << k << " row " << row;
        }
    }
}

TEST(GateCodesTest, TiesGoToTheLowerIndexAndNegativesAreDropped) {
    // SiLU(2) appears three times; k = 2 keeps indices 1 and 3. SiLU(-1) < 0 never appears, even with k = width.
    const std::vector<float> gate = {0.5f, 2.0f, -1.0f, 2.0f, 2.0f, -3.0f};
    SparseCodes codes;
    gate_topk_codes(gate.data(), 1, 6, 2, codes);
    const float s2 = static_cast<float>(2.0 / (1.0 + std::exp(-2.0)));
    EXPECT_EQ((std::vector<std::pair<uint32_t, float>>{{1, s2}, {3, s2}}), row_of(codes, 0));
    gate_topk_codes(gate.data(), 1, 6, 6, codes);
    const float s05 = static_cast<float>(0.5 / (1.0 + std::exp(-0.5)));
    EXPECT_EQ((std::vector<std::pair<uint32_t, float>>{{0, s05}, {1, s2}, {3, s2}, {4, s2}}), row_of(codes, 1));
    // An all-negative row gives an empty row, not a missing one.
    const std::vector<float> negative = {-1.0f, -2.0f};
    gate_topk_codes(negative.data(), 1, 2, 1, codes);
    EXPECT_EQ(3, codes.n_rows());
    EXPECT_TRUE(row_of(codes, 2).empty());
}

}  // namespace
}  // namespace mona
