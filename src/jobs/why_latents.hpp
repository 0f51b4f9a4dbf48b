// jobs/why_latents.hpp: the select report's "why" per target (report/html_report.hpp, #target-<t>-why).
//
// The pool pass keeps only pooled vectors, so the latents' firing places come from one more, small model pass: the
// top kWhySamples selected samples of each target (at most kWhyMaxSamples in all) are read from the pool again and
// embedded with per-token codes kept (EmbedOptions::keep_rows), on the run's own session and settings, so their
// pooled vectors are the ones that were scored. score/latent_why.hpp then finds the latents that carry those
// samples' overlap with the prototype and the tokens each fires on most. Cost: one forward pass per explained
// sample (a few seconds for a handful of targets on 2 cores), nothing per pool sample.
#pragma once

#include <cstdint>
#include <vector>

#include "jobs/config.hpp"
#include "jobs/selection_writer.hpp"
#include "mona/status.hpp"
#include "report/html_report.hpp"

namespace mona::detail {

struct SelectEngine;

inline constexpr size_t kWhySamples = 5;      // top selected samples explained per target
inline constexpr size_t kWhyMaxSamples = 64;  // at most this many in all (fewer per target with many targets)
inline constexpr int32_t kWhyTokensBefore = 12;
inline constexpr int32_t kWhyTokensAfter = 4;

// For each target (selected[t]: row positions, best first; prototypes[t]), the latents of its "why" section and
// the number of samples they were measured on. Records are read from config.pool_path by rows[pos].record_idx.
struct WhyResult {
    std::vector<std::vector<ReportLatent>> latents;  // [target]
    std::vector<size_t> n_samples;                   // [target]
};
Result<WhyResult> explain_selections(const SelectConfig& config, SelectEngine& engine, const std::vector<PoolRow>& rows,
                                     const std::vector<std::vector<uint64_t>>& selected,
                                     const std::vector<Prototype>& prototypes);

}  // namespace mona::detail
