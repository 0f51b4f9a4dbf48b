// eval/metrics.hpp: the vector arithmetic of the eval methods against plain references, and the selection metrics
// of `mona eval` against hand-computed values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "eval/metrics.hpp"
#include "unit/eval_fixture.hpp"

namespace mona {
namespace {

using test::tiny_eval_input;

// Plain references, written independently of the code under test: long double sums over explicit indices.
std::vector<double> reference_mean_rows(const std::vector<float>& rows, int64_t d, int64_t begin, int64_t end) {
    std::vector<double> out(static_cast<size_t>(d), 0.0);
    if (end <= begin) return out;
    for (int64_t col = 0; col < d; ++col) {
        long double sum = 0.0L;
        for (int64_t row = begin; row < end; ++row) sum += rows[static_cast<size_t>(row * d + col)];
        out[static_cast<size_t>(col)] = static_cast<double>(sum / static_cast<long double>(end - begin));
    }
    return out;
}

double reference_cosine(const std::vector<double>& a, const std::vector<double>& b) {
    long double dot = 0.0L, aa = 0.0L, bb = 0.0L;
    for (size_t k = 0; k < a.size(); ++k) {
        dot += static_cast<long double>(a[k]) * b[k];
        aa += static_cast<long double>(a[k]) * a[k];
        bb += static_cast<long double>(b[k]) * b[k];
    }
    if (aa == 0.0L || bb == 0.0L) return 0.0;
    return static_cast<double>(dot / std::sqrt(aa * bb));
}

TEST(EvalMetrics, MeanRowsByHand) {
    // 3 rows x 2 columns: (1, 2) (3, 4) (5, 7).
    const std::vector<float> rows = {1, 2, 3, 4, 5, 7};
    EXPECT_EQ((std::vector<double>{3.0, 13.0 / 3.0}), mean_rows(rows, 2, 0, 3));
    EXPECT_EQ((std::vector<double>{4.0, 5.5}), mean_rows(rows, 2, 1, 3)) << "a sub-range (e.g. --tokens no-bos)";
    EXPECT_EQ((std::vector<double>{3.0, 4.0}), mean_rows(rows, 2, 1, 2));
    EXPECT_EQ((std::vector<double>{0.0, 0.0}), mean_rows(rows, 2, 2, 2)) << "an empty range is the zero vector";
}

TEST(EvalMetrics, MeanRowsMatchesAPlainReference) {
    std::mt19937 rng(11);
    std::normal_distribution<float> value(0.0f, 3.0f);
    for (int64_t d : {1, 7, 64}) {
        const int64_t n_rows = 13;
        std::vector<float> rows(static_cast<size_t>(n_rows * d));
        for (float& v : rows) v = value(rng);
        for (auto [begin, end] : {std::pair<int64_t, int64_t>{0, 13}, {1, 13}, {4, 9}, {12, 13}}) {
            const std::vector<double> got = mean_rows(rows, d, begin, end);
            const std::vector<double> want = reference_mean_rows(rows, d, begin, end);
            ASSERT_EQ(want.size(), got.size());
            for (size_t col = 0; col < got.size(); ++col) EXPECT_NEAR(want[col], got[col], 1e-12) << d << " " << col;
        }
    }
}

TEST(EvalMetrics, L2NormAndDenseCosineByHand) {
    EXPECT_EQ(5.0, l2_norm({3.0, 4.0}));
    EXPECT_EQ(0.0, l2_norm({}));
    const std::vector<double> a = {1.0, 0.0}, b = {1.0, 1.0}, c = {-2.0, 0.0}, zero = {0.0, 0.0};
    EXPECT_DOUBLE_EQ(1.0 / std::sqrt(2.0), dense_cosine(a, b, l2_norm(b)));
    EXPECT_DOUBLE_EQ(-1.0, dense_cosine(a, c, l2_norm(c)));
    EXPECT_DOUBLE_EQ(1.0, dense_cosine(b, b, l2_norm(b)));
    EXPECT_EQ(0.0, dense_cosine(zero, b, l2_norm(b))) << "a zero sample scores 0";
    EXPECT_EQ(0.0, dense_cosine(a, zero, 0.0)) << "a zero target scores 0";
    // b_norm is taken as given: the target's norm is computed once per run.
    EXPECT_DOUBLE_EQ(0.5 / std::sqrt(2.0), dense_cosine(a, b, 2.0 * l2_norm(b)));
}

TEST(EvalMetrics, DenseCosineMatchesAPlainReference) {
    std::mt19937 rng(5);
    std::normal_distribution<double> value(0.0, 1.0);
    for (size_t d : {1u, 3u, 100u, 576u}) {
        std::vector<double> a(d), b(d);
        for (double& v : a) v = value(rng);
        for (double& v : b) v = value(rng);
        EXPECT_NEAR(reference_cosine(a, b), dense_cosine(a, b, l2_norm(b)), 1e-12) << d;
    }
}

TEST(EvalMetrics, ValueAtLooksUpStoredLatents) {
    SparseVec v;
    v.idx = {2, 5, 9};
    v.val = {0.5f, 1.25f, 3.0f};
    EXPECT_EQ(0.5, value_at(v, 2));
    EXPECT_EQ(1.25, value_at(v, 5));
    EXPECT_EQ(3.0, value_at(v, 9));
    for (uint32_t absent : {0u, 3u, 8u, 10u, 1000u}) EXPECT_EQ(0.0, value_at(v, absent)) << absent;
    EXPECT_EQ(0.0, value_at(SparseVec{}, 0));
}

TEST(EvalMetrics, TopLatentsAreTheLargestPositiveTiesToTheLowerLatent) {
    const Prototype proto = prototype_from_dense({0.0f, 0.5f, 2.0f, 0.5f, -1.0f, 1.0f, 0.0f});
    EXPECT_EQ((std::vector<uint32_t>{2, 5, 1, 3}), top_latents(proto, 10)) << "only values > 0, ties by latent";
    EXPECT_EQ((std::vector<uint32_t>{2, 5, 1}), top_latents(proto, 3));
    EXPECT_EQ((std::vector<uint32_t>{}), top_latents(proto, 0));
    EXPECT_EQ((std::vector<uint32_t>{}), top_latents(prototype_from_dense({0.0f, 0.0f}), 2));
}

TEST(EvalMetrics, TopLatentsMatchASortReference) {
    std::mt19937 rng(3);
    std::uniform_int_distribution<int> value(-3, 6);  // many ties and non-positive values
    std::vector<float> dense(200);
    for (float& v : dense) v = static_cast<float>(value(rng)) / 4.0f;
    std::vector<uint32_t> want;
    for (uint32_t latent = 0; latent < dense.size(); ++latent) {
        if (dense[latent] > 0.0f) want.push_back(latent);
    }
    std::stable_sort(want.begin(), want.end(), [&](uint32_t a, uint32_t b) { return dense[a] > dense[b]; });
    want.resize(std::min<size_t>(want.size(), 25));
    EXPECT_EQ(want, top_latents(prototype_from_dense(dense), 25));
}

TEST(EvalMetrics, TextAtFindsSortedPositions) {
    const std::vector<std::pair<uint64_t, std::string>> texts = {{1, "a"}, {4, "b"}, {9, "c"}};
    ASSERT_NE(nullptr, text_at(texts, 4));
    EXPECT_EQ("b", *text_at(texts, 4));
    EXPECT_EQ("c", *text_at(texts, 9));
    EXPECT_EQ(nullptr, text_at(texts, 0));
    EXPECT_EQ(nullptr, text_at(texts, 5));
    EXPECT_EQ(nullptr, text_at(texts, 10));
    EXPECT_EQ(nullptr, text_at({}, 0));
}

TEST(EvalMetrics, ScoreStatsSkipNonFiniteScores) {
    EvalInput in = tiny_eval_input();
    in.targets[0].runs[0].scores = {0.9,     std::numeric_limits<double>::quiet_NaN(), 0.1, -INFINITY, 0.7, 0.0, 0.2,
                                    INFINITY};
    const EvalResults r = compute_eval_results(in);
    const EvalMethodMetrics& m = r.targets[0].methods[0];
    EXPECT_EQ(0.0, *m.score_min);
    EXPECT_EQ(0.9, *m.score_max);
    EXPECT_DOUBLE_EQ((0.9 + 0.1 + 0.7 + 0.0 + 0.2) / 5.0, *m.score_mean);
}

TEST(EvalMetrics, PrecisionRecallAndAveragesByHand) {
    const EvalInput in = tiny_eval_input();
    const EvalResults r = compute_eval_results(in);
    ASSERT_EQ(2u, r.targets.size());
    const auto& math = r.targets[0];
    const auto& code = r.targets[1];
    EXPECT_EQ(3u, math.pool_label_count);
    EXPECT_EQ(3.0 / 8.0, math.pool_label_share);
    EXPECT_EQ(2u, code.pool_label_count);
    EXPECT_EQ(1.0, math.methods[0].pr.precision);
    EXPECT_EQ(1.0, math.methods[0].pr.recall);
    EXPECT_EQ(0.0, math.methods[1].pr.precision);
    EXPECT_EQ(0.0, math.methods[1].pr.recall);
    EXPECT_EQ(2.0 / 3.0, code.methods[0].pr.precision);
    EXPECT_EQ(1.0, code.methods[0].pr.recall);
    EXPECT_EQ(1.0 / 3.0, code.methods[1].pr.precision);
    EXPECT_EQ(0.5, code.methods[1].pr.recall);
    ASSERT_EQ(2u, r.averages.size());
    EXPECT_DOUBLE_EQ(5.0 / 6.0, r.averages[0].precision);
    EXPECT_DOUBLE_EQ(1.0, r.averages[0].recall);
    EXPECT_DOUBLE_EQ(1.0 / 6.0, r.averages[1].precision);
    EXPECT_DOUBLE_EQ(0.25, r.averages[1].recall);
}

TEST(EvalMetrics, CompositionLengthsDiversityAndOverlapByHand) {
    const EvalResults r = compute_eval_results(tiny_eval_input());
    const EvalMethodMetrics& m = r.targets[0].methods[0];  // math / mona: positions 0 1 4
    ASSERT_EQ(1u, m.composition.size());
    EXPECT_EQ("math", m.composition[0].label);
    EXPECT_EQ(3u, m.composition[0].count);
    // Lengths 10 20 50: mean 80/3, median 20, p10 = 10 + 0.2 * 10, p90 = 20 + 0.8 * 30.
    EXPECT_EQ(3u, m.lengths.n);
    EXPECT_DOUBLE_EQ(80.0 / 3.0, m.lengths.mean);
    EXPECT_DOUBLE_EQ(20.0, m.lengths.median);
    EXPECT_DOUBLE_EQ(12.0, m.lengths.p10);
    EXPECT_DOUBLE_EQ(44.0, m.lengths.p90);
    // "one two three" "one two two" "one": 7 words, 3 distinct; bigrams (one two) (two three) (one two) (two two).
    EXPECT_EQ(7u, m.distinct_1.n_total);
    EXPECT_EQ(3u, m.distinct_1.n_distinct);
    EXPECT_EQ(4u, m.distinct_2.n_total);
    EXPECT_EQ(3u, m.distinct_2.n_distinct);
    EXPECT_EQ(0.9, *m.score_max);
    EXPECT_EQ(0.0, *m.score_min);
    EXPECT_FALSE(r.targets[0].methods[1].score_max.has_value()) << "random has no scores";
    // math: {0,1,4} vs {3,2,7} share nothing; code: {5,2,4} vs {3,2,7} share 2 -> 1/3, Jaccard 1/5.
    ASSERT_EQ(1u, r.targets[1].overlaps.size());
    EXPECT_EQ(1u, r.targets[1].overlaps[0].overlap.n_intersection);
    EXPECT_EQ(1.0 / 3.0, r.targets[1].overlaps[0].overlap.overlap);
    EXPECT_EQ(0.0, r.targets[0].overlaps[0].overlap.overlap);
    ASSERT_EQ(1u, r.average_overlaps.size());
    EXPECT_DOUBLE_EQ(1.0 / 6.0, r.average_overlaps[0].overlap);
    EXPECT_DOUBLE_EQ(0.1, r.average_overlaps[0].jaccard);
    EXPECT_EQ(8u, r.pool_lengths.n);
    EXPECT_DOUBLE_EQ(45.0, r.pool_lengths.mean);
}

}  // namespace
}  // namespace mona

