// score/prototype_mode.hpp: --prototype mean|contrast:BETA. The pool mean equals make_prototype() of the same
// vectors bit for bit, and the contrast prototype equals a plain dense loop written from the definition.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "pool/pool.hpp"
#include "score/jaccard.hpp"
#include "score/prototype_mode.hpp"

namespace mona {
namespace {

std::vector<SparseVec> random_vecs(std::mt19937_64& rng, size_t n, uint32_t d) {
    std::uniform_real_distribution<float> value(0.0f, 3.0f);
    std::bernoulli_distribution active(0.3);
    std::vector<SparseVec> out(n);
    for (SparseVec& v : out) {
        for (uint32_t k = 0; k < d; ++k) {
            if (!active(rng)) continue;
            v.idx.push_back(k);
            v.val.push_back(value(rng));
            v.l1 += v.val.back();
        }
    }
    return out;
}

TEST(PrototypeMode, ParsesAndNames) {
    Result<PrototypeMode> mean = parse_prototype_mode("mean");
    ASSERT_TRUE(mean.ok());
    EXPECT_TRUE(mean->is_mean());
    EXPECT_EQ("mean", prototype_mode_name(*mean));
    Result<PrototypeMode> contrast = parse_prototype_mode("contrast:1.5");
    ASSERT_TRUE(contrast.ok()) << contrast.status().message();
    EXPECT_EQ(1.5, contrast->contrast_beta);
    EXPECT_EQ("contrast:1.5", prototype_mode_name(*contrast));
    for (const char* bad : {"", "Mean", "contrast", "contrast:", "contrast:0", "contrast:-1", "contrast:inf",
                            "contrast:nan", "contrast:1x", "idf"}) {
        Result<PrototypeMode> mode = parse_prototype_mode(bad);
        ASSERT_FALSE(mode.ok()) << bad;
        EXPECT_EQ(StatusCode::kInvalidInput, mode.status().code());
        EXPECT_NE(std::string::npos, mode.status().message().find("expected mean or contrast:BETA")) << bad;
    }
}

TEST(PrototypeMode, PoolMeanIsMakePrototypeBitForBit) {
    std::mt19937_64 rng(7);
    for (size_t n : {0u, 1u, 5u, 40u}) {
        const std::vector<SparseVec> vecs = random_vecs(rng, n, 50);
        PoolMean mean(50);
        for (const SparseVec& v : vecs) mean.add(v);
        EXPECT_EQ(n, mean.count());
        const Prototype got = mean.mean();
        const Prototype want = make_prototype(vecs, 50);
        EXPECT_EQ(want.dense, got.dense) << n;
        EXPECT_EQ(want.l1, got.l1);
        EXPECT_EQ(want.l2, got.l2);
    }
}

TEST(PrototypeMode, ContrastIsTheClippedDifferenceAndMeanIsTheIdentity) {
    std::mt19937_64 rng(11);
    const uint32_t d = 64;
    const std::vector<SparseVec> pool = random_vecs(rng, 30, d);
    const std::vector<SparseVec> exemplars = random_vecs(rng, 4, d);
    const Prototype proto = make_prototype(exemplars, d);
    const Prototype pool_mean = make_prototype(pool, d);
    const Prototype same = apply_prototype_mode(proto, pool_mean, PrototypeMode{});
    EXPECT_EQ(proto.dense, same.dense);
    for (double beta : {0.25, 1.0, 1.5, 10.0}) {
        const Prototype got = apply_prototype_mode(proto, pool_mean, PrototypeMode{beta});
        // Plain reference, from the definition: p'_k = max(0, p_k - BETA * m_k) in double, rounded to float; L1
        // summed in double.
        double l1 = 0.0;
        size_t n_zeroed = 0;
        for (uint32_t k = 0; k < d; ++k) {
            const double diff = static_cast<double>(proto.dense[k]) - beta * static_cast<double>(pool_mean.dense[k]);
            const float want = diff > 0.0 ? static_cast<float>(diff) : 0.0f;
            EXPECT_EQ(want, got.dense[k]) << "beta " << beta << " latent " << k;
            l1 += want;
            n_zeroed += want == 0.0f && proto.dense[k] > 0.0f;
        }
        EXPECT_DOUBLE_EQ(l1, got.l1) << beta;
        if (beta >= 1.0) {
            EXPECT_GT(n_zeroed, 0u) << "a large BETA must remove common latents";
        }
        // Scoring stays generalized Jaccard against it: a pool sample's score against a dense reference.
        const SparseVec& v = pool[3];
        double num = 0.0, den = 0.0;
        std::vector<double> dense_v(d, 0.0);
        for (size_t e = 0; e < v.idx.size(); ++e) dense_v[v.idx[e]] = v.val[e];
        for (uint32_t k = 0; k < d; ++k) {
            num += std::min<double>(dense_v[k], got.dense[k]);
            den += std::max<double>(dense_v[k], got.dense[k]);
        }
        EXPECT_NEAR(num / den, jaccard(v, got), 1e-12) << beta;
    }
}

}  // namespace
}  // namespace mona
