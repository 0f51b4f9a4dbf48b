// End-to-end tests of `mona select`: the real binary (MONA_BIN) on a tiny random-weight llama GGUF, a tiny sparsify
// SAE and a 40-sample labelled pool, all written into a temporary folder. The outputs are checked against the
// input bytes, an independent recomputation with the naive references in tests/reference/, and each other across
// thread counts and batch sizes; the error paths are checked for exit code, message and an untouched --out.
//
// The binary is run with OMP_WAIT_POLICY=passive: ggml's OpenMP workers spin-wait by default, and on a shared
// 2-core machine a spinning 2-thread decode can take ~100x longer. It does not change any number.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fstream>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "capture/session.hpp"
#include "integration/run_util.hpp"
#include "integration/tiny_model_util.hpp"
#include "reference/sae_reference.hpp"
#include "reference/score_reference.hpp"
#include "text/formats.hpp"
#include "util/sha256.hpp"

#ifndef MONA_BIN
#error "MONA_BIN must be defined by tests/CMakeLists.txt"
#endif

namespace mona {
namespace {

namespace fs = std::filesystem;
using fixtures::file_lines;
using fixtures::LabelledSample;
using fixtures::regular_files_under;
using fixtures::RunResult;
using fixtures::split;

constexpr int32_t kLayer = 2;  // SAE folder layers.1 = HF hidden_states[2] = llama.cpp l_out-1
constexpr int64_t kDSae = 256;
constexpr int32_t kK = 8;
constexpr int64_t kCount = 8;
constexpr double kScoreTol = 1e-5;

struct ScoreRow {
    uint64_t record = 0;
    std::string id;
    uint64_t line = 0;
    std::string task;
    int64_t n_tokens = 0;
    double score = 0.0;
    uint64_t rank = 0;
    bool selected = false;
};

std::vector<ScoreRow> read_scores(const std::string& path) {
    std::vector<std::string> lines = file_lines(path);
    std::vector<ScoreRow> rows;
    EXPECT_FALSE(lines.empty()) << path;
    if (lines.empty()) return rows;
    EXPECT_EQ("record\tid\tline\ttask\tn_tokens\ttruncated\tscore\trank\tselected", lines[0]);
    for (size_t line_idx = 1; line_idx < lines.size(); ++line_idx) {
        const std::vector<std::string> f = split(lines[line_idx], '\t');
        EXPECT_EQ(9u, f.size()) << path << ":" << line_idx + 1;
        if (f.size() != 9) continue;
        ScoreRow row;
        row.record = std::stoull(f[0]);
        row.id = f[1];
        row.line = std::stoull(f[2]);
        row.task = f[3];
        row.n_tokens = std::stoll(f[4]);
        row.score = std::stod(f[6]);
        row.rank = std::stoull(f[7]);
        row.selected = f[8] == "1";
        rows.push_back(row);
    }
    return rows;
}

// Record indices of the selected rows, best first.
std::vector<uint64_t> selected_by_rank(const std::vector<ScoreRow>& rows) {
    std::vector<const ScoreRow*> picked;
    for (const auto& row : rows) {
        if (row.selected) picked.push_back(&row);
    }
    std::sort(picked.begin(), picked.end(), [](const ScoreRow* a, const ScoreRow* b) { return a->rank < b->rank; });
    std::vector<uint64_t> out;
    for (const ScoreRow* row : picked) out.push_back(row->record);
    return out;
}

class SelectE2eTest : public ::testing::Test {
   protected:
    static void SetUpTestSuite() {
        // Set MONA_KEEP_TEST_DIR=1 to keep the temporary folder for a look after a failure.
        keep_dir_ = std::getenv("MONA_KEEP_TEST_DIR") != nullptr;
        // Flags may come from MONA_<NAME> environment variables; none may leak into these runs.
        fixtures::unset_mona_environment();

        dir_ = fixtures::make_temp_dir("mona-select-e2e");
        ASSERT_FALSE(dir_.empty());
        model_ = dir_ + "/tiny.gguf";
        fixtures::TinyModelSpec spec;
        spec.n_layer = 3;
        spec.n_head_kv = 2;
        const Status model_written = fixtures::write_tiny_llama_gguf(model_, spec);
        ASSERT_TRUE(model_written.ok()) << model_written.message();

        Result<fixtures::TinySae> sae = fixtures::write_tiny_sparsify_sae(dir_ + "/sae", 64, kDSae, kK, 7, "layers.1");
        ASSERT_TRUE(sae.ok()) << sae.status().message();
        sae_ = new fixtures::TinySae(std::move(sae).value());

        pool_samples_ = fixtures::make_labelled_pool(10);
        pool_ = dir_ + "/pool.jsonl";
        Result<std::vector<std::string>> pool_lines = fixtures::write_jsonl(pool_, pool_samples_);
        ASSERT_TRUE(pool_lines.ok()) << pool_lines.status().message();
        pool_lines_ = pool_lines.value();
        target_a_ = dir_ + "/target_math.jsonl";
        target_b_ = dir_ + "/target_cooking.jsonl";
        ASSERT_TRUE(fixtures::write_jsonl(target_a_, fixtures::make_target_exemplars("math", 5)).ok());
        ASSERT_TRUE(fixtures::write_jsonl(target_b_, fixtures::make_target_exemplars("cooking", 5)).ok());

        main_out_ = dir_ + "/out-main";
        main_run_ = new RunResult(run_select(main_out_, {"--threads", "1", "--batch-tokens", "512"}));
    }

