#include "report/html_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "report/svg.hpp"

namespace mona {

std::string visible_text(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\n') {
            out += "\u23ce";
        } else if (c == '\t') {
            out += "\u21e5";
        } else {
            out += c;
        }
    }
    return out;
}

namespace {

// #target-<t>-why: the latents behind the selection (score/latent_why.hpp), each with where it fires.
std::string why_section(const ReportTarget& t, size_t target_idx) {
    std::string out = fmt::format(
        "<section id=\"target-{}-why\">\n<h3>Why these samples: the features they share with the target</h3>\n",
        target_idx);
    if (t.why_latents.empty()) {
        out += "<p class=\"muted\">no latent explanation recorded</p>\n</section>\n";
        return out;
    }
    out += fmt::format(
        "<p class=\"muted\">A sample's score is its overlap with the prototype, Σ min(sample, prototype) over the "
        "SAE's "
        "latents, divided by Σ max. These latents carry the largest shares of that overlap over the top {} selected "
        "samples; each is shown on the tokens where it fires most in them (<mark>marked</mark>), which is what the "
        "latent responds to.</p>\n<table class=\"why\">\n<thead><tr><th class=\"num\">latent</th><th class=\"num\">"
        "share of overlap</th><th class=\"num\">prototype weight</th><th>fires most on</th></tr></thead>\n<tbody>\n",
        t.why_n_samples);
    for (const ReportLatent& latent : t.why_latents) {
        std::string contexts;
        for (const ReportLatent::Context& c : latent.contexts) {
            contexts += fmt::format(
                "<div class=\"snippet\">…{}<mark>{}</mark>{}… <span class=\"muted\">({:.3g}, {})</span></div>",
                html_escape(visible_text(c.before)), html_escape(visible_text(c.token)),
                html_escape(visible_text(c.after)), c.value, html_escape(c.sample_id));
        }
        out += fmt::format(
            "<tr><td class=\"num\">{}</td><td class=\"num\">{:.1f}%</td><td "
            "class=\"num\">{:.3g}</td><td>{}</td></tr>\n",
            latent.latent, 100.0 * latent.share, latent.prototype_value, contexts);
    }
    out += "</tbody>\n</table>\n</section>\n";
    return out;
}

using report::BoxRow;
using report::kColorPool;
using report::kColorTargets;
using report::kSvgWidth;
using report::num;
using report::svg_message;
using report::svg_open;

constexpr int kBins = 40;
constexpr size_t kMaxChartFamilies = 12;
constexpr const char* kUnknownLabel = "(unknown)";
constexpr const char* kColorSelected = "#2563eb";

struct FamilyRow {
    std::string label;  // display label ("(unknown)" for "")
    bool is_target = false;
    uint64_t n_selected = 0;
    uint64_t n_pool = 0;
};

struct TargetSummary {
    std::vector<uint64_t> selected;  // valid positions, rank order
    uint64_t n_dropped = 0;          // positions >= n_pool
    uint64_t n_hits = 0;             // selected whose label equals the target label
    uint64_t n_label_in_pool = 0;
    std::optional<double> precision;
    std::optional<double> random;
    std::vector<FamilyRow> families;  // by selected count, then pool count, then name
};

uint64_t pool_size(const ReportInput& in) {
    size_t n_pool =
        std::max({in.pool_labels.size(), in.pool_token_counts.size(), in.pool_ids.size(), in.pool_snippets.size()});
    for (const ReportTarget& t : in.targets) n_pool = std::max(n_pool, t.pool_scores.size());
    return n_pool;
}

template <class T>
const T* at_or_null(const std::vector<T>& v, uint64_t pos) {
    return pos < v.size() ? &v[pos] : nullptr;
}

std::string label_at(const ReportInput& in, uint64_t pos) {
    const std::string* label = at_or_null(in.pool_labels, pos);
    return label ? *label : std::string();
}

std::string display_label(const std::string& label) { return label.empty() ? kUnknownLabel : label; }

TargetSummary summarize(const ReportInput& in, const ReportTarget& target, uint64_t n_pool) {
    TargetSummary s;
    for (uint64_t pos : target.selected) {
        if (pos < n_pool) {
            s.selected.push_back(pos);
        } else {
            ++s.n_dropped;
        }
    }
    std::map<std::string, FamilyRow> rows;
    for (uint64_t pos = 0; pos < n_pool; ++pos) ++rows[label_at(in, pos)].n_pool;
    for (uint64_t pos : s.selected) {
        const std::string label = label_at(in, pos);
        ++rows[label].n_selected;
        if (!target.label.empty() && label == target.label) ++s.n_hits;
    }
    if (!target.label.empty()) {
        auto it = rows.find(target.label);
        s.n_label_in_pool = it == rows.end() ? 0 : it->second.n_pool;
        if (!s.selected.empty()) s.precision = static_cast<double>(s.n_hits) / static_cast<double>(s.selected.size());
        if (!in.pool_labels.empty() && n_pool > 0)
            s.random = static_cast<double>(s.n_label_in_pool) / static_cast<double>(n_pool);
    }
    for (auto& [label, row] : rows) {
        row.label = display_label(label);
        row.is_target = !target.label.empty() && label == target.label;
        s.families.push_back(row);
    }
    std::sort(s.families.begin(), s.families.end(), [](const FamilyRow& a, const FamilyRow& b) {
        if (a.n_selected != b.n_selected) return a.n_selected > b.n_selected;
        if (a.n_pool != b.n_pool) return a.n_pool > b.n_pool;
        return a.label < b.label;
    });
    return s;
}

double share(uint64_t count, uint64_t total) {
    return total == 0 ? 0.0 : static_cast<double>(count) / static_cast<double>(total);
}

std::string pct(double fraction) { return fmt::format("{:.1f}%", 100.0 * fraction); }
std::string pct(const std::optional<double>& fraction) { return fraction ? pct(*fraction) : "n/a"; }

std::string lift(const TargetSummary& s) {
    if (!s.precision || !s.random || *s.random <= 0.0) return "n/a";
    return fmt::format("{:.2f}x", *s.precision / *s.random);
}

struct Dist {
    size_t n = 0;
    double mean = 0, min = 0, q1 = 0, median = 0, q3 = 0, max = 0;
};

// Quantiles by linear interpolation between order statistics (the common "type 7" definition).
std::optional<Dist> describe(std::vector<double> v);

struct LengthGroup {
    const char* name;
    const char* color;
    std::optional<Dist> dist;
};

std::optional<Dist> describe(std::vector<double> v) {
    if (v.empty()) return std::nullopt;
    std::sort(v.begin(), v.end());
    auto quantile = [&v](double p) {
        const double h = p * static_cast<double>(v.size() - 1);
        const size_t lo = static_cast<size_t>(std::floor(h));
        const size_t hi = std::min(lo + 1, v.size() - 1);
        return v[lo] + (h - static_cast<double>(lo)) * (v[hi] - v[lo]);
    };
    Dist d;
    d.n = v.size();
    double sum = 0;
    for (double x : v) sum += x;
    d.mean = sum / static_cast<double>(v.size());
    d.min = v.front();
    d.max = v.back();
    d.q1 = quantile(0.25);
    d.median = quantile(0.5);
    d.q3 = quantile(0.75);
    return d;
}

// ---------------------------------------------------------------------------------------------------------------
// SVG charts

std::string score_histogram(const ReportTarget& target, const TargetSummary& s) {
    const std::string aria = "histogram of scores: pool above the axis, selected below";
    double lo = INFINITY, hi = -INFINITY;
    for (double v : target.pool_scores) {
        if (!std::isfinite(v)) continue;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    if (!(lo <= hi)) return svg_message(aria, "no finite scores");
    const double width = hi > lo ? hi - lo : 1.0;
    auto bin_of = [&](double v) {
        const int b = static_cast<int>(std::floor((v - lo) / width * kBins));
        return std::clamp(b, 0, kBins - 1);
    };
    std::vector<uint64_t> pool_bins(kBins, 0), sel_bins(kBins, 0);
    uint64_t n_pool_scored = 0, n_sel_scored = 0;
    for (double v : target.pool_scores) {
        if (!std::isfinite(v)) continue;
        ++pool_bins[bin_of(v)];
        ++n_pool_scored;
    }
    for (uint64_t pos : s.selected) {
        if (pos >= target.pool_scores.size() || !std::isfinite(target.pool_scores[pos])) continue;
        ++sel_bins[bin_of(target.pool_scores[pos])];
        ++n_sel_scored;
    }
    const uint64_t pool_max = *std::max_element(pool_bins.begin(), pool_bins.end());
    const uint64_t sel_max = *std::max_element(sel_bins.begin(), sel_bins.end());

    constexpr double x0 = 50, x1 = 700, axis_y = 130, pool_h = 95, sel_h = 75;
    const double bin_w = (x1 - x0) / kBins;
    std::string out = svg_open(270, aria);
    out += fmt::format(
        "<text x=\"{}\" y=\"18\" class=\"small\"><tspan fill=\"{}\">&#9632;</tspan> pool: {} scored, "
        "tallest bin {}</text>\n",
        x0, kColorPool, n_pool_scored, pool_max);
    for (int b = 0; b < kBins; ++b) {
        if (pool_bins[b] == 0) continue;
        const double h = pool_h * static_cast<double>(pool_bins[b]) / static_cast<double>(pool_max);
        out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"/>\n",
                           x0 + b * bin_w, axis_y - h, bin_w - 1, h, kColorPool);
    }
    for (int b = 0; b < kBins; ++b) {
        if (sel_bins[b] == 0) continue;
        const double h = sel_h * static_cast<double>(sel_bins[b]) / static_cast<double>(sel_max);
        out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"/>\n",
                           x0 + b * bin_w, axis_y, bin_w - 1, h, kColorSelected);
    }
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\"/>\n", x0, axis_y, x1, axis_y);
    out += fmt::format(
        "<text x=\"{}\" y=\"{}\" class=\"small\"><tspan fill=\"{}\">&#9632;</tspan> selected: {} "
        "scored, tallest bin {} (bars below the axis, own scale)</text>\n",
        x0, axis_y + sel_h + 16, kColorSelected, n_sel_scored, sel_max);
    for (int tick = 0; tick <= 4; ++tick) {
        const double x = x0 + (x1 - x0) * tick / 4.0;
        const double value = lo + width * tick / 4.0;
        out += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#333\"/>\n", x, axis_y,
                           axis_y + 4);
        out += fmt::format("<text x=\"{:.1f}\" y=\"{}\" class=\"small\" text-anchor=\"middle\">{}</text>\n", x,
                           axis_y + sel_h + 34, num(value));
    }
    // The cut-off: the lowest selected score; every pool sample right of it was selected (ties aside).
    double cutoff = INFINITY;
    for (uint64_t pos : s.selected) {
        if (pos < target.pool_scores.size() && std::isfinite(target.pool_scores[pos])) {
            cutoff = std::min(cutoff, target.pool_scores[pos]);
        }
    }
    if (std::isfinite(cutoff)) {
        const double x = x0 + (x1 - x0) * (cutoff - lo) / width;
        out += fmt::format(
            "<line class=\"cutoff\" x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#c0392b\" "
            "stroke-dasharray=\"5,3\"/>\n<text x=\"{3:.1f}\" y=\"{4}\" class=\"small\" fill=\"#c0392b\" "
            "text-anchor=\"{5}\">cut-off {6}</text>\n",
            x, axis_y - pool_h - 5, axis_y + sel_h, x > (x0 + x1) / 2 ? x - 4 : x + 4, axis_y - pool_h + 6,
            x > (x0 + x1) / 2 ? "end" : "start", num(cutoff));
    }
    out += fmt::format(
        "<text x=\"{}\" y=\"{}\" class=\"small\" text-anchor=\"middle\">score: generalized Jaccard similarity to the "
        "target's prototype (higher = more like the exemplars)</text>\n",
        (x0 + x1) / 2, axis_y + sel_h + 54);
    out += fmt::format(
        "<text x=\"14\" y=\"{0}\" class=\"small\" text-anchor=\"middle\" transform=\"rotate(-90 14 {0})\">samples "
        "per bin</text>\n",
        axis_y);
    out += "</svg>\n";
    return out;
}

