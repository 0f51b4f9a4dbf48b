// `mona check` on the tiny fixture model with an SAE trained by `mona train-sae` at a known layer: the verdict names
// that layer, the recorded FVU is found, and a wrong --layer is flagged. Plus the first-batch check of embed: it
// warns for a random SAE (FVU above 1) and changes no pooled vector.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "capture/session.hpp"
#include "embed/embedder.hpp"
#include "integration/run_util.hpp"
#include "integration/tiny_model_util.hpp"
#include "jobs/check.hpp"

namespace mona {
namespace {

namespace fs = std::filesystem;

class CheckE2eTest : public ::testing::Test {
   protected:
    static void SetUpTestSuite() {
        fixtures::unset_mona_environment();
        dir_ = fixtures::make_temp_dir("mona-check-e2e");
        model_ = dir_ + "/tiny.gguf";
        fixtures::TinyModelSpec spec;
        spec.n_layer = 4;
        // Blocks that move the residual stream clearly, so that neighbouring layers differ (the fixture's default
        // 0.08 makes small updates against the embeddings; it was not tried here).
        spec.weight_scale = 0.3f;
        ASSERT_TRUE(fixtures::write_tiny_llama_gguf(model_, spec).ok());
        corpus_ = dir_ + "/corpus.jsonl";
        ASSERT_TRUE(fixtures::write_jsonl(corpus_, fixtures::make_labelled_pool(12)).ok());
        // An SAE of layer 2 (folder layers.1), wide and sparse enough to fit its own layer better than the others.
        const fixtures::RunResult trained = fixtures::run_binary(
            MONA_BIN,
            {"train-sae",   "--model",      model_,      "--input",  corpus_, "--layer",      "2",  "--latents",
             "256",         "--k",          "8",         "--epochs", "8",     "--batch-size", "64", "--buffer-tokens",
             "256",         "--doc-tokens", "64",        "--warmup", "5",     "--seed",       "5",  "--out",
             dir_ + "/sae", "--quiet",      "--threads", "1"},
            dir_);
        ASSERT_EQ(trained.exit_code, 0) << trained.err;
        sae_ = dir_ + "/sae/layers.1";
    }
    static void TearDownTestSuite() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    static nlohmann::json check(const std::vector<std::string>& extra) {
        std::vector<std::string> args = {"check", "--model", model_,    "--sae",     sae_, "--pool",
                                         corpus_, "--json",  "--quiet", "--threads", "1"};
        args.insert(args.end(), extra.begin(), extra.end());
        const fixtures::RunResult run = fixtures::run_binary(MONA_BIN, args, dir_);
        EXPECT_EQ(run.exit_code, 0) << run.err;
        return nlohmann::json::parse(run.out);
    }

    static double fvu_at(const nlohmann::json& report, int layer) {
        for (const auto& row : report["layers"]) {
            if (row["layer"] == layer) return row["fvu"].get<double>();
        }
        ADD_FAILURE() << "layer " << layer << " not in " << report.dump();
        return 0.0;
    }

