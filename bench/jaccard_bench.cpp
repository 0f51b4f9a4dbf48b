// Scoring a pool against the task prototype (spec method.md §3): the O(nnz) identity J = m / (‖a‖₁ + ‖p‖₁ − m)
// in score/jaccard.hpp versus the naive dense Σmin/Σmax over all d_sae latents (tests/reference/), and versus a
// vectorisable dense loop (the fair O(d_sae) competitor).
//
// Data (fixed seed): N = 20,000 sample vectors of width d_sae = 131,072 with 1,500 distinct latents each, uniform
// over the width (about the nnz of a mean-pooled TopK-192 code over ~200 tokens), values uniform in (0, 2); the
// prototype is the mean of 64 such vectors (about 68 % of latents non-zero). One benchmark iteration scores all N.
// Both dense baselines scatter each sample into a reused dense buffer, runs the reference over d_sae, and clears
// the scattered entries again (O(nnz), negligible next to the O(d_sae) loop).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "pool/pool.hpp"
#include "reference/score_reference.hpp"
#include "score/jaccard.hpp"

namespace {

constexpr int64_t kDSae = 131072;
constexpr size_t kNSamples = 20000;
constexpr size_t kNnz = 1500;
constexpr size_t kNExemplars = 64;
static_assert(kDSae % 16 == 0, "jaccard_dense_lanes needs a multiple of its 16 lanes");

mona::SparseVec random_sample(std::mt19937_64& rng) {
    std::uniform_int_distribution<uint32_t> latent(0, static_cast<uint32_t>(kDSae - 1));
    std::uniform_real_distribution<float> value(0.0f, 2.0f);
    mona::SparseVec vec;
    while (vec.idx.size() < kNnz) {
        while (vec.idx.size() < kNnz) vec.idx.push_back(latent(rng));
        std::sort(vec.idx.begin(), vec.idx.end());
        vec.idx.erase(std::unique(vec.idx.begin(), vec.idx.end()), vec.idx.end());
    }
    for (size_t entry = 0; entry < kNnz; ++entry) {
        float v = value(rng);
        if (v == 0.0f) v = 1.0f;
        vec.val.push_back(v);
        vec.l1 += v;
    }
    return vec;
}

// A dense loop written to vectorise (independent lanes, branchless min/max, double accumulators): what a tuned
// O(d_sae) implementation would cost, so the identity's gain is not credited with the reference's plainness.
// d must be a multiple of 16 (kDSae is).
double jaccard_dense_lanes(const float* a, const float* b, size_t d) {
    constexpr size_t kLanes = 16;
    double sum_min[kLanes] = {};
    double sum_max[kLanes] = {};
    for (size_t k = 0; k < d; k += kLanes) {
        for (size_t lane = 0; lane < kLanes; ++lane) {
            const double x = a[k + lane];
            const double y = b[k + lane];
            sum_min[lane] += std::min(x, y);
            sum_max[lane] += std::max(x, y);
        }
    }
    double total_min = 0.0;
    double total_max = 0.0;
    for (size_t lane = 0; lane < kLanes; ++lane) {
        total_min += sum_min[lane];
        total_max += sum_max[lane];
    }
    return total_max > 0.0 ? total_min / total_max : 0.0;
}

struct Data {
    std::vector<mona::SparseVec> samples;
    mona::Prototype proto;
};

const Data& data() {
    static const Data kData = [] {
        std::mt19937_64 rng(20250315);
        Data d;
        std::vector<mona::SparseVec> exemplars;
        for (size_t exemplar = 0; exemplar < kNExemplars; ++exemplar) exemplars.push_back(random_sample(rng));
        d.proto = mona::make_prototype(exemplars, kDSae);
        d.samples.reserve(kNSamples);
        for (size_t sample = 0; sample < kNSamples; ++sample) d.samples.push_back(random_sample(rng));
        // The two paths must agree before their speed is worth comparing.
        std::vector<float> dense(kDSae, 0.0f);
        for (size_t sample = 0; sample < 200; ++sample) {
            const mona::SparseVec& vec = d.samples[sample];
            const double fast = mona::jaccard(vec, d.proto);
            const double slow = mona::reference::jaccard_dense(mona::reference::to_dense(vec, kDSae), d.proto.dense);
            const double lanes =
                jaccard_dense_lanes(mona::reference::to_dense(vec, kDSae).data(), d.proto.dense.data(), kDSae);
            if (std::fabs(fast - slow) > 1e-12 || std::fabs(lanes - slow) > 1e-12) {
                std::fprintf(stderr, "jaccard_bench: sample %zu: identity %.17g, lanes %.17g, dense %.17g\n", sample,
                             fast, lanes, slow);
                std::abort();
            }
        }
        return d;
    }();
    return kData;
}

void BM_JaccardSparseIdentity(benchmark::State& state) {
    const Data& d = data();
    for (auto _ : state) {
        double total = 0.0;
        for (const mona::SparseVec& vec : d.samples) total += mona::jaccard(vec, d.proto);
        benchmark::DoNotOptimize(total);
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kNSamples));
}

void BM_JaccardDenseReference(benchmark::State& state) {
    const Data& d = data();
    std::vector<float> dense(kDSae, 0.0f);
    for (auto _ : state) {
        double total = 0.0;
        for (const mona::SparseVec& vec : d.samples) {
            for (size_t entry = 0; entry < vec.nnz(); ++entry) dense[vec.idx[entry]] = vec.val[entry];
            total += mona::reference::jaccard_dense(dense, d.proto.dense);
            for (const uint32_t latent_idx : vec.idx) dense[latent_idx] = 0.0f;
        }
        benchmark::DoNotOptimize(total);
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kNSamples));
}

void BM_JaccardDenseLanes(benchmark::State& state) {
    const Data& d = data();
    std::vector<float> dense(kDSae, 0.0f);
    for (auto _ : state) {
        double total = 0.0;
        for (const mona::SparseVec& vec : d.samples) {
            for (size_t entry = 0; entry < vec.nnz(); ++entry) dense[vec.idx[entry]] = vec.val[entry];
            total += jaccard_dense_lanes(dense.data(), d.proto.dense.data(), kDSae);
            for (const uint32_t latent_idx : vec.idx) dense[latent_idx] = 0.0f;
        }
        benchmark::DoNotOptimize(total);
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kNSamples));
}

}  // namespace

BENCHMARK(BM_JaccardSparseIdentity)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JaccardDenseReference)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JaccardDenseLanes)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