std::string family_chart(const TargetSummary& s, uint64_t n_pool) {
    const std::string aria = "family shares: selection vs pool";
    if (s.families.empty()) return svg_message(aria, "no samples");
    const size_t n_rows = std::min(s.families.size(), kMaxChartFamilies);
    double max_share = 0;
    for (size_t row_idx = 0; row_idx < n_rows; ++row_idx) {
        max_share = std::max(max_share, share(s.families[row_idx].n_selected, s.selected.size()));
        max_share = std::max(max_share, share(s.families[row_idx].n_pool, n_pool));
    }
    if (max_share <= 0) max_share = 1;
    constexpr double label_w = 200, bar_max = 420, row_h = 30, top = 30;
    const int height = static_cast<int>(top + row_h * n_rows + 10);
    std::string out = svg_open(height, aria);
    out += fmt::format(
        "<text x=\"{}\" y=\"16\" class=\"small\"><tspan fill=\"{}\">&#9632;</tspan> selection "
        "<tspan fill=\"{}\">&#9632;</tspan> pool</text>\n",
        label_w, kColorSelected, kColorPool);
    for (size_t row_idx = 0; row_idx < n_rows; ++row_idx) {
        const FamilyRow& row = s.families[row_idx];
        const double y = top + row_h * row_idx;
        const double sel_share = share(row.n_selected, s.selected.size()), pool_share = share(row.n_pool, n_pool);
        const double sel_w = bar_max * sel_share / max_share, pool_w = bar_max * pool_share / max_share;
        out += fmt::format("<text x=\"{}\" y=\"{:.1f}\" class=\"small{}\" text-anchor=\"end\">{}</text>\n", label_w - 8,
                           y + 15, row.is_target ? " strong" : "", html_escape(row.label));
        out += fmt::format("<rect x=\"{}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"11\" fill=\"{}\"/>\n", label_w, y,
                           sel_w, kColorSelected);
        out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"small\">{}</text>\n", label_w + sel_w + 4, y + 10,
                           pct(sel_share));
        out += fmt::format("<rect x=\"{}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"11\" fill=\"{}\"/>\n", label_w,
                           y + 12, pool_w, kColorPool);
        out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"small muted\">{}</text>\n", label_w + pool_w + 4,
                           y + 22, pct(pool_share));
    }
    out += "</svg>\n";
    return out;
}