namespace mona {
namespace {

// Duplicate rate, coverage and pairwise Jaccard, on hand-made vectors: math / mona selects 0 1 4, random 3 2 7.
TEST(EvalMetrics, DuplicateRateCoverageAndPairwiseByHand) {
    EvalInput in = tiny_eval_input();
    {
        const EvalResults r = compute_eval_results(in);
        EXPECT_EQ(0.0, r.targets[0].methods[0].duplicate_rate);
        EXPECT_FALSE(r.targets[0].methods[0].coverage.has_value()) << "no vectors, no coverage";
        EXPECT_FALSE(r.averages[0].coverage_mass.has_value());
        EXPECT_FALSE(r.averages[0].mean_pairwise_jaccard.has_value());
    }
    // Position 1 repeats position 0's normalised text, position 7 position 2's: math/mona {0,1,4} has one
    // repeat in 3, math/random {3,2,7} one in 3; code/mona {5,2,4} none.
    for (auto& [pos, text] : in.normalised) {
        if (pos == 1) text = "one two three";
        if (pos == 7) text = "x y";
    }
    // Vectors over 4 latents; the prototype of math is (1, 2, 3, 4) on latents 0..3, of code (0, 0, 1, 0).
    auto vec = [](std::vector<std::pair<uint32_t, float>> entries) {
        SparseVec v;
        for (auto [k, x] : entries) {
            v.idx.push_back(k);
            v.val.push_back(x);
            v.l1 += x;
        }
        return v;
    };
    const std::vector<SparseVec> vecs = {vec({{0, 1}}), vec({{0, 1}, {1, 1}}), vec({{3, 2}}),         vec({}),
                                         vec({{1, 1}}), vec({{2, 1}}),         vec({{0, 1}, {2, 1}}), vec({{3, 1}})};
    in.coverage_vecs = &vecs;
    const Prototype math_proto = prototype_from_dense({1, 2, 3, 4});
    const Prototype code_proto = prototype_from_dense({0, 0, 1, 0});
    in.targets[0].coverage_prototype = &math_proto;
    in.targets[1].coverage_prototype = &code_proto;
    const EvalResults r = compute_eval_results(in);
    const EvalMethodMetrics& math_mona = r.targets[0].methods[0];
    const EvalMethodMetrics& math_random = r.targets[0].methods[1];
    const EvalMethodMetrics& code_mona = r.targets[1].methods[0];
    EXPECT_DOUBLE_EQ(1.0 / 3.0, math_mona.duplicate_rate);
    EXPECT_DOUBLE_EQ(1.0 / 3.0, math_random.duplicate_rate);
    EXPECT_EQ(0.0, code_mona.duplicate_rate);
    // math/mona {0,1,4} activates latents 0 and 1: mass (1 + 2) / 10, latents 2 / 4.
    ASSERT_TRUE(math_mona.coverage.has_value());
    EXPECT_DOUBLE_EQ(0.3, math_mona.coverage->mass);
    EXPECT_DOUBLE_EQ(0.5, math_mona.coverage->latents);
    // math/random {3,2,7} activates latent 3 only: 4 / 10, 1 / 4.
    EXPECT_DOUBLE_EQ(0.4, math_random.coverage->mass);
    EXPECT_DOUBLE_EQ(0.25, math_random.coverage->latents);
    // code/mona {5,2,4} activates 1, 2, 3: the prototype's one latent (2) is covered.
    EXPECT_DOUBLE_EQ(1.0, code_mona.coverage->mass);
    EXPECT_DOUBLE_EQ(1.0, code_mona.coverage->latents);
    // Pairwise J of {0,1,4}: J(v0,v1) = 1/2, J(v0,v4) = 0, J(v1,v4) = 1/2 -> 1/3.
    ASSERT_TRUE(math_mona.mean_pairwise_jaccard.has_value());
    EXPECT_DOUBLE_EQ(1.0 / 3.0, *math_mona.mean_pairwise_jaccard);
    // {3,2,7}: J(v3,v2) = 0, J(v3,v7) = 0, J(v2,v7) = 1/2 -> 1/6.
    EXPECT_DOUBLE_EQ(1.0 / 6.0, *math_random.mean_pairwise_jaccard);
    // Averages over the two targets.
    EXPECT_DOUBLE_EQ((1.0 / 3.0 + 0.0) / 2.0, r.averages[0].duplicate_rate);
    EXPECT_DOUBLE_EQ((0.3 + 1.0) / 2.0, *r.averages[0].coverage_mass);
    EXPECT_DOUBLE_EQ((0.5 + 1.0) / 2.0, *r.averages[0].coverage_latents);
}

}  // namespace
}  // namespace mona
