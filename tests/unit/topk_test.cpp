// sae/topk.hpp against a plain reference: a stable sort of the whole row by value, descending (so equal values
// keep the lower latent first), cut at k. The one reference test of the top-k routine that SAE encode, gate codes
// and the SAE trainer share.
#include "sae/topk.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace mona {
namespace {

using Kept = std::vector<std::pair<uint32_t, float>>;

Kept reference_top_k(const std::vector<float>& row, size_t k) {
    std::vector<std::pair<uint32_t, float>> all;
    for (size_t idx = 0; idx < row.size(); ++idx) all.push_back({static_cast<uint32_t>(idx), row[idx]});
    std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    all.resize(std::min(k, all.size()));
    return all;
}

Kept as_pairs(std::span<const LatentValue> entries) {
    Kept out;
    for (const LatentValue& entry : entries) out.push_back({entry.latent_idx, entry.value});
    return out;
}

// Feeds the row in the given latent order.
LatentTopK fed(const std::vector<float>& row, size_t k, const std::vector<uint32_t>& order) {
    LatentTopK top(k);
    for (const uint32_t idx : order) top.offer(row[idx], idx);
    return top;
}

TEST(TopK, MatchesAStableFullSortInAnyFeedOrder) {
    std::mt19937_64 rng(17);
    for (const size_t n : {0u, 1u, 7u, 64u, 1000u}) {
        for (const size_t k : {0u, 1u, 3u, 32u, 64u, 1001u}) {
            for (const bool integer_valued : {true, false}) {
                std::vector<float> row(n);
                // Integer values from a small range: many ties, exact equality is the claim.
                for (float& value : row) {
                    value = integer_valued ? static_cast<float>(static_cast<int>(rng() % 9) - 3)
                                           : std::ldexp(static_cast<float>(rng() % 100000), -10) - 20.0f;
                }
                const Kept want = reference_top_k(row, k);
                std::vector<uint32_t> ascending(n);
                for (size_t idx = 0; idx < n; ++idx) ascending[idx] = static_cast<uint32_t>(idx);
                std::vector<uint32_t> descending(ascending.rbegin(), ascending.rend());
                std::vector<uint32_t> shuffled = ascending;
                std::shuffle(shuffled.begin(), shuffled.end(), rng);
                for (const auto* order : {&ascending, &descending, &shuffled}) {
                    LatentTopK top = fed(row, k, *order);
                    EXPECT_EQ(want, as_pairs(top.sort_by_rank())) << "n " << n << " k " << k;
                    Kept by_latent = want;
                    std::sort(by_latent.begin(), by_latent.end());
                    LatentTopK again = fed(row, k, *order);
                    EXPECT_EQ(by_latent, as_pairs(again.sort_by_latent())) << "n " << n << " k " << k;
                }
            }
        }
    }
}

TEST(TopK, TiesKeepTheLowerLatentAndSignedZerosTie) {
    const std::vector<float> row = {1.0f, 3.0f, -0.0f, 3.0f, 0.0f, 3.0f};
    LatentTopK top(2);
    for (uint32_t idx = 0; idx < row.size(); ++idx) top.offer(row[idx], idx);
    EXPECT_EQ((Kept{{1, 3.0f}, {3, 3.0f}}), as_pairs(top.sort_by_rank()));
    // -0.0 at latent 2 and +0.0 at latent 4 tie, so latent 2 is kept.
    top.reset(5);
    for (uint32_t idx = 0; idx < row.size(); ++idx) top.offer(row[idx], idx);
    const Kept kept = as_pairs(top.sort_by_rank());
    ASSERT_EQ(5u, kept.size());
    EXPECT_EQ(2u, kept[4].first);
    EXPECT_TRUE(std::signbit(kept[4].second));
}

TEST(TopK, ResetStartsANewRowAndZeroKeepsNothing) {
    LatentTopK top(0);
    top.offer(5.0f, 0);
    EXPECT_EQ(0u, top.size());
    top.reset(1);
    top.offer(1.0f, 0);
    top.offer(2.0f, 1);
    EXPECT_EQ((Kept{{1, 2.0f}}), as_pairs(top.sort_by_rank()));
    top.reset(1);
    top.offer(0.5f, 7);
    EXPECT_EQ((Kept{{7, 0.5f}}), as_pairs(top.sort_by_latent()));
}

}  // namespace
}  // namespace mona
