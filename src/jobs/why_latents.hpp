// jobs/why_latents.hpp: the reports' "why": SAE latents shown on the tokens they fire on most.
//
// The pool pass keeps only pooled vectors, so the latents' firing places come from one more, small model pass over
// a few pool records, re-read from the pool and embedded with per-token codes kept (EmbedOptions::keep_rows) on the
// run's own session and settings, so their pooled vectors are the ones that were scored.
// - select/score (report/html_report.hpp, #target-<t>-why): the top kWhySamples selected samples of each target (at
//   most kWhyMaxSamples in all); score/latent_why.hpp finds the latents that carry their overlap with the prototype
//   and the tokens each fires on most.
// - eval (report/eval_report.hpp, #target-<t>-latents): the pool samples whose pooled value on each of the
//   prototype's largest latents is highest, each shown on the token where that latent fires most.
// Cost: one forward pass per explained sample (seconds on 2 cores for a handful of targets), nothing per pool sample.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "capture/session.hpp"
#include "embed/embedder.hpp"
#include "jobs/config.hpp"
#include "jobs/selection_writer.hpp"
#include "mona/status.hpp"
#include "report/html_report.hpp"
#include "score/latent_why.hpp"

namespace mona::detail {

struct SelectEngine;

inline constexpr size_t kWhySamples = 5;      // top selected samples explained per target
inline constexpr size_t kWhyMaxSamples = 64;  // at most this many in all (fewer per target with many targets)
inline constexpr int32_t kWhyTokensBefore = 12;
inline constexpr int32_t kWhyTokensAfter = 4;

// A pool record embedded with its per-token codes.
struct RecordCodes {
    LatentWhySample sample;
    std::vector<int32_t> tokens;
    std::string id;
};

// Embeds the records of config.pool_path whose record_idx is in `records` (each once) with per-token codes kept,
// with `options` (keep_rows is set here). A record that no longer parses is left out of the result.
Result<std::unordered_map<uint64_t, RecordCodes>> embed_records_with_codes(const SelectConfig& config, Session& session,
                                                                           const SaeModel& sae, EmbedOptions options,
                                                                           const std::vector<uint64_t>& records);

// The text around `firing` (kWhyTokensBefore tokens before it, kWhyTokensAfter after), special tokens left out.
ReportLatent::Context firing_context(const Session& session, const RecordCodes& record, const LatentFiring& firing);

// For each target (selected[t]: row positions, best first; prototypes[t]), the latents of its "why" section and
// the number of samples they were measured on.
struct WhyResult {
    std::vector<std::vector<ReportLatent>> latents;  // [target]
    std::vector<size_t> n_samples;                   // [target]
};
Result<WhyResult> explain_selections(const SelectConfig& config, SelectEngine& engine, const std::vector<PoolRow>& rows,
                                     const std::vector<std::vector<uint64_t>>& selected,
                                     const std::vector<Prototype>& prototypes);

}  // namespace mona::detail
