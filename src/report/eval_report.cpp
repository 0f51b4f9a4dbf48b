// report/eval_report.cpp: eval.json, eval.md and the HTML report of `mona eval` (report/eval_report.hpp).
// Over 600 lines because the HTML report's charts (score histograms, composition bars, length boxes, latent
// lists) and the three renderings share one input and a few helpers; the numbers themselves are computed in
// eval/metrics.cpp, so this file only formats.
#include "report/eval_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "mona/status.hpp"
#include "report/html_report.hpp"
#include "report/svg.hpp"

namespace mona {
namespace {

using report::BoxRow;
using report::kColorPool;
using report::kColorTargets;
using report::kSvgWidth;
using report::num;
using report::pct;
using report::svg_message;
using report::svg_open;

constexpr int kBins = 40;
constexpr size_t kMaxFamilies = 11;  // composition charts: the target label, then the 10 most frequent, then "other"
constexpr const char* kColorOther = "#cbd2d9";
constexpr const char* kMethodColors[] = {"#2563eb", "#16a34a", "#9333ea", "#dc2626",
                                         "#0891b2", "#ca8a04", "#db2777", "#4b5563"};
constexpr const char* kFamilyColors[] = {"#2563eb", "#f97316", "#10b981", "#a855f7", "#ef4444", "#06b6d4",
                                         "#eab308", "#ec4899", "#84cc16", "#6366f1", "#78716c"};

const char* method_color(size_t method_idx) { return kMethodColors[method_idx % std::size(kMethodColors)]; }

// ---------------------------------------------------------------------------------------------------------------
// JSON

nlohmann::json stats_json(const metrics::LengthStats& s) {
    return {{"n", s.n},     {"mean", s.mean}, {"median", s.median}, {"p10", s.p10},
            {"p90", s.p90}, {"min", s.min},   {"max", s.max}};
}

nlohmann::json composition_json(const std::vector<metrics::LabelCount>& rows) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& row : rows) out.push_back({{"label", row.label}, {"count", row.count}, {"share", row.share}});
    return out;
}

nlohmann::json optional_json(const std::optional<double>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json distinct_json(const metrics::DistinctN& d) {
    return {{"n_distinct", d.n_distinct}, {"n_total", d.n_total}, {"ratio", d.ratio}};
}

// ---------------------------------------------------------------------------------------------------------------
// HTML pieces

std::string fixed3(double v) { return fmt::format("{:.3f}", v); }

// "0.123", or "-" when the number is absent.
std::string fixed3_or_dash(const std::optional<double>& v) { return v ? fixed3(*v) : std::string("-"); }
// Histogram of one method's pool scores (grey) with the selected samples' share of each bin stacked on top in the
// method's colour, both on one scale, so the cut of the top n is visible.
std::string score_histogram(const std::string& method, const char* color, const EvalMethodRun& run) {
    const std::string aria = "histogram of " + method + " scores, selected samples in colour";
    double lo = INFINITY, hi = -INFINITY;
    for (double v : run.scores) {
        if (!std::isfinite(v)) continue;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    if (!(lo <= hi)) return svg_message(aria, method + ": no finite scores");
    const double width = hi > lo ? hi - lo : 1.0;
    auto bin_of = [&](double v) {
        return std::clamp(static_cast<int>(std::floor((v - lo) / width * kBins)), 0, kBins - 1);
    };
    std::vector<uint64_t> all(kBins, 0), sel(kBins, 0);
    for (double v : run.scores) {
        if (std::isfinite(v)) ++all[bin_of(v)];
    }
    for (uint64_t pos : run.selected) {
        if (std::isfinite(run.scores[pos])) ++sel[bin_of(run.scores[pos])];
    }
    const uint64_t tallest = std::max<uint64_t>(1, *std::max_element(all.begin(), all.end()));
    constexpr double x0 = 50, x1 = 700, axis_y = 120, bar_h = 95;
    const double bin_w = (x1 - x0) / kBins;
    std::string out = svg_open(150, aria);
    out += fmt::format(
        "<text x=\"{}\" y=\"14\" class=\"small\"><tspan class=\"strong\">{}</tspan>: <tspan fill=\"{}\">&#9632;"
        "</tspan> pool, <tspan fill=\"{}\">&#9632;</tspan> selected; tallest bin {}</text>\n",
        x0, html_escape(method), kColorPool, color, tallest);
    for (int b = 0; b < kBins; ++b) {
        if (all[b] == 0) continue;
        const double h = bar_h * static_cast<double>(all[b]) / static_cast<double>(tallest);
        const double hs = bar_h * static_cast<double>(sel[b]) / static_cast<double>(tallest);
        out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"/>\n",
                           x0 + b * bin_w, axis_y - h, bin_w - 1, h, kColorPool);
        if (sel[b] > 0) {
            out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"/>\n",
                               x0 + b * bin_w, axis_y - hs, bin_w - 1, hs, color);
        }
    }
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\"/>\n", x0, axis_y, x1, axis_y);
    for (int tick = 0; tick <= 4; ++tick) {
        const double x = x0 + (x1 - x0) * tick / 4.0;
        out += fmt::format("<text x=\"{:.1f}\" y=\"{}\" class=\"small\" text-anchor=\"middle\">{}</text>\n", x,
                           axis_y + 16, num(lo + width * tick / 4.0));
    }
    out += "</svg>\n";
    return out;
}

