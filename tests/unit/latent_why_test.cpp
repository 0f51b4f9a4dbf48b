// score/latent_why: overlap shares and firing places against a plain dense recomputation.
#include "score/latent_why.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace mona {
namespace {

constexpr uint32_t kD = 40;

SparseVec sparse_of(const std::vector<float>& dense) {
    SparseVec v;
    for (uint32_t j = 0; j < dense.size(); ++j) {
        if (dense[j] != 0.0f) {
            v.idx.push_back(j);
            v.val.push_back(dense[j]);
        }
    }
    return v;
}

TEST(LatentWhy, SharesAndFiringsEqualADenseRecomputation) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (int trial = 0; trial < 50; ++trial) {
        std::vector<float> p(kD);
        for (float& x : p) x = u(rng) < 0.5f ? u(rng) : 0.0f;
        const Prototype prototype = make_prototype(std::vector<SparseVec>{sparse_of(p)}, kD);
        // Samples: per-token dense codes, pooled = mean over the pooled rows.
        std::vector<LatentWhySample> samples;
        std::vector<std::vector<std::vector<float>>> dense_codes;
        for (int s = 0; s < 4; ++s) {
            const int n_rows = 3 + static_cast<int>(rng() % 5);
            std::vector<std::vector<float>> rows(n_rows, std::vector<float>(kD, 0.0f));
            LatentWhySample sample;
            for (auto& row : rows) {
                for (float& x : row) x = u(rng) < 0.2f ? std::round(u(rng) * 8.0f) / 4.0f : 0.0f;
                const SparseVec r = sparse_of(row);
                sample.codes.idx.insert(sample.codes.idx.end(), r.idx.begin(), r.idx.end());
                sample.codes.val.insert(sample.codes.val.end(), r.val.begin(), r.val.end());
                sample.codes.offsets.push_back(sample.codes.idx.size());
            }
            sample.row_begin = 1;
            sample.row_end = n_rows;
            std::vector<float> mean(kD, 0.0f);
            for (int r = 1; r < n_rows; ++r) {
                for (uint32_t j = 0; j < kD; ++j) mean[j] += rows[r][j] / static_cast<float>(n_rows - 1);
            }
            sample.pooled = sparse_of(mean);
            samples.push_back(std::move(sample));
            dense_codes.push_back(std::move(rows));
        }
        const LatentWhyOptions options{.n_latents = 6, .n_contexts = 3};
        const std::vector<LatentWhy> got = explain_latents(prototype, samples, options);

        // Reference: dense loops.
        std::vector<double> mass(kD, 0.0);
        double total = 0.0;
        for (const auto& sample : samples) {
            std::vector<float> x(kD, 0.0f);
            for (size_t e = 0; e < sample.pooled.idx.size(); ++e) x[sample.pooled.idx[e]] = sample.pooled.val[e];
            for (uint32_t j = 0; j < kD; ++j) {
                const double m = std::min<double>(x[j], prototype.dense[j]);
                mass[j] += m;
                total += m;
            }
        }
        std::vector<uint32_t> order;
        for (uint32_t j = 0; j < kD; ++j) {
            if (mass[j] > 0.0) order.push_back(j);
        }
        std::sort(order.begin(), order.end(),
                  [&](uint32_t a, uint32_t b) { return mass[a] != mass[b] ? mass[a] > mass[b] : a < b; });
        order.resize(std::min<size_t>(order.size(), options.n_latents));
        ASSERT_EQ(got.size(), order.size());
        for (size_t i = 0; i < order.size(); ++i) {
            const uint32_t j = order[i];
            EXPECT_EQ(got[i].latent, j);
            EXPECT_NEAR(got[i].share, mass[j] / total, 1e-12);
            EXPECT_EQ(got[i].prototype_value, prototype.dense[j]);
            // Firings: each sample's strongest pooled row (first on ties), strongest samples first.
            std::vector<LatentFiring> want;
            for (size_t s = 0; s < samples.size(); ++s) {
                LatentFiring top{s, -1, 0.0f};
                for (int64_t r = samples[s].row_begin; r < samples[s].row_end; ++r) {
                    if (dense_codes[s][r][j] > top.value) top = {s, r, dense_codes[s][r][j]};
                }
                if (top.row >= 0) want.push_back(top);
            }
            std::stable_sort(want.begin(), want.end(), [](auto& a, auto& b) { return a.value > b.value; });
            want.resize(std::min(want.size(), options.n_contexts));
            ASSERT_EQ(got[i].firings.size(), want.size()) << "latent " << j;
            for (size_t f = 0; f < want.size(); ++f) {
                EXPECT_EQ(got[i].firings[f].sample, want[f].sample);
                EXPECT_EQ(got[i].firings[f].row, want[f].row);
                EXPECT_EQ(got[i].firings[f].value, want[f].value);
            }
        }
    }
}

TEST(LatentWhy, NoOverlapExplainsNothingAndRowsOutsideThePoolAreIgnored) {
    const Prototype prototype = make_prototype(std::vector<SparseVec>{SparseVec{{2}, {1.0f}, 1.0}}, 4);
    LatentWhySample sample;
    sample.pooled = SparseVec{{1}, {0.5f}, 0.5};  // latent 1: the prototype has none of it
    EXPECT_TRUE(explain_latents(prototype, std::span<const LatentWhySample>(&sample, 1)).empty());
    EXPECT_TRUE(explain_latents(prototype, {}).empty());
    // Latent 2 fires on row 0 (outside the pooled rows [1, 2)) more than on row 1: row 1 is reported.
    sample.pooled = SparseVec{{2}, {0.25f}, 0.25};
    sample.codes.idx = {2, 2};
    sample.codes.val = {9.0f, 0.25f};
    sample.codes.offsets = {0, 1, 2};
    sample.row_begin = 1;
    sample.row_end = 2;
    const auto got = explain_latents(prototype, std::span<const LatentWhySample>(&sample, 1));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].latent, 2u);
    EXPECT_DOUBLE_EQ(got[0].share, 1.0);
    ASSERT_EQ(got[0].firings.size(), 1u);
    EXPECT_EQ(got[0].firings[0].row, 1);
}

}  // namespace
}  // namespace mona
