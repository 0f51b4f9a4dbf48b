// Batch invariance on the real default model and SAE: a user who reruns with another --batch-tokens or --threads,
// or resumes on another machine's settings, gets the same bytes. scores.tsv (every pool sample's score for every
// target, at full float precision) must be byte-identical across --batch-tokens 256/512/2048 and --threads 1/2.
//
// Needs the default model and SAE of scripts/setup.sh (in $MONA_HOME); without them the test is skipped, except
// under CI=true, where set-up has just made them and their absence is a failure.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "demo/demo_corpus.hpp"
#include "integration/run_util.hpp"
#include "integration/tiny_model_util.hpp"
#include "util/home.hpp"

namespace mona {
namespace {

TEST(BatchInvarianceTest, ScoresAreByteIdenticalAcrossBatchTokensAndThreads) {
    const std::string model = default_model_path();
    const std::string sae = default_sae_dir();
    if (!std::filesystem::exists(model) || !std::filesystem::exists(sae)) {
        const char* ci = std::getenv("CI");
        if (ci != nullptr && std::string(ci) == "true") {
            FAIL() << "CI=true but the default model/SAE are missing (" << model << ", " << sae
                   << "): scripts/setup.sh should have made them";
        }
        GTEST_SKIP() << "default model/SAE not set up (run scripts/setup.sh): " << model << ", " << sae;
    }
    const std::string dir = fixtures::make_temp_dir("mona-batch-invariance");
    ASSERT_FALSE(dir.empty());
    // 48 pool samples of the demo corpus (6 per family, lengths ~30..200 tokens) and one target.
    const std::string pool = dir + "/pool.jsonl";
    const std::string target = dir + "/target.jsonl";
    std::ofstream(pool) << to_jsonl(demo_pool(/*seed=*/7, /*per_family=*/6));
    std::ofstream(target) << to_jsonl(demo_targets(demo_families().front(), /*seed=*/7, /*n=*/4));

    struct Setting {
        int batch_tokens;
        int threads;
    };
    const std::vector<Setting> settings = {{512, 2}, {256, 2}, {2048, 2}, {512, 1}};
    std::string reference;
    for (const Setting& setting : settings) {
        const std::string out =
            dir + "/run-" + std::to_string(setting.batch_tokens) + "-" + std::to_string(setting.threads);
        const fixtures::RunResult run = fixtures::run_binary(
            MONA_BIN,
            {"select", "--pool", pool, "--target", "t=" + target, "--count", "5", "--out", out, "--batch-tokens",
             std::to_string(setting.batch_tokens), "--threads", std::to_string(setting.threads), "--quiet"},
            dir);
        ASSERT_EQ(0, run.exit_code) << run.err;
        const std::string scores = fixtures::read_file(out + "/t/scores.tsv");
        ASSERT_GT(scores.size(), 48u * 10u) << "scores.tsv too short";
        if (reference.empty()) {
            reference = scores;
            continue;
        }
        EXPECT_TRUE(scores == reference) << "scores.tsv with --batch-tokens " << setting.batch_tokens << " --threads "
                                         << setting.threads << " differs from --batch-tokens 512 --threads 2";
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace mona
