// eval/metrics.hpp: the model-free numbers of `mona eval`: the per-sample vector arithmetic its methods score
// with (dense means and cosines, latent look-ups) and, per target and method, the selection metrics of
// score/metrics.hpp. No model, no I/O, so it lives in mona_base and is unit-tested without llama.cpp
// (tests/unit/eval_metrics_test.cpp); report/eval_report.hpp only renders what compute_eval_results() returns.
//
// Definitions (n = |selection|, the same for every method of a run; the target's label is its name):
//   precision@n, recall@n   metrics::label_precision_recall() of the target label against the pool's `task`s
//   pool share              (# pool samples with the target label) / n_pool: the expected precision of random
//   composition             metrics::composition(): count and share of each label in the selection
//   lengths                 metrics::length_stats() of model token counts (after --max-tokens truncation) of the
//                           selection, of the target exemplars and of the whole pool: mean, median, p10, p90
//   distinct-1, distinct-2  metrics::distinct_n_of_texts() over the selection's texts (user + assistant contents)
//   MTLD                    metrics::mean_mtld() over the same texts
//   duplicate rate          score/selection_metrics.hpp duplicate_rate() of the selection's normalised texts
//                           (score/dedup.hpp normalize_for_dedup): the share that repeats an earlier selected text
//   coverage (mass, latents), mean pairwise Jaccard
//                           score/selection_metrics.hpp selection_coverage() and mean_pairwise_jaccard(), measured for
//                           every method on the explained representation (the first `mona`-like method's pooled
//                           vectors and its mean prototype, whatever the method scored), so the methods compare on
//                           one scale; absent without such a method; pairwise Jaccard absent above
//                           kMaxPairwiseSelection selected samples (O(n^2))
//   overlap                 metrics::selection_overlap() of every pair of methods, per target
//   scores                  min, max and mean over the finite scores of a method that has scores
//   averages                the plain mean over targets of each per-target number (precision, recall,
//                           distinct-1/2 ratios, MTLD, mean selected length, duplicate rate, coverage, pairwise
//                           Jaccard, overlaps): every target weighs the same
// Every selection must hold valid, unique pool positions (asserted: the caller made them with top_n() or
// random_selection()).
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mona/types.hpp"
#include "pool/pool.hpp"
#include "score/metrics.hpp"
#include "score/selection_metrics.hpp"

