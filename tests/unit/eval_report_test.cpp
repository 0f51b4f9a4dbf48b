// report/eval_report.hpp: the metrics of `mona eval` and their renderings, against hand-computed values.
#include "report/eval_report.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mona {
namespace {

size_t count(const std::string& haystack, const std::string& needle) {
    size_t n = 0;
    for (size_t pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + 1)) ++n;
    return n;
}

// A pool of 8, two methods, two targets, n = 3:
//   pos     0     1     2     3     4     5     6     7
//   label   math  math  code  chat  math  code  ""    chat
//   tokens  10    20    30    40    50    60    70    80
//   record  0     1     2     4     5     6     7     8      (record 3 was skipped)
// target math:  mona selects 0 1 4 (3 hits: precision 1, recall 3/3)  random 3 2 7 (0 hits)
// target code:  mona selects 5 2 4 (2 hits: 2/3, recall 2/2)          random 3 2 7 (1 hit: 1/3, recall 1/2)
EvalInput tiny_input() {
    EvalInput in;
    in.methods = {"mona", "random"};
    in.pool_labels = {"math", "math", "code", "chat", "math", "code", "", "chat"};
    in.pool_token_counts = {10, 20, 30, 40, 50, 60, 70, 80};
    in.pool_records = {0, 1, 2, 4, 5, 6, 7, 8};
    in.pool_ids = {"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"};
    const std::vector<std::string> texts = {"One two three", "one two two", "x y", "x",
                                            "one",           "code code",   "z",   "hello world"};
    for (uint64_t pos = 0; pos < texts.size(); ++pos) {
        in.texts.emplace_back(pos, texts[pos]);
        in.snippets.emplace_back(pos, pos == 4 ? "<b>bold</b> & co" : texts[pos]);
    }
    in.n_select = 3;
    EvalTargetInput math;
    math.name = "math";
    math.token_counts = {12, 18};
    math.runs = {{{0.9, 0.8, 0.1, 0.2, 0.7, 0.0, 0.0, 0.0}, {0, 1, 4}}, {{}, {3, 2, 7}}};
    math.latents = {{5, 0.5, 0.25, {{0, 1.5}, {4, 0.7}}}, {9, 0.25, 0.125, {}}};
    EvalTargetInput code;
    code.name = "code";
    code.token_counts = {30};
    code.runs = {{{0.0, 0.0, 0.5, 0.0, 0.1, 0.6, 0.0, 0.0}, {5, 2, 4}}, {{}, {3, 2, 7}}};
    in.targets = {math, code};
    in.settings = {{"model", "tiny.gguf"}, {"<key>", "a&b"}};
    in.config = {{"seed", 0}};
    return in;
}

TEST(EvalReport, PrecisionRecallAndAveragesByHand) {
    const EvalInput in = tiny_input();
    const EvalResults r = compute_eval_results(in);
    ASSERT_EQ(2u, r.targets.size());
    const auto& math = r.targets[0];
    const auto& code = r.targets[1];
    EXPECT_EQ(3u, math.pool_label_count);
    EXPECT_EQ(3.0 / 8.0, math.pool_label_share);
    EXPECT_EQ(2u, code.pool_label_count);
    EXPECT_EQ(1.0, math.methods[0].pr.precision);
    EXPECT_EQ(1.0, math.methods[0].pr.recall);
    EXPECT_EQ(0.0, math.methods[1].pr.precision);
    EXPECT_EQ(0.0, math.methods[1].pr.recall);
    EXPECT_EQ(2.0 / 3.0, code.methods[0].pr.precision);
    EXPECT_EQ(1.0, code.methods[0].pr.recall);
    EXPECT_EQ(1.0 / 3.0, code.methods[1].pr.precision);
    EXPECT_EQ(0.5, code.methods[1].pr.recall);
    ASSERT_EQ(2u, r.averages.size());
    EXPECT_DOUBLE_EQ(5.0 / 6.0, r.averages[0].precision);
    EXPECT_DOUBLE_EQ(1.0, r.averages[0].recall);
    EXPECT_DOUBLE_EQ(1.0 / 6.0, r.averages[1].precision);
    EXPECT_DOUBLE_EQ(0.25, r.averages[1].recall);
}

