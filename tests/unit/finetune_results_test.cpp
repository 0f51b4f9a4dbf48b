// Unit tests of eval/finetune_results: the held-back split rule, mean and standard error, and the finetune section
// of eval.json and eval.md against numbers worked out by hand.
#include "eval/finetune_results.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace mona {
namespace {

TEST(FinetuneSplit, EveryKthExemplarIsHeldBackAndNoOther) {
    std::vector<uint64_t> held;
    for (uint64_t i = 0; i < 12; ++i) {
        if (is_heldout_exemplar(i, 4)) held.push_back(i);
    }
    EXPECT_EQ(held, (std::vector<uint64_t>{3, 7, 11}));
    for (uint64_t i = 0; i < 10; ++i) EXPECT_EQ(is_heldout_exemplar(i, 2), i % 2 == 1) << i;
    // The rule depends on the index alone: the same answer on every call.
    for (uint64_t i = 0; i < 100; ++i) EXPECT_EQ(is_heldout_exemplar(i, 5), is_heldout_exemplar(i, 5));
    EXPECT_FALSE(is_heldout_exemplar(0, 0));  // no split
}

TEST(FinetuneStats, MeanAndStandardError) {
    const MeanSe m = mean_se({1.0, 2.0, 4.0});
    EXPECT_EQ(m.n, 3);
    EXPECT_DOUBLE_EQ(m.mean, 7.0 / 3.0);
    // sample variance: ((4/3)^2 + (1/3)^2 + (5/3)^2) / 2 = 42/18 = 7/3
    EXPECT_NEAR(m.se, std::sqrt(7.0 / 3.0) / std::sqrt(3.0), 1e-15);
    EXPECT_EQ(mean_se({5.0}).se, 0.0);
    EXPECT_EQ(mean_se({}).n, 0);
}

FinetuneReport two_target_report() {
    FinetuneReport r;
    r.methods = {"mona", "bm25", "random"};
    FinetuneTarget a;
    a.name = "a";
    a.base_loss = 3.0;
    a.runs = {{"mona", 0, 4, 1024, 2.0, 1.0},
              {"bm25", 0, 4, 1024, 2.5, 1.0},
              {"random", 5, 4, 1024, 2.8, 1.0},
              {"random", 6, 4, 1024, 2.6, 1.0},
              {"random", 7, 4, 1024, 2.7, 1.0}};
    FinetuneTarget b;
    b.name = "b";
    b.base_loss = 2.0;
    b.runs = {{"mona", 0, 4, 1024, 1.9, 1.0},
              {"bm25", 0, 4, 1024, 1.5, 1.0},
              {"random", 5, 4, 1024, 1.8, 1.0},
              {"random", 6, 4, 1024, 1.8, 1.0},
              {"random", 7, 4, 1024, 1.8, 1.0}};
    r.targets = {a, b};
    r.seconds = 10.0;
    r.n_train_tokens = 10240;
    return r;
}

TEST(FinetuneJson, ReductionsSeedsAndPairedDifferences) {
    const nlohmann::json j = finetune_json(two_target_report());
    const nlohmann::json& a = j.at("targets").at(0);
    EXPECT_NEAR(a.at("methods").at("mona").at("reduction").get<double>(), 1.0, 1e-12);
    EXPECT_NEAR(a.at("methods").at("bm25").at("reduction").get<double>(), 0.5, 1e-12);
    // random on a: reductions 0.2, 0.4, 0.3 -> mean 0.3, se = sd 0.1 / sqrt(3)
    EXPECT_NEAR(a.at("methods").at("random").at("reduction").get<double>(), 0.3, 1e-12);
    EXPECT_NEAR(a.at("methods").at("random").at("reduction_se").get<double>(), 0.1 / std::sqrt(3.0), 1e-12);
    EXPECT_EQ(a.at("methods").at("random").at("runs").size(), 3u);
    EXPECT_NEAR(a.at("paired_mona_minus").at("bm25").get<double>(), 0.5, 1e-12);
    EXPECT_NEAR(a.at("paired_mona_minus").at("random").get<double>(), 0.7, 1e-12);
    // Over targets: mona - bm25 = 0.5 on a and 0.1 - 0.5 = -0.4 on b -> mean 0.05, se = sd / sqrt(2)
    const nlohmann::json& p = j.at("paired_mona_minus").at("bm25");
    EXPECT_NEAR(p.at("mean").get<double>(), 0.05, 1e-12);
    EXPECT_NEAR(p.at("se").get<double>(), std::sqrt(0.405) / std::sqrt(2.0), 1e-12);
    EXPECT_EQ(p.at("targets").get<int64_t>(), 2);
    EXPECT_EQ(p.at("targets_mona_better").get<int64_t>(), 1);
    EXPECT_NEAR(j.at("averages").at("mona").at("reduction").get<double>(), 0.55, 1e-12);
    EXPECT_NEAR(j.at("train_tokens_per_second").get<double>(), 1024.0, 1e-9);
}

TEST(FinetuneMarkdown, OneRowPerTargetAndThePairedTable) {
    const std::string md = finetune_markdown(two_target_report());
    EXPECT_NE(md.find("## Fine-tuning"), std::string::npos);
    EXPECT_NE(md.find("| a | 0 | 3.0000 | +1.0000 | +0.5000 | +0.3000 ± 0.0577 |"), std::string::npos) << md;
    EXPECT_NE(md.find("| bm25 | +0.0500 ± 0.4500 | 1/2 |"), std::string::npos) << md;
}

TEST(FinetuneHtml, TableCellsAndOneChartPerTarget) {
    FinetuneReport r = two_target_report();
    r.targets[0].name = "a<b";
    const std::string html = finetune_html(r);
    EXPECT_NE(html.find("<section id=\"finetune\">"), std::string::npos);
    EXPECT_NE(html.find("a&lt;b"), std::string::npos);
    EXPECT_EQ(html.find("a<b"), std::string::npos);
    EXPECT_NE(html.find("+0.3000 &plusmn; 0.0577"), std::string::npos) << html;
    size_t n_svg = 0;
    for (size_t at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1)) ++n_svg;
    EXPECT_EQ(n_svg, 2u);
    EXPECT_EQ(html.find("<svg", 0) != std::string::npos, html.find("</svg>") != std::string::npos);
}

}  // namespace
}  // namespace mona