// ---------------------------------------------------------------------------------------------------------------
// HTML sections

void append_settings(std::string& out, const ReportInput& in) {
    out += "<section id=\"settings\">\n<h2>Settings</h2>\n";
    if (in.settings.empty()) {
        out += "<p class=\"muted\">none recorded</p>\n";
    } else {
        out += "<table class=\"kv\">\n<tbody>\n";
        for (const auto& [key, value] : in.settings)
            out += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", html_escape(key), html_escape(value));
        out += "</tbody>\n</table>\n";
    }
    out += "</section>\n";
}

void append_summary(std::string& out, const ReportInput& in, const std::vector<TargetSummary>& summaries,
                    uint64_t n_pool) {
    out += "<section id=\"summary\">\n<h2>Summary</h2>\n";
    out += fmt::format("<p>{} pool samples, {} target{}.</p>\n", n_pool, in.targets.size(),
                       in.targets.size() == 1 ? "" : "s");
    out +=
        "<table class=\"summary\">\n<thead><tr><th>#</th><th>target</th><th>label</th><th class=\"num\">selected</th>"
        "<th class=\"num\">precision</th><th class=\"num\">random baseline</th><th class=\"num\">lift</th></tr>"
        "</thead>\n<tbody>\n";
    for (size_t target_idx = 0; target_idx < in.targets.size(); ++target_idx) {
        const ReportTarget& t = in.targets[target_idx];
        const TargetSummary& s = summaries[target_idx];
        auto cell = [](const std::optional<double>& v) {
            return v ? fmt::format("<td class=\"num\" data-value=\"{:.6f}\">{}</td>", *v, pct(*v))
                     : std::string("<td class=\"num\">n/a</td>");
        };
        out += fmt::format(
            "<tr id=\"summary-{0}\"><td>{1}</td><td><a href=\"#target-{0}\">{2}</a></td><td>{3}</td>"
            "<td class=\"num\">{4}</td>{5}{6}<td class=\"num\">{7}</td></tr>\n",
            target_idx, target_idx + 1, html_escape(t.name),
            t.label.empty() ? "<span class=\"muted\">none</span>" : html_escape(t.label), s.selected.size(),
            cell(s.precision), cell(s.random), lift(s));
    }
    out += "</tbody>\n</table>\n";
    out +=
        "<p class=\"muted\">precision: share of the selected samples whose label equals the target's label. Random "
        "baseline: share of that label in the pool, the expected precision of a uniformly random selection of "
        "the same size.</p>\n";
    out += "</section>\n";
}

