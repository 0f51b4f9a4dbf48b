// report/eval_report.hpp: the numbers and the three renderings of `mona eval` (issue 4).
//
// `mona eval` (src/eval/eval.hpp) runs several selection methods over one labelled pool for several targets and
// hands the scores and selections here. This module is pure (no model, no I/O): it computes, per target and
// method, the metrics of score/metrics.hpp and renders them as eval.json, eval.md and a self-contained HTML
// report. It lives in mona_base (not next to the job in src/eval/) so that it is unit-tested without llama.cpp.
//
// Definitions (n = |selection|, the same for every method of a run; the target's label is its name):
//   precision@n, recall@n   metrics::label_precision_recall() of the target label against the pool's `task`s
//   pool share              (# pool samples with the target label) / n_pool: the expected precision of random
//   composition             metrics::composition(): count and share of each label in the selection
//   lengths                 metrics::length_stats() of model token counts (after --max-tokens truncation) of the
//                           selection, of the target exemplars and of the whole pool: mean, median, p10, p90
//   distinct-1, distinct-2  metrics::distinct_n_of_texts() over the selection's texts (user + assistant contents)
//   MTLD                    metrics::mean_mtld() over the same texts
//   overlap                 metrics::selection_overlap() of every pair of methods, per target
//   averages                the plain mean over targets of each per-target number (precision, recall,
//                           distinct-1/2 ratios, MTLD, mean selected length, overlaps): every target weighs the same
// Every selection must hold valid, unique pool positions (asserted: the caller made them with top_n() or
// random_selection()).
//
// eval.json layout (all numbers as computed, doubles in full precision):
//   { "tool", "command_line", "config" (verbatim from the caller), "n_pool", "n_select", "methods": [names],
//     "pool": {"lengths": stats, "labels": [{label, count, share}]},
//     "targets": [{ "name", "label", "n_exemplars", "pool_label_count", "pool_label_share", "lengths": stats,
//                   "methods": {<method>: {"precision", "recall", "n_selected", "n_hits", "n_label",
//                               "composition": [...], "lengths": stats, "distinct_1": {n_distinct, n_total, ratio},
//                               "distinct_2": {...}, "mtld", "scores": {min, max, mean} or null,
//                               "selected": [pool positions, rank order]}},
//                   "overlap": [{"a", "b", "n_intersection", "n_union", "overlap", "jaccard"}],
//                   "prototype_latents": [{"latent", "value", "share", "top": [{"position", "record", "id",
//                                          "task", "value"}]}] }],
//     "average": {"methods": {<method>: {"precision", "recall", "distinct_1", "distinct_2", "mtld",
//                 "mean_tokens"}}, "overlap": [{"a", "b", "overlap", "jaccard"}]},
//     "timings_s": verbatim from the caller }
// Positions are 0-based indices into the pool as read (skipped records excluded); "record" is the 0-based record
// number in the pool file.
//
// report.html: one file, inline CSS and SVG, no scripts or external resources. Section ids, top to bottom:
//   #settings, #summary (precision@n and recall@n tables: targets x methods, average row), #diversity (averages
//   of distinct-n, MTLD and length per method), #overlap (per target, methods x methods overlap@n), then per
//   target t (0-based) #target-<t> with #target-<t>-scores (one histogram per scoring method),
//   #target-<t>-composition (stacked label bars per method and for the pool), #target-<t>-lengths (box plots:
//   p10..p90 box, median line, min..max whisker, per method, targets and pool) and, when the run has the `mona`
//   method, #target-<t>-latents (the prototype's largest latents with the pool snippets that activate each most).
// All caller text is HTML-escaped (report/html_report.hpp html_escape()).
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "score/metrics.hpp"

namespace mona {

// One method's output for one target.
struct EvalMethodRun {
    std::vector<double> scores;      // [n_pool] scores, or empty for a method without scores (random)
    std::vector<uint64_t> selected;  // pool positions, rank order (best first)
};

// A pool sample that activates a prototype latent.
struct EvalLatentSample {
    uint64_t position = 0;  // pool position
    double value = 0.0;     // the sample's pooled SAE value on the latent
};

// One of the latents with the largest prototype values.
struct EvalLatent {
    uint32_t latent = 0;
    double value = 0.0;                 // prototype value z_tgt[latent]
    double share = 0.0;                 // value / ‖z_tgt‖₁
    std::vector<EvalLatentSample> top;  // pool samples with the largest values on the latent, best first
};

struct EvalTargetInput {
    std::string name;                    // also the label precision/recall count
    std::vector<uint64_t> token_counts;  // [n_exemplars] model tokens per exemplar
    std::vector<EvalMethodRun> runs;     // [methods.size()]
    std::vector<EvalLatent> latents;     // for `mona`; empty otherwise
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
};

struct EvalResults {
    metrics::LengthStats pool_lengths;
    std::vector<metrics::LabelCount> pool_composition;
    std::vector<EvalTargetMetrics> targets;
    std::vector<EvalAverage> averages;                 // [methods.size()], mean over targets
    std::vector<EvalAverageOverlap> average_overlaps;  // same pair order as EvalTargetMetrics::overlaps
};

// Computes every metric above. Preconditions (asserted): pool vectors have equal sizes; every target has one run
// per method; every run's scores are empty or [n_pool]; selections hold valid, unique positions.
EvalResults compute_eval_results(const EvalInput& input);

// The renderings; each is deterministic for a given input.
nlohmann::json render_eval_json(const EvalInput& input, const EvalResults& results);
std::string render_eval_markdown(const EvalInput& input, const EvalResults& results);
std::string render_eval_html(const EvalInput& input, const EvalResults& results);

}  // namespace mona
