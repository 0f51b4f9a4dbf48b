// Top-n selection and ranks against a full-sort reference (spec method.md §4: score descending, ties by lower
// input position; NaN ranks last).
#include "score/topn.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "reference/score_reference.hpp"

namespace mona {
namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

// Scores drawn from a handful of values (many ties), with some NaN and infinities.
std::vector<double> random_tied_scores(std::mt19937_64& rng, size_t n_scores) {
    const double palette[] = {0.0, 0.25, 0.5, 0.5, 0.75, 1.0, kNaN, -kInf, kInf, -0.0};
    std::uniform_int_distribution<size_t> pick(0, std::size(palette) - 1);
    std::vector<double> scores(n_scores);
    for (double& score : scores) score = palette[pick(rng)];
    return scores;
}

std::vector<uint64_t> positions_of(const std::vector<std::pair<uint64_t, double>>& pairs) {
    std::vector<uint64_t> positions;
    for (const auto& pair : pairs) positions.push_back(pair.first);
    return positions;
}

TEST(TopN, HandComputedWithTies) {
    const std::vector<double> scores = {0.5, 0.9, 0.5, 0.1, 0.9, 0.5};
    EXPECT_EQ((std::vector<uint64_t>{1, 4, 0, 2, 5, 3}), top_n(scores, 6));
    EXPECT_EQ((std::vector<uint64_t>{1, 4, 0}), top_n(scores, 3));
    EXPECT_EQ((std::vector<uint64_t>{1}), top_n(scores, 1));
    EXPECT_EQ((std::vector<uint64_t>{}), top_n(scores, 0));
    EXPECT_EQ((std::vector<uint64_t>{3, 1, 4, 6, 2, 5}), ranks(scores));
}

TEST(TopN, EqualScoresPutLowerPositionFirst) {
    const std::vector<double> scores(10, 0.3);
    EXPECT_EQ((std::vector<uint64_t>{0, 1, 2, 3}), top_n(scores, 4));
    EXPECT_EQ((std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}), ranks(scores));
}

TEST(TopN, NMoreThanSizeReturnsAll) {
    const std::vector<double> scores = {0.2, 0.7, 0.4};
    EXPECT_EQ((std::vector<uint64_t>{1, 2, 0}), top_n(scores, 3));
    EXPECT_EQ((std::vector<uint64_t>{1, 2, 0}), top_n(scores, 100));
    EXPECT_EQ((std::vector<uint64_t>{}), top_n(std::vector<double>{}, 5));
    EXPECT_EQ((std::vector<uint64_t>{}), ranks(std::vector<double>{}));
}

TEST(TopN, NaNRanksBelowEverythingIncludingMinusInfinity) {
    const std::vector<double> scores = {kNaN, -kInf, 0.0, kNaN, kInf, -1.0};
    EXPECT_EQ((std::vector<uint64_t>{4, 2, 5, 1, 0, 3}), top_n(scores, 6));
    EXPECT_EQ((std::vector<uint64_t>{4, 2, 5}), top_n(scores, 3));
    EXPECT_EQ((std::vector<uint64_t>{5, 4, 2, 6, 1, 3}), ranks(scores));
}

TEST(TopN, SignedZerosTie) {
    const std::vector<double> scores = {-0.0, 0.0, -0.0};
    EXPECT_EQ((std::vector<uint64_t>{0, 1, 2}), top_n(scores, 3));
}

TEST(TopN, MatchesFullSortReferenceOnRandomTiedScores) {
    for (size_t n_scores : {0u, 1u, 7u, 64u, 1000u, 4096u}) {
        for (uint64_t seed : {1u, 2u, 3u}) {
            std::mt19937_64 rng(seed * 7 + n_scores);
            const std::vector<double> scores = random_tied_scores(rng, n_scores);
            for (size_t n : {size_t{0}, size_t{1}, n_scores / 3, n_scores, n_scores + 5}) {
                EXPECT_EQ(reference::top_n_full_sort(scores, n), top_n(scores, n))
                    << "seed " << seed << " size " << n_scores << " n " << n;
            }
            const std::vector<uint64_t> order = reference::top_n_full_sort(scores, n_scores);
            const std::vector<uint64_t> rank = ranks(scores);
            ASSERT_EQ(n_scores, rank.size());
            for (size_t place = 0; place < order.size(); ++place) {
                EXPECT_EQ(place + 1, rank[order[place]]) << "seed " << seed << " size " << n_scores;
            }
        }
    }
}

TEST(TopNHeap, MatchesTopNForAnyPushOrder) {
    for (size_t n_scores : {0u, 1u, 7u, 64u, 1000u, 4096u}) {
        for (uint64_t seed : {4u, 5u}) {
            std::mt19937_64 rng(seed * 11 + n_scores);
            const std::vector<double> scores = random_tied_scores(rng, n_scores);
            std::vector<uint64_t> push_order(n_scores);
            for (uint64_t pos = 0; pos < n_scores; ++pos) push_order[pos] = pos;
            std::shuffle(push_order.begin(), push_order.end(), rng);
            for (size_t n : {size_t{0}, size_t{1}, size_t{10}, n_scores / 2, n_scores + 1}) {
                TopNHeap heap(n);
                for (uint64_t pos : push_order) heap.push(pos, scores[pos]);
                const auto sorted = heap.sorted();
                const std::string context =
                    "seed " + std::to_string(seed) + " size " + std::to_string(n_scores) + " n " + std::to_string(n);
                EXPECT_EQ(top_n(scores, n), positions_of(sorted)) << context;
                for (const auto& [pos, score] : sorted) {
                    // Same bits, NaN included.
                    EXPECT_EQ(0, std::memcmp(&scores[pos], &score, sizeof score)) << context << " pos " << pos;
                }
            }
        }
    }
}

TEST(TopNHeap, MergedShardsMatchTopN) {
    std::mt19937_64 rng(77);
    const size_t n_scores = 5000;
    const std::vector<double> scores = random_tied_scores(rng, n_scores);
    for (size_t n : {size_t{1}, size_t{37}, size_t{250}, size_t{6000}}) {
        for (size_t n_shards : {size_t{1}, size_t{3}, size_t{8}}) {
            std::vector<TopNHeap> shards(n_shards, TopNHeap(n));
            // Interleaved assignment, so every shard sees positions from the whole range.
            for (uint64_t pos = 0; pos < n_scores; ++pos) shards[pos % n_shards].push(pos, scores[pos]);
            TopNHeap total(n);
            for (size_t shard = n_shards; shard-- > 0;) total.merge(shards[shard]);
            EXPECT_EQ(top_n(scores, n), positions_of(total.sorted())) << "n " << n << " shards " << n_shards;
        }
    }
}

TEST(TopNHeap, KeepsAtMostNAndZeroKeepsNothing) {
    TopNHeap heap(3);
    for (uint64_t pos = 0; pos < 10; ++pos) heap.push(pos, static_cast<double>(pos % 4));
    EXPECT_EQ(3u, heap.size());
    EXPECT_EQ((std::vector<uint64_t>{3, 7, 2}), positions_of(heap.sorted()));
    TopNHeap none(0);
    none.push(0, 1.0);
    EXPECT_EQ(0u, none.size());
    EXPECT_TRUE(none.sorted().empty());
}

}  // namespace
}  // namespace mona
