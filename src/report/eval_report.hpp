// report/eval_report.hpp: the three renderings of `mona eval` (issue 4).
//
// `mona eval` (src/eval/eval.hpp) runs several selection methods over one labelled pool for several targets; its
// numbers come from eval/metrics.hpp compute_eval_results() (where every metric is defined). This module only
// renders them: eval.json, eval.md and a self-contained HTML report. Pure (no model, no I/O), in mona_base, so
// that it is unit-tested without llama.cpp.
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

#include <nlohmann/json.hpp>
#include <string>

#include "eval/metrics.hpp"

namespace mona {

// The renderings; each is deterministic for a given input.
nlohmann::json render_eval_json(const EvalInput& input, const EvalResults& results);
std::string render_eval_markdown(const EvalInput& input, const EvalResults& results);
std::string render_eval_html(const EvalInput& input, const EvalResults& results);

}  // namespace mona