// Prototype coverage (mass and latents) of the first n selected samples against n: how fast the selection reaches
// the target's features, and where more samples stop adding any.
std::string coverage_chart(const ReportTarget& t) {
    const std::string aria = "prototype coverage against the number of selected samples";
    const size_t n = std::min(t.coverage_mass.size(), t.coverage_latents.size());
    constexpr double x0 = 50, x1 = 700, y0 = 150, y1 = 20;
    std::string out = svg_open(200, aria);
    auto x_of = [&](size_t i) { return n <= 1 ? x0 : x0 + (x1 - x0) * static_cast<double>(i) / double(n - 1); };
    auto y_of = [&](double v) { return y0 - (y0 - y1) * std::clamp(v, 0.0, 1.0); };
    const std::pair<const std::vector<double>*, const char*> lines[] = {{&t.coverage_mass, kColorSelected},
                                                                        {&t.coverage_latents, kColorTargets}};
    for (const auto& [values, color] : lines) {
        std::string points;
        for (size_t i = 0; i < n; ++i) points += fmt::format("{:.1f},{:.1f} ", x_of(i), y_of((*values)[i]));
        out += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", points, color);
    }
    out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#333\"/>\n", x0, y0, x1);
    for (int tick = 0; tick <= 4; ++tick) {
        const double v = tick / 4.0;
        out += fmt::format("<text x=\"{}\" y=\"{:.1f}\" class=\"small\" text-anchor=\"end\">{}</text>\n", x0 - 6,
                           y_of(v) + 4, pct(v));
    }
    out += fmt::format("<text x=\"{}\" y=\"{}\" class=\"small\">n = 1</text>\n", x0, y0 + 18);
    out += fmt::format("<text x=\"{}\" y=\"{}\" class=\"small\" text-anchor=\"end\">n = {}</text>\n", x1, y0 + 18, n);
    out += fmt::format(
        "<text x=\"{}\" y=\"{}\" class=\"small\"><tspan fill=\"{}\">&#9632;</tspan> prototype mass covered: {} "
        "&#160; <tspan fill=\"{}\">&#9632;</tspan> prototype latents covered: {} (at n = {})</text>\n",
        x0, y0 + 40, kColorSelected, n ? pct(t.coverage_mass[n - 1]) : "-", kColorTargets,
        n ? pct(t.coverage_latents[n - 1]) : "-", n);
    out += "</svg>\n";
    return out;
}