struct BarRow {
    std::string name;
    std::vector<metrics::LabelCount> composition;  // shares sum to 1 (or the row is empty)
};

// Stacked horizontal bars of label shares, one row per method and one for the pool, with a shared legend.
std::string composition_chart(const std::vector<BarRow>& rows, const std::vector<std::string>& families) {
    const std::string aria = "label composition of each selection and of the pool";
    if (rows.empty()) return svg_message(aria, "no selections");
    constexpr double label_w = 130, bar_w = 560, row_h = 24, top = 8;
    const size_t n_legend_rows = (families.size() + 1 + 3) / 4;
    const double legend_y = top + row_h * static_cast<double>(rows.size()) + 12;
    const int height = static_cast<int>(legend_y + 18.0 * static_cast<double>(n_legend_rows) + 6);
    std::string out = svg_open(height, aria);
    auto color_of = [&](const std::string& label) -> const char* {
        for (size_t family_idx = 0; family_idx < families.size(); ++family_idx) {
            if (families[family_idx] == label) return kFamilyColors[family_idx % std::size(kFamilyColors)];
        }
        return kColorOther;
    };
    for (size_t row_idx = 0; row_idx < rows.size(); ++row_idx) {
        const BarRow& row = rows[row_idx];
        const double y = top + row_h * static_cast<double>(row_idx);
        out += fmt::format("<text x=\"{}\" y=\"{:.1f}\" class=\"small\" text-anchor=\"end\">{}</text>\n", label_w - 8,
                           y + 13, html_escape(row.name));
        // Segments in legend order (the target's label first), then everything else as "other".
        double x = label_w;
        double other = 0.0;
        for (const auto& entry : row.composition) {
            if (color_of(entry.label) == kColorOther) other += entry.share;
        }
        for (const std::string& family : families) {
            for (const auto& entry : row.composition) {
                if (entry.label != family || entry.share <= 0.0) continue;
                const double w = bar_w * entry.share;
                out += fmt::format(
                    "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"16\" fill=\"{}\"><title>{}: {}</title>"
                    "</rect>\n",
                    x, y, w, color_of(entry.label), html_escape(entry.label.empty() ? "(unknown)" : entry.label),
                    pct(entry.share));
                x += w;
            }
        }
        if (other > 0.0) {
            out += fmt::format(
                "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"16\" fill=\"{}\"><title>other: {}</title>"
                "</rect>\n",
                x, y, bar_w * other, kColorOther, pct(other));
        }
    }
    for (size_t legend_idx = 0; legend_idx <= families.size(); ++legend_idx) {
        const bool is_other = legend_idx == families.size();
        const double x = label_w + 140.0 * static_cast<double>(legend_idx % 4);
        const double y = legend_y + 18.0 * static_cast<double>(legend_idx / 4);
        const std::string name =
            is_other ? "other" : (families[legend_idx].empty() ? "(unknown)" : families[legend_idx]);
        out += fmt::format(
            "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1f}\" y=\"{:.1f}\" "
            "class=\"small\">{}</text>\n",
            x, y, is_other ? kColorOther : kFamilyColors[legend_idx % std::size(kFamilyColors)], x + 14, y + 9,
            html_escape(name.size() > 20 ? name.substr(0, 19) + "…" : name));
    }
    out += "</svg>\n";
    return out;
}

// p10..p90 box, median line, min..max whisker and the mean as a dot.
BoxRow box_row(const std::string& name, const char* color, const metrics::LengthStats& s) {
    BoxRow row;
    row.name = name;
    row.color = color;
    if (s.n == 0) return row;
    row.has_data = true;
    row.min = static_cast<double>(s.min);
    row.box_lo = s.p10;
    row.median = s.median;
    row.box_hi = s.p90;
    row.max = static_cast<double>(s.max);
    row.mean = s.mean;
    return row;
}

