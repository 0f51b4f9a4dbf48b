#include "report/html_report.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <limits>
#include <string>
#include <vector>

namespace mona {
namespace {

size_t count(const std::string& haystack, const std::string& needle) {
    size_t n = 0;
    for (size_t pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + 1)) ++n;
    return n;
}

// The text between the element that has id="<id>" and the matching close of the same tag name (no nesting of the
// same tag inside, which holds for the rows and cells checked here).
std::string element_by_id(const std::string& html, const std::string& tag, const std::string& id) {
    const size_t open = html.find("<" + tag + " id=\"" + id + "\"");
    if (open == std::string::npos) return "";
    const size_t close = html.find("</" + tag + ">", open);
    return close == std::string::npos ? "" : html.substr(open, close - open);
}

// A pool of six with hand-checkable numbers:
//   labels  math math code trans math ""
//   target "mathy"  label math, selects 0 2 4   -> precision 2/3 = 66.7%, random 3/6 = 50.0%, lift 1.33x
//   target "nolabel" label "",  selects 1       -> precision n/a, random n/a
//   target "coder"  label code, selects 2       -> precision 1/1 = 100.0%, random 1/6 = 16.7%, lift 6.00x
ReportInput tiny_input() {
    ReportInput in;
    in.title = "Tiny <run> & co";
    in.pool_labels = {"math", "math", "code", "trans", "math", ""};
    in.pool_token_counts = {10, 20, 30, 40, 50, 60};
    in.pool_ids = {"p0", "p1", "p2", "p3", "p4", "p5"};
    in.pool_snippets = {"two plus two", "<script>alert(1)</script>", "def f(): pass", "bonjour", "x \"q\" 'y'", ""};
    in.settings = {{"model", "tiny.gguf"}, {"layer", "7"}, {"k", "3"}};
    in.targets.push_back({"mathy", "math", {0.9, 0.1, 0.8, 0.2, 0.7, 0.0}, {0, 2, 4}, {12, 18}});
    in.targets.push_back({"nolabel", "", {0.5, 0.6, 0.1, 0.2, 0.3, 0.4}, {1}, {}});
    in.targets.push_back({"coder", "code", {0.0, 0.0, 1.0, 0.0, 0.0, 0.0}, {2}, {25}});
    return in;
}

TEST(ReportHtml, HasSectionsPerTargetAndOneSvgPerChart) {
    const ReportInput in = tiny_input();
    const std::string html = render_html_report(in);
    EXPECT_EQ(0u, html.find("<!DOCTYPE html>"));
    EXPECT_NE(std::string::npos, html.find("id=\"settings\""));
    EXPECT_NE(std::string::npos, html.find("id=\"summary\""));
    for (size_t target_idx = 0; target_idx < in.targets.size(); ++target_idx) {
        const std::string id = "target-" + std::to_string(target_idx);
        for (const std::string suffix : {"", "-scores", "-families", "-lengths", "-top"})
            EXPECT_EQ(1u, count(html, "id=\"" + id + suffix + "\"")) << id + suffix;
        EXPECT_NE(std::string::npos, html.find("<h2>Target " + std::to_string(target_idx + 1) + ": " +
                                               in.targets[target_idx].name + "</h2>"));
    }
    // Three charts per target: histogram, family bars, box plots.
    EXPECT_EQ(3 * in.targets.size(), count(html, "<svg"));
    EXPECT_EQ(count(html, "<svg"), count(html, "</svg>"));
}

TEST(ReportHtml, MainElementsAreBalanced) {
    const std::string html = render_html_report(tiny_input());
    for (const std::string tag : {"html", "head", "body", "main", "section", "table", "thead", "tbody", "tr", "svg",
                                  "h1", "h2", "h3", "p", "style", "title"}) {
        const size_t n_open = count(html, "<" + tag + ">") + count(html, "<" + tag + " ");
        EXPECT_EQ(n_open, count(html, "</" + tag + ">")) << tag;
        EXPECT_GT(n_open, 0u) << tag;
    }
    EXPECT_EQ(count(html, "<td"), count(html, "</td>"));
    EXPECT_EQ(count(html, "<th"), count(html, "</th>") + count(html, "<thead")) << "<th vs </th>";
}

TEST(ReportHtml, EscapesAllUserText) {
    ReportInput in = tiny_input();
    in.targets[0].name = "<b>bold</b>";
    in.settings.push_back({"<key>", "a&b"});
    const std::string html = render_html_report(in);
    EXPECT_EQ(std::string::npos, html.find("<script")) << "a snippet's <script> must be escaped";
    EXPECT_NE(std::string::npos, html.find("&lt;script&gt;alert(1)&lt;/script&gt;"));
    EXPECT_NE(std::string::npos, html.find("Tiny &lt;run&gt; &amp; co"));
    EXPECT_NE(std::string::npos, html.find("&lt;b&gt;bold&lt;/b&gt;"));
    EXPECT_EQ(std::string::npos, html.find("<b>bold</b>"));
    EXPECT_NE(std::string::npos, html.find("&lt;key&gt;"));
    EXPECT_NE(std::string::npos, html.find("a&amp;b"));
    EXPECT_NE(std::string::npos, html.find("x &quot;q&quot; &#39;y&#39;"));
    EXPECT_EQ("&lt;a href=&quot;x&quot;&gt;&amp;&#39;", html_escape("<a href=\"x\">&'"));
}

TEST(ReportHtml, ReferencesNoExternalResources) {
    const std::string html = render_html_report(tiny_input());
    EXPECT_EQ(std::string::npos, html.find("http://"));
    EXPECT_EQ(std::string::npos, html.find("https://"));
    EXPECT_EQ(std::string::npos, html.find("<script"));
    EXPECT_EQ(std::string::npos, html.find("<link"));
    EXPECT_EQ(std::string::npos, html.find("<img"));
    EXPECT_EQ(std::string::npos, html.find("src="));
    EXPECT_EQ(std::string::npos, html.find("@import"));
    EXPECT_EQ(std::string::npos, html.find("url("));
}

TEST(ReportHtml, SummaryNumbersMatchHandComputedValues) {
    const std::string html = render_html_report(tiny_input());
    const std::string mathy = element_by_id(html, "tr", "summary-0");
    ASSERT_FALSE(mathy.empty());
    EXPECT_NE(std::string::npos, mathy.find("<td class=\"num\">3</td>")) << mathy;
    EXPECT_NE(std::string::npos, mathy.find("data-value=\"0.666667\">66.7%</td>")) << mathy;
    EXPECT_NE(std::string::npos, mathy.find("data-value=\"0.500000\">50.0%</td>")) << mathy;
    EXPECT_NE(std::string::npos, mathy.find("1.33x")) << mathy;

    const std::string nolabel = element_by_id(html, "tr", "summary-1");
    ASSERT_FALSE(nolabel.empty());
    EXPECT_EQ(std::string::npos, nolabel.find("data-value")) << nolabel;
    EXPECT_EQ(3u, count(nolabel, "n/a")) << nolabel;

    const std::string coder = element_by_id(html, "tr", "summary-2");
    ASSERT_FALSE(coder.empty());
    EXPECT_NE(std::string::npos, coder.find("data-value=\"1.000000\">100.0%</td>")) << coder;
    EXPECT_NE(std::string::npos, coder.find("data-value=\"0.166667\">16.7%</td>")) << coder;
    EXPECT_NE(std::string::npos, coder.find("6.00x")) << coder;
}

TEST(ReportHtml, FamilyTableAndTopRowsFollowTheSelection) {
    const std::string html = render_html_report(tiny_input());
    const std::string families = element_by_id(html, "section", "target-0-families");
    // math: 2 of 3 selected (66.7%), 3 of 6 in the pool (50.0%); the target's own row is highlighted.
    EXPECT_NE(std::string::npos,
              families.find("<tr class=\"hit\"><td>math</td><td class=\"num\">2</td><td class=\"num\">66.7%</td>"
                            "<td class=\"num\">3</td><td class=\"num\">50.0%</td></tr>"))
        << families;
    EXPECT_NE(std::string::npos, families.find("<td>(unknown)</td><td class=\"num\">0</td>")) << families;
    EXPECT_NE(std::string::npos, families.find("(2 of 3)")) << families;

    const std::string top = element_by_id(html, "section", "target-0-top");
    const size_t p0 = top.find("<td>p0</td>"), p2 = top.find("<td>p2</td>"), p4 = top.find("<td>p4</td>");
    ASSERT_NE(std::string::npos, p0);
    ASSERT_NE(std::string::npos, p2);
    ASSERT_NE(std::string::npos, p4);
    EXPECT_LT(p0, p2);
    EXPECT_LT(p2, p4);
    EXPECT_EQ(std::string::npos, top.find("<td>p1</td>"));

    // Lengths: selected 10 30 50 -> mean 30.0, median 30.0; targets 12 18 -> mean 15.0; pool mean 35.0.
    const std::string lengths = element_by_id(html, "section", "target-0-lengths");
    EXPECT_NE(std::string::npos, lengths.find("<td>selected</td><td class=\"num\">3</td><td class=\"num\">30.0</td>"))
        << lengths;
    EXPECT_NE(std::string::npos, lengths.find("<td>targets</td><td class=\"num\">2</td><td class=\"num\">15.0</td>"))
        << lengths;
    EXPECT_NE(std::string::npos, lengths.find("<td>pool</td><td class=\"num\">6</td><td class=\"num\">35.0</td>"))
        << lengths;
}

TEST(ReportHtml, ToleratesOutOfRangeSelectionsNonFiniteScoresAndEmptyInput) {
    ReportInput in = tiny_input();
    in.targets[0].selected.push_back(99);
    in.targets[0].pool_scores[1] = std::numeric_limits<double>::quiet_NaN();
    const std::string html = render_html_report(in);
    EXPECT_NE(std::string::npos, html.find("1 selected position was outside the pool"));
    EXPECT_NE(std::string::npos, element_by_id(html, "tr", "summary-0").find("66.7%"));

    const std::string empty = render_html_report(ReportInput{});
    EXPECT_EQ(0u, empty.find("<!DOCTYPE html>"));
    EXPECT_EQ(0u, count(empty, "<svg"));
    EXPECT_EQ(count(empty, "<section"), count(empty, "</section>"));

    ReportInput no_scores;
    no_scores.targets.push_back({"t", "x", {}, {}, {}});
    const std::string html2 = render_html_report(no_scores);
    EXPECT_EQ(3u, count(html2, "<svg"));
    EXPECT_EQ(3u, count(html2, "</svg>"));
    EXPECT_NE(std::string::npos, html2.find("no finite scores"));
}

// Issue 14 item 3: the report says why: the target's exemplars, the cut-off on the histogram with axis titles,
// the --merge subset; and (item 1) a label no pool sample carries gets a reason instead of a precision.
TEST(ReportHtml, ShowsExemplarsCutoffAxisTitlesAndTheMergedSubset) {
    ReportInput in = tiny_input();
    in.targets[0].exemplar_snippets = {"what is 3 + 4?", "<b>halve</b> 18"};
    in.merged = ReportMerged{"round-robin", {{0, 0, 1}, {2, 2, 1}, {4, 0, 3}}};
    const std::string html = render_html_report(in);
    const std::string exemplars = element_by_id(html, "section", "target-0-exemplars");
    EXPECT_NE(exemplars.find("<li class=\"snippet\">what is 3 + 4?</li>"), std::string::npos) << exemplars;
    EXPECT_NE(exemplars.find("&lt;b&gt;halve&lt;/b&gt; 18"), std::string::npos) << exemplars;
    EXPECT_NE(exemplars.find("2 of the 2 exemplars"), std::string::npos) << exemplars;
    EXPECT_NE(element_by_id(html, "section", "target-1-exemplars").find("no exemplar text"), std::string::npos);

    // The cut-off is the lowest selected score: 0.7 for mathy (selects 0.9, 0.8, 0.7), on the pool's 0..0.9 axis.
    const std::string scores = element_by_id(html, "section", "target-0-scores");
    EXPECT_NE(scores.find(">cut-off 0.7</text>"), std::string::npos) << scores;
    const double x = 50 + 650 * (0.7 - 0.0) / 0.9;
    char expected[64];
    std::snprintf(expected, sizeof(expected), "class=\"cutoff\" x1=\"%.1f\"", x);
    EXPECT_NE(scores.find(expected), std::string::npos) << expected << "\n" << scores;
    EXPECT_NE(scores.find("score: generalized Jaccard similarity"), std::string::npos);
    EXPECT_NE(scores.find(">samples per bin</text>"), std::string::npos);
    EXPECT_EQ(1u, count(element_by_id(html, "section", "target-2-scores"), "class=\"cutoff\""));

    const std::string merged = element_by_id(html, "section", "merged");
    EXPECT_NE(merged.find("Merged subset (round-robin, 3 samples)"), std::string::npos) << merged;
    // Picks per target: mathy 2 (66.7%), nolabel 0, coder 1; labels: math 2, code 1.
    EXPECT_NE(merged.find("<tr><td>mathy</td><td class=\"num\">2</td><td class=\"num\">66.7%</td></tr>"),
              std::string::npos)
        << merged;
    EXPECT_NE(merged.find("<tr><td>nolabel</td><td class=\"num\">0</td>"), std::string::npos) << merged;
    EXPECT_NE(merged.find("<tr><td>code</td><td class=\"num\">1</td><td class=\"num\">33.3%</td></tr>"),
              std::string::npos)
        << merged;
    EXPECT_EQ(std::string::npos, render_html_report(tiny_input()).find("id=\"merged\""));

    in.targets[1].label_note = "no pool sample is labelled 'x'";
    EXPECT_NE(render_html_report(in).find("precision: n/a (no pool sample is labelled &#39;x&#39;)"),
              std::string::npos);
    EXPECT_NE(render_text_table(in).find("precision: n/a (no pool sample is labelled 'x')"), std::string::npos);
}

TEST(ReportHtml, WhySectionShowsEachLatentsShareAndWhereItFires) {
    ReportInput in = tiny_input();
    in.targets[0].why_n_samples = 3;
    in.targets[0].why_latents = {{2113, 0.125, 8.5f, {{"So he pays\n", "<4", "50 more", 57.5f, "gsm8k/1"}}},
                                 {7, 0.0625, 1.25f, {}}};
    const std::string html = render_html_report(in);
    const std::string why = element_by_id(html, "section", "target-0-why");
    EXPECT_NE(why.find("over the top 3 selected samples"), std::string::npos) << why;
    EXPECT_NE(why.find("<td class=\"num\">2113</td><td class=\"num\">12.5%</td><td class=\"num\">8.5</td>"),
              std::string::npos)
        << why;
    // The token is marked and escaped; a newline in the context is made visible.
    EXPECT_NE(why.find("So he pays\u23ce<mark>&lt;4</mark>50 more"), std::string::npos) << why;
    EXPECT_NE(why.find("(57.5, gsm8k/1)"), std::string::npos) << why;
    EXPECT_NE(why.find("<td class=\"num\">7</td><td class=\"num\">6.2%</td>"), std::string::npos) << why;
    EXPECT_NE(element_by_id(html, "section", "target-1-why").find("no latent explanation"), std::string::npos);
}

TEST(ReportText, ShowsCompositionPrecisionAndRandomBaseline) {
    const std::string text = render_text_table(tiny_input());
    EXPECT_NE(std::string::npos, text.find("target 1/3: mathy (label: math)\n"));
    EXPECT_NE(std::string::npos, text.find("selected 3 of 6 pool samples\n"));
    EXPECT_NE(std::string::npos, text.find("precision vs math: 66.7% (2 of 3); random baseline: 50.0%; lift: 1.33x"));
    EXPECT_NE(std::string::npos, text.find("precision: n/a (the target has no label)"));
    EXPECT_NE(std::string::npos, text.find("precision vs code: 100.0% (1 of 1); random baseline: 16.7%; lift: 6.00x"));
    EXPECT_NE(std::string::npos, text.find("* math")) << text;
    EXPECT_NE(std::string::npos, text.find("66.7%"));
    EXPECT_EQ('\n', text.back());
    EXPECT_EQ("", render_text_table(ReportInput{}));
}

}  // namespace
}  // namespace mona