void append_target(std::string& out, const ReportInput& in, size_t target_idx, const TargetSummary& s,
                   uint64_t n_pool) {
    const ReportTarget& t = in.targets[target_idx];
    out += fmt::format("<section class=\"target\" id=\"target-{}\">\n<h2>Target {}: {}</h2>\n", target_idx,
                       target_idx + 1, html_escape(t.name));
    out += fmt::format(
        "<p class=\"counts\">label: <b>{}</b> &middot; {} exemplar{} &middot; <b>{}</b> selected of "
        "{} pool samples</p>\n",
        t.label.empty() ? "none" : html_escape(t.label), t.target_token_counts.size(),
        t.target_token_counts.size() == 1 ? "" : "s", s.selected.size(), n_pool);
    if (s.n_dropped > 0)
        out += fmt::format("<p class=\"note\">{} selected position{} outside the pool (&ge; {}) ignored.</p>\n",
                           s.n_dropped, s.n_dropped == 1 ? " was" : "s were", n_pool);

    out += fmt::format("<section id=\"target-{}-exemplars\">\n<h3>What the target looks like</h3>\n", target_idx);
    if (t.exemplar_snippets.empty()) {
        out += "<p class=\"muted\">no exemplar text recorded</p>\n";
    } else {
        out += fmt::format(
            "<p class=\"muted\">{} of the {} exemplars; the prototype is their mean SAE features, and each pool "
            "sample is scored by its similarity to it.</p>\n<ol class=\"exemplars\">\n",
            std::min(kReportExemplars, t.exemplar_snippets.size()), t.target_token_counts.size());
        for (size_t i = 0; i < std::min(kReportExemplars, t.exemplar_snippets.size()); ++i) {
            out += fmt::format("<li class=\"snippet\">{}</li>\n", html_escape(t.exemplar_snippets[i]));
        }
        out += "</ol>\n";
    }
    out += "</section>\n";

    out += why_section(t, target_idx);

    out += fmt::format("<section id=\"target-{}-scores\">\n<h3>Score distribution</h3>\n", target_idx);
    out += score_histogram(t, s);
    out += "</section>\n";

    if (!t.coverage_mass.empty()) {
        out += fmt::format("<section id=\"target-{}-coverage\">\n<h3>Prototype coverage against n</h3>\n", target_idx);
        out += coverage_chart(t);
        out += "</section>\n";
    }

    out += fmt::format("<section id=\"target-{}-families\">\n<h3>Family composition</h3>\n", target_idx);
    out += family_chart(s, n_pool);
    out +=
        "<table class=\"families\">\n<thead><tr><th>family</th><th class=\"num\">selected</th><th class=\"num\">"
        "share</th><th class=\"num\">pool</th><th class=\"num\">share</th></tr></thead>\n<tbody>\n";
    for (const FamilyRow& row : s.families) {
        out += fmt::format(
            "<tr{}><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}"
            "</td><td class=\"num\">{}</td></tr>\n",
            row.is_target ? " class=\"hit\"" : "", html_escape(row.label), row.n_selected,
            pct(share(row.n_selected, s.selected.size())), row.n_pool, pct(share(row.n_pool, n_pool)));
    }
    out += "</tbody>\n</table>\n";
    if (t.label.empty()) {
        out += fmt::format("<p class=\"precision\">precision: n/a ({})</p>\n",
                           t.label_note.empty() ? "the target has no label" : html_escape(t.label_note));
    } else {
        out += fmt::format(
            "<p class=\"precision\">precision vs <b>{}</b>: <b>{}</b> ({} of {}); random baseline {} "
            "({} of {}); lift {}</p>\n",
            html_escape(t.label), pct(s.precision), s.n_hits, s.selected.size(), pct(s.random), s.n_label_in_pool,
            n_pool, lift(s));
    }
    out += "</section>\n";

    std::vector<double> sel_lengths, target_lengths, pool_lengths;
    for (uint64_t pos : s.selected)
        if (const int64_t* n = at_or_null(in.pool_token_counts, pos)) sel_lengths.push_back(static_cast<double>(*n));
    for (int64_t n : t.target_token_counts) target_lengths.push_back(static_cast<double>(n));
    for (int64_t n : in.pool_token_counts) pool_lengths.push_back(static_cast<double>(n));
    const std::vector<LengthGroup> groups = {{"selected", kColorSelected, describe(sel_lengths)},
                                             {"targets", kColorTargets, describe(target_lengths)},
                                             {"pool", kColorPool, describe(pool_lengths)}};
    std::vector<BoxRow> boxes;
    for (const LengthGroup& g : groups) {
        BoxRow row;
        row.name = g.name;
        row.color = g.color;
        if (g.dist) {
            row.has_data = true;
            row.min = g.dist->min;
            row.box_lo = g.dist->q1;
            row.median = g.dist->median;
            row.box_hi = g.dist->q3;
            row.max = g.dist->max;
        }
        boxes.push_back(std::move(row));
    }
    out += fmt::format("<section id=\"target-{}-lengths\">\n<h3>Token lengths</h3>\n", target_idx);
    out += report::box_plots(boxes,
                             "token length box plots (q1-q3 box, median line, min-max whisker): selected, "
                             "targets, pool");
    out +=
        "<table class=\"lengths\">\n<thead><tr><th>group</th><th class=\"num\">n</th><th class=\"num\">mean</th>"
        "<th class=\"num\">median</th><th class=\"num\">min</th><th class=\"num\">max</th></tr></thead>\n<tbody>\n";
    for (const LengthGroup& g : groups) {
        if (g.dist) {
            out += fmt::format(
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{:.1f}</td><td class=\"num\">"
                "{:.1f}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                g.name, g.dist->n, g.dist->mean, g.dist->median, num(g.dist->min), num(g.dist->max));
        } else {
            out += fmt::format(
                "<tr><td>{}</td><td class=\"num\">0</td><td class=\"num\">n/a</td><td class=\"num\">n/a"
                "</td><td class=\"num\">n/a</td><td class=\"num\">n/a</td></tr>\n",
                g.name);
        }
    }
    out += "</tbody>\n</table>\n</section>\n";

    out += fmt::format("<section id=\"target-{}-top\">\n<h3>Top {} selected samples</h3>\n", target_idx, kReportTopN);
    out +=
        "<table class=\"top\">\n<thead><tr><th class=\"num\">rank</th><th class=\"num\">score</th><th>id</th>"
        "<th>label</th><th>snippet</th></tr></thead>\n<tbody>\n";
    for (size_t rank = 0; rank < std::min(kReportTopN, s.selected.size()); ++rank) {
        const uint64_t pos = s.selected[rank];
        const double* score = at_or_null(t.pool_scores, pos);
        const std::string* id = at_or_null(in.pool_ids, pos);
        const std::string* snippet = at_or_null(in.pool_snippets, pos);
        const std::string label = label_at(in, pos);
        out += fmt::format(
            "<tr{}><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td>"
            "<td class=\"snippet\">{}</td></tr>\n",
            !t.label.empty() && label == t.label ? " class=\"hit\"" : "", rank + 1, score ? num(*score) : "n/a",
            id ? html_escape(*id) : fmt::format("#{}", pos), html_escape(display_label(label)),
            snippet ? html_escape(*snippet) : "");
    }
    if (s.selected.empty()) out += "<tr><td colspan=\"5\" class=\"muted\">nothing selected</td></tr>\n";
    out += "</tbody>\n</table>\n</section>\n";
    out += "</section>\n";
}

// The --merge subset: how many picks each target's turns brought, the labels of the whole subset, the first picks.
void append_merged(std::string& out, const ReportInput& in) {
    const ReportMerged& merged = *in.merged;
    out += fmt::format("<section id=\"merged\">\n<h2>Merged subset ({}, {} samples)</h2>\n", html_escape(merged.mode),
                       merged.picks.size());
    out +=
        "<p class=\"muted\">One selection from every target: the targets take turns picking their best-ranked sample "
        "not yet taken (merged/selected.jsonl).</p>\n";
    std::vector<uint64_t> per_target(in.targets.size(), 0);
    std::map<std::string, uint64_t> labels;
    for (const auto& pick : merged.picks) {
        if (pick.target_idx < per_target.size()) ++per_target[pick.target_idx];
        ++labels[label_at(in, pick.pos)];
    }
    out +=
        "<table class=\"merged-targets\">\n<thead><tr><th>target</th><th class=\"num\">picks</th><th "
        "class=\"num\">share</th></tr></thead>\n<tbody>\n";
    for (size_t target_idx = 0; target_idx < in.targets.size(); ++target_idx) {
        out += fmt::format("<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                           html_escape(in.targets[target_idx].name), per_target[target_idx],
                           pct(share(per_target[target_idx], merged.picks.size())));
    }
    out += "</tbody>\n</table>\n";
    out +=
        "<table class=\"merged-labels\">\n<thead><tr><th>label</th><th class=\"num\">picks</th><th "
        "class=\"num\">share</th></tr></thead>\n<tbody>\n";
    for (const auto& [label, count] : labels) {
        out += fmt::format("<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                           html_escape(display_label(label)), count, pct(share(count, merged.picks.size())));
    }
    out += "</tbody>\n</table>\n";
    out +=
        "<table class=\"merged-picks\">\n<thead><tr><th class=\"num\">pick</th><th>target</th><th "
        "class=\"num\">rank</th><th>id</th><th>label</th></tr></thead>\n<tbody>\n";
    for (size_t i = 0; i < std::min(kReportTopN, merged.picks.size()); ++i) {
        const auto& pick = merged.picks[i];
        const std::string* id = at_or_null(in.pool_ids, pick.pos);
        out += fmt::format(
            "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>\n", i + 1,
            pick.target_idx < in.targets.size() ? html_escape(in.targets[pick.target_idx].name) : "?", pick.rank,
            id ? html_escape(*id) : fmt::format("#{}", pick.pos), html_escape(display_label(label_at(in, pick.pos))));
    }
    out += "</tbody>\n</table>\n</section>\n";
}

}  // namespace

std::string html_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char ch : text) {
        switch (ch) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += ch;
        }
    }
    return out;
}