    static void TearDownTestSuite() {
        std::error_code ec;
        if (!dir_.empty() && !keep_dir_) fs::remove_all(dir_, ec);
        delete sae_;
        delete main_run_;
        sae_ = nullptr;
        main_run_ = nullptr;
    }

    void SetUp() override {
        if (main_run_ == nullptr) GTEST_SKIP() << "fixture setup failed";
    }

    static RunResult run_mona(const std::vector<std::string>& args) {
        return fixtures::run_binary(MONA_BIN, args, dir_);
    }

    // `mona select` with the fixture's model, SAE (unless overridden), pool (unless overridden) and two targets.
    static RunResult run_select(const std::string& out_dir, const std::vector<std::string>& extra,
                                const std::string& pool = "", const std::string& sae = "") {
        // clang-format off
        std::vector<std::string> args = {"select",
                                         "--model", model_,
                                         "--sae", sae.empty() ? sae_->folder : sae,
                                         "--pool", pool.empty() ? pool_ : pool,
                                         "--target", "a=" + target_a_,
                                         "--target", "b=" + target_b_,
                                         "--count", std::to_string(kCount),
                                         "--out", out_dir,
                                         "--quiet"};
        // clang-format on
        args.insert(args.end(), extra.begin(), extra.end());
        return run_mona(args);
    }

    static void expect_success(const RunResult& run) {
        ASSERT_EQ(0, run.exit_code) << "stderr:\n" << run.err << "\nstdout:\n" << run.out;
    }

    // Pool with line `line_no` (1-based) replaced.
    static std::string write_bad_pool(const std::string& name, uint64_t line_no, const std::string& bad_line) {
        std::vector<std::string> lines = pool_lines_;
        lines[line_no - 1] = bad_line;
        const std::string path = dir_ + "/" + name;
        EXPECT_TRUE(fixtures::write_lines(path, lines).ok());
        return path;
    }