std::string latent_chart(const std::vector<EvalLatent>& latents) {
    const std::string aria = "largest prototype latents";
    if (latents.empty()) return svg_message(aria, "the prototype is empty");
    double max_value = 0.0;
    for (const auto& l : latents) max_value = std::max(max_value, l.value);
    if (max_value <= 0.0) max_value = 1.0;
    constexpr double label_w = 110, bar_max = 440, row_h = 20, top = 6;
    std::string out = svg_open(static_cast<int>(top + row_h * static_cast<double>(latents.size()) + 6), aria);
    for (size_t latent_idx = 0; latent_idx < latents.size(); ++latent_idx) {
        const EvalLatent& l = latents[latent_idx];
        const double y = top + row_h * static_cast<double>(latent_idx);
        const double w = bar_max * l.value / max_value;
        out += fmt::format("<text x=\"{}\" y=\"{:.1f}\" class=\"small\" text-anchor=\"end\">latent {}</text>\n",
                           label_w - 8, y + 12, l.latent);
        out += fmt::format("<rect x=\"{}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"14\" fill=\"{}\"/>\n", label_w, y, w,
                           kMethodColors[0]);
        out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"small\">{} ({} of &#8214;z&#8214;&#8321;)</text>\n",
                           label_w + w + 4, y + 12, num(l.value), pct(l.share));
    }
    out += "</svg>\n";
    return out;
}

std::string th_methods(const EvalInput& in) {
    std::string out;
    for (const auto& m : in.methods) out += fmt::format("<th class=\"num\">{}</th>", html_escape(m));
    return out;
}

// One <td> per value; the largest of the row is bold.
// One target's precision@n (or recall@n) per method, and the column next to it: the label's pool share (what a
// random selection expects) or the best recall any selection of n can reach.
std::pair<std::vector<double>, double> pr_row(const EvalInput& in, const EvalTargetMetrics& t, bool precision) {
    std::vector<double> values;
    for (const auto& m : t.methods) values.push_back(precision ? m.pr.precision : m.pr.recall);
    if (precision) return {values, t.pool_label_share};
    const double best = t.pool_label_count == 0
                            ? 0.0
                            : std::min(1.0, static_cast<double>(in.n_select) / static_cast<double>(t.pool_label_count));
    return {values, best};
}

std::string td_row(const std::vector<double>& values) {
    double best = -INFINITY;
    for (double v : values) best = std::max(best, v);
    std::string out;
    for (double v : values) {
        out += fmt::format("<td class=\"num{}\" data-value=\"{:.9g}\">{}</td>", v == best ? " best" : "", v, fixed3(v));
    }
    return out;
}

void append_summary(std::string& out, const EvalInput& in, const EvalResults& r) {
    const uint64_t n_pool = in.pool_labels.size();
    out += "<section id=\"summary\">\n<h2>Precision and recall of the target's label</h2>\n";
    out += fmt::format(
        "<p>{} pool samples; n = {} selected per target and method. The target's name is its label; a pool "
        "sample is a hit when its <code>task</code> equals it. Best of each row in bold. <i>pool share</i>: the "
        "label's share "
        "of the pool, the expected precision of a random selection; <i>max possible</i>: min(1, n / pool samples "
        "with the label), the best recall any selection of n can reach.</p>\n",
        n_pool, in.n_select);
    for (int which = 0; which < 2; ++which) {
        const bool precision = which == 0;
        out += fmt::format("<h3>{}@n</h3>\n<table class=\"{}\">\n<thead><tr><th>target</th><th class=\"num\">{}</th>",
                           precision ? "precision" : "recall", precision ? "precision" : "recall",
                           precision ? "pool share" : "max possible");
        out += th_methods(in) + "</tr></thead>\n<tbody>\n";
        for (size_t target_idx = 0; target_idx < in.targets.size(); ++target_idx) {
            const EvalTargetMetrics& t = r.targets[target_idx];
            const auto [values, baseline] = pr_row(in, t, precision);
            out += fmt::format("<tr><td><a href=\"#target-{}\">{}</a></td><td class=\"num muted\">{}</td>{}</tr>\n",
                               target_idx, html_escape(in.targets[target_idx].name), fixed3(baseline), td_row(values));
        }
        std::vector<double> avg;
        for (const auto& a : r.averages) avg.push_back(precision ? a.precision : a.recall);
        out += fmt::format("<tr class=\"average\"><th>average</th><td></td>{}</tr>\n", td_row(avg));
        out += "</tbody>\n</table>\n";
    }
    out += "</section>\n";
}

