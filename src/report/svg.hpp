// report/svg.hpp: the pieces both HTML reports share (report/html_report.cpp for `mona select`,
// report/eval_report.cpp for `mona eval`): number formatting, the stylesheet, the SVG frame and the token-length
// box plots. Everything returned is a fragment of a self-contained page; caller text is HTML-escaped here.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace mona::report {

constexpr int kSvgWidth = 720;
constexpr const char* kColorPool = "#9aa5b1";
constexpr const char* kColorTargets = "#e07b00";

// 4 significant digits; nan / inf / -inf spelled out.
std::string num(double v);
// A fraction as a percentage with one decimal: 0.1234 -> "12.3%".
std::string pct(double fraction);

// The stylesheet of both reports (max_width_px: the page width); `extra` rules are appended.
std::string stylesheet(int max_width_px, const std::string& extra = "");

// <svg class="chart" ...> of kSvgWidth x height with an escaped aria-label; the caller closes it.
std::string svg_open(int height, const std::string& aria_label);
// A complete 40-px SVG that only says `message` (for charts without data).
std::string svg_message(const std::string& aria_label, const std::string& message);

// One row of a box plot: whisker min..max, box box_lo..box_hi, a median line, optionally a mean dot.
struct BoxRow {
    std::string name;
    std::string color;
    bool has_data = false;
    double min = 0, box_lo = 0, median = 0, box_hi = 0, max = 0;
    std::optional<double> mean;
};
// Box plots of the rows on one shared axis with 5 ticks; "no token counts" when no row has data.
std::string box_plots(const std::vector<BoxRow>& rows, const std::string& aria_label);

}  // namespace mona::report