namespace mona {

// ---------------------------------------------------------------------------------------------------------------
// Per-sample vector arithmetic of the eval methods.

// Mean of rows [begin, end) of `rows` [n_rows, d] (row-major), accumulated in double in row order; the zero vector
// for an empty range. Preconditions: 0 <= begin <= end, rows.size() >= end * d.
std::vector<double> mean_rows(const std::vector<float>& rows, int64_t d, int64_t begin, int64_t end);

// sqrt(Σ v_k²), summed in double in index order.
double l2_norm(const std::vector<double>& v);

// Σ a_k b_k / (‖a‖ ‖b‖) with b_norm = ‖b‖ given (a target's norm is computed once); 0 when either norm is 0 (the
// convention of score/jaccard.hpp cosine()). Precondition: a.size() == b.size().
double dense_cosine(const std::vector<double>& a, const std::vector<double>& b, double b_norm);

// Value of `vec` (indices sorted ascending) at `latent`, 0 when not stored.
double value_at(const SparseVec& vec, uint32_t latent);

// The at most n latents with the largest prototype values, largest first, ties to the lower latent; latents whose
// value is not > 0 are left out.
std::vector<uint32_t> top_latents(const Prototype& proto, size_t n);

// ---------------------------------------------------------------------------------------------------------------
// Selection metrics.

// One method's output for one target.
struct EvalMethodRun {
    std::vector<double> scores;      // [n_pool] scores, or empty for a method without scores (random)
    std::vector<uint64_t> selected;  // pool positions, rank order (best first)
};

// A pool sample that activates a prototype latent.
struct EvalLatentSample {
    uint64_t position = 0;  // pool position
    double value = 0.0;     // the sample's pooled SAE value on the latent
    // Where the latent fires most in the sample (jobs/why_latents.hpp): the token, the text before and after it,
    // and its activation there; token empty when not measured.
    std::string before = {}, token = {}, after = {};
    double token_value = 0.0;
};

// One of the latents with the largest prototype values.
struct EvalLatent {
    uint32_t latent = 0;
    double value = 0.0;                 // prototype value z_tgt[latent]
    double share = 0.0;                 // value / ‖z_tgt‖₁
    std::vector<EvalLatentSample> top;  // pool samples with the largest values on the latent, best first
};

struct EvalTargetInput {
    std::string name;                               // also the label precision/recall count
    const Prototype* coverage_prototype = nullptr;  // the explained representation's mean prototype, or null
    std::vector<uint64_t> token_counts;             // [n_exemplars] model tokens per exemplar
    std::vector<EvalMethodRun> runs;                // [methods.size()]
    std::vector<EvalLatent> latents;                // for `mona`; empty otherwise
};

struct EvalInput {
    std::vector<std::string> methods;         // method names, in column order
    std::vector<std::string> pool_labels;     // [n_pool] `task` of each pool sample
    std::vector<uint64_t> pool_token_counts;  // [n_pool]
    std::vector<uint64_t> pool_records;       // [n_pool] record number in the pool file
    std::vector<std::string> pool_ids;        // [n_pool]
    // Text (user + assistant contents) and snippet (first ~200 bytes of the user turn) of the pool positions that
    // some selection or latent list holds; other positions may be absent. Sorted by position, unique.
    std::vector<std::pair<uint64_t, std::string>> texts;
    std::vector<std::pair<uint64_t, std::string>> snippets;
    // The same positions' normalised texts (score/dedup.hpp normalize_for_dedup), for the duplicate rate.
    std::vector<std::pair<uint64_t, std::string>> normalised;
    // [n_pool] the explained representation's pooled vectors (coverage, pairwise Jaccard), or null.
    const std::vector<SparseVec>* coverage_vecs = nullptr;
    std::vector<EvalTargetInput> targets;
    uint64_t n_select = 0;  // the budget n
    std::string title = "mona eval";
    std::vector<std::pair<std::string, std::string>> settings;  // key/value rows of #settings
    std::string command_line;
    nlohmann::json config;   // the exact configuration, copied into eval.json
    nlohmann::json timings;  // copied into eval.json
};

struct EvalMethodMetrics {
    metrics::LabelPrecisionRecall pr;
    std::vector<metrics::LabelCount> composition;
    metrics::LengthStats lengths;
    metrics::DistinctN distinct_1;
    metrics::DistinctN distinct_2;
    double mtld = 0.0;
    double duplicate_rate = 0.0;
    std::optional<CoverageResult> coverage;       // with coverage vectors and a prototype
    std::optional<double> mean_pairwise_jaccard;  // with coverage vectors, up to kMaxPairwiseSelection selected
    std::optional<double> score_min, score_max, score_mean;  // over the finite scores, when there are scores
};

struct EvalOverlap {
    size_t method_a = 0;  // indices into EvalInput::methods, method_a < method_b
    size_t method_b = 0;
    metrics::SelectionOverlap overlap;
};

struct EvalTargetMetrics {
    uint64_t pool_label_count = 0;
    double pool_label_share = 0.0;
    metrics::LengthStats target_lengths;
    std::vector<EvalMethodMetrics> methods;  // [methods.size()]
    std::vector<EvalOverlap> overlaps;       // every pair, (0,1), (0,2), ..., (1,2), ...
};

struct EvalAverageOverlap {
    size_t method_a = 0;
    size_t method_b = 0;
    double overlap = 0.0;  // mean over targets of overlap@n
    double jaccard = 0.0;  // mean over targets of |A ∩ B| / |A ∪ B|
};

struct EvalAverage {
    double precision = 0.0, recall = 0.0, distinct_1 = 0.0, distinct_2 = 0.0, mtld = 0.0, mean_tokens = 0.0;
    double duplicate_rate = 0.0;
    // Means over the targets that have the number (absent when none has it).
    std::optional<double> coverage_mass, coverage_latents, mean_pairwise_jaccard;
};

// Above this many selected samples eval leaves mean_pairwise_jaccard out (n^2 / 2 Jaccards per method and target).
inline constexpr size_t kMaxPairwiseSelection = 500;

struct EvalResults {
    metrics::LengthStats pool_lengths;
    std::vector<metrics::LabelCount> pool_composition;
    std::vector<EvalTargetMetrics> targets;
    std::vector<EvalAverage> averages;                 // [methods.size()], mean over targets
    std::vector<EvalAverageOverlap> average_overlaps;  // same pair order as EvalTargetMetrics::overlaps
};

// The text of pool position `pos` in `texts` (sorted by position, unique), or nullptr when it is absent.
const std::string* text_at(const std::vector<std::pair<uint64_t, std::string>>& texts, uint64_t pos);

// Computes every metric above. Preconditions (asserted): pool vectors have equal sizes; every target has one run
// per method; every run's scores are empty or [n_pool]; selections hold valid, unique positions; every selected
// position has a text.
EvalResults compute_eval_results(const EvalInput& input);

}  // namespace mona