void append_diversity(std::string& out, const EvalInput& in, const EvalResults& r) {
    out += "<section id=\"diversity\">\n<h2>Diversity and length (averages over targets)</h2>\n";
    out +=
        "<table class=\"diversity\">\n<thead><tr><th>method</th><th class=\"num\">distinct-1</th><th class=\"num\">"
        "distinct-2</th><th class=\"num\">MTLD</th><th class=\"num\">mean tokens</th></tr></thead>\n<tbody>\n";
    for (size_t method_idx = 0; method_idx < in.methods.size(); ++method_idx) {
        const EvalAverage& a = r.averages[method_idx];
        out += fmt::format(
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.1f}</td>"
            "<td class=\"num\">{:.1f}</td></tr>\n",
            html_escape(in.methods[method_idx]), fixed3(a.distinct_1), fixed3(a.distinct_2), a.mtld, a.mean_tokens);
    }
    out +=
        fmt::format("<tr><td class=\"muted\">pool</td><td></td><td></td><td></td><td class=\"num\">{:.1f}</td></tr>\n",
                    r.pool_lengths.mean);
    out += "</tbody>\n</table>\n";
    out +=
        "<p class=\"muted\">distinct-n: distinct word n-grams / all word n-grams over the selection's texts (user "
        "and assistant contents). MTLD: mean over the selected texts (McCarthy &amp; Jarvis, threshold 0.72). "
        "Tokens: model tokens after truncation.</p>\n</section>\n";
}

void append_redundancy(std::string& out, const EvalInput& in, const EvalResults& r) {
    out += "<section id=\"redundancy\">\n<h2>Redundancy and prototype coverage (averages over targets)</h2>\n";
    out +=
        "<table class=\"diversity\">\n<thead><tr><th>method</th><th class=\"num\">duplicate rate</th><th "
        "class=\"num\">pairwise J</th><th class=\"num\">coverage mass</th><th class=\"num\">coverage "
        "latents</th></tr></thead>\n<tbody>\n";
    for (size_t method_idx = 0; method_idx < in.methods.size(); ++method_idx) {
        const EvalAverage& a = r.averages[method_idx];
        out += fmt::format(
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
            "<td class=\"num\">{}</td></tr>\n",
            html_escape(in.methods[method_idx]), fixed3(a.duplicate_rate), fixed3_or_dash(a.mean_pairwise_jaccard),
            fixed3_or_dash(a.coverage_mass), fixed3_or_dash(a.coverage_latents));
    }
    out += "</tbody>\n</table>\n";
    out +=
        "<p class=\"muted\">Duplicate rate: share of a selection whose normalised text repeats an earlier selected "
        "one. Pairwise J: mean generalized Jaccard between the selected samples' pooled SAE vectors. Coverage: share "
        "of the target prototype's L1 mass (mass) and of its active latents (latents) on latents some selected "
        "sample activates. All measured on the first SAE method's vectors and mean prototype, whatever the method "
        "scored (docs/beyond.md).</p>\n</section>\n";
}

void append_overlap(std::string& out, const EvalInput& in, const EvalResults& r) {
    out += "<section id=\"overlap\">\n<h2>Overlap between methods</h2>\n";
    out += "<p>|A &cap; B| / n of the two methods' selections, per target and on average.</p>\n";
    auto matrix = [&](const std::string& caption, auto&& value_of) {
        out += fmt::format("<h3>{}</h3>\n<table class=\"overlap\">\n<thead><tr><th></th>{}</tr></thead>\n<tbody>\n",
                           html_escape(caption), th_methods(in));
        for (size_t a = 0; a < in.methods.size(); ++a) {
            out += fmt::format("<tr><th>{}</th>", html_escape(in.methods[a]));
            for (size_t b = 0; b < in.methods.size(); ++b) {
                out += a == b
                           ? std::string("<td class=\"num muted\">1.000</td>")
                           : fmt::format("<td class=\"num\">{}</td>", fixed3(value_of(std::min(a, b), std::max(a, b))));
            }
            out += "</tr>\n";
        }
        out += "</tbody>\n</table>\n";
    };
    if (in.methods.size() < 2) {
        out += "<p class=\"muted\">one method only</p>\n</section>\n";
        return;
    }
    for (size_t target_idx = 0; target_idx < in.targets.size(); ++target_idx) {
        const auto& overlaps = r.targets[target_idx].overlaps;
        matrix(in.targets[target_idx].name, [&](size_t a, size_t b) {
            for (const auto& o : overlaps) {
                if (o.method_a == a && o.method_b == b) return o.overlap.overlap;
            }
            return 0.0;
        });
    }
    matrix("average", [&](size_t a, size_t b) {
        for (const auto& o : r.average_overlaps) {
            if (o.method_a == a && o.method_b == b) return o.overlap;
        }
        return 0.0;
    });
    out += "</section>\n";
}

std::string stats_cells(const metrics::LengthStats& s) {
    if (s.n == 0) return "<td class=\"num\">0</td><td colspan=\"6\" class=\"muted\">no data</td>";
    return fmt::format(
        "<td class=\"num\">{}</td><td class=\"num\">{:.1f}</td><td class=\"num\">{:.1f}</td><td class=\"num\">{:.1f}"
        "</td><td class=\"num\">{:.1f}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
        s.n, s.mean, s.median, s.p10, s.p90, s.min, s.max);
}

