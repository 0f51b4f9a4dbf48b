// Scoring many targets together (issue 16): jaccard_block against the single-target jaccard (bit for bit, every
// target count, edge values), and score_units (shards on threads) against a plain StoreReader::for_each loop,
// for every thread count and value encoding.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "score/jaccard.hpp"
#include "score/store_scan.hpp"
#include "store/feature_store.hpp"

namespace mona {
namespace {

SparseVec random_vec(std::mt19937& rng, uint32_t d, size_t max_nnz) {
    SparseVec v;
    uint32_t index = rng() % 5;
    const size_t nnz = rng() % (max_nnz + 1);
    for (size_t k = 0; k < nnz && index < d; ++k) {
        v.idx.push_back(index);
        const float value = rng() % 7 == 0 ? 0.0f : std::ldexp(float(1 + rng() % 100000), -int(rng() % 20));
        v.val.push_back(value);
        v.l1 += value;
        index += 1 + rng() % 40;
    }
    return v;
}

Prototype random_prototype(std::mt19937& rng, uint32_t d) {
    std::vector<float> dense(d, 0.0f);
    for (float& x : dense) x = rng() % 3 == 0 ? 0.0f : std::ldexp(float(rng() % 100000), -int(rng() % 20));
    return prototype_from_dense(std::move(dense));
}

TEST(JaccardBlock, EqualsSingleTargetJaccardBitForBit) {
    std::mt19937 rng(5);
    const uint32_t d = 3000;
    for (size_t n_targets : {1u, 2u, 3u, 4u, 5u, 8u, 10u, 12u, 13u, 16u, 17u, 23u}) {
        std::vector<Prototype> prototypes;
        for (size_t t = 0; t < n_targets; ++t) prototypes.push_back(random_prototype(rng, d));
        prototypes[0].dense.assign(d, 0.0f);  // a zero prototype: 0 / (l1 + 0 − 0)
        prototypes[0].l1 = 0.0;
        const PrototypeBlock block = make_prototype_block(prototypes);
        ASSERT_EQ((n_targets + 3) / 4, block.n_groups);
        ASSERT_EQ(block.n_groups * 4 * d, block.rows.size());
        std::vector<double> got(n_targets);
        for (int trial = 0; trial < 300; ++trial) {
            SparseVec a = random_vec(rng, d, trial % 10 == 0 ? 0 : 200);
            if (trial % 17 == 0 && !a.idx.empty()) a.l1 = 0.0;  // a zero denominator somewhere
            jaccard_block(a, block, got.data());
            for (size_t t = 0; t < n_targets; ++t) {
                const double want = jaccard(a, prototypes[t]);
                ASSERT_EQ(0, std::memcmp(&want, &got[t], sizeof(double)))
                    << n_targets << " targets, trial " << trial << ", target " << t << ": " << want << " vs " << got[t];
            }
        }
    }
}

TEST(JaccardBlock, NanAndSignedZerosAsJaccard) {
    std::mt19937 rng(6);
    // NaN and signed zeros on either side: min's operand order decides which one survives, so the block's
    // vector min must pick the same operand as jaccard's std::min.
    std::vector<Prototype> prototypes = {random_prototype(rng, 50), random_prototype(rng, 50),
                                         random_prototype(rng, 50)};
    prototypes[1].dense[7] = std::numeric_limits<float>::quiet_NaN();
    prototypes[2].dense[3] = -0.0f;
    prototypes[0].dense[9] = 0.0f;
    const PrototypeBlock block = make_prototype_block(prototypes);
    const std::vector<SparseVec> samples = [] {
        std::vector<SparseVec> out(3);
        out[0].idx = {1, 7};
        out[0].val = {std::numeric_limits<float>::quiet_NaN(), 1.0f};
        out[1].idx = {3, 9, 20};
        out[1].val = {0.0f, -0.0f, 2.0f};
        out[2].idx = {3, 7};
        out[2].val = {-0.0f, 0.5f};
        for (SparseVec& v : out) v.l1 = 1.0;
        return out;
    }();
    for (const SparseVec& a : samples) {
        double got[3];
        jaccard_block(a, block, got);
        for (size_t t = 0; t < 3; ++t) {
            const double want = jaccard(a, prototypes[t]);
            EXPECT_EQ(std::isnan(want), std::isnan(got[t])) << t;
            if (!std::isnan(want)) {
                EXPECT_EQ(0, std::memcmp(&want, &got[t], sizeof(double))) << t << ": " << want << " vs " << got[t];
            }
        }
    }
}

TEST(StoreScan, ThreadsGiveTheSameScoresAsAPlainLoopForEveryEncoding) {
    std::mt19937 rng(7);
    const uint32_t d = 2000;
    std::vector<Prototype> prototypes;
    for (int t = 0; t < 10; ++t) prototypes.push_back(random_prototype(rng, d));
    const PrototypeBlock block = make_prototype_block(prototypes);
    for (ValueEncoding values : {ValueEncoding::kF32, ValueEncoding::kBf16, ValueEncoding::kQ8, ValueEncoding::kQ12}) {
        const std::string dir =
            ::testing::TempDir() + "mona_store_scan_" + std::to_string(::getpid()) + "_" + value_encoding_name(values);
        std::filesystem::remove_all(dir);
        StoreOptions opts;
        opts.values = values;
        opts.shard_rows = 7;
        {
            Result<StoreWriter> writer = StoreWriter::open(dir, opts);
            ASSERT_TRUE(writer.ok()) << writer.status().message();
            for (uint64_t r = 0; r < 150; ++r) {
                StoredSample s;
                s.record_idx = r;
                s.source_pos = r * 10;
                s.id = "id" + std::to_string(r);
                s.n_tokens = static_cast<uint32_t>(r % 13);
                s.vec = random_vec(rng, d, 120);
                ASSERT_TRUE(writer->append(s).ok());
            }
            ASSERT_TRUE(writer->commit().ok());
        }
        Result<StoreSet> set = StoreSet::open({dir});
        ASSERT_TRUE(set.ok()) << set.status().message();
        // The plain loop: every sample (decoded by the reader), every target, jaccard one at a time.
        std::vector<uint64_t> want_records;
        std::vector<double> want_scores;
        ASSERT_TRUE(set->for_each([&](const StoredSample& s) {
                           want_records.push_back(s.record_idx);
                           for (const Prototype& p : prototypes) want_scores.push_back(jaccard(s.vec, p));
                           return Status();
                       })
                        .ok());
        std::vector<StoreUnit> units;
        for (size_t shard = 0; shard < set->store(0).n_shards(); ++shard) units.push_back({0, shard});
        for (int threads : {1, 2, 3, 8, 0}) {
            std::vector<ScoredUnit> out;
            Status status = score_units(*set, units, block, threads, out);
            ASSERT_TRUE(status.ok()) << status.message();
            ASSERT_EQ(units.size(), out.size());
            std::vector<uint64_t> records;
            std::vector<double> scores;
            for (const ScoredUnit& unit : out) {
                records.insert(records.end(), unit.record_idx.begin(), unit.record_idx.end());
                scores.insert(scores.end(), unit.scores.begin(), unit.scores.end());
                for (size_t row = 0; row < unit.record_idx.size(); ++row) {
                    EXPECT_EQ("id" + std::to_string(unit.record_idx[row]), unit.id[row]);
                    EXPECT_EQ(unit.record_idx[row] * 10, unit.source_pos[row]);
                }
            }
            EXPECT_EQ(want_records, records) << threads << " threads";
            ASSERT_EQ(want_scores.size(), scores.size());
            EXPECT_EQ(0, std::memcmp(want_scores.data(), scores.data(), scores.size() * sizeof(double)))
                << threads << " threads, " << value_encoding_name(values);
        }
        std::filesystem::remove_all(dir);
    }
}

}  // namespace
}  // namespace mona
