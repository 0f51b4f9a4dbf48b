// report/html_report.hpp: a self-contained HTML report, and a plain-text table, for one selection run.
//
// The HTML is a single file with inline CSS and inline SVG charts: no scripts, fonts, images or any other
// resource is fetched, so it opens offline and can be attached to an issue. Layout, top to bottom:
//   #settings          key/value table (model, layer, SAE, k, ...), in the order given
//   #summary           one row per target: n selected, precision vs the target's label (where the label is
//                      set) and the random-baseline precision (share of that label in the pool)
//   #target-<t>        one section per target t (0-based), containing
//     #target-<t>-exemplars the target's exemplars (snippets, at most kReportExemplars): what the selection is for
//     #target-<t>-why       the SAE latents that carry the top selected samples' overlap with the prototype: each
//                           one's share of it, its prototype weight, and the tokens it fires on most, in context
//     #target-<t>-scores    SVG histogram of the target's scores, 40 bins over the finite pool scores: the pool
//                           as bars above the axis, the selected samples below it (each scaled to its own max),
//                           the cut-off (the lowest selected score) as a dashed line, axis titles
//     #target-<t>-coverage  with coverage_mass set (--coverage, --diversity, --dedup): SVG lines of the prototype's
//                           mass and latents covered by the first n selected samples, n = 1..N
//     #target-<t>-families  SVG horizontal bars + table: per family, count and share in the selection and in
//                           the pool; precision and baseline
//     #target-<t>-lengths   SVG box plots + table of token counts: selected samples, target exemplars, pool
//                           (n, mean, median, min, max)
//     #target-<t>-top       the top 10 selected samples: rank, score, id, label, snippet
//   #merged            with --merge: the merged subset's picks per target and label composition, its first picks
// All caller text (title, settings, names, labels, ids, snippets) is HTML-escaped.
//
// Definitions (the numbers in both renderings):
//   n_pool       max size over pool_labels, pool_token_counts, pool_ids, pool_snippets and every target's
//                pool_scores; a vector shorter than n_pool (e.g. empty = not known) reads as "" / missing
//   selected     positions >= n_pool are dropped and counted in a note (the report never aborts on input)
//   precision    (# selected whose pool label == target label) / (# selected); "n/a" if the label is "" or
//                nothing is selected (with label "", label_note says why: e.g. no pool sample carries it)
//   random       (# pool samples whose label == target label) / n_pool; "n/a" if the label is "" or
//                pool_labels is empty. A selection that picks uniformly at random has this expected precision.
//   shares       of the selection: count / # selected; of the pool: count / n_pool. Unknown labels are counted
//                under "(unknown)".
//
// Usage:
//   ReportInput in;  in.title = "mona demo";  in.pool_labels = ...;  in.targets.push_back(t);
//   write the file: render_html_report(in);   print: render_text_table(in)
//
// Both functions are pure (no I/O) and thread-safe. Output is deterministic for a given input.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mona {

inline constexpr size_t kReportTopN = 10;       // samples listed per target under "Top selected samples"
inline constexpr size_t kReportExemplars = 10;  // exemplar snippets shown per target

// One SAE latent of a target's "why" section (score/latent_why.hpp): its share of the overlap mass between the top
// selected samples and the prototype, and where it fires most in them, as token text in context.
struct ReportLatent {
    uint32_t latent = 0;
    double share = 0.0;
    float prototype_value = 0.0f;
    struct Context {
        std::string before, token, after;  // text around the token, the token, text after it
        float value = 0.0f;                // the latent's activation on the token
        std::string sample_id;
    };
    std::vector<Context> contexts;
};

struct ReportTarget {
    std::string name;                                 // display name, e.g. the exemplar file stem
    std::string label;                                // task label of the target, "" if unknown
    std::vector<double> pool_scores;                  // [n_pool] score of each pool sample against this target
    std::vector<uint64_t> selected;                   // pool positions, in rank order (best first)
    std::vector<int64_t> target_token_counts;         // [n_exemplars] tokens per target exemplar
    std::string label_note = {};                      // with label "": why precision is left out, shown in its place
    std::vector<std::string> exemplar_snippets = {};  // the target's exemplars (snippets), shown first: "why"
    std::vector<ReportLatent> why_latents = {};       // the latents that carry the selection (jobs/why_latents)
    // With --coverage (or a rule that keeps the vectors): the prototype coverage of the first n selected samples,
    // n = 1..|selected| (score/selection_metrics.hpp coverage_curve); empty = no chart.
    std::vector<double> coverage_mass = {};
    std::vector<double> coverage_latents = {};
    size_t why_n_samples = 0;  // the top selected samples they were measured on
};

// The --merge subset: one selection drawn from every target (score/merge_select.hpp).
struct ReportMerged {
    std::string mode;  // "round-robin" | "quota"
    struct Pick {
        uint64_t pos = 0;       // pool position
        size_t target_idx = 0;  // the target whose turn brought it in
        uint64_t rank = 0;      // its rank in that target's ranking
    };
    std::vector<Pick> picks;  // in pick order
};

struct ReportInput {
    std::string title;                                          // page title and <h1>
    std::vector<std::string> pool_labels;                       // [n_pool] family label per sample, "" = unknown
    std::vector<int64_t> pool_token_counts;                     // [n_pool] tokens per pool sample
    std::vector<std::string> pool_ids;                          // [n_pool] sample ids
    std::vector<std::string> pool_snippets;                     // [n_pool] first ~200 chars of the user turn;
                                                                // shown only for each target's top kReportTopN
    std::vector<ReportTarget> targets;                          // one report section each
    std::vector<std::pair<std::string, std::string>> settings;  // key/value rows: model, layer, SAE, k, ...
    std::optional<ReportMerged> merged = {};                    // with --merge: its section (#merged)
};

// Escapes & < > " ' for use in HTML text and attribute values.
std::string html_escape(std::string_view text);

// A token's text for display: newlines and tabs made visible (⏎, ⇥), so that a context stays on one line.
std::string visible_text(std::string_view text);

// The complete HTML document (UTF-8, starts with "<!DOCTYPE html>").
std::string render_html_report(const ReportInput& input);

// The plain-text table printed by `mona demo`: per target, family composition of the selection vs the pool,
// then precision vs the label and the random baseline. Lines end in '\n'.
std::string render_text_table(const ReportInput& input);

}  // namespace mona