void append_target(std::string& out, const EvalInput& in, const EvalResults& r, size_t target_idx) {
    const EvalTargetInput& t = in.targets[target_idx];
    const EvalTargetMetrics& m = r.targets[target_idx];
    out += fmt::format("<section class=\"target\" id=\"target-{}\">\n<h2>Target {}: {}</h2>\n", target_idx,
                       target_idx + 1, html_escape(t.name));
    out += fmt::format(
        "<p>{} exemplars; label <b>{}</b> holds {} of {} pool samples ({}), the expected precision of a random "
        "selection.</p>\n",
        t.token_counts.size(), html_escape(t.name), m.pool_label_count, in.pool_labels.size(), pct(m.pool_label_share));

    out += fmt::format("<section id=\"target-{}-scores\">\n<h3>Score distributions</h3>\n", target_idx);
    bool any_scores = false;
    for (size_t method_idx = 0; method_idx < in.methods.size(); ++method_idx) {
        if (t.runs[method_idx].scores.empty()) continue;
        any_scores = true;
        out += score_histogram(in.methods[method_idx], method_color(method_idx), t.runs[method_idx]);
    }
    if (!any_scores) out += "<p class=\"muted\">no method of this run has scores</p>\n";
    out += "</section>\n";

    // Families: the target's label first, then the pool's most frequent labels.
    std::vector<std::string> families = {t.name};
    for (const auto& entry : r.pool_composition) {
        if (families.size() >= kMaxFamilies) break;
        if (entry.label != t.name) families.push_back(entry.label);
    }
    std::vector<BarRow> bars;
    for (size_t method_idx = 0; method_idx < in.methods.size(); ++method_idx)
        bars.push_back({in.methods[method_idx], m.methods[method_idx].composition});
    bars.push_back({"pool", r.pool_composition});
    out += fmt::format("<section id=\"target-{}-composition\">\n<h3>Label composition</h3>\n", target_idx);
    out += composition_chart(bars, families);
    out += "<table class=\"composition\">\n<thead><tr><th>label</th>" + th_methods(in) +
           "<th class=\"num\">pool</th></tr></thead>\n<tbody>\n";
    for (const auto& pool_row : r.pool_composition) {
        out += fmt::format("<tr><td>{}{}{}</td>", pool_row.label == t.name ? "<b>" : "",
                           html_escape(pool_row.label.empty() ? "(unknown)" : pool_row.label),
                           pool_row.label == t.name ? "</b>" : "");
        for (const auto& mm : m.methods) {
            uint64_t count = 0;
            for (const auto& c : mm.composition) {
                if (c.label == pool_row.label) count = c.count;
            }
            out += fmt::format("<td class=\"num\">{}</td>", count);
        }
        out += fmt::format("<td class=\"num\">{}</td></tr>\n", pool_row.count);
    }
    out += "</tbody>\n</table>\n</section>\n";

    std::vector<BoxRow> boxes;
    for (size_t method_idx = 0; method_idx < in.methods.size(); ++method_idx)
        boxes.push_back(box_row(in.methods[method_idx], method_color(method_idx), m.methods[method_idx].lengths));
    boxes.push_back(box_row("targets", kColorTargets, m.target_lengths));
    boxes.push_back(box_row("pool", kColorPool, r.pool_lengths));
    out += fmt::format("<section id=\"target-{}-lengths\">\n<h3>Token lengths</h3>\n", target_idx);
    out += report::box_plots(boxes, "token length distributions: p10-p90 box, median line, min-max whisker, mean dot");
    out +=
        "<table class=\"lengths\">\n<thead><tr><th>group</th><th class=\"num\">n</th><th class=\"num\">mean</th><th "
        "class=\"num\">median</th><th class=\"num\">p10</th><th class=\"num\">p90</th><th class=\"num\">min</th><th "
        "class=\"num\">max</th><th class=\"num\">distinct-1</th><th class=\"num\">distinct-2</th><th class=\"num\">"
        "MTLD</th></tr></thead>\n<tbody>\n";
    for (size_t method_idx = 0; method_idx < in.methods.size(); ++method_idx) {
        const EvalMethodMetrics& mm = m.methods[method_idx];
        out += fmt::format(
            "<tr><td>{}</td>{}<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.1f}</td></tr>\n",
            html_escape(in.methods[method_idx]), stats_cells(mm.lengths), fixed3(mm.distinct_1.ratio),
            fixed3(mm.distinct_2.ratio), mm.mtld);
    }
    out += fmt::format("<tr><td>targets</td>{}<td></td><td></td><td></td></tr>\n", stats_cells(m.target_lengths));
    out += fmt::format("<tr><td>pool</td>{}<td></td><td></td><td></td></tr>\n", stats_cells(r.pool_lengths));
    out += "</tbody>\n</table>\n</section>\n";

    const bool has_mona = std::find(in.methods.begin(), in.methods.end(), "mona") != in.methods.end();
    if (has_mona) {
        out += fmt::format(
            "<section id=\"target-{}-latents\">\n<h3>Why these samples: the prototype's largest SAE "
            "latents</h3>\n",
            target_idx);
        bool tokens_shown = false;
        for (const EvalLatent& l : t.latents) {
            for (const EvalLatentSample& s : l.top) tokens_shown = tokens_shown || !s.token.empty();
        }
        out += fmt::format(
            "<p class=\"muted\">The latents with the largest values in the target prototype z_tgt (the mean of the "
            "exemplars' pooled SAE vectors), and for each the pool samples whose pooled vector is largest on "
            "it{}.</p>\n",
            tokens_shown ? ", shown on the token where the latent fires most (<mark>marked</mark>, with its activation)"
                         : "");
        out += latent_chart(t.latents);
        out +=
            "<table class=\"latents\">\n<thead><tr><th class=\"num\">latent</th><th class=\"num\">prototype</th>"
            "<th class=\"num\">share</th><th class=\"num\">sample value</th><th>id</th><th>label</th><th>snippet</th>"
            "</tr></thead>\n<tbody>\n";
        for (const EvalLatent& l : t.latents) {
            const size_t n_rows = std::max<size_t>(1, l.top.size());
            for (size_t row = 0; row < n_rows; ++row) {
                out += "<tr>";
                if (row == 0) {
                    out += fmt::format(
                        "<td class=\"num\" rowspan=\"{0}\">{1}</td><td class=\"num\" rowspan=\"{0}\">{2}</td>"
                        "<td class=\"num\" rowspan=\"{0}\">{3}</td>",
                        n_rows, l.latent, num(l.value), pct(l.share));
                }
                if (l.top.empty()) {
                    out += "<td colspan=\"4\" class=\"muted\">no pool sample activates it</td>";
                } else {
                    const EvalLatentSample& s = l.top[row];
                    const std::string* snippet = text_at(in.snippets, s.position);
                    // Where the latent fires most in the sample, when measured; else the sample's snippet.
                    const std::string shown =
                        s.token.empty()
                            ? (snippet ? html_escape(*snippet) : "")
                            : fmt::format("…{}<mark>{}</mark>{}… <span class=\"muted\">({})</span>",
                                          html_escape(visible_text(s.before)), html_escape(visible_text(s.token)),
                                          html_escape(visible_text(s.after)), num(s.token_value));
                    out += fmt::format(
                        "<td class=\"num\">{}</td><td>{}</td><td>{}{}{}</td><td class=\"snippet\">{}</td>",
                        num(s.value), html_escape(in.pool_ids[s.position]),
                        in.pool_labels[s.position] == t.name ? "<b>" : "", html_escape(in.pool_labels[s.position]),
                        in.pool_labels[s.position] == t.name ? "</b>" : "", shown);
                }
                out += "</tr>\n";
            }
        }
        out += "</tbody>\n</table>\n</section>\n";
    }
    out += "</section>\n";
}

}  // namespace