std::string render_html_report(const ReportInput& input) {
    const uint64_t n_pool = pool_size(input);
    std::vector<TargetSummary> summaries;
    for (const ReportTarget& t : input.targets) summaries.push_back(summarize(input, t, n_pool));
    const std::string title = input.title.empty() ? "mona selection report" : input.title;

    std::string out;
    out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    out += fmt::format("<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n", html_escape(title),
                       report::stylesheet(960, "tr.hit td { background: #eef4ff; }\n.note { color: #9b2c2c; }\n"));
    out += fmt::format("<header>\n<h1>{}</h1>\n</header>\n<main>\n", html_escape(title));
    append_settings(out, input);
    append_summary(out, input, summaries, n_pool);
    for (size_t target_idx = 0; target_idx < input.targets.size(); ++target_idx)
        append_target(out, input, target_idx, summaries[target_idx], n_pool);
    if (input.merged) append_merged(out, input);
    out += "</main>\n<footer>Generated by mona";
#ifdef MONA_VERSION
    out += " " MONA_VERSION;
#endif
    out += ". This file is self-contained: no scripts and no external resources.</footer>\n</body>\n</html>\n";
    return out;
}

std::string render_text_table(const ReportInput& input) {
    const uint64_t n_pool = pool_size(input);
    std::string out;
    for (size_t target_idx = 0; target_idx < input.targets.size(); ++target_idx) {
        const ReportTarget& t = input.targets[target_idx];
        const TargetSummary s = summarize(input, t, n_pool);
        if (target_idx > 0) out += '\n';
        out += fmt::format("target {}/{}: {}{}\n", target_idx + 1, input.targets.size(), t.name,
                           t.label.empty() ? "" : fmt::format(" (label: {})", t.label));
        out += fmt::format("selected {} of {} pool samples\n", s.selected.size(), n_pool);
        if (s.n_dropped > 0)
            out += fmt::format("note: {} selected positions outside the pool were ignored\n", s.n_dropped);
        size_t width = 6;
        for (const FamilyRow& row : s.families) width = std::max(width, row.label.size());
        width = std::min<size_t>(width, 40);
        out += fmt::format("  {:<{}}  {:>8}  {:>6}  {:>8}  {:>6}\n", "family", width, "selected", "share", "pool",
                           "share");
        for (const FamilyRow& row : s.families) {
            out += fmt::format("{} {:<{}}  {:>8}  {:>6}  {:>8}  {:>6}\n", row.is_target ? '*' : ' ', row.label, width,
                               row.n_selected, pct(share(row.n_selected, s.selected.size())), row.n_pool,
                               pct(share(row.n_pool, n_pool)));
        }
        if (t.label.empty()) {
            out +=
                fmt::format("precision: n/a ({})\n", t.label_note.empty() ? "the target has no label" : t.label_note);
        } else {
            out += fmt::format("precision vs {}: {} ({} of {}); random baseline: {}; lift: {}\n", t.label,
                               pct(s.precision), s.n_hits, s.selected.size(), pct(s.random), lift(s));
        }
    }
    return out;
}

}  // namespace mona
