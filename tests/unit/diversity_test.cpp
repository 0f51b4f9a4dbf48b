// Diversity-aware selection (score/diversity.hpp): the lazy-greedy MMR picker against a naive reference that, at
// every step, recomputes every remaining candidate's value from dense vectors and scans for the argmax.
#include "score/diversity.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "reference/score_reference.hpp"
#include "score/topn.hpp"

namespace mona {
namespace {

constexpr int64_t kDim = 24;

// A sparse vector with integer values (so every Jaccard sum is exact and dense and sparse agree bit for bit).
SparseVec random_vec(std::mt19937_64& rng) {
    std::uniform_int_distribution<int> value(0, 3);
    SparseVec vec;
    for (uint32_t latent = 0; latent < kDim; ++latent) {
        const int v = value(rng) == 0 ? value(rng) + 1 : 0;
        if (v == 0) continue;
        vec.idx.push_back(latent);
        vec.val.push_back(static_cast<float>(v));
        vec.l1 += v;
    }
    return vec;
}

// The rule of score/diversity.hpp written out plainly: O(n * C * C) dense Jaccards, every value recomputed from
// scratch at every step, argmax by (higher value, then lower candidate index).
std::vector<size_t> naive_mmr(const std::vector<double>& scores, const std::vector<SparseVec>& vecs, size_t n,
                              double lambda) {
    std::vector<std::vector<float>> dense;
    for (const auto& vec : vecs) dense.push_back(reference::to_dense(vec, kDim));
    std::vector<size_t> picks;
    std::vector<bool> taken(scores.size(), false);
    while (picks.size() < std::min(n, scores.size())) {
        size_t best = scores.size();
        double best_value = 0.0;
        for (size_t cand = 0; cand < scores.size(); ++cand) {
            if (taken[cand]) continue;
            double max_sim = 0.0;
            for (size_t pick : picks) max_sim = std::max(max_sim, reference::jaccard_dense(dense[cand], dense[pick]));
            const double value = scores[cand] - lambda * max_sim;
            if (best == scores.size() || value > best_value) {
                best = cand;
                best_value = value;
            }
        }
        taken[best] = true;
        picks.push_back(best);
    }
    return picks;
}

std::vector<const SparseVec*> pointers(const std::vector<SparseVec>& vecs) {
    std::vector<const SparseVec*> out;
    for (const auto& vec : vecs) out.push_back(&vec);
    return out;
}

TEST(Diversity, HandComputedNearDuplicateIsPushedBack) {
    // a and a2 are identical; b shares nothing with them. Scores 1.0, 0.9, 0.8.
    SparseVec a{{0, 1}, {1.0f, 1.0f}, 2.0};
    SparseVec b{{2, 3}, {1.0f, 1.0f}, 2.0};
    const std::vector<SparseVec> vecs = {a, a, b};
    const std::vector<double> scores = {1.0, 0.9, 0.8};
    // LAMBDA 0.5: after a, a2 is worth 0.9 - 0.5 = 0.4 < b's 0.8.
    EXPECT_EQ((std::vector<size_t>{0, 2, 1}), mmr_pick(scores, pointers(vecs), 3, 0.5));
    // LAMBDA 0.05: a2 still worth 0.85 > 0.8.
    EXPECT_EQ((std::vector<size_t>{0, 1, 2}), mmr_pick(scores, pointers(vecs), 3, 0.05));
    // Only two picks.
    EXPECT_EQ((std::vector<size_t>{0, 2}), mmr_pick(scores, pointers(vecs), 2, 0.5));
}

TEST(Diversity, EqualValuesGoToTheBetterScoredCandidate) {
    // After a, both others are worth 0.5: b (0.5, disjoint from a) and c (1.0 - 1.0 * J = 1.0 - 0.5).
    SparseVec a{{0, 1}, {1.0f, 1.0f}, 2.0};
    SparseVec c{{0, 1, 2, 3}, {1.0f, 1.0f, 1.0f, 1.0f}, 4.0};  // J(a, c) = 2 / 4
    SparseVec b{{5}, {1.0f}, 1.0};
    const std::vector<SparseVec> vecs = {a, c, b};
    const std::vector<double> scores = {2.0, 1.0, 0.5};
    EXPECT_EQ((std::vector<size_t>{0, 1, 2}), mmr_pick(scores, pointers(vecs), 3, 1.0));
}

TEST(Diversity, LambdaZeroIsTheScoreOrder) {
    std::mt19937_64 rng(7);
    std::vector<SparseVec> vecs;
    for (int i = 0; i < 30; ++i) vecs.push_back(random_vec(rng));
    std::vector<double> scores;
    for (int i = 0; i < 30; ++i) scores.push_back(1.0 - 0.01 * i);
    DiversityStats stats;
    const auto picks = mmr_pick(scores, pointers(vecs), 10, 0.0, &stats);
    for (size_t place = 0; place < picks.size(); ++place) EXPECT_EQ(place, picks[place]);
    EXPECT_EQ(10u, picks.size());
    EXPECT_EQ(0u, stats.n_jaccard);
}

TEST(Diversity, MatchesNaiveReferenceOnRandomCases) {
    std::mt19937_64 rng(20260412);
    const double lambdas[] = {0.0, 0.05, 0.25, 0.5, 1.0, 3.0};
    int n_differs_from_score_order = 0;
    for (int trial = 0; trial < 300; ++trial) {
        const size_t n_cand = 1 + rng() % 40;
        std::vector<SparseVec> vecs;
        for (size_t cand = 0; cand < n_cand; ++cand) vecs.push_back(random_vec(rng));
        // Scores in score order (candidates come best first), with ties: multiples of 1/8 descending.
        std::vector<double> scores(n_cand);
        double s = 4.0;
        for (auto& score : scores) {
            score = s;
            if (rng() % 3 != 0) s -= 0.125;
        }
        const size_t n = 1 + rng() % (n_cand + 3);
        for (double lambda : lambdas) {
            DiversityStats stats;
            const auto picks = mmr_pick(scores, pointers(vecs), n, lambda, &stats);
            ASSERT_EQ(naive_mmr(scores, vecs, n, lambda), picks) << "trial " << trial << " lambda " << lambda;
            EXPECT_LE(stats.n_jaccard, static_cast<uint64_t>(n * n_cand));
            for (size_t place = 0; place < picks.size(); ++place) n_differs_from_score_order += picks[place] != place;
        }
    }
    EXPECT_GT(n_differs_from_score_order, 0);  // the cases exercise the penalty, not only the score order
}

TEST(Diversity, CandidateCount) {
    EXPECT_EQ(40u, n_diversity_candidates(10, 4, 100));
    EXPECT_EQ(100u, n_diversity_candidates(30, 4, 100));
    EXPECT_EQ(10u, n_diversity_candidates(10, 1, 100));
    EXPECT_EQ(100u, n_diversity_candidates(SIZE_MAX / 2, 4, 100));
}

}  // namespace
}  // namespace mona