nlohmann::json render_eval_json(const EvalInput& in, const EvalResults& r) {
    nlohmann::json out;
    out["tool"] = {{"name", "mona"},
#ifdef MONA_VERSION
                   {"version", MONA_VERSION}
#else
                   {"version", "unknown"}
#endif
    };
    out["command_line"] = in.command_line;
    out["config"] = in.config;
    out["n_pool"] = in.pool_labels.size();
    out["n_select"] = in.n_select;
    out["methods"] = in.methods;
    out["pool"] = {{"lengths", stats_json(r.pool_lengths)}, {"labels", composition_json(r.pool_composition)}};
    nlohmann::json targets = nlohmann::json::array();
    for (size_t target_idx = 0; target_idx < in.targets.size(); ++target_idx) {
        const EvalTargetInput& t = in.targets[target_idx];
        const EvalTargetMetrics& tm = r.targets[target_idx];
        nlohmann::json jt;
        jt["name"] = t.name;
        jt["label"] = t.name;
        jt["n_exemplars"] = t.token_counts.size();
        jt["pool_label_count"] = tm.pool_label_count;
        jt["pool_label_share"] = tm.pool_label_share;
        jt["lengths"] = stats_json(tm.target_lengths);
        nlohmann::json methods = nlohmann::json::object();
        for (size_t method_idx = 0; method_idx < in.methods.size(); ++method_idx) {
            const EvalMethodMetrics& mm = tm.methods[method_idx];
            methods[in.methods[method_idx]] = {
                {"precision", mm.pr.precision},
                {"recall", mm.pr.recall},
                {"n_selected", mm.pr.n_selected},
                {"n_hits", mm.pr.n_hits},
                {"n_label", mm.pr.n_label},
                {"composition", composition_json(mm.composition)},
                {"lengths", stats_json(mm.lengths)},
                {"distinct_1", distinct_json(mm.distinct_1)},
                {"distinct_2", distinct_json(mm.distinct_2)},
                {"mtld", mm.mtld},
                {"duplicate_rate", mm.duplicate_rate},
                {"coverage", mm.coverage
                                 ? nlohmann::json{{"mass", mm.coverage->mass}, {"latents", mm.coverage->latents}}
                                 : nlohmann::json(nullptr)},
                {"mean_pairwise_jaccard", optional_json(mm.mean_pairwise_jaccard)},
                {"scores",
                 mm.score_min ? nlohmann::json{{"min", *mm.score_min}, {"max", *mm.score_max}, {"mean", *mm.score_mean}}
                              : nlohmann::json(nullptr)},
                {"selected", t.runs[method_idx].selected},
            };
        }
        jt["methods"] = methods;
        nlohmann::json overlaps = nlohmann::json::array();
        for (const EvalOverlap& o : tm.overlaps) {
            overlaps.push_back({{"a", in.methods[o.method_a]},
                                {"b", in.methods[o.method_b]},
                                {"n_intersection", o.overlap.n_intersection},
                                {"n_union", o.overlap.n_union},
                                {"overlap", o.overlap.overlap},
                                {"jaccard", o.overlap.jaccard}});
        }
        jt["overlap"] = overlaps;
        nlohmann::json latents = nlohmann::json::array();
        for (const EvalLatent& l : t.latents) {
            nlohmann::json top = nlohmann::json::array();
            for (const EvalLatentSample& s : l.top) {
                top.push_back({{"position", s.position},
                               {"record", in.pool_records[s.position]},
                               {"id", in.pool_ids[s.position]},
                               {"task", in.pool_labels[s.position]},
                               {"value", s.value}});
            }
            latents.push_back({{"latent", l.latent}, {"value", l.value}, {"share", l.share}, {"top", top}});
        }
        jt["prototype_latents"] = latents;
        targets.push_back(jt);
    }
    out["targets"] = targets;
    nlohmann::json avg_methods = nlohmann::json::object();
    for (size_t method_idx = 0; method_idx < in.methods.size(); ++method_idx) {
        const EvalAverage& a = r.averages[method_idx];
        avg_methods[in.methods[method_idx]] = {{"precision", a.precision},
                                               {"recall", a.recall},
                                               {"distinct_1", a.distinct_1},
                                               {"distinct_2", a.distinct_2},
                                               {"mtld", a.mtld},
                                               {"mean_tokens", a.mean_tokens},
                                               {"duplicate_rate", a.duplicate_rate},
                                               {"coverage_mass", optional_json(a.coverage_mass)},
                                               {"coverage_latents", optional_json(a.coverage_latents)},
                                               {"mean_pairwise_jaccard", optional_json(a.mean_pairwise_jaccard)}};
    }
    nlohmann::json avg_overlap = nlohmann::json::array();
    for (const EvalAverageOverlap& o : r.average_overlaps) {
        avg_overlap.push_back({{"a", in.methods[o.method_a]},
                               {"b", in.methods[o.method_b]},
                               {"overlap", o.overlap},
                               {"jaccard", o.jaccard}});
    }
    out["average"] = {{"methods", avg_methods}, {"overlap", avg_overlap}};
    out["timings_s"] = in.timings;
    return out;
}

