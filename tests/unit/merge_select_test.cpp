// Merged multi-target subsets (score/merge_select.hpp) on hand-worked examples, plus a brute-force reference
// of the turn rule on random rankings.
#include "score/merge_select.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <vector>

#include "score/topn.hpp"

namespace mona {
namespace {

struct Pick {
    uint64_t pos;
    size_t target_idx;
    uint64_t rank;
    bool fill;
    bool operator==(const Pick&) const = default;
};

std::vector<Pick> plain(const std::vector<MergedPick>& picks) {
    std::vector<Pick> out;
    for (const auto& p : picks) out.push_back({p.pos, p.target_idx, p.rank, p.fill});
    return out;
}

std::vector<uint64_t> positions(const std::vector<MergedPick>& picks) {
    std::vector<uint64_t> out;
    for (const auto& p : picks) out.push_back(p.pos);
    return out;
}

TEST(Apportion, EqualWeightsGiveTheExtraToEarlierTargets) {
    const std::vector<double> ones = {1, 1, 1};
    EXPECT_EQ((std::vector<uint64_t>{4, 3, 3}), apportion(10, ones).value());
    EXPECT_EQ((std::vector<uint64_t>{1, 1, 0}), apportion(2, ones).value());
    EXPECT_EQ((std::vector<uint64_t>{0, 0, 0}), apportion(0, ones).value());
}

TEST(Apportion, WeightsThatAddUpToNAreExactCounts) {
    const std::vector<double> counts = {300, 700};
    EXPECT_EQ((std::vector<uint64_t>{300, 700}), apportion(1000, counts).value());
    const std::vector<double> tenths = {0.1, 0.2, 0.7};
    EXPECT_EQ((std::vector<uint64_t>{1, 2, 7}), apportion(10, tenths).value());
}

TEST(Apportion, LargestRemainder) {
    // 7 * {0.5, 0.3, 0.2} = {3.5, 2.1, 1.4}: floors 3+2+1 = 6, the one left goes to the .5 remainder.
    const std::vector<double> weights = {5, 3, 2};
    EXPECT_EQ((std::vector<uint64_t>{4, 2, 1}), apportion(7, weights).value());
    // 5 * {2/3, 1/3} = {3.33, 1.67}: the extra goes to the second target.
    const std::vector<double> two_one = {2, 1};
    EXPECT_EQ((std::vector<uint64_t>{3, 2}), apportion(5, two_one).value());
    // A zero weight gets nothing, even when the others are tied.
    const std::vector<double> with_zero = {0, 1, 1};
    EXPECT_EQ((std::vector<uint64_t>{0, 2, 1}), apportion(3, with_zero).value());
}

TEST(Apportion, BadWeightsAreErrors) {
    EXPECT_FALSE(apportion(5, std::vector<double>{}).ok());
    EXPECT_FALSE(apportion(5, std::vector<double>{0, 0}).ok());
    EXPECT_FALSE(apportion(5, std::vector<double>{1, -1}).ok());
    EXPECT_FALSE(apportion(5, std::vector<double>{1, std::numeric_limits<double>::quiet_NaN()}).ok());
    EXPECT_FALSE(apportion(5, std::vector<double>{1, std::numeric_limits<double>::infinity()}).ok());
    EXPECT_EQ(StatusCode::kInvalidInput, apportion(5, std::vector<double>{0, 0}).status().code());
}

TEST(MergeRankings, RoundRobinWithoutOverlap) {
    const std::vector<std::vector<uint64_t>> rankings = {{0, 1, 2, 3}, {4, 5, 6, 7}};
    const std::vector<uint64_t> quotas = {3, 2};
    EXPECT_EQ(
        (std::vector<Pick>{{0, 0, 1, false}, {4, 1, 1, false}, {1, 0, 2, false}, {5, 1, 2, false}, {2, 0, 3, false}}),
        plain(merge_rankings(rankings, quotas, 5)));
}

TEST(MergeRankings, ASampleTwoTargetsWantCountsOnceAndTheNextFillsTheSlot) {
    // Target 0 ranks 7, 3, 5, 1; target 1 ranks 7, 5, 2, 9.
    // Turns: t0 takes 7 (rank 1); t1 skips 7, takes 5 (rank 2); t0 takes 3 (rank 2); t1 takes 2 (rank 3).
    const std::vector<std::vector<uint64_t>> rankings = {{7, 3, 5, 1}, {7, 5, 2, 9}};
    const std::vector<uint64_t> quotas = {2, 2};
    EXPECT_EQ((std::vector<Pick>{{7, 0, 1, false}, {5, 1, 2, false}, {3, 0, 2, false}, {2, 1, 3, false}}),
              plain(merge_rankings(rankings, quotas, 4)));
    // Identical rankings split the top 4 between the two targets.
    const std::vector<std::vector<uint64_t>> same = {{1, 2, 3, 4, 5}, {1, 2, 3, 4, 5}};
    EXPECT_EQ((std::vector<Pick>{{1, 0, 1, false}, {2, 1, 2, false}, {3, 0, 3, false}, {4, 1, 4, false}}),
              plain(merge_rankings(same, quotas, 4)));
}

TEST(MergeRankings, TiesAreBrokenByTheRankingsOwnOrder) {
    // Scores with ties: top_n puts equal scores in position order, and the merge follows the rankings.
    const std::vector<double> scores_a = {0.5, 0.9, 0.5, 0.1, 0.9};  // ranking 1, 4, 0, 2, 3
    const std::vector<double> scores_b = {0.2, 0.2, 0.2, 0.2, 0.2};  // ranking 0, 1, 2, 3, 4
    const std::vector<std::vector<uint64_t>> rankings = {top_n(scores_a, 5), top_n(scores_b, 5)};
    const std::vector<uint64_t> quotas = apportion(4, std::vector<double>{1, 1}).value();
    EXPECT_EQ((std::vector<uint64_t>{1, 0, 4, 2}), positions(merge_rankings(rankings, quotas, 4)));
}

TEST(MergeRankings, QuotasFollowTheirTargets) {
    const std::vector<std::vector<uint64_t>> rankings = {{0, 1, 2, 3, 4}, {10, 11, 12, 13}, {20, 21}};
    const std::vector<uint64_t> quotas = {1, 3, 2};
    // Round 1: 0, 10, 20; round 2: t0 is done, 11, 21; round 3: 12.
    EXPECT_EQ((std::vector<uint64_t>{0, 10, 20, 11, 21, 12}), positions(merge_rankings(rankings, quotas, 6)));
    // A zero quota never takes, not even to fill.
    const std::vector<uint64_t> with_zero = {0, 2, 2};
    EXPECT_EQ((std::vector<uint64_t>{10, 20, 11, 21}), positions(merge_rankings(rankings, with_zero, 4)));
}

TEST(MergeRankings, AQuotaLargerThanItsRankingIsFilledByTheOthers) {
    // Target 1 wants 3 but its ranking holds 2 samples, one of which target 0 takes first.
    const std::vector<std::vector<uint64_t>> rankings = {{0, 1, 2, 3, 4, 5}, {0, 9}};
    const std::vector<uint64_t> quotas = {3, 3};
    // Phase 1: 0 (t0), 9 (t1, rank 2), 1 (t0), t1 drops out, 2 (t0): t0 has its 3. Phase 2: 3, 4 (t0, fill).
    EXPECT_EQ(
        (std::vector<Pick>{
            {0, 0, 1, false}, {9, 1, 2, false}, {1, 0, 2, false}, {2, 0, 3, false}, {3, 0, 4, true}, {4, 0, 5, true}}),
        plain(merge_rankings(rankings, quotas, 6)));
    // Every ranking runs out: the union is all there is.
    const std::vector<std::vector<uint64_t>> short_rankings = {{1, 2}, {2, 3}};
    EXPECT_EQ((std::vector<uint64_t>{1, 2, 3}), positions(merge_rankings(short_rankings, quotas, 6)));
}

TEST(MergeRankings, EdgeCases) {
    const std::vector<std::vector<uint64_t>> rankings = {{4, 4, 2}, {}};
    const std::vector<uint64_t> quotas = {2, 2};
    EXPECT_TRUE(merge_rankings(rankings, quotas, 0).empty());
    // A repeated position within one ranking is taken once; an empty ranking drops out at its first turn.
    EXPECT_EQ((std::vector<Pick>{{4, 0, 1, false}, {2, 0, 3, false}}), plain(merge_rankings(rankings, quotas, 4)));
    EXPECT_TRUE(merge_rankings(std::vector<std::vector<uint64_t>>{}, std::vector<uint64_t>{}, 3).empty());
}

// Literal reference of the documented rule: phase 1 rounds over targets with quota left, phase 2 rounds over
// the rest, each turn scanning the ranking from the top for an untaken sample.
std::vector<uint64_t> reference_merge(const std::vector<std::vector<uint64_t>>& rankings,
                                      const std::vector<uint64_t>& quotas, uint64_t n) {
    std::vector<uint64_t> out;
    std::set<uint64_t> taken;
    std::vector<uint64_t> got(rankings.size(), 0);
    std::vector<bool> out_of_samples(rankings.size(), false);
    for (int phase = 1; phase <= 2; ++phase) {
        while (out.size() < n) {
            bool progressed = false;
            for (size_t t = 0; t < rankings.size() && out.size() < n; ++t) {
                if (out_of_samples[t] || quotas[t] == 0 || (phase == 1 && got[t] >= quotas[t])) continue;
                auto it = std::find_if(rankings[t].begin(), rankings[t].end(),
                                       [&](uint64_t pos) { return taken.count(pos) == 0; });
                if (it == rankings[t].end()) {
                    out_of_samples[t] = true;
                    continue;
                }
                taken.insert(*it);
                out.push_back(*it);
                ++got[t];
                progressed = true;
            }
            if (!progressed) break;
        }
    }
    return out;
}

TEST(MergeRankings, MatchesTheLiteralRuleOnRandomFullRankings) {
    std::mt19937_64 rng(5);
    for (int trial = 0; trial < 300; ++trial) {
        const size_t n_pool = 1 + rng() % 30;
        const size_t n_targets = 1 + rng() % 4;
        std::vector<std::vector<uint64_t>> rankings;
        std::vector<double> weights;
        for (size_t t = 0; t < n_targets; ++t) {
            std::vector<double> scores(n_pool);
            for (double& s : scores) s = static_cast<double>(rng() % 5);  // many ties
            rankings.push_back(top_n(scores, n_pool));
            weights.push_back(static_cast<double>(rng() % 4));
        }
        if (std::all_of(weights.begin(), weights.end(), [](double w) { return w == 0.0; })) weights[0] = 1.0;
        const uint64_t n = rng() % (n_pool + 3);
        const std::vector<uint64_t> quotas = apportion(n, weights).value();
        const std::vector<MergedPick> picks = merge_rankings(rankings, quotas, n);
        ASSERT_EQ(reference_merge(rankings, quotas, n), positions(picks)) << "trial " << trial;
        // Full rankings: exactly min(n, pool) distinct samples, each target within its quota, ranks <= n.
        EXPECT_EQ(std::min<uint64_t>(n, n_pool), picks.size());
        std::set<uint64_t> distinct;
        std::vector<uint64_t> per_target(n_targets, 0);
        for (const auto& p : picks) {
            distinct.insert(p.pos);
            EXPECT_EQ(p.pos, rankings[p.target_idx][p.rank - 1]);
            EXPECT_LE(p.rank, std::max<uint64_t>(n, 1));
            if (!p.fill) ++per_target[p.target_idx];
        }
        EXPECT_EQ(picks.size(), distinct.size());
        for (size_t t = 0; t < n_targets; ++t) EXPECT_LE(per_target[t], quotas[t]);
        // Rankings cut to their top n merge the same way.
        std::vector<std::vector<uint64_t>> cut = rankings;
        for (auto& r : cut) r.resize(std::min<size_t>(r.size(), n));
        EXPECT_EQ(positions(picks), positions(merge_rankings(cut, quotas, n))) << "trial " << trial;
    }
}

}  // namespace
}  // namespace mona