TEST(EvalReport, CompositionLengthsDiversityAndOverlapByHand) {
    const EvalResults r = compute_eval_results(tiny_input());
    const EvalMethodMetrics& m = r.targets[0].methods[0];  // math / mona: positions 0 1 4
    ASSERT_EQ(1u, m.composition.size());
    EXPECT_EQ("math", m.composition[0].label);
    EXPECT_EQ(3u, m.composition[0].count);
    // Lengths 10 20 50: mean 80/3, median 20, p10 = 10 + 0.2 * 10, p90 = 20 + 0.8 * 30.
    EXPECT_EQ(3u, m.lengths.n);
    EXPECT_DOUBLE_EQ(80.0 / 3.0, m.lengths.mean);
    EXPECT_DOUBLE_EQ(20.0, m.lengths.median);
    EXPECT_DOUBLE_EQ(12.0, m.lengths.p10);
    EXPECT_DOUBLE_EQ(44.0, m.lengths.p90);
    // "one two three" "one two two" "one": 7 words, 3 distinct; bigrams (one two) (two three) (one two) (two two).
    EXPECT_EQ(7u, m.distinct_1.n_total);
    EXPECT_EQ(3u, m.distinct_1.n_distinct);
    EXPECT_EQ(4u, m.distinct_2.n_total);
    EXPECT_EQ(3u, m.distinct_2.n_distinct);
    EXPECT_EQ(0.9, *m.score_max);
    EXPECT_EQ(0.0, *m.score_min);
    EXPECT_FALSE(r.targets[0].methods[1].score_max.has_value()) << "random has no scores";
    // math: {0,1,4} vs {3,2,7} share nothing; code: {5,2,4} vs {3,2,7} share 2 -> 1/3, Jaccard 1/5.
    ASSERT_EQ(1u, r.targets[1].overlaps.size());
    EXPECT_EQ(1u, r.targets[1].overlaps[0].overlap.n_intersection);
    EXPECT_EQ(1.0 / 3.0, r.targets[1].overlaps[0].overlap.overlap);
    EXPECT_EQ(0.0, r.targets[0].overlaps[0].overlap.overlap);
    ASSERT_EQ(1u, r.average_overlaps.size());
    EXPECT_DOUBLE_EQ(1.0 / 6.0, r.average_overlaps[0].overlap);
    EXPECT_DOUBLE_EQ(0.1, r.average_overlaps[0].jaccard);
    EXPECT_EQ(8u, r.pool_lengths.n);
    EXPECT_DOUBLE_EQ(45.0, r.pool_lengths.mean);
}

TEST(EvalReport, JsonHoldsEveryNumberAndTheSelections) {
    const EvalInput in = tiny_input();
    const nlohmann::json j = render_eval_json(in, compute_eval_results(in));
    EXPECT_EQ(8u, j["n_pool"].get<uint64_t>());
    EXPECT_EQ(3u, j["n_select"].get<uint64_t>());
    EXPECT_EQ(0, j["config"]["seed"].get<int>());
    const auto& code = j["targets"][1];
    EXPECT_EQ("code", code["name"].get<std::string>());
    EXPECT_EQ(2.0 / 3.0, code["methods"]["mona"]["precision"].get<double>());
    EXPECT_EQ(2u, code["methods"]["mona"]["n_hits"].get<uint64_t>());
    EXPECT_EQ(2u, code["methods"]["mona"]["n_label"].get<uint64_t>());
    EXPECT_EQ((std::vector<uint64_t>{5, 2, 4}), code["methods"]["mona"]["selected"].get<std::vector<uint64_t>>());
    EXPECT_TRUE(code["methods"]["random"]["scores"].is_null());
    EXPECT_EQ(0.5, code["methods"]["random"]["recall"].get<double>());
    EXPECT_EQ("mona", code["overlap"][0]["a"].get<std::string>());
    EXPECT_EQ("random", code["overlap"][0]["b"].get<std::string>());
    const auto& latent = j["targets"][0]["prototype_latents"][0];
    EXPECT_EQ(5u, latent["latent"].get<uint32_t>());
    EXPECT_EQ(4u, latent["top"][1]["position"].get<uint64_t>());
    EXPECT_EQ(5u, latent["top"][1]["record"].get<uint64_t>()) << "positions map to record numbers";
    EXPECT_EQ("p4", latent["top"][1]["id"].get<std::string>());
    EXPECT_DOUBLE_EQ(5.0 / 6.0, j["average"]["methods"]["mona"]["precision"].get<double>());
    EXPECT_DOUBLE_EQ(20.0, j["targets"][0]["methods"]["mona"]["lengths"]["median"].get<double>());
}