std::string render_eval_markdown(const EvalInput& in, const EvalResults& r) {
    std::string out = "# " + in.title + "\n\n";
    out += fmt::format("Pool: {} samples; n = {} selected per target and method; methods: {}.\n", in.pool_labels.size(),
                       in.n_select, fmt::join(in.methods, ", "));
    out +=
        "A selected pool sample is a hit when its `task` equals the target's name. Best of each row in bold.\n"
        "`pool share`: the label's share of the pool, the expected precision of a random selection. `max possible`:\n"
        "min(1, n / pool samples with the label), the best recall any selection of n can reach.\n";
    auto header = [&](const std::string& first, const std::string& baseline) {
        std::string h = "| " + first + " | " + baseline + " |";
        std::string rule = "|---|---:|";
        for (const auto& m : in.methods) {
            h += " " + m + " |";
            rule += "---:|";
        }
        return h + "\n" + rule + "\n";
    };
    auto cells = [](const std::vector<double>& values) {
        double best = -INFINITY;
        for (double v : values) best = std::max(best, v);
        std::string row;
        for (double v : values) {
            row += v == best ? fmt::format(" **{}** |", fixed3(v)) : fmt::format(" {} |", fixed3(v));
        }
        return row;
    };
    for (int which = 0; which < 2; ++which) {
        const bool precision = which == 0;
        out += precision ? "\n## precision@n\n\n" : "\n## recall@n\n\n";
        out += header("target", precision ? "pool share" : "max possible");
        for (size_t target_idx = 0; target_idx < in.targets.size(); ++target_idx) {
            const EvalTargetMetrics& t = r.targets[target_idx];
            const auto [values, baseline] = pr_row(in, t, precision);
            out += "| " + in.targets[target_idx].name + " | " + fixed3(baseline) + " |" + cells(values) + "\n";
        }
        std::vector<double> avg;
        for (const auto& a : r.averages) avg.push_back(precision ? a.precision : a.recall);
        out += "| **average** | |" + cells(avg) + "\n";
    }
    out += "\n## diversity and length (averages over targets)\n\n";
    out += "| method | distinct-1 | distinct-2 | MTLD | mean tokens |\n|---|---:|---:|---:|---:|\n";
    for (size_t method_idx = 0; method_idx < in.methods.size(); ++method_idx) {
        const EvalAverage& a = r.averages[method_idx];
        out += fmt::format("| {} | {} | {} | {:.1f} | {:.1f} |\n", in.methods[method_idx], fixed3(a.distinct_1),
                           fixed3(a.distinct_2), a.mtld, a.mean_tokens);
    }
    double target_tokens = 0.0;
    for (const auto& t : r.targets) target_tokens += t.target_lengths.mean;
    if (!r.targets.empty()) target_tokens /= static_cast<double>(r.targets.size());
    out += fmt::format("| (targets) | | | | {:.1f} |\n| (pool) | | | | {:.1f} |\n", target_tokens, r.pool_lengths.mean);
    out += "\n## redundancy and prototype coverage (averages over targets)\n\n";
    out += "| method | duplicate rate | pairwise J | coverage mass | coverage latents |\n|---|---:|---:|---:|---:|\n";
    for (size_t method_idx = 0; method_idx < in.methods.size(); ++method_idx) {
        const EvalAverage& a = r.averages[method_idx];
        out += fmt::format("| {} | {} | {} | {} | {} |\n", in.methods[method_idx], fixed3(a.duplicate_rate),
                           fixed3_or_dash(a.mean_pairwise_jaccard), fixed3_or_dash(a.coverage_mass),
                           fixed3_or_dash(a.coverage_latents));
    }
    if (in.methods.size() >= 2) {
        out += "\n## overlap@n between methods (average over targets)\n\n| |";
        std::string rule = "|---|";
        for (const auto& m : in.methods) {
            out += fmt::format(" {} |", m);
            rule += "---:|";
        }
        out += "\n" + rule + "\n";
        for (size_t a = 0; a < in.methods.size(); ++a) {
            out += fmt::format("| {} |", in.methods[a]);
            for (size_t b = 0; b < in.methods.size(); ++b) {
                double v = 1.0;
                for (const auto& o : r.average_overlaps) {
                    if (o.method_a == std::min(a, b) && o.method_b == std::max(a, b)) v = o.overlap;
                }
                out += fmt::format(" {} |", fixed3(v));
            }
            out += "\n";
        }
    }
    return out;
}

std::string render_eval_html(const EvalInput& in, const EvalResults& r) {
    std::string out;
    out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    out += fmt::format("<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n", html_escape(in.title),
                       report::stylesheet(1000, "td.best { font-weight: bold; }\n"));
    out += fmt::format("<header>\n<h1>{}</h1>\n</header>\n<main>\n", html_escape(in.title));
    out += "<section id=\"settings\">\n<h2>Settings</h2>\n<table class=\"kv\">\n<tbody>\n";
    for (const auto& [key, value] : in.settings)
        out += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", html_escape(key), html_escape(value));
    out += "</tbody>\n</table>\n</section>\n";
    append_summary(out, in, r);
    append_diversity(out, in, r);
    append_redundancy(out, in, r);
    append_overlap(out, in, r);
    for (size_t target_idx = 0; target_idx < in.targets.size(); ++target_idx) append_target(out, in, r, target_idx);
    out += "</main>\n<footer>Generated by mona";
#ifdef MONA_VERSION
    out += " " MONA_VERSION;
#endif
    out += ". This file is self-contained: no scripts and no external resources.</footer>\n</body>\n</html>\n";
    return out;
}

}  // namespace mona
