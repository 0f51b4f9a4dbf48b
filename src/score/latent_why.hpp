// score/latent_why.hpp: which SAE latents carry a selection's similarity to its target, and where they fire.
//
// A sample's score is Σ_j min(x_j, p_j) / Σ_j max(x_j, p_j) (generalized Jaccard against the prototype p), so the
// numerator splits exactly into one term per latent. Summed over a set of selected samples, a latent's share of
// that overlap mass says how much of "why these samples" it carries; the report shows the largest shares, each with
// the tokens of those samples on which the latent fires most (per-token SAE codes), so that a latent gets a human
// meaning without any external service. Model-free: the caller embeds the samples with per-token codes kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "mona/types.hpp"
#include "pool/pool.hpp"

namespace mona {

// One explained sample: its pooled vector and its per-token codes (rows [row_begin, row_end) are the pooled ones).
struct LatentWhySample {
    SparseVec pooled;
    SparseCodes codes;  // one row per token of the sample
    int64_t row_begin = 0;
    int64_t row_end = 0;
};

struct LatentWhyOptions {
    size_t n_latents = 5;   // latents reported, largest share first
    size_t n_contexts = 2;  // firing places reported per latent, from distinct samples, strongest first
};

struct LatentFiring {
    size_t sample = 0;  // index into the samples
    int64_t row = 0;    // token row in that sample
    float value = 0.0f;
};

struct LatentWhy {
    uint32_t latent = 0;
    double share = 0.0;            // Σ_i min(x_ij, p_j) / Σ_i Σ_k min(x_ik, p_k) over the samples
    float prototype_value = 0.0f;  // p_j
    std::vector<LatentFiring> firings;
};

// The pooled row of `sample` where `latent` fires most (first on ties); row -1 when it never fires there.
LatentFiring strongest_firing(const LatentWhySample& sample, uint32_t latent, size_t sample_idx = 0);

// The latents with the largest overlap shares (ties: lower latent first), each with its strongest firings among the
// pooled rows of the samples (one per sample; ties: earlier sample, then earlier row). Latents with no overlap mass
// are never reported; no samples or no overlap give an empty result.
std::vector<LatentWhy> explain_latents(const Prototype& prototype, std::span<const LatentWhySample> samples,
                                       const LatentWhyOptions& options = {});

}  // namespace mona
