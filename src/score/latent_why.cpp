#include "score/latent_why.hpp"

#include <algorithm>
#include <unordered_map>

namespace mona {

LatentFiring strongest_firing(const LatentWhySample& sample, uint32_t latent, size_t sample_idx) {
    const int64_t end = std::min(sample.row_end, sample.codes.n_rows());
    LatentFiring top{sample_idx, -1, 0.0f};
    for (int64_t r = std::max<int64_t>(0, sample.row_begin); r < end; ++r) {
        for (uint64_t e = sample.codes.offsets[r]; e < sample.codes.offsets[r + 1]; ++e) {
            if (sample.codes.idx[e] == latent && sample.codes.val[e] > top.value)
                top = {sample_idx, r, sample.codes.val[e]};
        }
    }
    return top;
}

std::vector<LatentWhy> explain_latents(const Prototype& prototype, std::span<const LatentWhySample> samples,
                                       const LatentWhyOptions& options) {
    // Per-latent overlap mass, accumulated in double in sample order.
    std::unordered_map<uint32_t, double> mass;
    double total = 0.0;
    for (const LatentWhySample& sample : samples) {
        for (size_t e = 0; e < sample.pooled.idx.size(); ++e) {
            const uint32_t j = sample.pooled.idx[e];
            if (j >= prototype.dense.size()) continue;
            const double m =
                std::min(static_cast<double>(sample.pooled.val[e]), static_cast<double>(prototype.dense[j]));
            if (m <= 0.0) continue;
            mass[j] += m;
            total += m;
        }
    }
    std::vector<LatentWhy> out;
    if (total <= 0.0) return out;
    for (const auto& [j, m] : mass) out.push_back({j, m / total, prototype.dense[j], {}});
    std::sort(out.begin(), out.end(), [](const LatentWhy& a, const LatentWhy& b) {
        return a.share != b.share ? a.share > b.share : a.latent < b.latent;
    });
    if (out.size() > options.n_latents) out.resize(options.n_latents);

    for (LatentWhy& why : out) {
        std::vector<LatentFiring> best;  // the strongest pooled row of each sample where the latent fires
        for (size_t s = 0; s < samples.size(); ++s) {
            const LatentFiring top = strongest_firing(samples[s], why.latent, s);
            if (top.row >= 0) best.push_back(top);
        }
        std::stable_sort(best.begin(), best.end(),
                         [](const LatentFiring& a, const LatentFiring& b) { return a.value > b.value; });
        if (best.size() > options.n_contexts) best.resize(options.n_contexts);
        why.firings = std::move(best);
    }
    return out;
}

}  // namespace mona
