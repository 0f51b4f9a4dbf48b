#include "report/svg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "report/html_report.hpp"

namespace mona::report {

std::string num(double v) {
    if (!std::isfinite(v)) return v != v ? "nan" : (v > 0 ? "inf" : "-inf");
    return fmt::format("{:.4g}", v);
}

std::string pct(double fraction) { return fmt::format("{:.1f}%", 100.0 * fraction); }

std::string stylesheet(int max_width_px, const std::string& extra) {
    return fmt::format(R"(
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: {}px;
       color: #1f2933; padding: 0 1em; }}
h1 {{ font-size: 1.6em; }} h2 {{ border-bottom: 1px solid #d9e2ec; padding-bottom: .2em; margin-top: 2em; }}
h3 {{ font-size: 1.05em; margin-top: 1.5em; }}
table {{ border-collapse: collapse; margin: .5em 0 1em; font-size: .9em; }}
th, td {{ border: 1px solid #d9e2ec; padding: .25em .6em; text-align: left; vertical-align: top; }}
th {{ background: #f0f4f8; }}
td.num, th.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
td.snippet {{ max-width: 540px; white-space: pre-wrap; word-break: break-word; font-size: .9em; }}
.muted {{ color: #7b8794; fill: #7b8794; }}
.small {{ font-size: 11px; }}
.strong {{ font-weight: bold; }}
svg.chart {{ display: block; margin: .5em 0; font-family: inherit; }}
footer {{ margin-top: 3em; color: #7b8794; font-size: .85em; }}
{})",
                       max_width_px, extra);
}

std::string svg_open(int height, const std::string& aria_label) {
    return fmt::format(
        "<svg class=\"chart\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" role=\"img\" aria-label=\"{2}\">\n",
        kSvgWidth, height, html_escape(aria_label));
}

std::string svg_message(const std::string& aria_label, const std::string& message) {
    return svg_open(40, aria_label) +
           fmt::format("<text x=\"10\" y=\"25\" class=\"muted\">{}</text>\n</svg>\n", html_escape(message));
}

std::string box_plots(const std::vector<BoxRow>& rows, const std::string& aria_label) {
    double lo = INFINITY, hi = -INFINITY;
    for (const BoxRow& row : rows) {
        if (!row.has_data) continue;
        lo = std::min(lo, row.min);
        hi = std::max(hi, row.max);
    }
    if (!(lo <= hi)) return svg_message(aria_label, "no token counts");
    const double span = hi > lo ? hi - lo : 1.0;
    constexpr double x0 = 130, x1 = 690, row_h = 32, top = 6;
    auto x_of = [&](double v) { return x0 + (x1 - x0) * (v - lo) / span; };
    const double axis_y = top + row_h * static_cast<double>(rows.size());
    std::string out = svg_open(static_cast<int>(axis_y + 26), aria_label);
    for (size_t row_idx = 0; row_idx < rows.size(); ++row_idx) {
        const BoxRow& row = rows[row_idx];
        const double y = top + row_h * static_cast<double>(row_idx);
        const double mid = y + row_h / 2;
        out += fmt::format("<text x=\"{}\" y=\"{:.1f}\" class=\"small\" text-anchor=\"end\">{}</text>\n", x0 - 8,
                           mid + 4, html_escape(row.name));
        if (!row.has_data) {
            out += fmt::format("<text x=\"{}\" y=\"{:.1f}\" class=\"small muted\">no data</text>\n", x0, mid + 4);
            continue;
        }
        out += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#333\"/>\n",
                           x_of(row.min), mid, x_of(row.max), mid);
        out += fmt::format(
            "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\" fill-opacity=\"0.6\" "
            "stroke=\"#333\"/>\n",
            x_of(row.box_lo), y + 6, std::max(1.0, x_of(row.box_hi) - x_of(row.box_lo)), row_h - 12,
            html_escape(row.color));
        out += fmt::format(
            "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#111\" stroke-width=\"2\"/>\n",
            x_of(row.median), y + 6, y + row_h - 6);
        if (row.mean) {
            out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"#111\"/>\n", x_of(*row.mean), mid);
        }
    }
    out += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#333\"/>\n", x0, axis_y, x1,
                       axis_y);
    for (int tick = 0; tick <= 4; ++tick) {
        const double v = lo + span * tick / 4.0;
        out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"small\" text-anchor=\"middle\">{}</text>\n",
                           x_of(v), axis_y + 16, num(v));
    }
    out += "</svg>\n";
    return out;
}

}  // namespace mona::report
