// Jaccard and cosine scores against the dense reference (spec method.md §3). Integer-valued vectors make every
// double sum exact, so the O(nnz) identity must equal the dense Σmin/Σmax bit for bit.
#include "score/jaccard.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "reference/score_reference.hpp"

namespace mona {
namespace {

const int64_t kSizes[] = {0, 1, 7, 4096, 131072};
const double kDensities[] = {0.0, 0.01, 0.3, 1.0};

SparseVec sparse_from_dense(const std::vector<float>& dense) {
    SparseVec vec;
    for (size_t k = 0; k < dense.size(); ++k) {
        if (dense[k] == 0.0f) continue;
        vec.idx.push_back(static_cast<uint32_t>(k));
        vec.val.push_back(dense[k]);
        vec.l1 += dense[k];
    }
    return vec;
}

TEST(Jaccard, HandComputedSmallCase) {
    // a = (1, 2, 0), b = (2, 1, 1): Σmin = 1 + 1 + 0 = 2, Σmax = 2 + 2 + 1 = 5.
    const SparseVec a = sparse_from_dense({1, 2, 0});
    const SparseVec b = sparse_from_dense({2, 1, 1});
    EXPECT_EQ(2.0 / 5.0, jaccard(a, b));
    EXPECT_EQ(2.0 / 5.0, jaccard(b, a));
    EXPECT_EQ(2.0 / 5.0, jaccard(a, prototype_from_dense({2, 1, 1})));
    EXPECT_EQ(2.0 / 5.0, jaccard(b, prototype_from_dense({1, 2, 0})));
    EXPECT_EQ(2.0 / 5.0, reference::jaccard_dense(std::vector<float>{1, 2, 0}, std::vector<float>{2, 1, 1}));
}

TEST(Jaccard, DisjointSupportsScoreZero) {
    const SparseVec a = sparse_from_dense({1, 0, 3, 0});
    const SparseVec b = sparse_from_dense({0, 2, 0, 5});
    EXPECT_EQ(0.0, jaccard(a, b));
    EXPECT_EQ(0.0, jaccard(a, prototype_from_dense({0, 2, 0, 5})));
}

TEST(Jaccard, ZeroAgainstZeroIsZero) {
    const SparseVec zero;
    EXPECT_EQ(0.0, jaccard(zero, zero));
    EXPECT_EQ(0.0, jaccard(zero, prototype_from_dense({0, 0, 0})));
    EXPECT_EQ(0.0, jaccard(zero, prototype_from_dense({})));
    EXPECT_EQ(0.0, reference::jaccard_dense(std::vector<float>{0, 0, 0}, std::vector<float>{0, 0, 0}));
    // Zero against non-zero: Σmin = 0, Σmax > 0.
    EXPECT_EQ(0.0, jaccard(zero, prototype_from_dense({0, 4, 0})));
    EXPECT_EQ(0.0, jaccard(zero, sparse_from_dense({0, 4, 0})));
}

TEST(Jaccard, VectorWithItselfIsOne) {
    for (int64_t d : kSizes) {
        for (double density : kDensities) {
            std::mt19937_64 rng(static_cast<uint64_t>(d) + 17);
            const SparseVec a = reference::random_int_sparse(rng, d, density, 9);
            if (a.nnz() == 0) continue;
            const std::string context = "d " + std::to_string(d) + " density " + std::to_string(density);
            EXPECT_EQ(1.0, jaccard(a, a)) << context;
            EXPECT_EQ(1.0, jaccard(a, prototype_from_dense(reference::to_dense(a, d)))) << context;
        }
    }
    // Non-integer values too: l1 is Σ of the stored floats in double, and so is m.
    std::vector<float> dense = {0.1f, 0.0f, 0.7f, 1e-7f, 3.3f};
    SparseVec a = sparse_from_dense(dense);
    EXPECT_EQ(1.0, jaccard(a, a));
    EXPECT_EQ(1.0, jaccard(a, prototype_from_dense(dense)));
}

TEST(Jaccard, MatchesDenseReferenceExactlyOnRandomIntegerVectors) {
    for (int64_t d : kSizes) {
        for (double density_a : kDensities) {
            for (double density_b : kDensities) {
                const uint64_t seed = static_cast<uint64_t>(d) * 7919 + static_cast<uint64_t>(density_a * 100) * 101 +
                                      static_cast<uint64_t>(density_b * 100);
                std::mt19937_64 rng(seed);
                const SparseVec a = reference::random_int_sparse(rng, d, density_a, 8);
                const SparseVec b = reference::random_int_sparse(rng, d, density_b, 8);
                const std::vector<float> dense_a = reference::to_dense(a, d);
                const std::vector<float> dense_b = reference::to_dense(b, d);
                const double expected = reference::jaccard_dense(dense_a, dense_b);
                const std::string context = "seed " + std::to_string(seed) + " d " + std::to_string(d) + " nnz_a " +
                                            std::to_string(a.nnz()) + " nnz_b " + std::to_string(b.nnz());
                EXPECT_EQ(expected, jaccard(a, prototype_from_dense(dense_b))) << context;
                EXPECT_EQ(expected, jaccard(a, b)) << context;
                EXPECT_EQ(expected, jaccard(b, a)) << context;
                EXPECT_GE(expected, 0.0) << context;
                EXPECT_LE(expected, 1.0) << context;
            }
        }
    }
}

TEST(Jaccard, AgainstMeanPrototypeMatchesReferenceWithinRounding) {
    // A mean prototype has non-integer values, so the identity and the dense Σmin/Σmax round differently.
    for (int64_t d : {int64_t{7}, int64_t{4096}, int64_t{131072}}) {
        std::mt19937_64 rng(static_cast<uint64_t>(d) * 3);
        std::vector<SparseVec> exemplars;
        for (int exemplar = 0; exemplar < 5; ++exemplar) {
            exemplars.push_back(reference::random_int_sparse(rng, d, 0.1, 9));
        }
        const Prototype proto = make_prototype(exemplars, d);
        for (int sample = 0; sample < 4; ++sample) {
            const SparseVec a = reference::random_int_sparse(rng, d, 0.05, 9);
            const double expected = reference::jaccard_dense(reference::to_dense(a, d), proto.dense);
            EXPECT_NEAR(expected, jaccard(a, proto), 1e-12 * std::max(1.0, expected))
                << "d " << d << " sample " << sample;
        }
    }
}

TEST(Jaccard, IsSymmetricBitForBit) {
    std::mt19937_64 rng(99);
    for (int trial = 0; trial < 50; ++trial) {
        std::uniform_real_distribution<float> value(0.0f, 3.0f);
        SparseVec a;
        SparseVec b;
        for (uint32_t k = 0; k < 300; ++k) {
            if (rng() % 3 == 0) {
                a.idx.push_back(k);
                a.val.push_back(value(rng));
                a.l1 += a.val.back();
            }
            if (rng() % 2 == 0) {
                b.idx.push_back(k);
                b.val.push_back(value(rng));
                b.l1 += b.val.back();
            }
        }
        EXPECT_EQ(jaccard(a, b), jaccard(b, a)) << "trial " << trial;
    }
}

TEST(Jaccard, TruncatedVectorScoresWithinTheDocumentedBounds) {
    // Keep only some entries of `full` but its full l1: the score must lie in [m'/(S-m'), (m'+r)/(S-m'-r)].
    std::mt19937_64 rng(2024);
    const int64_t d = 4096;
    const SparseVec full = reference::random_int_sparse(rng, d, 0.2, 9);
    const Prototype proto = prototype_from_dense(reference::to_dense(reference::random_int_sparse(rng, d, 0.3, 9), d));
    SparseVec truncated;
    truncated.l1 = full.l1;
    double kept = 0.0;
    for (size_t entry = 0; entry < full.nnz(); entry += 2) {
        truncated.idx.push_back(full.idx[entry]);
        truncated.val.push_back(full.val[entry]);
        kept += full.val[entry];
    }
    const double r = full.l1 - kept;
    const double exact = jaccard(full, proto);
    const double approx = jaccard(truncated, proto);
    const double m_trunc = approx * (truncated.l1 + proto.l1) / (1.0 + approx);
    const double sum_l1 = truncated.l1 + proto.l1;
    EXPECT_LE(approx, exact);
    EXPECT_LE(exact, (m_trunc + r) / (sum_l1 - m_trunc - r) + 1e-12);
}

TEST(Jaccard, CosineMatchesDenseReferenceExactlyOnRandomIntegerVectors) {
    for (int64_t d : kSizes) {
        for (double density_a : kDensities) {
            for (double density_b : kDensities) {
                const uint64_t seed = static_cast<uint64_t>(d) * 13 + static_cast<uint64_t>(density_a * 100) * 7 +
                                      static_cast<uint64_t>(density_b * 100);
                std::mt19937_64 rng(seed);
                const SparseVec a = reference::random_int_sparse(rng, d, density_a, 8);
                const std::vector<float> dense_b =
                    reference::to_dense(reference::random_int_sparse(rng, d, density_b, 8), d);
                const double expected = reference::cosine_dense(reference::to_dense(a, d), dense_b);
                EXPECT_EQ(expected, cosine(a, prototype_from_dense(dense_b)))
                    << "seed " << seed << " d " << d << " nnz_a " << a.nnz();
            }
        }
    }
}

TEST(Jaccard, CosineHandComputedAndZeroCases) {
    // a = (3, 4), p = (4, 3): 24 / (5 * 5).
    EXPECT_EQ(24.0 / 25.0, cosine(sparse_from_dense({3, 4}), prototype_from_dense({4, 3})));
    EXPECT_EQ(0.0, cosine(SparseVec{}, prototype_from_dense({1, 2})));
    EXPECT_EQ(0.0, cosine(sparse_from_dense({1, 2}), prototype_from_dense({0, 0})));
}

}  // namespace
}  // namespace mona