    static std::string dir_, model_, corpus_, sae_;
};

std::string CheckE2eTest::dir_, CheckE2eTest::model_, CheckE2eTest::corpus_, CheckE2eTest::sae_;

TEST_F(CheckE2eTest, VerdictNamesTheLayerTheSaeWasTrainedAt) {
    const nlohmann::json report = check({"--samples", "48"});
    std::printf("[ check    ] FVU at layers 1/2/3: %.4f %.4f %.4f, recorded %s\n", fvu_at(report, 1), fvu_at(report, 2),
                fvu_at(report, 3), report["recorded_fvu"].dump().c_str());
    EXPECT_EQ(report["configured_layer"], 2);
    ASSERT_EQ(report["layers"].size(), 3u);
    EXPECT_EQ(report["best_layer"], 2);
    EXPECT_TRUE(report["warnings"].empty()) << report.dump(2);
    // The recorded value is train-sae's heldout_fvu from metrics.json beside the layer folder.
    const nlohmann::json metrics = nlohmann::json::parse(fixtures::read_file(dir_ + "/sae/metrics.json"));
    EXPECT_EQ(report["recorded_fvu"], metrics["heldout_fvu"]);
    for (const auto& row : report["layers"]) {
        EXPECT_GT(row["tokens"].get<int64_t>(), 500);
        EXPECT_NEAR(row["l0"].get<double>(), 8.0, 1e-9);  // TopK 8 on every token with 8 positive pre-activations
    }
}

TEST_F(CheckE2eTest, ALayerAwayIsFlaggedAndTheTopLayerHasNoUpperNeighbour) {
    // Centered on layer 3 (the model's last available one): 3 and 2 are checked, 4 is noted as absent and so is the
    // --layer that differs from the SAE's own. The verdict points back at 2, which stays the configured layer.
    const nlohmann::json report = check({"--samples", "48", "--layer", "3"});
    ASSERT_EQ(report["layers"].size(), 2u);
    EXPECT_EQ(report["best_layer"], 2);
    EXPECT_EQ(report["configured_layer"], 2);
    ASSERT_EQ(report["notes"].size(), 2u) << report.dump(2);
    EXPECT_NE(report["notes"].dump().find("layer 4 is not available"), std::string::npos);
}

// The off-by-one of sparsify #11: the same SAE in a folder that names the next layer (layers.2 = layer 3). The
// check is centred on 3, finds 2 better and says so.
TEST_F(CheckE2eTest, AnSaeFiledUnderTheWrongLayerIsFlagged) {
    const std::string shifted = dir_ + "/shifted/layers.2";
    fs::create_directories(shifted);
    fs::copy(sae_, shifted, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    std::vector<std::string> args = {"check",  "--model", model_,      "--sae", shifted,     "--pool", corpus_,
                                     "--json", "--quiet", "--samples", "48",    "--threads", "1"};
    const fixtures::RunResult run = fixtures::run_binary(MONA_BIN, args, dir_);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const nlohmann::json report = nlohmann::json::parse(run.out);
    EXPECT_EQ(report["configured_layer"], 3);
    EXPECT_EQ(report["best_layer"], 2);
    ASSERT_FALSE(report["warnings"].empty());
    EXPECT_NE(report["warnings"][0].get<std::string>().find("reconstructs layer 2 better"), std::string::npos)
        << report.dump(2);
    // No metrics.json beside this folder: nothing recorded, and the output says so.
    EXPECT_TRUE(report["recorded_fvu"].is_null());
    EXPECT_NE(report["recorded_fvu_source"].get<std::string>().find("not recorded"), std::string::npos);
}

TEST_F(CheckE2eTest, TheTableAndTheJsonFile) {
    const std::string out = dir_ + "/check.json";
    const fixtures::RunResult run = fixtures::run_binary(MONA_BIN,
                                                         {"check", "--model", model_, "--sae", sae_, "--pool", corpus_,
                                                          "--samples", "8", "--out", out, "--quiet", "--threads", "1"},
                                                         dir_);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find("<- configured"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("verdict: best layer"), std::string::npos) << run.out;
    const nlohmann::json written = nlohmann::json::parse(fixtures::read_file(out));
    EXPECT_EQ(written["samples"], 8);
}

// The first-batch check of embed: a random SAE reconstructs nothing, so its FVU is far above 1 and embed warns;
// the trained SAE on its own corpus does not.
TEST_F(CheckE2eTest, EmbedWarnsOnTheFirstBatchForARandomSae) {
    Result<fixtures::TinySae> random_sae =
        fixtures::write_tiny_sparsify_sae(dir_ + "/random", 64, 128, 8, 9, "layers.1");
    ASSERT_TRUE(random_sae.ok());
    const fixtures::RunResult bad =
        fixtures::run_binary(MONA_BIN,
                             {"embed", "--model", model_, "--sae", random_sae->folder, "--pool", corpus_, "--out",
                              dir_ + "/store-random", "--quiet", "--threads", "1"},
                             dir_);
    ASSERT_EQ(bad.exit_code, 0) << bad.err;
    EXPECT_NE(bad.err.find("warning: SAE check on the first batch"), std::string::npos) << bad.err;
    const fixtures::RunResult good =
        fixtures::run_binary(MONA_BIN,
                             {"embed", "--model", model_, "--sae", sae_, "--pool", corpus_, "--out",
                              dir_ + "/store-trained", "--quiet", "--threads", "1"},
                             dir_);
    ASSERT_EQ(good.exit_code, 0) << good.err;
    EXPECT_EQ(good.err.find("SAE check"), std::string::npos) << good.err;
}

// The probe reads the batch and changes nothing: the same pooled vectors with and without it, and it runs once.
TEST_F(CheckE2eTest, TheFirstBatchProbeChangesNoVector) {
    SessionOptions sopts;
    sopts.model_path = model_;
    sopts.n_threads = 1;
    sopts.batch_tokens = 128;
    Result<Session> session = Session::open(sopts);
    ASSERT_TRUE(session.ok()) << session.status().message();
    Result<SaeModel> sae = SaeModel::open({sae_});
    ASSERT_TRUE(sae.ok()) << sae.status().message();
    std::vector<TokenizedSample> samples;
    for (const auto& labelled : fixtures::make_labelled_pool(3)) {
        Sample sample;
        sample.format = InputFormat::kText;
        sample.text = labelled.user + " " + labelled.assistant;
        Result<TokenizedSample> tokens = session->tokenize(sample);
        ASSERT_TRUE(tokens.ok());
        samples.push_back(tokens.value());
    }
    const auto pooled = [&](EmbedOptions eopts) {
        std::vector<SparseVec> out;
        Embedder embedder(*session, *sae, eopts, [&](EmbeddedSample& item) -> Status {
            out.push_back(item.pooled);
            return Status();
        });
        for (size_t idx = 0; idx < samples.size(); ++idx) EXPECT_TRUE(embedder.add(idx, samples[idx]).ok());
        EXPECT_TRUE(embedder.flush().ok());
        return out;
    };
    EmbedOptions plain;
    plain.layer = 2;
    int calls = 0;
    std::vector<std::string> logged;
    EmbedOptions probed = plain;
    const EmbedOptions::BatchProbe probe = make_first_batch_probe(
        sae.value(), plain.token_mode, 0, [&](const std::string& message) { logged.push_back(message); });
    ASSERT_TRUE(probe);
    probed.first_batch_probe = [&](std::span<const EmbeddedSample> batch, const float* rows, const SparseCodes& codes) {
        ++calls;
        probe(batch, rows, codes);
    };
    const std::vector<SparseVec> a = pooled(plain);
    const std::vector<SparseVec> b = pooled(probed);
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(logged.empty());  // the trained SAE at its layer: no warning
    ASSERT_EQ(a.size(), b.size());
    for (size_t idx = 0; idx < a.size(); ++idx) {
        EXPECT_EQ(a[idx].idx, b[idx].idx);
        EXPECT_EQ(a[idx].val, b[idx].val);
    }
    // Without a log callback there is no probe at all.
    EXPECT_FALSE(make_first_batch_probe(sae.value(), plain.token_mode, 0, nullptr));
}

}  // namespace
}  // namespace mona
