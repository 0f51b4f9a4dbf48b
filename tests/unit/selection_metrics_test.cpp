// Selection metrics (score/selection_metrics.hpp) against dense references and hand-computed values.
#include "score/selection_metrics.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "reference/score_reference.hpp"

namespace mona {
namespace {

constexpr int64_t kDim = 20;

SparseVec random_vec(std::mt19937_64& rng) {
    SparseVec vec;
    for (uint32_t latent = 0; latent < kDim; ++latent) {
        if (rng() % 4 != 0) continue;
        const float v = static_cast<float>(1 + rng() % 3);
        vec.idx.push_back(latent);
        vec.val.push_back(v);
        vec.l1 += v;
    }
    return vec;
}

TEST(SelectionMetrics, CoverageAndPairwiseMatchDenseReferences) {
    std::mt19937_64 rng(5);
    for (int trial = 0; trial < 200; ++trial) {
        std::vector<SparseVec> exemplars, selected;
        for (int i = 0; i < 3; ++i) exemplars.push_back(random_vec(rng));
        const size_t n_sel = rng() % 6;
        for (size_t i = 0; i < n_sel; ++i) selected.push_back(random_vec(rng));
        const Prototype proto = make_prototype(exemplars, kDim);
        std::vector<const SparseVec*> ptrs;
        for (const auto& v : selected) ptrs.push_back(&v);
        // Plain: dense vectors, one latent at a time.
        std::vector<std::vector<float>> dense;
        for (const auto& v : selected) dense.push_back(reference::to_dense(v, kDim));
        double mass = 0, covered_mass = 0;
        int support = 0, covered = 0;
        for (int64_t k = 0; k < kDim; ++k) {
            if (proto.dense[k] <= 0) continue;
            bool active = false;
            for (const auto& d : dense) active = active || d[k] > 0;
            mass += proto.dense[k];
            support += 1;
            if (active) covered_mass += proto.dense[k], covered += 1;
        }
        const CoverageResult got = selection_coverage(proto, ptrs);
        EXPECT_DOUBLE_EQ(support ? covered_mass / mass : 0.0, got.mass);
        EXPECT_DOUBLE_EQ(support ? static_cast<double>(covered) / support : 0.0, got.latents);
        double sum = 0;
        int pairs = 0;
        for (size_t a = 0; a < dense.size(); ++a) {
            for (size_t b = a + 1; b < dense.size(); ++b) sum += reference::jaccard_dense(dense[a], dense[b]), ++pairs;
        }
        EXPECT_DOUBLE_EQ(pairs ? sum / pairs : 0.0, mean_pairwise_jaccard(ptrs));
    }
}

TEST(SelectionMetrics, CoverageHandComputed) {
    Prototype proto;
    proto.dense = {2.0f, 0.0f, 1.0f, 1.0f};
    proto.l1 = 4.0;
    const SparseVec a{{0, 1}, {1.0f, 5.0f}, 6.0};
    const std::vector<const SparseVec*> sel = {&a};
    const CoverageResult got = selection_coverage(proto, sel);
    EXPECT_DOUBLE_EQ(0.5, got.mass);           // latent 0 carries 2 of 4
    EXPECT_DOUBLE_EQ(1.0 / 3.0, got.latents);  // 1 of the 3 support latents
    EXPECT_DOUBLE_EQ(0.0, selection_coverage(proto, {}).mass);
}

TEST(SelectionMetrics, CoverageCurveIsTheCoverageOfEveryPrefix) {
    std::mt19937_64 rng(6);
    for (int trial = 0; trial < 100; ++trial) {
        std::vector<SparseVec> exemplars, selected;
        for (int i = 0; i < 3; ++i) exemplars.push_back(random_vec(rng));
        const size_t n_sel = rng() % 12;
        for (size_t i = 0; i < n_sel; ++i) selected.push_back(random_vec(rng));
        const Prototype proto = make_prototype(exemplars, kDim);
        std::vector<const SparseVec*> ptrs;
        for (const auto& v : selected) ptrs.push_back(&v);
        const std::vector<CoverageResult> curve = coverage_curve(proto, ptrs);
        ASSERT_EQ(n_sel, curve.size());
        for (size_t n = 1; n <= n_sel; ++n) {
            const CoverageResult prefix = selection_coverage(proto, std::span<const SparseVec* const>(ptrs.data(), n));
            EXPECT_NEAR(prefix.mass, curve[n - 1].mass, 1e-12) << n;  // summed in another order
            EXPECT_DOUBLE_EQ(prefix.latents, curve[n - 1].latents) << n;
            if (n > 1) {
                EXPECT_GE(curve[n - 1].mass, curve[n - 2].mass);
            }
        }
    }
}

TEST(SelectionMetrics, TextMetricsHandComputed) {
    const std::vector<std::string> texts = {"a b a", "a b", "c"};
    EXPECT_DOUBLE_EQ(3.0 / 6.0, distinct_n(texts, 1));  // words a b a a b c: 3 distinct of 6
    EXPECT_DOUBLE_EQ(2.0 / 3.0, distinct_n(texts, 2));  // bigrams (a b) (b a) (a b): 2 of 3
    EXPECT_DOUBLE_EQ(0.0, distinct_n(texts, 4));
    EXPECT_DOUBLE_EQ(1.0 / 3.0, duplicate_rate(std::vector<std::string>{"x", "y", "x"}));
    EXPECT_DOUBLE_EQ(0.0, duplicate_rate(std::vector<std::string>{}));
    // MTLD: "a a a a": a factor every two words both ways: 4 / 2.
    EXPECT_DOUBLE_EQ(2.0, mtld(std::vector<std::string>{"a a a a"}));
    // "a b c": the ratio never falls: the word count.
    EXPECT_DOUBLE_EQ(3.0, mtld(std::vector<std::string>{"a b", "c"}));
    // "a b a c": forward one factor at the third word then a full-ratio tail (4 / 1); backward "c a b a" ends at
    // ratio 3/4: partial factor (1 - 0.75) / 0.28, so 4 / 0.892857...
    EXPECT_NEAR((4.0 + 4.0 / (0.25 / 0.28)) / 2.0, mtld(std::vector<std::string>{"a b a c"}), 1e-12);
}

}  // namespace
}  // namespace mona