    static std::string dir_, model_, pool_, target_a_, target_b_, main_out_;
    static fixtures::TinySae* sae_;
    static std::vector<LabelledSample> pool_samples_;
    static std::vector<std::string> pool_lines_;
    static RunResult* main_run_;
    static bool keep_dir_;
};

std::string SelectE2eTest::dir_, SelectE2eTest::model_, SelectE2eTest::pool_, SelectE2eTest::target_a_,
    SelectE2eTest::target_b_, SelectE2eTest::main_out_;
fixtures::TinySae* SelectE2eTest::sae_ = nullptr;
std::vector<LabelledSample> SelectE2eTest::pool_samples_;
std::vector<std::string> SelectE2eTest::pool_lines_;
RunResult* SelectE2eTest::main_run_ = nullptr;
bool SelectE2eTest::keep_dir_ = false;

TEST_F(SelectE2eTest, SucceedsAndWritesEveryOutput) {
    expect_success(*main_run_);
    for (const char* rel :
         {"a/selected.jsonl", "a/scores.tsv", "b/selected.jsonl", "b/scores.tsv", "report.html", "manifest.json"}) {
        EXPECT_TRUE(fs::is_regular_file(main_out_ + "/" + rel)) << rel;
    }
    EXPECT_FALSE(fs::exists(main_out_ + "/skipped.tsv")) << "skipped.tsv is written only with --skip-bad";
    for (const auto& entry : fs::directory_iterator(main_out_)) {
        EXPECT_EQ(std::string::npos, entry.path().filename().string().find("staging")) << entry.path();
    }
    EXPECT_NE(std::string::npos, main_run_->out.find("a\t5 exemplars\t8 selected\t")) << main_run_->out;
    EXPECT_NE(std::string::npos, main_run_->out.find("b\t5 exemplars\t8 selected\t")) << main_run_->out;
}

// The job reports the pool pass through the config's progress callback; the CLI prints it (and the summary line)
// on stderr, and --quiet leaves the callback out.
TEST_F(SelectE2eTest, ProgressLinesGoToStderrUnlessQuiet) {
    const std::vector<std::string> base = {"select", "--model",   model_,     "--sae",          sae_->folder,
                                           "--pool", pool_,       "--target", "a=" + target_a_, "--count",
                                           "8",      "--threads", "1"};
    std::vector<std::string> loud = base;
    loud.insert(loud.end(), {"--out", dir_ + "/out-progress"});
    const RunResult run = run_mona(loud);
    expect_success(run);
    // The pool pass always reports once at its end: 40 samples, then tokens, rate and time.
    EXPECT_NE(std::string::npos, run.err.find("mona: embed: 40/40 samples (100.0%), ")) << run.err;
    EXPECT_NE(std::string::npos, run.err.find(" tokens/s, ")) << run.err;
    EXPECT_NE(std::string::npos, run.err.find("\nmona: pool 40 samples (0 skipped, ")) << run.err;

    std::vector<std::string> quiet = base;
    quiet.insert(quiet.end(), {"--out", dir_ + "/out-progress-quiet", "--quiet"});
    const RunResult silent = run_mona(quiet);
    expect_success(silent);
    EXPECT_EQ(std::string::npos, silent.err.find("mona: embed:")) << silent.err;
}

TEST_F(SelectE2eTest, SelectedLinesAreThePoolBytesInRankOrder) {
    expect_success(*main_run_);
    for (const char* target : {"a", "b"}) {
        const std::vector<ScoreRow> rows = read_scores(main_out_ + "/" + target + "/scores.tsv");
        const std::vector<uint64_t> picked = selected_by_rank(rows);
        ASSERT_EQ(static_cast<size_t>(kCount), picked.size()) << target;
        const std::string selected = fixtures::read_file(main_out_ + "/" + target + "/selected.jsonl");
        std::string expected;
        for (uint64_t record : picked) expected += pool_lines_[record] + "\n";
        EXPECT_EQ(expected, selected) << target;
    }
}

TEST_F(SelectE2eTest, ScoresTsvListsEveryPoolSampleOnce) {
    expect_success(*main_run_);
    for (const char* target : {"a", "b"}) {
        const std::vector<ScoreRow> rows = read_scores(main_out_ + "/" + target + "/scores.tsv");
        ASSERT_EQ(pool_samples_.size(), rows.size()) << target;
        std::vector<uint64_t> ranks;
        for (size_t pos = 0; pos < rows.size(); ++pos) {
            const ScoreRow& row = rows[pos];
            EXPECT_EQ(pos, row.record);
            EXPECT_EQ(pos + 1, row.line);
            EXPECT_EQ(pool_samples_[pos].id, row.id);
            EXPECT_EQ(pool_samples_[pos].task, row.task);
            EXPECT_GT(row.n_tokens, 10);
            EXPECT_TRUE(row.score >= 0.0 && row.score <= 1.0) << row.score;
            EXPECT_EQ(row.rank <= static_cast<uint64_t>(kCount), row.selected) << "record " << pos;
            ranks.push_back(row.rank);
        }
        std::sort(ranks.begin(), ranks.end());
        for (size_t pos = 0; pos < ranks.size(); ++pos) EXPECT_EQ(pos + 1, ranks[pos]) << "ranks are a permutation";
        // The ranks follow the scores, ties by lower position.
        for (const ScoreRow& x : rows) {
            for (const ScoreRow& y : rows) {
                if (x.score > y.score || (x.score == y.score && x.record < y.record)) {
                    EXPECT_LT(x.rank, y.rank) << "records " << x.record << " and " << y.record;
                }
            }
        }
    }
}

TEST_F(SelectE2eTest, ManifestRecordsHashesAndCounts) {
    expect_success(*main_run_);
    nlohmann::json m;
    ASSERT_NO_THROW(m = nlohmann::json::parse(fixtures::read_file(main_out_ + "/manifest.json")));
    Result<std::string> model_sha = sha256_file(model_);
    ASSERT_TRUE(model_sha.ok());
    EXPECT_EQ(model_sha.value(), m["model"]["sha256"].get<std::string>());
    EXPECT_EQ(64u, m["model"]["sha256"].get<std::string>().size());
    EXPECT_EQ(model_, m["model"]["path"].get<std::string>());
    EXPECT_EQ("llama", m["model"]["arch"].get<std::string>());
    EXPECT_EQ(3, m["model"]["n_layer"].get<int>());
    EXPECT_EQ(64, m["model"]["n_embd"].get<int>());
    EXPECT_EQ(sha256_file(pool_).value(), m["pool"]["sha256"].get<std::string>());
    EXPECT_EQ(sha256_file(sae_->folder + "/sae.safetensors").value(), m["sae"]["sha256"].get<std::string>());
    EXPECT_EQ(64, m["sae"]["d_in"].get<int>());
    EXPECT_EQ(kDSae, m["sae"]["d_sae"].get<int64_t>());
    EXPECT_EQ(kK, m["sae"]["k"].get<int>());
    EXPECT_EQ(40, m["pool"]["read"].get<int>());
    EXPECT_EQ(0, m["pool"]["skipped"].get<int>());
    EXPECT_EQ(0, m["pool"]["truncated"].get<int>());
    int64_t n_tokens = 0;
    for (const auto& row : read_scores(main_out_ + "/a/scores.tsv")) n_tokens += row.n_tokens;
    EXPECT_EQ(n_tokens, m["pool"]["tokens"].get<int64_t>());
    EXPECT_EQ(kLayer, m["parameters"]["layer"].get<int>());
    EXPECT_EQ("l_out-1", m["parameters"]["llama_tensor"].get<std::string>());
    EXPECT_EQ(kCount, m["parameters"]["count"].get<int64_t>());
    EXPECT_EQ(kK, m["parameters"]["k"].get<int>());
    EXPECT_EQ("no-bos", m["parameters"]["tokens"].get<std::string>());
    EXPECT_EQ("mean", m["parameters"]["pooling"].get<std::string>());
    ASSERT_EQ(2u, m["targets"].size());
    const std::map<std::string, std::string> target_paths = {{"a", target_a_}, {"b", target_b_}};
    for (const auto& t : m["targets"]) {
        const std::string name = t["name"].get<std::string>();
        ASSERT_TRUE(target_paths.count(name)) << name;
        EXPECT_EQ(target_paths.at(name), t["path"].get<std::string>());
        EXPECT_EQ(sha256_file(target_paths.at(name)).value(), t["sha256"].get<std::string>());
        EXPECT_EQ(5, t["exemplars"].get<int>());
        EXPECT_EQ(kCount, t["selected"].get<int64_t>());
        EXPECT_GT(t["prototype_nnz"].get<int64_t>(), kK);
        EXPECT_GT(t["prototype_l1"].get<double>(), 0.0);
    }
}

// The whole method recomputed from per-sample residual rows with the naive references: SAE encode per token,
// mean over the non-BOS tokens, plain-mean prototype, dense Jaccard, full sort with the tie rule.
TEST_F(SelectE2eTest, MatchesAnIndependentRecomputation) {
    expect_success(*main_run_);
    SessionOptions options;
    options.model_path = model_;
    options.n_threads = 1;
    Result<Session> opened = Session::open(options);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    Session& session = opened.value();
    const reference::SaeReferenceParams& params = sae_->params;

    auto embed_file = [&](const std::string& path) {
        std::vector<std::vector<float>> pooled;
        const std::vector<std::string> lines = file_lines(path);
        for (size_t line_idx = 0; line_idx < lines.size(); ++line_idx) {
            Result<Sample> sample = parse_sample(lines[line_idx], InputFormat::kAuto, {path, line_idx + 1, line_idx});
            EXPECT_TRUE(sample.ok()) << sample.status().message();
            Result<TokenizedSample> tokens = session.tokenize(sample.value());
            EXPECT_TRUE(tokens.ok()) << tokens.status().message();
            const std::vector<int32_t>& toks = tokens->tokens;
            std::vector<float> rows;
            const Status st = session.capture({&toks}, kLayer, rows);  // one sample per decode call
            EXPECT_TRUE(st.ok()) << st.message();
            // no-bos drops position 0 whatever it is (BOS, or the template's first token: the tiny model's ChatML
            // template writes no BOS, and since issue 9 none is added, as in HF's apply_chat_template).
            const size_t first = toks.empty() ? 0 : 1;
            std::vector<std::vector<float>> codes;
            for (size_t token_idx = first; token_idx < toks.size(); ++token_idx) {
                std::vector<float> dense(kDSae, 0.0f);
                for (const auto& [latent, value] :
                     reference::sae_encode_reference(params, rows.data() + token_idx * 64)) {
                    dense[latent] = static_cast<float>(value);
                }
                codes.push_back(std::move(dense));
            }
            pooled.push_back(reference::pool_dense(codes, kDSae, /*mean=*/true));
        }
        return pooled;
    };
    auto prototype_of = [](const std::vector<std::vector<float>>& vecs) {
        std::vector<float> proto(kDSae);
        for (int64_t latent = 0; latent < kDSae; ++latent) {
            double sum = 0.0;
            for (const auto& v : vecs) sum += v[latent];
            proto[latent] = static_cast<float>(sum / static_cast<double>(vecs.size()));
        }
        return proto;
    };

    const std::vector<std::vector<float>> pool = embed_file(pool_);
    ASSERT_EQ(pool_samples_.size(), pool.size());
    const std::map<std::string, std::string> targets = {{"a", target_a_}, {"b", target_b_}};
    for (const auto& [name, path] : targets) {
        const std::vector<float> proto = prototype_of(embed_file(path));
        std::vector<double> scores;
        for (const auto& vec : pool) scores.push_back(reference::jaccard_dense(vec, proto));
        const std::vector<uint64_t> expected = reference::top_n_full_sort(scores, static_cast<size_t>(kCount));

        const std::vector<ScoreRow> rows = read_scores(main_out_ + "/" + name + "/scores.tsv");
        ASSERT_EQ(scores.size(), rows.size());
        for (size_t pos = 0; pos < rows.size(); ++pos) {
            EXPECT_NEAR(scores[pos], rows[pos].score, kScoreTol) << "target " << name << " record " << pos;
        }
        const std::vector<uint64_t> actual = selected_by_rank(rows);
        // The order must match exactly unless two reference scores near the cut are closer than the tolerance,
        // in which case swapping them is within numerical noise.
        const std::vector<uint64_t> all = reference::top_n_full_sort(scores, scores.size());
        double min_gap = 1.0;
        for (size_t rank = 0; rank + 1 < all.size() && rank <= static_cast<size_t>(kCount); ++rank) {
            min_gap = std::min(min_gap, scores[all[rank]] - scores[all[rank + 1]]);
        }
        if (min_gap > 2 * kScoreTol) {
            EXPECT_EQ(expected, actual) << "target " << name;
        } else {
            ASSERT_EQ(expected.size(), actual.size());
            for (size_t rank = 0; rank < expected.size(); ++rank) {
                EXPECT_NEAR(scores[expected[rank]], scores[actual[rank]], 2 * kScoreTol) << "rank " << rank + 1;
            }
        }
    }
}

TEST_F(SelectE2eTest, PicksTheTargetsFamilyFirst) {
    // Not a claim of the method on real models, a sanity check of this fixture: pool samples that share most of
    // their words with a target's exemplars should fill most of its selection.
    expect_success(*main_run_);
    const std::map<std::string, std::string> family = {{"a", "math"}, {"b", "cooking"}};
    for (const auto& [name, task] : family) {
        const std::vector<ScoreRow> rows = read_scores(main_out_ + "/" + name + "/scores.tsv");
        int n_same = 0;
        std::string picked;
        for (uint64_t record : selected_by_rank(rows)) {
            n_same += pool_samples_[record].task == task;
            picked += pool_samples_[record].task + " ";
        }
        EXPECT_GE(n_same, 6) << "target " << name << " picked: " << picked;
    }
}

TEST_F(SelectE2eTest, ThreadsAndBatchSizeDoNotChangeTheResult) {
    expect_success(*main_run_);
    const std::vector<std::pair<std::string, std::vector<std::string>>> variants = {
        {"threads2", {"--threads", "2", "--batch-tokens", "512"}},
        {"batch64", {"--threads", "1", "--batch-tokens", "64"}},
        {"batch4096", {"--threads", "1", "--batch-tokens", "4096"}},
    };
    for (const auto& [label, flags] : variants) {
        const std::string out = dir_ + "/out-" + label;
        const RunResult run = run_select(out, flags);
        expect_success(run);
        for (const char* target : {"a", "b"}) {
            const std::string rel = std::string("/") + target;
            EXPECT_EQ(fixtures::read_file(main_out_ + rel + "/selected.jsonl"),
                      fixtures::read_file(out + rel + "/selected.jsonl"))
                << label << " target " << target;
            const std::vector<ScoreRow> base = read_scores(main_out_ + rel + "/scores.tsv");
            const std::vector<ScoreRow> other = read_scores(out + rel + "/scores.tsv");
            ASSERT_EQ(base.size(), other.size());
            for (size_t pos = 0; pos < base.size(); ++pos) {
                EXPECT_NEAR(base[pos].score, other[pos].score, kScoreTol)
                    << label << " target " << target << " " << pos;
                EXPECT_EQ(base[pos].n_tokens, other[pos].n_tokens);
            }
        }
    }
}

TEST_F(SelectE2eTest, LayerContradictingTheSaeFolderFails) {
    const std::string out = dir_ + "/out-layer";
    const RunResult run = run_select(out, {"--layer", "1"});
    EXPECT_EQ(1, run.exit_code) << run.err;
    EXPECT_NE(std::string::npos, run.err.find("mona: error:")) << run.err;
    EXPECT_NE(std::string::npos, run.err.find("--layer 1")) << run.err;
    EXPECT_NE(std::string::npos, run.err.find("layer 2")) << run.err;
    EXPECT_TRUE(regular_files_under(out).empty());
}

TEST_F(SelectE2eTest, LayerComesFromTheFlagWhenTheSaeRecordsNone) {
    // An SAE folder whose name records no layer: --layer decides, and without it the penultimate n_layer - 1.
    Result<fixtures::TinySae> plain = fixtures::write_tiny_sparsify_sae(dir_ + "/sae_nolayer", 64, kDSae, kK, 7, "");
    ASSERT_TRUE(plain.ok()) << plain.status().message();
    const std::vector<std::tuple<std::vector<std::string>, int, std::string>> cases = {
        {{"--layer", "0"}, 0, "embd"},  // token embeddings (regression: was the never-computed `inp_embd`)
        {{}, 2, "l_out-1"},
    };
    for (const auto& [flags, layer, tensor] : cases) {
        const std::string out = dir_ + "/out-nolayer-" + std::to_string(layer);
        const RunResult run = run_select(out, flags, "", plain->folder);
        expect_success(run);
        nlohmann::json m = nlohmann::json::parse(fixtures::read_file(out + "/manifest.json"));
        EXPECT_EQ(layer, m["parameters"]["layer"].get<int>());
        EXPECT_EQ(tensor, m["parameters"]["llama_tensor"].get<std::string>());
        const std::string report = fixtures::read_file(out + "/report.html");
        EXPECT_NE(std::string::npos, report.find("llama.cpp " + tensor)) << "report settings name the tensor";
        EXPECT_EQ(std::string::npos, report.find("l_out--1"));
    }
}

TEST_F(SelectE2eTest, SaeOfTheWrongWidthFails) {
    Result<fixtures::TinySae> narrow = fixtures::write_tiny_sparsify_sae(dir_ + "/sae32", 32, 64, 4, 9, "layers.1");
    ASSERT_TRUE(narrow.ok()) << narrow.status().message();
    const std::string out = dir_ + "/out-width";
    const RunResult run = run_select(out, {}, "", narrow->folder);
    EXPECT_EQ(1, run.exit_code) << run.err;
    EXPECT_NE(std::string::npos, run.err.find("d_in = 32")) << run.err;
    EXPECT_NE(std::string::npos, run.err.find("n_embd = 64")) << run.err;
    EXPECT_NE(std::string::npos, run.err.find(narrow->folder)) << run.err;
    EXPECT_TRUE(regular_files_under(out).empty());
}

TEST_F(SelectE2eTest, MalformedPoolLineFailsAndWritesNothing) {
    const std::vector<std::pair<uint64_t, std::string>> cases = {
        {7, R"({"id": "bad", "messages": [{"role": "user", "content": 5}]})"},
        {3, R"({"messages": [{"role": "user", "content": "unterminated)"},
    };
    for (const auto& [line_no, bad] : cases) {
        const std::string name = "pool_bad" + std::to_string(line_no) + ".jsonl";
        const std::string pool = write_bad_pool(name, line_no, bad);
        const std::string out = dir_ + "/out-bad" + std::to_string(line_no);
        const RunResult run = run_select(out, {}, pool);
        EXPECT_EQ(1, run.exit_code) << run.err;
        EXPECT_NE(std::string::npos, run.err.find(name + ":" + std::to_string(line_no))) << run.err;
        EXPECT_NE(std::string::npos, run.err.find("--skip-bad")) << run.err;
        EXPECT_TRUE(regular_files_under(out).empty()) << "--out must hold no file after a failed run";
    }
}

// A run killed while writing leaves <out>/.mona-staging-<host>-<pid>/ behind; the next run into the same folder
// removes it when that pid is gone, and leaves alone a live run's folder and other hosts' folders.
TEST_F(SelectE2eTest, StaleStagingFoldersOfDeadRunsAreRemoved) {
    const std::string out = dir_ + "/out-stale";
    char host[256] = {0};
    ASSERT_EQ(0, ::gethostname(host, sizeof(host) - 1));
    std::string name(host);
    for (char& c : name) {
        if (c == '/' || c == '-') c = '_';
    }
    const std::string dead = out + "/.mona-staging-" + name + "-999999999";  // above any pid_max
    const std::string alive = out + "/.mona-staging-" + name + "-" + std::to_string(::getpid());
    const std::string other_host = out + "/.mona-staging-some_other_host-999999999";
    for (const std::string& d : {dead, alive, other_host}) {
        fs::create_directories(d + "/math");
        std::ofstream(d + "/math/scores.tsv") << "partial\n";
    }
    const RunResult run = run_select(out, {});
    ASSERT_EQ(0, run.exit_code) << run.err;
    EXPECT_FALSE(fs::exists(dead)) << "the dead run's staging folder stays";
    EXPECT_TRUE(fs::exists(alive)) << "a live process's staging folder was removed";
    EXPECT_TRUE(fs::exists(other_host)) << "another host's staging folder was removed";
    EXPECT_TRUE(fs::is_regular_file(out + "/a/selected.jsonl"));
}

TEST_F(SelectE2eTest, SkipBadSkipsAndListsTheLine) {
    const std::string pool =
        write_bad_pool("pool_skip.jsonl", 7, R"({"id": "bad", "messages": [{"role": "user", "content": 5}]})");
    const std::string out = dir_ + "/out-skip";
    const RunResult run = run_select(out, {"--skip-bad"}, pool);
    expect_success(run);
    const std::vector<std::string> skipped = file_lines(out + "/skipped.tsv");
    ASSERT_EQ(2u, skipped.size()) << fixtures::read_file(out + "/skipped.tsv");
    EXPECT_EQ("file\tline\trecord\terror", skipped[0]);
    const std::vector<std::string> f = split(skipped[1], '\t');
    ASSERT_EQ(4u, f.size());
    EXPECT_EQ(pool, f[0]);
    EXPECT_EQ("7", f[1]);
    EXPECT_EQ("6", f[2]);
    EXPECT_NE(std::string::npos, f[3].find("content")) << f[3];

    for (const char* target : {"a", "b"}) {
        const std::vector<ScoreRow> rows = read_scores(out + "/" + target + "/scores.tsv");
        ASSERT_EQ(pool_samples_.size() - 1, rows.size());
        std::string expected;
        for (uint64_t record : selected_by_rank(rows)) {
            ASSERT_NE(6u, record);
            expected += pool_lines_[record] + "\n";
        }
        for (const auto& row : rows) EXPECT_NE(7u, row.line);
        EXPECT_EQ(expected, fixtures::read_file(out + "/" + target + "/selected.jsonl")) << target;
    }
    nlohmann::json m = nlohmann::json::parse(fixtures::read_file(out + "/manifest.json"));
    EXPECT_EQ(39, m["pool"]["read"].get<int>());
    EXPECT_EQ(1, m["pool"]["skipped"].get<int>());
    EXPECT_TRUE(m["parameters"]["skip_bad"].get<bool>());
}

// The report's "why" (jobs/why_latents): each target's latents are shown on tokens of its top selected samples.
TEST_F(SelectE2eTest, ReportExplainsTheSelectionWithLatentsFiringInTheTopSamples) {
    const std::string out = dir_ + "/out-why";
    const RunResult run = run_select(out, {});
    expect_success(run);
    const std::string report = fixtures::read_file(out + "/report.html");
    for (const std::string target : {"a", "b"}) {
        const size_t t = target == "a" ? 0 : 1;
        const size_t begin = report.find("<section id=\"target-" + std::to_string(t) + "-why\">");
        ASSERT_NE(std::string::npos, begin) << report;
        const std::string why = report.substr(begin, report.find("</section>", begin) - begin);
        ASSERT_NE(std::string::npos, why.find("<table class=\"why\">")) << why;
        ASSERT_NE(std::string::npos, why.find("<mark>")) << why;
        // The ids of the first kWhySamples selected samples: every context must come from one of them.
        std::set<std::string> top_ids;
        std::istringstream selected(fixtures::read_file(out + "/" + target + "/selected.jsonl"));
        std::string line;
        while (top_ids.size() < 5 && std::getline(selected, line)) {
            top_ids.insert(nlohmann::json::parse(line)["id"].get<std::string>());
        }
        const std::regex context(R"(<span class="muted">\(([^,]+), ([^)]+)\)</span>)");
        int n_contexts = 0;
        for (auto it = std::sregex_iterator(why.begin(), why.end(), context); it != std::sregex_iterator(); ++it) {
            EXPECT_GT(std::stod((*it)[1].str()), 0.0);
            EXPECT_TRUE(top_ids.count((*it)[2].str())) << (*it)[2].str() << " is not a top selected sample";
            ++n_contexts;
        }
        EXPECT_GT(n_contexts, 0) << why;
    }
}

}  // namespace
}  // namespace mona
