// report/eval_report.hpp: the renderings of `mona eval` (eval.json, eval.md, HTML) of a hand-computed input.
#include "report/eval_report.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "unit/eval_fixture.hpp"

namespace mona {
namespace {

using test::tiny_eval_input;

size_t count(const std::string& haystack, const std::string& needle) {
    size_t n = 0;
    for (size_t pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + 1)) ++n;
    return n;
}

TEST(EvalReport, JsonHoldsEveryNumberAndTheSelections) {
    const EvalInput in = tiny_eval_input();
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
    const EvalInput in = tiny_eval_input();
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
    const EvalInput in = tiny_eval_input();
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
    EvalInput in = tiny_eval_input();
    in.methods = {"bm25", "random"};
    for (auto& t : in.targets) t.latents.clear();
    const std::string html = render_eval_html(in, compute_eval_results(in));
    EXPECT_EQ(std::string::npos, html.find("-latents\""));
    EXPECT_EQ(count(html, "<svg"), count(html, "</svg>"));
}

}  // namespace
}  // namespace mona
