// score/length_strata.hpp: --length-strata B against a plain reference written from its definition, by hand on a
// small case, and its properties (B = 1 keeps the order; NaN stays; a constant stratum gives 0).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

#include "score/length_strata.hpp"
#include "score/topn.hpp"

namespace mona {
namespace {

// Plain reference: sort (tokens, position) pairs, cut into B groups by the floor rule, standardise each group.
std::vector<double> reference(const std::vector<double>& scores, const std::vector<int64_t>& tokens, uint32_t b) {
    const size_t n = scores.size();
    std::vector<std::pair<int64_t, size_t>> keyed;
    for (size_t pos = 0; pos < n; ++pos) keyed.push_back({tokens[pos], pos});
    std::sort(keyed.begin(), keyed.end());
    std::vector<double> out = scores;
    for (size_t g = 0; g < b; ++g) {
        std::vector<size_t> members;
        for (size_t place = g * n / b; place < (g + 1) * n / b; ++place) {
            if (std::isfinite(scores[keyed[place].second])) members.push_back(keyed[place].second);
        }
        if (members.empty()) continue;
        double mean = 0.0;
        for (size_t pos : members) mean += scores[pos];
        mean /= static_cast<double>(members.size());
        double var = 0.0;
        for (size_t pos : members) var += (scores[pos] - mean) * (scores[pos] - mean);
        const double sd = std::sqrt(var / static_cast<double>(members.size()));
        for (size_t pos : members) out[pos] = sd > 0 ? (scores[pos] - mean) / sd : 0.0;
    }
    return out;
}

TEST(LengthStrata, ByHand) {
    // Lengths 10 10 50 50, scores 0.1 0.3 0.5 0.9; B = 2: strata {0,1} and {2,3}, each (-1, +1).
    const std::vector<double> got = length_stratified_scores({{0.1, 0.3, 0.5, 0.9}}, {{10, 10, 50, 50}}, 2);
    ASSERT_EQ(4u, got.size());
    EXPECT_DOUBLE_EQ(-1.0, got[0]);
    EXPECT_DOUBLE_EQ(1.0, got[1]);
    EXPECT_DOUBLE_EQ(-1.0, got[2]);
    EXPECT_DOUBLE_EQ(1.0, got[3]);
    // The long samples no longer win on their raw score: the top 2 is one sample per stratum (the raw top 2 is
    // both long ones). Both are +1 up to rounding, so compared as a set.
    std::vector<uint64_t> top = top_n(got, 2);
    std::sort(top.begin(), top.end());
    EXPECT_EQ((std::vector<uint64_t>{1, 3}), top);
    std::vector<uint64_t> raw_top = top_n(std::vector<double>{0.1, 0.3, 0.5, 0.9}, 2);
    std::sort(raw_top.begin(), raw_top.end());
    EXPECT_EQ((std::vector<uint64_t>{2, 3}), raw_top);
    // A constant stratum gives 0; NaN stays NaN and does not count.
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const std::vector<double> flat = length_stratified_scores({{0.2, 0.2, nan, 0.4, 0.8}}, {{1, 2, 3, 9, 9}}, 2);
    EXPECT_EQ(0.0, flat[0]);
    EXPECT_EQ(0.0, flat[1]);
    EXPECT_TRUE(std::isnan(flat[2]));
    EXPECT_DOUBLE_EQ(-1.0, flat[3]);
    EXPECT_DOUBLE_EQ(1.0, flat[4]);
}

TEST(LengthStrata, MatchesAPlainReference) {
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> score(0.0, 1.0);
    std::uniform_int_distribution<int64_t> length(1, 40);  // many equal lengths: ties go by position
    for (size_t n : {1u, 2u, 7u, 100u, 333u}) {
        std::vector<double> scores(n);
        std::vector<int64_t> tokens(n);
        for (size_t pos = 0; pos < n; ++pos) scores[pos] = score(rng), tokens[pos] = length(rng);
        for (uint32_t b : {1u, 2u, 3u, 10u, 400u}) {
            const std::vector<double> got = length_stratified_scores(scores, tokens, b);
            const std::vector<double> want = reference(scores, tokens, b);
            ASSERT_EQ(want.size(), got.size());
            for (size_t pos = 0; pos < n; ++pos) EXPECT_NEAR(want[pos], got[pos], 1e-12) << n << " " << b << " " << pos;
            if (b == 1 && n > 1) {
                EXPECT_EQ(top_n(scores, n), top_n(got, n)) << "one stratum keeps the order";
            }
        }
    }
}

}  // namespace
}  // namespace mona
