// Pooling and prototypes against the dense reference (spec method.md §1d, §2). Integer-valued codes make every
// double sum exact, so the comparisons are exact equality.
#include "pool/pool.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "reference/score_reference.hpp"

namespace mona {
namespace {

const int64_t kSizes[] = {0, 1, 7, 4096, 131072};

// Checks the SparseVec invariants pool() promises: ascending indices, no zeros, l1 = Σ values in double.
void expect_well_formed(const SparseVec& vec, const std::string& context) {
    ASSERT_EQ(vec.idx.size(), vec.val.size()) << context;
    double l1 = 0.0;
    for (size_t entry = 0; entry < vec.idx.size(); ++entry) {
        if (entry > 0) {
            EXPECT_LT(vec.idx[entry - 1], vec.idx[entry]) << context << " entry " << entry;
        }
        EXPECT_NE(0.0f, vec.val[entry]) << context << " entry " << entry;
        l1 += std::fabs(static_cast<double>(vec.val[entry]));
    }
    EXPECT_EQ(l1, vec.l1) << context;
}

TEST(Pool, ParsesModeNames) {
    auto mean = parse_pooling_mode("mean");
    ASSERT_TRUE(mean.ok());
    EXPECT_EQ(PoolingMode::kMean, *mean);
    auto sum = parse_pooling_mode("sum");
    ASSERT_TRUE(sum.ok());
    EXPECT_EQ(PoolingMode::kSum, *sum);
    EXPECT_STREQ("mean", pooling_mode_name(PoolingMode::kMean));
    EXPECT_STREQ("sum", pooling_mode_name(PoolingMode::kSum));
}

TEST(Pool, RejectsUnknownModeWithTheValueInTheMessage) {
    auto bad = parse_pooling_mode("max");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(StatusCode::kInvalidInput, bad.status().code());
    EXPECT_NE(std::string::npos, bad.status().message().find("\"max\"")) << bad.status().message();
    EXPECT_NE(std::string::npos, bad.status().message().find("mean, sum")) << bad.status().message();
    EXPECT_FALSE(parse_pooling_mode("").ok());
    EXPECT_FALSE(parse_pooling_mode("Mean").ok());
}

TEST(Pool, HandComputedMeanAndSum) {
    // Token 0: {1: 2, 3: 4}; token 1: {0: 1, 3: 2}; token 2: {1: 1}.
    SparseCodes codes;
    codes.idx = {1, 3, 0, 3, 1};
    codes.val = {2, 4, 1, 2, 1};
    codes.offsets = {0, 2, 4, 5};
    Pooler pooler(5);

    SparseVec sum = pooler.pool(codes, 0, 3, PoolingMode::kSum);
    EXPECT_EQ((std::vector<uint32_t>{0, 1, 3}), sum.idx);
    EXPECT_EQ((std::vector<float>{1, 3, 6}), sum.val);
    EXPECT_EQ(10.0, sum.l1);

    SparseVec mean = pooler.pool(codes, 0, 3, PoolingMode::kMean);
    EXPECT_EQ((std::vector<uint32_t>{0, 1, 3}), mean.idx);
    EXPECT_EQ((std::vector<float>{static_cast<float>(1.0 / 3), 1.0f, 2.0f}), mean.val);

    SparseVec tail = pooler.pool(codes, 1, 3, PoolingMode::kMean);
    EXPECT_EQ((std::vector<uint32_t>{0, 1, 3}), tail.idx);
    EXPECT_EQ((std::vector<float>{0.5f, 0.5f, 1.0f}), tail.val);
    EXPECT_EQ(2.0, tail.l1);
}

TEST(Pool, EmptyRangeGivesEmptyVectorInBothModes) {
    std::mt19937_64 rng(7);
    SparseCodes codes = reference::random_int_codes(rng, 4, 64, 8, 5);
    Pooler pooler(64);
    for (PoolingMode mode : {PoolingMode::kMean, PoolingMode::kSum}) {
        for (int64_t row = 0; row <= codes.n_rows(); ++row) {
            SparseVec vec = pooler.pool(codes, row, row, mode);
            EXPECT_EQ(0u, vec.nnz()) << pooling_mode_name(mode) << " row " << row;
            EXPECT_EQ(0.0, vec.l1) << pooling_mode_name(mode) << " row " << row;
        }
    }
    SparseCodes none;
    EXPECT_EQ(0u, Pooler(0).pool(none, 0, 0, PoolingMode::kMean).nnz());
}

TEST(Pool, DropsEntriesThatAreZero) {
    SparseCodes codes;
    codes.idx = {0, 2, 2};
    codes.val = {0.0f, 3.0f, 0.0f};
    codes.offsets = {0, 2, 3};
    SparseVec vec = Pooler(3).pool(codes, 0, 2, PoolingMode::kSum);
    EXPECT_EQ((std::vector<uint32_t>{2}), vec.idx);
    EXPECT_EQ((std::vector<float>{3.0f}), vec.val);
    EXPECT_EQ(3.0, vec.l1);
}

TEST(Pool, MeanAndSumMatchDenseReferenceExactly) {
    for (int64_t d : kSizes) {
        for (uint64_t seed : {1u, 2u, 3u}) {
            std::mt19937_64 rng(seed * 1000 + static_cast<uint64_t>(d));
            const int64_t n_rows = std::uniform_int_distribution<int64_t>(0, 24)(rng);
            SparseCodes codes = reference::random_int_codes(rng, n_rows, d, 192, 9);
            const int64_t row_begin = std::uniform_int_distribution<int64_t>(0, n_rows)(rng);
            const int64_t row_end = std::uniform_int_distribution<int64_t>(row_begin, n_rows)(rng);
            const auto rows = reference::dense_rows(codes, row_begin, row_end, d);
            Pooler pooler(d);
            for (PoolingMode mode : {PoolingMode::kMean, PoolingMode::kSum}) {
                const std::string context = "seed " + std::to_string(seed) + " d " + std::to_string(d) + " rows [" +
                                            std::to_string(row_begin) + ", " + std::to_string(row_end) + ") mode " +
                                            pooling_mode_name(mode);
                SparseVec vec = pooler.pool(codes, row_begin, row_end, mode);
                expect_well_formed(vec, context);
                const std::vector<float> expected = reference::pool_dense(rows, d, mode == PoolingMode::kMean);
                EXPECT_EQ(expected, reference::to_dense(vec, d)) << context;
                EXPECT_EQ(reference::l1_dense(expected), vec.l1) << context;
            }
        }
    }
}

TEST(Pool, LatentIndexBeyondWidthIsABugAndAborts) {
    // Codes from a file are validated by their reader; reaching pool() with a bad index is a programmer error.
    SparseCodes codes;
    codes.idx = {5};
    codes.val = {1.0f};
    codes.offsets = {0, 1};
    EXPECT_DEATH(Pooler(5).pool(codes, 0, 1, PoolingMode::kSum), "latent index >= d_sae");
}

TEST(Pool, ReusedPoolerGivesTheSameResultAsAFreshOne) {
    std::mt19937_64 rng(11);
    SparseCodes codes = reference::random_int_codes(rng, 40, 4096, 192, 9);
    Pooler reused(4096);
    for (int64_t row = 0; row + 4 <= codes.n_rows(); row += 4) {
        SparseVec a = reused.pool(codes, row, row + 4, PoolingMode::kMean);
        SparseVec b = Pooler(4096).pool(codes, row, row + 4, PoolingMode::kMean);
        EXPECT_EQ(b.idx, a.idx) << "row " << row;
        EXPECT_EQ(b.val, a.val) << "row " << row;
        EXPECT_EQ(b.l1, a.l1) << "row " << row;
    }
}

TEST(Pool, SumIsMeanTimesTokenCountForIntegerCodes) {
    std::mt19937_64 rng(5);
    SparseCodes codes = reference::random_int_codes(rng, 8, 4096, 64, 9);
    Pooler pooler(4096);
    SparseVec sum = pooler.pool(codes, 0, 8, PoolingMode::kSum);
    SparseVec mean = pooler.pool(codes, 0, 8, PoolingMode::kMean);
    ASSERT_EQ(sum.idx, mean.idx);
    for (size_t entry = 0; entry < sum.nnz(); ++entry) {
        // Dividing an integer by 8 is exact, so the mean is exactly sum / 8.
        EXPECT_EQ(sum.val[entry] / 8.0f, mean.val[entry]) << "entry " << entry;
    }
}

TEST(Prototype, MeanOfVectorsMatchesDenseReferenceExactly) {
    for (int64_t d : kSizes) {
        for (size_t n_vecs : {0u, 1u, 3u, 9u}) {
            std::mt19937_64 rng(static_cast<uint64_t>(d) * 31 + n_vecs);
            std::vector<SparseVec> vecs;
            std::vector<std::vector<float>> rows;
            for (size_t vec_idx = 0; vec_idx < n_vecs; ++vec_idx) {
                vecs.push_back(reference::random_int_sparse(rng, d, 0.05, 9));
                rows.push_back(reference::to_dense(vecs.back(), d));
            }
            const std::string context = "d " + std::to_string(d) + " n_vecs " + std::to_string(n_vecs);
            Prototype proto = make_prototype(vecs, d);
            const std::vector<float> expected = reference::pool_dense(rows, d, /*mean=*/true);
            EXPECT_EQ(expected, proto.dense) << context;
            EXPECT_EQ(reference::l1_dense(expected), proto.l1) << context;
            double sum_sq = 0.0;
            for (float v : expected) sum_sq += static_cast<double>(v) * v;
            EXPECT_EQ(std::sqrt(sum_sq), proto.l2) << context;
        }
    }
}

TEST(Prototype, FromDenseComputesNorms) {
    Prototype proto = prototype_from_dense({3.0f, 0.0f, 4.0f});
    EXPECT_EQ(7.0, proto.l1);
    EXPECT_EQ(5.0, proto.l2);
    Prototype zero = prototype_from_dense({});
    EXPECT_EQ(0.0, zero.l1);
    EXPECT_EQ(0.0, zero.l2);
}

}  // namespace
}  // namespace mona