TEST(EvalReport, MarkdownTablesByHand) {
    const EvalInput in = tiny_input();
    const std::string md = render_eval_markdown(in, compute_eval_results(in));
    EXPECT_NE(std::string::npos,
              md.find("## precision@n\n\n| target | pool share | mona | random |\n|---|---:|---:|---:|\n"
                      "| math | 0.375 | **1.000** | 0.000 |\n| code | 0.250 | **0.667** | 0.333 |\n"
                      "| **average** | | **0.833** | 0.167 |\n"))
        << md;
    EXPECT_NE(std::string::npos,
              md.find("## recall@n\n\n| target | max possible | mona | random |\n|---|---:|---:|---:|\n"
                      "| math | 1.000 | **1.000** | 0.000 |\n| code | 1.000 | **1.000** | 0.500 |\n"
                      "| **average** | | **1.000** | 0.250 |\n"))
        << md;
}

TEST(EvalReport, HtmlHasTheSectionsAndBalancedCharts) {
    const EvalInput in = tiny_input();
    const std::string html = render_eval_html(in, compute_eval_results(in));
    EXPECT_EQ(0u, html.find("<!DOCTYPE html>"));
    for (const char* id : {"settings", "summary", "diversity", "overlap"})
        EXPECT_EQ(1u, count(html, std::string("id=\"") + id + "\"")) << id;
    for (int target_idx = 0; target_idx < 2; ++target_idx) {
        const std::string id = "target-" + std::to_string(target_idx);
        for (const std::string suffix : {"", "-scores", "-composition", "-lengths", "-latents"})
            EXPECT_EQ(1u, count(html, "id=\"" + id + suffix + "\"")) << id + suffix;
    }
    // Per target: one histogram (random has no scores), composition, lengths, latent bars.
    EXPECT_EQ(8u, count(html, "<svg"));
    EXPECT_EQ(count(html, "<svg"), count(html, "</svg>"));
    for (const std::string tag : {"section", "table", "tr", "td", "h2", "h3", "p"}) {
        EXPECT_EQ(count(html, "<" + tag + ">") + count(html, "<" + tag + " "), count(html, "</" + tag + ">")) << tag;
    }
    EXPECT_EQ(std::string::npos, html.find("<script"));
    EXPECT_EQ(std::string::npos, html.find("http"));
    EXPECT_NE(std::string::npos, html.find("&lt;b&gt;bold&lt;/b&gt; &amp; co")) << "snippets are escaped";
    EXPECT_NE(std::string::npos, html.find("&lt;key&gt;"));
    EXPECT_EQ(std::string::npos, html.find("<b>bold</b>"));
    EXPECT_NE(std::string::npos, html.find("no pool sample activates it"));
}

TEST(EvalReport, NoLatentSectionWithoutMona) {
    EvalInput in = tiny_input();
    in.methods = {"bm25", "random"};
    for (auto& t : in.targets) t.latents.clear();
    const std::string html = render_eval_html(in, compute_eval_results(in));
    EXPECT_EQ(std::string::npos, html.find("-latents\""));
    EXPECT_EQ(count(html, "<svg"), count(html, "</svg>"));
}

}  // namespace
}  // namespace mona
