// End-to-end tests of `mona eval`: the real binary (MONA_BIN) on a tiny random-weight llama GGUF, a tiny sparsify SAE
// and a 40-sample labelled pool (four families), with the targets `math` and `cooking`. Every method's scores are
// checked against an independent recomputation (naive references: per-sample capture, dense SAE encode, dense
// Jaccard/cosine, a hand-written BM25 and Fisher-Yates), `mona` against `mona select` bit for bit, the metrics in
// eval.json against a recount from the selections, and the report's structure. Error paths: bad method options
// and an unknown method leave --out empty.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "capture/session.hpp"
#include "eval/eval.hpp"
#include "integration/run_util.hpp"
#include "integration/tiny_model_util.hpp"
#include "reference/sae_reference.hpp"
#include "reference/score_reference.hpp"
#include "score/dedup.hpp"
#include "text/formats.hpp"

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

constexpr int32_t kLayer = 2;  // SAE folder layers.1 = HF hidden_states[2]
constexpr int64_t kDIn = 64;
constexpr int64_t kDSae = 256;
constexpr int32_t kK = 8;
constexpr int64_t kCount = 8;
constexpr uint64_t kSeed = 3;
constexpr double kScoreTol = 1e-5;
const std::vector<std::string> kMethods = {"mona", "sae-cosine", "raw-cosine", "bm25", "random"};
const std::vector<std::string> kTargets = {"math", "cooking"};

// A TSV file as header + rows of named fields.
struct Table {
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
    size_t col(const std::string& name) const {
        auto it = std::find(header.begin(), header.end(), name);
        EXPECT_NE(it, header.end()) << "no column " << name;
        return it == header.end() ? 0 : static_cast<size_t>(it - header.begin());
    }
};

Table read_tsv(const std::string& path) {
    Table t;
    std::vector<std::string> lines = file_lines(path);
    EXPECT_FALSE(lines.empty()) << path;
    if (lines.empty()) return t;
    t.header = split(lines[0], '\t');
    for (size_t line_idx = 1; line_idx < lines.size(); ++line_idx) {
        t.rows.push_back(split(lines[line_idx], '\t'));
        EXPECT_EQ(t.header.size(), t.rows.back().size()) << path << ":" << line_idx + 1;
    }
    return t;
}

// Pool positions selected by `method`, rank order, from <target>/selections.tsv.
std::vector<uint64_t> selection_of(const Table& sel, const std::string& method) {
    std::vector<std::pair<uint64_t, uint64_t>> ranked;
    for (const auto& row : sel.rows) {
        if (row[sel.col("method")] == method)
            ranked.push_back({std::stoull(row[sel.col("rank")]), std::stoull(row[sel.col("position")])});
    }
    std::sort(ranked.begin(), ranked.end());
    std::vector<uint64_t> out;
    for (const auto& [rank, pos] : ranked) out.push_back(pos);
    return out;
}

std::vector<double> score_column(const Table& scores, const std::string& method) {
    std::vector<double> out;
    for (const auto& row : scores.rows) out.push_back(std::stod(row[scores.col("score_" + method)]));
    return out;
}

std::string text_of(const LabelledSample& s) { return s.user + "\n" + s.assistant; }

// Lowercased runs of ASCII letters and digits: the documented tokeniser, restricted to the ASCII fixture texts.
std::vector<std::string> ascii_words(const std::string& text) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : text + " ") {
        if (std::isalnum(static_cast<unsigned char>(c))) {
            cur += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        } else if (!cur.empty()) {
            out.push_back(cur);
            cur.clear();
        }
    }
    return out;
}

// Okapi BM25 (k1 1.2, b 0.75, Lucene IDF) of the prototype query w(t) = (1/M) Σ_j tf(t, e_j) / |e_j|, written out.
std::vector<double> naive_bm25(const std::vector<std::string>& docs, const std::vector<std::string>& exemplars) {
    const double k1 = 1.2, b = 0.75;
    std::vector<std::map<std::string, double>> tf(docs.size());
    std::vector<double> len(docs.size());
    std::map<std::string, double> df;
    double total = 0;
    for (size_t d = 0; d < docs.size(); ++d) {
        const auto words = ascii_words(docs[d]);
        len[d] = static_cast<double>(words.size());
        total += len[d];
        for (const auto& w : words) tf[d][w] += 1;
        for (const auto& [w, n] : tf[d]) df[w] += 1;
    }
    const double n_docs = static_cast<double>(docs.size());
    const double avgdl = total / n_docs;
    std::map<std::string, double> query;
    for (const auto& e : exemplars) {
        const auto words = ascii_words(e);
        for (const auto& w : words)
            query[w] += 1.0 / static_cast<double>(words.size()) / static_cast<double>(exemplars.size());
    }
    std::vector<double> scores(docs.size(), 0.0);
    for (size_t d = 0; d < docs.size(); ++d) {
        for (const auto& [w, weight] : query) {
            auto it = tf[d].find(w);
            if (it == tf[d].end()) continue;
            const double idf = std::log(1.0 + (n_docs - df[w] + 0.5) / (df[w] + 0.5));
            const double f = it->second;
            scores[d] += weight * idf * f * (k1 + 1) / (f + k1 * (1 - b + b * len[d] / avgdl));
        }
    }
    return scores;
}

// Partial Fisher-Yates over an explicit array with std::mt19937_64(seed), uniform draws by rejection of x < 2^64 mod m.
std::vector<uint64_t> naive_random(uint64_t n_pool, uint64_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<uint64_t> slots(n_pool);
    for (uint64_t pos = 0; pos < n_pool; ++pos) slots[pos] = pos;
    std::vector<uint64_t> out;
    for (uint64_t draw = 0; draw < std::min(n, n_pool); ++draw) {
        const uint64_t m = n_pool - draw;
        const uint64_t reject_below = (0 - m) % m;
        uint64_t x = rng();
        while (x < reject_below) x = rng();
        std::swap(slots[draw], slots[draw + x % m]);
        out.push_back(slots[draw]);
    }
    return out;
}

double dense_cosine(const std::vector<double>& a, const std::vector<double>& b) {
    double dot = 0, na = 0, nb = 0;
    for (size_t k = 0; k < a.size(); ++k) {
        dot += a[k] * b[k];
        na += a[k] * a[k];
        nb += b[k] * b[k];
    }
    return na == 0 || nb == 0 ? 0.0 : dot / (std::sqrt(na) * std::sqrt(nb));
}

size_t count(const std::string& haystack, const std::string& needle) {
    size_t n = 0;
    for (size_t pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + 1)) ++n;
    return n;
}

// Per sample, recomputed from a capture of the sample alone: the dense mean-pooled SAE vector and the mean raw row,
// both over every token but the first (--tokens no-bos).
struct Embedded {
    std::vector<float> sae;
    std::vector<double> raw;
};

class EvalE2eTest : public ::testing::Test {
   protected:
    static void SetUpTestSuite() {
        keep_dir_ = std::getenv("MONA_KEEP_TEST_DIR") != nullptr;  // set it to keep the folder after a failure
        // Flags may come from MONA_<NAME> environment variables; none may leak into these runs.
        fixtures::unset_mona_environment();
        dir_ = fixtures::make_temp_dir("mona-eval-e2e");
        ASSERT_FALSE(dir_.empty());
        model_ = dir_ + "/tiny.gguf";
        fixtures::TinyModelSpec spec;
        spec.n_layer = 3;
        const Status written = fixtures::write_tiny_llama_gguf(model_, spec);
        ASSERT_TRUE(written.ok()) << written.message();
        Result<fixtures::TinySae> sae =
            fixtures::write_tiny_sparsify_sae(dir_ + "/sae", kDIn, kDSae, kK, 7, "layers.1");
        ASSERT_TRUE(sae.ok()) << sae.status().message();
        sae_ = new fixtures::TinySae(std::move(sae).value());
        pool_samples_ = fixtures::make_labelled_pool(10);
        pool_ = dir_ + "/pool.jsonl";
        ASSERT_TRUE(fixtures::write_jsonl(pool_, pool_samples_).ok());
        for (const auto& task : kTargets) {
            target_samples_[task] = fixtures::make_target_exemplars(task, 5);
            target_paths_[task] = dir_ + "/target_" + task + ".jsonl";
            ASSERT_TRUE(fixtures::write_jsonl(target_paths_[task], target_samples_[task]).ok());
        }
        std::vector<std::string> extra = {"--seed", std::to_string(kSeed)};
        for (const auto& m : kMethods) {
            extra.push_back("--method");
            extra.push_back(m);
        }
        out_ = dir_ + "/out-eval";
        eval_run_ = new RunResult(run_mona(common_args("eval", out_, extra)));
        select_out_ = dir_ + "/out-select";
        select_run_ = new RunResult(run_mona(common_args("select", select_out_, {})));
    }

    static void TearDownTestSuite() {
        std::error_code ec;
        if (!dir_.empty() && !keep_dir_) fs::remove_all(dir_, ec);
        delete sae_;
        delete eval_run_;
        delete select_run_;
        sae_ = nullptr;
        eval_run_ = select_run_ = nullptr;
    }

    void SetUp() override {
        if (eval_run_ == nullptr) GTEST_SKIP() << "fixture setup failed";
        ASSERT_EQ(0, eval_run_->exit_code) << "stderr:\n" << eval_run_->err << "\nstdout:\n" << eval_run_->out;
    }

    static std::vector<std::string> common_args(const std::string& verb, const std::string& out,
                                                const std::vector<std::string>& extra) {
        std::vector<std::string> args = {
            verb,    "--model", model_,      "--sae", sae_->folder, "--pool", pool_, "--count", std::to_string(kCount),
            "--out", out,       "--threads", "1",     "--quiet"};
        for (const auto& task : kTargets) {
            args.push_back("--target");
            args.push_back(task + "=" + target_paths_[task]);
        }
        args.insert(args.end(), extra.begin(), extra.end());
        return args;
    }

    static RunResult run_mona(const std::vector<std::string>& args) {
        return fixtures::run_binary(MONA_BIN, args, dir_);
    }

    static nlohmann::json eval_json() { return nlohmann::json::parse(fixtures::read_file(out_ + "/eval.json")); }

    // The independent recomputation, once per suite.
    static const std::vector<Embedded>& reference_pool() {
        if (reference_pool_.empty()) reference_pool_ = embed_all(pool_samples_);
        return reference_pool_;
    }

    static std::vector<Embedded> embed_all(const std::vector<LabelledSample>& samples) {
        SessionOptions options;
        options.model_path = model_;
        options.n_threads = 1;
        Result<Session> opened = Session::open(options);
        EXPECT_TRUE(opened.ok()) << opened.status().message();
        if (!opened.ok()) return {};
        Session& session = opened.value();
        std::vector<Embedded> out;
        for (size_t idx = 0; idx < samples.size(); ++idx) {
            Result<Sample> sample =
                parse_sample(fixtures::sample_json_line(samples[idx]), InputFormat::kAuto, {"fixture", idx + 1, idx});
            EXPECT_TRUE(sample.ok()) << sample.status().message();
            Result<TokenizedSample> tokens = session.tokenize(sample.value());
            EXPECT_TRUE(tokens.ok()) << tokens.status().message();
            const std::vector<int32_t>& toks = tokens->tokens;
            std::vector<float> rows;
            EXPECT_TRUE(session.capture({&toks}, kLayer, rows).ok());
            Embedded e;
            e.raw.assign(kDIn, 0.0);
            std::vector<std::vector<float>> codes;
            for (size_t token_idx = 1; token_idx < toks.size(); ++token_idx) {  // no-bos: every token but the first
                std::vector<float> dense(kDSae, 0.0f);
                for (const auto& [latent, value] :
                     reference::sae_encode_reference(sae_->params, rows.data() + token_idx * kDIn)) {
                    dense[latent] = static_cast<float>(value);
                }
                codes.push_back(std::move(dense));
                for (int64_t col = 0; col < kDIn; ++col) e.raw[col] += rows[token_idx * kDIn + col];
            }
            for (double& v : e.raw) v /= static_cast<double>(toks.size() - 1);
            e.sae = reference::pool_dense(codes, kDSae, /*mean=*/true);
            out.push_back(std::move(e));
        }
        return out;
    }

    static std::string dir_, model_, pool_, out_, select_out_;
    static fixtures::TinySae* sae_;
    static std::vector<LabelledSample> pool_samples_;
    static std::map<std::string, std::vector<LabelledSample>> target_samples_;
    static std::map<std::string, std::string> target_paths_;
    static RunResult* eval_run_;
    static RunResult* select_run_;
    static std::vector<Embedded> reference_pool_;
    static bool keep_dir_;
};

std::string EvalE2eTest::dir_, EvalE2eTest::model_, EvalE2eTest::pool_, EvalE2eTest::out_, EvalE2eTest::select_out_;
fixtures::TinySae* EvalE2eTest::sae_ = nullptr;
std::vector<LabelledSample> EvalE2eTest::pool_samples_;
std::map<std::string, std::vector<LabelledSample>> EvalE2eTest::target_samples_;
std::map<std::string, std::string> EvalE2eTest::target_paths_;
RunResult* EvalE2eTest::eval_run_ = nullptr;
RunResult* EvalE2eTest::select_run_ = nullptr;
std::vector<Embedded> EvalE2eTest::reference_pool_;
bool EvalE2eTest::keep_dir_ = false;

TEST_F(EvalE2eTest, WritesEveryOutputAndNoStagingFolder) {
    for (const std::string rel : {"eval.json", "eval.md", "report.html", "math/scores.tsv", "math/selections.tsv",
                                  "cooking/scores.tsv", "cooking/selections.tsv"}) {
        EXPECT_TRUE(fs::is_regular_file(out_ + "/" + rel)) << rel;
    }
    for (const auto& entry : fs::directory_iterator(out_))
        EXPECT_EQ(std::string::npos, entry.path().filename().string().find("staging")) << entry.path();
    EXPECT_NE(std::string::npos, eval_run_->out.find("target\tmethod\tprecision@n\trecall@n\n")) << eval_run_->out;
    EXPECT_NE(std::string::npos, eval_run_->out.find("math\tmona\t")) << eval_run_->out;
    const nlohmann::json j = eval_json();
    EXPECT_EQ(kMethods, j["methods"].get<std::vector<std::string>>());
    EXPECT_EQ(40u, j["n_pool"].get<uint64_t>());
    EXPECT_EQ(static_cast<uint64_t>(kCount), j["n_select"].get<uint64_t>());
    EXPECT_EQ(kSeed, j["config"]["parameters"]["seed"].get<uint64_t>());
    EXPECT_EQ(kLayer, j["config"]["parameters"]["layer"].get<int>());
    EXPECT_EQ(kK, j["config"]["parameters"]["k"].get<int>());
    EXPECT_EQ("mean", j["config"]["parameters"]["pooling"].get<std::string>());
    EXPECT_EQ(64u, j["config"]["model"]["sha256"].get<std::string>().size());
    EXPECT_EQ(pool_, j["config"]["pool"]["path"].get<std::string>());
}

// `mona` in eval is exactly `mona select`: same scores (as printed, %.9g) and the same selection.
// --finetune holds every Kth exemplar back: with K = 2, exemplars 1 and 3 of each target are held back, so every
// method's scores must equal those of a run without --finetune whose target files hold exemplars 0, 2 and 4 only.
// A held-back exemplar reaching a prototype (or BM25's query, or the raw mean) changes the scores and fails this.
TEST_F(EvalE2eTest, FinetuneKeepsHeldBackExemplarsOutOfEveryPrototype) {
    const std::string out = dir_ + "/out-finetune";
    std::vector<std::string> methods = {"--seed", std::to_string(kSeed)};
    for (const char* m : {"mona", "bm25", "raw-cosine", "random"}) {
        methods.push_back("--method");
        methods.push_back(m);
    }
    std::vector<std::string> extra = methods;
    for (const char* flag : {"--finetune", "--finetune-heldout-every", "2", "--finetune-samples", "2",
                             "--finetune-seeds", "3", "--finetune-eval", "5"}) {
        extra.push_back(flag);
    }
    const RunResult run = run_mona(common_args("eval", out, extra));
    ASSERT_EQ(0, run.exit_code) << run.err;

    // The same eval without --finetune on the prototype exemplars alone.
    std::vector<std::string> args = {"eval",
                                     "--model",
                                     model_,
                                     "--sae",
                                     sae_->folder,
                                     "--pool",
                                     pool_,
                                     "--count",
                                     std::to_string(kCount),
                                     "--out",
                                     dir_ + "/out-prototype-only",
                                     "--threads",
                                     "1",
                                     "--quiet"};
    for (const auto& task : kTargets) {
        std::vector<LabelledSample> kept;
        for (size_t i = 0; i < target_samples_[task].size(); ++i) {
            if (i % 2 == 0) kept.push_back(target_samples_[task][i]);
        }
        const std::string path = dir_ + "/prototype_only_" + task + ".jsonl";
        ASSERT_TRUE(fixtures::write_jsonl(path, kept).ok());
        args.push_back("--target");
        args.push_back(task + "=" + path);
    }
    args.insert(args.end(), methods.begin(), methods.end());
    const RunResult plain = run_mona(args);
    ASSERT_EQ(0, plain.exit_code) << plain.err;
    for (const auto& task : kTargets) {
        const Table a = read_tsv(out + "/" + task + "/scores.tsv");
        const Table b = read_tsv(dir_ + "/out-prototype-only/" + task + "/scores.tsv");
        ASSERT_EQ(a.rows.size(), b.rows.size());
        for (const char* m : {"mona", "bm25", "raw-cosine"}) {
            EXPECT_EQ(score_column(a, m), score_column(b, m)) << task << " " << m;
        }
    }

    // eval.json's finetune section: the split's counts, every run, reduction = base - tuned, paired differences.
    const nlohmann::json ft = nlohmann::json::parse(fixtures::read_file(out + "/eval.json")).at("finetune");
    ASSERT_EQ(ft.at("targets").size(), kTargets.size());
    for (const auto& t : ft.at("targets")) {
        EXPECT_EQ(t.at("prototype_exemplars").get<int64_t>(), 3);
        EXPECT_EQ(t.at("heldout_exemplars").get<int64_t>(), 2);
        const double base = t.at("base_loss").get<double>();
        EXPECT_GT(base, 0.0);
        for (const char* m : {"mona", "bm25", "raw-cosine", "random"}) {
            const auto& mj = t.at("methods").at(m);
            const size_t n_runs = std::string(m) == "random" ? 3 : 1;
            ASSERT_EQ(mj.at("runs").size(), n_runs) << m;
            double sum = 0.0;
            for (const auto& r : mj.at("runs")) {
                EXPECT_EQ(r.at("train_samples").get<int64_t>(), 2);
                EXPECT_DOUBLE_EQ(r.at("reduction").get<double>(), base - r.at("tuned_loss").get<double>());
                sum += r.at("reduction").get<double>();
            }
            EXPECT_NEAR(mj.at("reduction").get<double>(), sum / static_cast<double>(n_runs), 1e-12);
        }
        for (const char* m : {"bm25", "raw-cosine", "random"}) {
            EXPECT_NEAR(t.at("paired_mona_minus").at(m).get<double>(),
                        t.at("methods").at("mona").at("reduction").get<double>() -
                            t.at("methods").at(m).at("reduction").get<double>(),
                        1e-12);
        }
    }
    const std::string md = fixtures::read_file(out + "/eval.md");
    EXPECT_NE(md.find("## Fine-tuning"), std::string::npos);
}

// --finetune-* options without --finetune are usage errors.
TEST_F(EvalE2eTest, FinetuneOptionsNeedFinetune) {
    const RunResult run = run_mona(common_args("eval", dir_ + "/out-ft-usage", {"--finetune-epochs", "2"}));
    EXPECT_EQ(2, run.exit_code) << run.err;
    EXPECT_NE(run.err.find("needs --finetune"), std::string::npos) << run.err;
}

TEST_F(EvalE2eTest, MonaScoresEqualSelectScores) {
    ASSERT_EQ(0, select_run_->exit_code) << select_run_->err;
    for (const auto& task : kTargets) {
        const Table select_scores = read_tsv(select_out_ + "/" + task + "/scores.tsv");
        const Table eval_scores = read_tsv(out_ + "/" + task + "/scores.tsv");
        ASSERT_EQ(select_scores.rows.size(), eval_scores.rows.size());
        std::vector<std::pair<uint64_t, uint64_t>> select_ranked;
        for (size_t pos = 0; pos < eval_scores.rows.size(); ++pos) {
            EXPECT_EQ(select_scores.rows[pos][select_scores.col("score")],
                      eval_scores.rows[pos][eval_scores.col("score_mona")])
                << task << " record " << pos;
            EXPECT_EQ(select_scores.rows[pos][select_scores.col("n_tokens")],
                      eval_scores.rows[pos][eval_scores.col("n_tokens")]);
            if (select_scores.rows[pos][select_scores.col("selected")] == "1")
                select_ranked.push_back({std::stoull(select_scores.rows[pos][select_scores.col("rank")]), pos});
        }
        std::sort(select_ranked.begin(), select_ranked.end());
        std::vector<uint64_t> select_selection;
        for (const auto& [rank, pos] : select_ranked) select_selection.push_back(pos);
        EXPECT_EQ(select_selection, selection_of(read_tsv(out_ + "/" + task + "/selections.tsv"), "mona")) << task;
    }
}

// mona, sae-cosine and raw-cosine against per-sample captures, the naive SAE encoder and dense similarities.
// --pooling and --k change the SAE methods exactly as in `mona select`, and leave raw-cosine alone.
TEST_F(EvalE2eTest, PoolingAndKApplyToTheSaeMethodsAsInSelect) {
    const std::vector<std::string> ablation = {"--pooling", "sum", "--k", "4"};
    const std::string eval_out = dir_ + "/out-eval-sum";
    std::vector<std::string> extra = ablation;
    for (const char* m : {"mona", "raw-cosine"}) {
        extra.push_back("--method");
        extra.push_back(m);
    }
    const RunResult eval_run = run_mona(common_args("eval", eval_out, extra));
    ASSERT_EQ(0, eval_run.exit_code) << eval_run.err;
    const std::string select_out = dir_ + "/out-select-sum";
    const RunResult select_run = run_mona(common_args("select", select_out, ablation));
    ASSERT_EQ(0, select_run.exit_code) << select_run.err;
    const nlohmann::json j = nlohmann::json::parse(fixtures::read_file(eval_out + "/eval.json"));
    EXPECT_EQ("sum", j["config"]["parameters"]["pooling"].get<std::string>());
    EXPECT_EQ(4, j["config"]["parameters"]["k"].get<int>());
    for (const auto& task : kTargets) {
        const Table select_scores = read_tsv(select_out + "/" + task + "/scores.tsv");
        const Table eval_scores = read_tsv(eval_out + "/" + task + "/scores.tsv");
        const Table main_scores = read_tsv(out_ + "/" + task + "/scores.tsv");
        ASSERT_EQ(select_scores.rows.size(), eval_scores.rows.size());
        size_t n_changed = 0;
        for (size_t pos = 0; pos < eval_scores.rows.size(); ++pos) {
            EXPECT_EQ(select_scores.rows[pos][select_scores.col("score")],
                      eval_scores.rows[pos][eval_scores.col("score_mona")])
                << task << " record " << pos;
            EXPECT_EQ(main_scores.rows[pos][main_scores.col("score_raw-cosine")],
                      eval_scores.rows[pos][eval_scores.col("score_raw-cosine")])
                << task << " record " << pos;
            n_changed += main_scores.rows[pos][main_scores.col("score_mona")] !=
                         eval_scores.rows[pos][eval_scores.col("score_mona")];
        }
        EXPECT_GT(n_changed, 0u) << "sum pooling and k 4 must change the mona scores";
    }
}

TEST_F(EvalE2eTest, ModelMethodsMatchAnIndependentRecomputation) {
    const std::vector<Embedded>& pool = reference_pool();
    ASSERT_EQ(pool_samples_.size(), pool.size());
    for (const auto& task : kTargets) {
        const std::vector<Embedded> targets = embed_all(target_samples_[task]);
        std::vector<float> proto(kDSae, 0.0f);
        for (int64_t latent = 0; latent < kDSae; ++latent) {
            double sum = 0;
            for (const auto& t : targets) sum += t.sae[latent];
            proto[latent] = static_cast<float>(sum / static_cast<double>(targets.size()));
        }
        std::vector<double> raw_proto(kDIn, 0.0);
        for (const auto& t : targets) {
            for (int64_t col = 0; col < kDIn; ++col) raw_proto[col] += t.raw[col] / static_cast<double>(targets.size());
        }
        std::map<std::string, std::vector<double>> expected;
        for (const auto& e : pool) {
            expected["mona"].push_back(reference::jaccard_dense(e.sae, proto));
            expected["sae-cosine"].push_back(reference::cosine_dense(e.sae, proto));
            expected["raw-cosine"].push_back(dense_cosine(e.raw, raw_proto));
        }
        const Table scores = read_tsv(out_ + "/" + task + "/scores.tsv");
        const Table sel = read_tsv(out_ + "/" + task + "/selections.tsv");
        for (const auto& [method, want] : expected) {
            const std::vector<double> got = score_column(scores, method);
            ASSERT_EQ(want.size(), got.size());
            for (size_t pos = 0; pos < want.size(); ++pos)
                EXPECT_NEAR(want[pos], got[pos], kScoreTol) << task << " " << method << " record " << pos;
            // The selection is the top n of the reference scores, unless two scores near the cut are closer than
            // the tolerance (then a swap is numerical noise, and only the scores must agree).
            const std::vector<uint64_t> all = reference::top_n_full_sort(want, want.size());
            double min_gap = 1.0;
            for (size_t rank = 0; rank + 1 < all.size() && rank <= static_cast<size_t>(kCount); ++rank)
                min_gap = std::min(min_gap, want[all[rank]] - want[all[rank + 1]]);
            const std::vector<uint64_t> actual = selection_of(sel, method);
            const std::vector<uint64_t> top = reference::top_n_full_sort(want, kCount);
            if (min_gap > 2 * kScoreTol) {
                EXPECT_EQ(top, actual) << task << " " << method;
            } else {
                ASSERT_EQ(top.size(), actual.size());
                for (size_t rank = 0; rank < top.size(); ++rank)
                    EXPECT_NEAR(want[top[rank]], want[actual[rank]], 2 * kScoreTol) << method << " rank " << rank + 1;
            }
        }
    }
}

TEST_F(EvalE2eTest, Bm25MatchesAHandWrittenBm25) {
    std::vector<std::string> docs;
    for (const auto& s : pool_samples_) docs.push_back(text_of(s));
    for (const auto& task : kTargets) {
        std::vector<std::string> exemplars;
        for (const auto& s : target_samples_[task]) exemplars.push_back(text_of(s));
        const std::vector<double> want = naive_bm25(docs, exemplars);
        const Table scores = read_tsv(out_ + "/" + task + "/scores.tsv");
        const std::vector<double> got = score_column(scores, "bm25");
        ASSERT_EQ(want.size(), got.size());
        double max_score = 0;
        for (double v : want) max_score = std::max(max_score, v);
        EXPECT_GT(max_score, 0.0);
        for (size_t pos = 0; pos < want.size(); ++pos)
            EXPECT_NEAR(want[pos], got[pos], 1e-8 * max_score) << task << " record " << pos;
        EXPECT_EQ(reference::top_n_full_sort(got, kCount),
                  selection_of(read_tsv(out_ + "/" + task + "/selections.tsv"), "bm25"));
    }
}

TEST_F(EvalE2eTest, RandomIsTheSeededDrawForEveryTarget) {
    const std::vector<uint64_t> want = naive_random(pool_samples_.size(), kCount, kSeed);
    for (const auto& task : kTargets) {
        const Table sel = read_tsv(out_ + "/" + task + "/selections.tsv");
        EXPECT_EQ(want, selection_of(sel, "random")) << task;
        for (const auto& row : sel.rows) {
            if (row[sel.col("method")] == "random") {
                EXPECT_EQ("", row[sel.col("score")]);
            }
        }
        const std::vector<std::string> header = read_tsv(out_ + "/" + task + "/scores.tsv").header;
        EXPECT_EQ(header.end(), std::find(header.begin(), header.end(), "score_random")) << "random has no scores";
    }
    // Another seed, and only model-free methods (no model pass): a different draw, the same rule.
    const std::string out = dir_ + "/out-seed";
    const RunResult run = run_mona(common_args("eval", out, {"--method", "random", "--seed", "11"}));
    ASSERT_EQ(0, run.exit_code) << run.err;
    const std::vector<uint64_t> other = selection_of(read_tsv(out + "/math/selections.tsv"), "random");
    EXPECT_EQ(naive_random(pool_samples_.size(), kCount, 11), other);
    EXPECT_NE(want, other);
    const nlohmann::json j = nlohmann::json::parse(fixtures::read_file(out + "/eval.json"));
    EXPECT_TRUE(j["config"]["parameters"]["layer"].is_null()) << "no model method, no layer";
}

// precision@n, recall@n, composition and overlap in eval.json, recounted from selections.tsv and the pool labels.
TEST_F(EvalE2eTest, MetricsInJsonMatchARecountFromTheSelections) {
    const nlohmann::json j = eval_json();
    ASSERT_EQ(kTargets.size(), j["targets"].size());
    std::map<std::string, std::map<std::string, double>> precision_by_method;
    for (size_t target_idx = 0; target_idx < kTargets.size(); ++target_idx) {
        const std::string task = kTargets[target_idx];
        const auto& jt = j["targets"][target_idx];
        EXPECT_EQ(task, jt["name"].get<std::string>());
        const Table sel = read_tsv(out_ + "/" + task + "/selections.tsv");
        const Table scores = read_tsv(out_ + "/" + task + "/scores.tsv");
        uint64_t n_label = 0;
        for (const auto& s : pool_samples_) n_label += s.task == task;
        EXPECT_EQ(n_label, jt["pool_label_count"].get<uint64_t>());
        std::map<std::string, std::set<uint64_t>> sets;
        for (const auto& method : kMethods) {
            const std::vector<uint64_t> picked = selection_of(sel, method);
            ASSERT_EQ(static_cast<size_t>(kCount), picked.size()) << method;
            uint64_t hits = 0;
            std::map<std::string, uint64_t> comp;
            uint64_t tokens = 0;
            for (uint64_t pos : picked) {
                hits += pool_samples_[pos].task == task;
                ++comp[pool_samples_[pos].task];
                tokens += std::stoull(scores.rows[pos][scores.col("n_tokens")]);
            }
            const auto& jm = jt["methods"][method];
            EXPECT_EQ(hits, jm["n_hits"].get<uint64_t>()) << task << " " << method;
            EXPECT_EQ(static_cast<double>(hits) / kCount, jm["precision"].get<double>()) << task << " " << method;
            EXPECT_EQ(static_cast<double>(hits) / static_cast<double>(n_label), jm["recall"].get<double>());
            EXPECT_EQ(picked, jm["selected"].get<std::vector<uint64_t>>());
            EXPECT_DOUBLE_EQ(static_cast<double>(tokens) / kCount, jm["lengths"]["mean"].get<double>());
            for (const auto& c : jm["composition"])
                EXPECT_EQ(comp[c["label"].get<std::string>()], c["count"].get<uint64_t>()) << method;
            precision_by_method[method][task] = static_cast<double>(hits) / kCount;
            sets[method] = std::set<uint64_t>(picked.begin(), picked.end());
        }
        for (const auto& o : jt["overlap"]) {
            const auto& a = sets[o["a"].get<std::string>()];
            const auto& b = sets[o["b"].get<std::string>()];
            uint64_t common = 0;
            for (uint64_t pos : a) common += b.count(pos);
            EXPECT_EQ(common, o["n_intersection"].get<uint64_t>());
            EXPECT_EQ(static_cast<double>(common) / kCount, o["overlap"].get<double>());
        }
        EXPECT_EQ(kMethods.size() * (kMethods.size() - 1) / 2, jt["overlap"].size());
    }
    for (const auto& method : kMethods) {
        const double mean = (precision_by_method[method]["math"] + precision_by_method[method]["cooking"]) / 2;
        EXPECT_DOUBLE_EQ(mean, j["average"]["methods"][method]["precision"].get<double>()) << method;
    }
    // The markdown table shows the same numbers.
    const std::string md = fixtures::read_file(out_ + "/eval.md");
    EXPECT_NE(std::string::npos, md.find("| target | pool share | mona | sae-cosine | raw-cosine | bm25 | random |"));
    EXPECT_NE(std::string::npos, md.find(fmt::format("| math | {:.3f} |", 10.0 / 40.0))) << md;
}

// The interpretability list: the prototype's 10 largest latents and, per latent, the pool samples largest on it.
TEST_F(EvalE2eTest, LatentsAreThePrototypesLargestWithTheirTopSamples) {
    const std::vector<Embedded>& pool = reference_pool();
    const nlohmann::json j = eval_json();
    for (size_t target_idx = 0; target_idx < kTargets.size(); ++target_idx) {
        const std::vector<Embedded> targets = embed_all(target_samples_[kTargets[target_idx]]);
        std::vector<double> proto(kDSae, 0.0);
        for (int64_t latent = 0; latent < kDSae; ++latent) {
            double sum = 0;
            for (const auto& t : targets) sum += t.sae[latent];
            proto[latent] = static_cast<float>(sum / static_cast<double>(targets.size()));
        }
        const auto& latents = j["targets"][target_idx]["prototype_latents"];
        ASSERT_EQ(10u, latents.size());
        const std::vector<uint64_t> top = reference::top_n_full_sort(proto, kDSae);
        const double tenth = proto[top[9]];
        double prev = INFINITY;
        for (const auto& l : latents) {
            const uint32_t latent = l["latent"].get<uint32_t>();
            const double value = l["value"].get<double>();
            EXPECT_NEAR(proto[latent], value, kScoreTol);
            EXPECT_GE(value, tenth - kScoreTol) << "latent " << latent << " is not among the 10 largest";
            EXPECT_LE(value, prev);
            prev = value;
            // Its top samples: the 3 largest pooled values on the latent (> 0), best first.
            std::vector<double> column;
            for (const auto& e : pool) column.push_back(e.sae[latent]);
            const std::vector<uint64_t> best = reference::top_n_full_sort(column, 3);
            const auto& samples = l["top"];
            ASSERT_LE(samples.size(), 3u);
            for (size_t rank = 0; rank < samples.size(); ++rank) {
                const uint64_t pos = samples[rank]["position"].get<uint64_t>();
                EXPECT_NEAR(column[pos], samples[rank]["value"].get<double>(), kScoreTol);
                EXPECT_NEAR(column[best[rank]], column[pos], 2 * kScoreTol) << "latent " << latent << " rank " << rank;
                EXPECT_EQ(pool_samples_[pos].id, samples[rank]["id"].get<std::string>());
            }
        }
    }
}

TEST_F(EvalE2eTest, ReportHasTheSectionsAndBalancedSvg) {
    const std::string html = fixtures::read_file(out_ + "/report.html");
    EXPECT_EQ(0u, html.find("<!DOCTYPE html>"));
    for (const std::string id : {"settings", "summary", "diversity", "overlap"})
        EXPECT_EQ(1u, count(html, "id=\"" + id + "\"")) << id;
    for (size_t target_idx = 0; target_idx < kTargets.size(); ++target_idx) {
        const std::string id = "target-" + std::to_string(target_idx);
        for (const std::string suffix : {"", "-scores", "-composition", "-lengths", "-latents"})
            EXPECT_EQ(1u, count(html, "id=\"" + id + suffix + "\"")) << id + suffix;
    }
    // Per target: 4 score histograms (random has none), composition, lengths, latents.
    EXPECT_EQ(2u * 7u, count(html, "<svg"));
    EXPECT_EQ(count(html, "<svg"), count(html, "</svg>"));
    for (const std::string tag : {"html", "body", "main", "section", "table", "tr", "td", "h2", "h3"})
        EXPECT_EQ(count(html, "<" + tag + ">") + count(html, "<" + tag + " "), count(html, "</" + tag + ">")) << tag;
    EXPECT_EQ(std::string::npos, html.find("<script"));
    EXPECT_EQ(std::string::npos, html.find("src="));
    EXPECT_EQ(std::string::npos, html.find("href=\"http"));
}

// The latents' top pool samples are shown on the token where the latent fires most (jobs/why_latents.hpp).
TEST_F(EvalE2eTest, ReportShowsEachLatentOnTheTokenItFiresOnMost) {
    const std::string html = fixtures::read_file(out_ + "/report.html");
    for (size_t target_idx = 0; target_idx < kTargets.size(); ++target_idx) {
        const std::string id = "<section id=\"target-" + std::to_string(target_idx) + "-latents\">";
        const size_t begin = html.find(id);
        ASSERT_NE(std::string::npos, begin);
        const std::string section = html.substr(begin, html.find("</section>", begin) - begin);
        // Every sample row of the table (one per latent and top sample) has its marked token.
        const size_t n_rows = count(section, "<td class=\"snippet\">");
        EXPECT_GT(n_rows, 0u) << section;
        EXPECT_EQ(n_rows, count(section, "<td class=\"snippet\">…")) << section;
        EXPECT_EQ(n_rows, count(section.substr(section.find("<tbody>")), "<mark>")) << section;
        EXPECT_NE(std::string::npos, section.find("shown on the token where the latent fires most")) << section;
    }
}

TEST_F(EvalE2eTest, SkipBadListsTheLineAndKeepsRecordNumbers) {
    std::vector<std::string> lines = file_lines(pool_);
    lines[6] = R"({"id": "bad", "messages": [{"role": "user", "content": 5}]})";  // line 7, record 6
    const std::string pool = dir_ + "/pool_bad.jsonl";
    ASSERT_TRUE(fixtures::write_lines(pool, lines).ok());
    std::vector<std::string> args = common_args("eval", dir_ + "/out-bad", {"--method", "mona", "--method", "bm25"});
    *std::find(args.begin(), args.end(), pool_) = pool;
    const RunResult failed = run_mona(args);
    EXPECT_EQ(1, failed.exit_code);
    EXPECT_NE(std::string::npos, failed.err.find("pool_bad.jsonl:7")) << failed.err;
    EXPECT_NE(std::string::npos, failed.err.find("--skip-bad")) << failed.err;
    EXPECT_TRUE(regular_files_under(dir_ + "/out-bad").empty());

    const std::string out = dir_ + "/out-skip";
    *std::find(args.begin(), args.end(), dir_ + "/out-bad") = out;
    args.push_back("--skip-bad");
    const RunResult run = run_mona(args);
    ASSERT_EQ(0, run.exit_code) << run.err;
    const std::vector<std::string> skipped = file_lines(out + "/skipped.tsv");
    ASSERT_EQ(2u, skipped.size());
    EXPECT_EQ(pool + "\t7\t6", skipped[1].substr(0, pool.size() + 4));
    const nlohmann::json j = nlohmann::json::parse(fixtures::read_file(out + "/eval.json"));
    EXPECT_EQ(39u, j["n_pool"].get<uint64_t>());
    EXPECT_EQ(1, j["config"]["pool"]["skipped"].get<int>());
    for (const auto& task : kTargets) {
        const Table sel = read_tsv(out + "/" + task + "/selections.tsv");
        ASSERT_FALSE(sel.rows.empty());
        for (const auto& row : sel.rows) {
            const uint64_t pos = std::stoull(row[sel.col("position")]);
            const uint64_t record = std::stoull(row[sel.col("record")]);
            EXPECT_EQ(pos < 6 ? pos : pos + 1, record);
            EXPECT_EQ(pool_samples_[record].id, row[sel.col("id")]);
        }
    }
}

// Reference poly-jaccard codes of one token: SiLU of W_gate x in double, the k largest (ties to the lower
// index), the positive ones, as a dense row.
std::vector<float> reference_gate_codes(const std::vector<float>& w, int64_t n_ff, int64_t n_embd, const float* x,
                                        int32_t k) {
    std::vector<std::pair<double, int64_t>> act;
    for (int64_t j = 0; j < n_ff; ++j) {
        double pre = 0.0;
        for (int64_t i = 0; i < n_embd; ++i) pre += static_cast<double>(w[j * n_embd + i]) * x[i];
        act.push_back({pre / (1.0 + std::exp(-pre)), j});
    }
    std::sort(act.begin(), act.end(), [](const auto& a, const auto& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    std::vector<float> dense(static_cast<size_t>(n_ff), 0.0f);
    for (int32_t slot = 0; slot < k; ++slot) {
        if (act[slot].first > 0) dense[act[slot].second] = static_cast<float>(act[slot].first);
    }
    return dense;
}

// Ablation options and poly-jaccard in one run, each against an independent recomputation from per-sample
// captures: raw-cosine at another layer, mona at another k (naive encoder), poly-jaccard at the SAE's layer and
// at layer 1 with its own k and sum pooling (gate = W_gate · ffn_norm from the GGUF weights, SiLU, TopK by hand).
// The extra captures leave `mona` bit for bit as in the plain run.
TEST_F(EvalE2eTest, SweepOptionsAndPolyJaccardMatchAnIndependentRecomputation) {
    const std::vector<std::string> variants = {"mona", "raw-cosine:layer=1", "mona:k=3", "poly-jaccard",
                                               "poly-jaccard:layer=1:k=5:pooling=sum"};
    const std::string out = dir_ + "/out-sweep";
    std::vector<std::string> extra;
    for (const auto& m : variants) {
        extra.push_back("--method");
        extra.push_back(m);
    }
    const RunResult run = run_mona(common_args("eval", out, extra));
    ASSERT_EQ(0, run.exit_code) << run.err;
    const nlohmann::json j = nlohmann::json::parse(fixtures::read_file(out + "/eval.json"));
    EXPECT_EQ(variants, j["methods"].get<std::vector<std::string>>());
    const nlohmann::json& mc = j["config"]["method_configs"];
    ASSERT_EQ(variants.size(), mc.size());
    EXPECT_EQ("l_out-0", mc[1]["llama_tensor"].get<std::string>());
    EXPECT_EQ(3, mc[2]["k"].get<int>());
    EXPECT_EQ("ffn_gate-1", mc[3]["llama_tensor"].get<std::string>());
    EXPECT_EQ(kK, mc[3]["k"].get<int>()) << "poly-jaccard takes the SAE's k by default";
    EXPECT_EQ("ffn_gate-0", mc[4]["llama_tensor"].get<std::string>());
    EXPECT_EQ("sum", mc[4]["pooling"].get<std::string>());

    // Reference: each sample captured alone.
    SessionOptions options;
    options.model_path = model_;
    options.n_threads = 1;
    Result<Session> opened = Session::open(options);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    Session& session = opened.value();
    std::vector<int64_t> ne;
    Result<std::vector<float>> w0 = fixtures::read_gguf_tensor_f32(model_, "blk.0.ffn_gate.weight", &ne);
    Result<std::vector<float>> w1 = fixtures::read_gguf_tensor_f32(model_, "blk.1.ffn_gate.weight");
    ASSERT_TRUE(w0.ok() && w1.ok());
    const int64_t n_ff = ne[1];
    struct Ref {
        std::vector<double> raw1;
        std::vector<float> sae_k3, poly2, poly1;
    };
    auto embed = [&](const std::vector<LabelledSample>& samples) {
        std::vector<Ref> refs;
        for (size_t idx = 0; idx < samples.size(); ++idx) {
            Result<Sample> sample =
                parse_sample(fixtures::sample_json_line(samples[idx]), InputFormat::kAuto, {"fixture", idx + 1, idx});
            EXPECT_TRUE(sample.ok());
            const std::vector<int32_t> toks = session.tokenize(sample.value())->tokens;
            std::vector<float> rows2, rows1, norm1, norm0;
            EXPECT_TRUE(session.capture({&toks}, kLayer, rows2).ok());
            EXPECT_TRUE(session.capture({&toks}, 1, rows1).ok());
            std::vector<ExtraCapture> norms = {{"ffn_norm-1", 0, {}}, {"ffn_norm-0", 0, {}}};
            std::vector<float> unused;
            EXPECT_TRUE(session.capture({&toks}, kLayer, unused, &norms).ok());
            Ref r;
            r.raw1.assign(kDIn, 0.0);
            std::vector<std::vector<float>> sae_rows, poly2_rows, poly1_rows;
            for (size_t t = 1; t < toks.size(); ++t) {  // no-bos
                std::vector<float> dense(kDSae, 0.0f);
                for (const auto& [latent, value] :
                     reference::sae_encode_reference(sae_->params, rows2.data() + t * kDIn, 3)) {
                    dense[latent] = static_cast<float>(value);
                }
                sae_rows.push_back(std::move(dense));
                for (int64_t col = 0; col < kDIn; ++col) r.raw1[col] += rows1[t * kDIn + col];
                poly2_rows.push_back(reference_gate_codes(w1.value(), n_ff, kDIn, norms[0].rows.data() + t * kDIn, kK));
                poly1_rows.push_back(reference_gate_codes(w0.value(), n_ff, kDIn, norms[1].rows.data() + t * kDIn, 5));
            }
            for (double& v : r.raw1) v /= static_cast<double>(toks.size() - 1);
            r.sae_k3 = reference::pool_dense(sae_rows, kDSae, true);
            r.poly2 = reference::pool_dense(poly2_rows, n_ff, true);
            r.poly1 = reference::pool_dense(poly1_rows, n_ff, false);
            refs.push_back(std::move(r));
        }
        return refs;
    };
    auto mean_of = [](const std::vector<std::vector<float>>& vecs) {
        std::vector<float> out(vecs[0].size(), 0.0f);
        for (size_t col = 0; col < out.size(); ++col) {
            double sum = 0;
            for (const auto& v : vecs) sum += v[col];
            out[col] = static_cast<float>(sum / static_cast<double>(vecs.size()));
        }
        return out;
    };
    const std::vector<Ref> pool = embed(pool_samples_);
    size_t n_poly_positive = 0;
    for (const auto& task : kTargets) {
        const std::vector<Ref> targets = embed(target_samples_[task]);
        std::vector<std::vector<float>> k3, p2, p1;
        std::vector<double> raw_proto(kDIn, 0.0);
        for (const auto& t : targets) {
            k3.push_back(t.sae_k3);
            p2.push_back(t.poly2);
            p1.push_back(t.poly1);
            for (int64_t col = 0; col < kDIn; ++col)
                raw_proto[col] += t.raw1[col] / static_cast<double>(targets.size());
        }
        const std::vector<float> k3_proto = mean_of(k3), p2_proto = mean_of(p2), p1_proto = mean_of(p1);
        std::map<std::string, std::vector<double>> want;
        for (const auto& e : pool) {
            want["raw-cosine:layer=1"].push_back(dense_cosine(e.raw1, raw_proto));
            want["mona:k=3"].push_back(reference::jaccard_dense(e.sae_k3, k3_proto));
            want["poly-jaccard"].push_back(reference::jaccard_dense(e.poly2, p2_proto));
            want["poly-jaccard:layer=1:k=5:pooling=sum"].push_back(reference::jaccard_dense(e.poly1, p1_proto));
        }
        const Table scores = read_tsv(out + "/" + task + "/scores.tsv");
        for (const auto& [method, values] : want) {
            const std::vector<double> got = score_column(scores, method);
            ASSERT_EQ(values.size(), got.size());
            for (size_t pos = 0; pos < values.size(); ++pos) {
                EXPECT_NEAR(values[pos], got[pos], kScoreTol) << task << " " << method << " record " << pos;
                n_poly_positive += method.rfind("poly", 0) == 0 && values[pos] > 0.05;
            }
        }
        const Table plain = read_tsv(out_ + "/" + task + "/scores.tsv");
        for (size_t pos = 0; pos < scores.rows.size(); ++pos) {
            EXPECT_EQ(plain.rows[pos][plain.col("score_mona")], scores.rows[pos][scores.col("score_mona")]) << pos;
        }
    }
    EXPECT_GT(n_poly_positive, 10u) << "poly-jaccard scores are all ~0: the comparison would be empty";
}

// The options beyond the paper (docs/beyond.md) as eval methods, each against a plain reference written from its
// definition over the independently recomputed vectors: MMR by the naive argmax loop, dedup by a plain walk, the
// contrast prototype by a dense max(0, p - BETA * m), and the new metrics (coverage, pairwise Jaccard, duplicate
// rate) by dense recounts. The plain `mona` columns stay those of a run without the options.
TEST_F(EvalE2eTest, BeyondThePaperOptionsMatchPlainReferences) {
    const double kLambda = 1.0, kDedup = 0.5, kBeta = 1.0;
    const std::string mmr = "mona:diversity=1", dedup = "mona:dedup=0.5", contrast = "mona:prototype=contrast:1";
    const std::vector<std::string> variants = {"mona", mmr, dedup, contrast};
    const std::string out = dir_ + "/out-beyond";
    std::vector<std::string> extra;
    for (const auto& m : variants) {
        extra.push_back("--method");
        extra.push_back(m);
    }
    const RunResult run = run_mona(common_args("eval", out, extra));
    ASSERT_EQ(0, run.exit_code) << run.err;
    const nlohmann::json j = nlohmann::json::parse(fixtures::read_file(out + "/eval.json"));
    EXPECT_EQ(variants, j["methods"].get<std::vector<std::string>>());
    const nlohmann::json& mc = j["config"]["method_configs"];
    EXPECT_EQ(kLambda, mc[1]["diversity"].get<double>());
    EXPECT_EQ(4, mc[1]["candidates"].get<int>());
    EXPECT_EQ(kDedup, mc[2]["dedup"].get<double>());
    EXPECT_EQ("contrast:1", mc[3]["prototype"].get<std::string>());
    EXPECT_FALSE(mc[0].contains("prototype")) << "the paper's method records no beyond-the-paper option";

    const std::vector<Embedded>& pool = reference_pool();
    std::vector<std::string> normalised;
    for (size_t idx = 0; idx < pool_samples_.size(); ++idx) {
        Result<Sample> sample =
            parse_sample(fixtures::sample_json_line(pool_samples_[idx]), InputFormat::kAuto, {"fixture", idx + 1, idx});
        ASSERT_TRUE(sample.ok());
        normalised.push_back(normalize_for_dedup(sample.value()));
    }
    std::vector<float> pool_mean(kDSae, 0.0f);
    for (int64_t latent = 0; latent < kDSae; ++latent) {
        double sum = 0;
        for (const auto& e : pool) sum += e.sae[latent];
        pool_mean[latent] = static_cast<float>(sum / static_cast<double>(pool.size()));
    }
    auto jac = [&](uint64_t a, uint64_t b) { return reference::jaccard_dense(pool[a].sae, pool[b].sae); };
    size_t n_mmr_differs = 0, n_dedup_drops = 0;
    for (size_t target_idx = 0; target_idx < kTargets.size(); ++target_idx) {
        const std::string& task = kTargets[target_idx];
        const std::vector<Embedded> targets = embed_all(target_samples_[task]);
        std::vector<float> proto(kDSae, 0.0f), contrast_proto(kDSae, 0.0f);
        for (int64_t latent = 0; latent < kDSae; ++latent) {
            double sum = 0;
            for (const auto& t : targets) sum += t.sae[latent];
            proto[latent] = static_cast<float>(sum / static_cast<double>(targets.size()));
            contrast_proto[latent] = std::max(0.0f, proto[latent] - static_cast<float>(kBeta) * pool_mean[latent]);
        }
        const Table scores = read_tsv(out + "/" + task + "/scores.tsv");
        const Table sel = read_tsv(out + "/" + task + "/selections.tsv");
        const std::vector<double> mona_scores = score_column(scores, "mona");
        // The rerankers keep the paper's scores; only the selection changes.
        EXPECT_EQ(mona_scores, score_column(scores, mmr));
        EXPECT_EQ(mona_scores, score_column(scores, dedup));
        // Contrast: Jaccard against max(0, p - BETA * pool mean).
        const std::vector<double> got_contrast = score_column(scores, contrast);
        std::vector<double> want_contrast;
        for (const auto& e : pool) want_contrast.push_back(reference::jaccard_dense(e.sae, contrast_proto));
        for (size_t pos = 0; pos < pool.size(); ++pos)
            EXPECT_NEAR(want_contrast[pos], got_contrast[pos], kScoreTol) << task << " record " << pos;
        EXPECT_NE(want_contrast, mona_scores);
        EXPECT_EQ(reference::top_n_full_sort(got_contrast, kCount), selection_of(sel, contrast)) << task;

        const std::vector<uint64_t> candidates = reference::top_n_full_sort(mona_scores, 4 * kCount);
        // MMR, the naive way: every step recomputes every remaining candidate's value; ties to the better-scored.
        std::vector<uint64_t> want_mmr;
        std::vector<bool> taken(candidates.size(), false);
        while (want_mmr.size() < static_cast<size_t>(kCount)) {
            size_t best = SIZE_MAX;
            double best_value = -INFINITY;
            for (size_t c = 0; c < candidates.size(); ++c) {
                if (taken[c]) continue;
                double max_j = 0.0;
                for (uint64_t s : want_mmr) max_j = std::max(max_j, jac(candidates[c], s));
                const double value = mona_scores[candidates[c]] - kLambda * max_j;
                if (value > best_value) best = c, best_value = value;
            }
            taken[best] = true;
            want_mmr.push_back(candidates[best]);
        }
        const std::vector<uint64_t> got_mmr = selection_of(sel, mmr);
        EXPECT_EQ(want_mmr, got_mmr) << task;
        n_mmr_differs += got_mmr != selection_of(sel, "mona");
        // Dedup, the plain walk: keep a candidate unless its normalised text or J >= T matches a kept one.
        std::vector<uint64_t> want_dedup;
        for (uint64_t pos : candidates) {
            if (want_dedup.size() == static_cast<size_t>(kCount)) break;
            bool drop = false;
            for (uint64_t kept : want_dedup)
                drop = drop || normalised[kept] == normalised[pos] || jac(pos, kept) >= kDedup;
            if (drop)
                ++n_dedup_drops;
            else
                want_dedup.push_back(pos);
        }
        EXPECT_EQ(want_dedup, selection_of(sel, dedup)) << task;

        // The new metrics of every method, on the mona vectors and the mean prototype.
        const auto& jt = j["targets"][target_idx];
        for (const auto& method : variants) {
            const std::vector<uint64_t> picked = selection_of(sel, method);
            const auto& jm = jt["methods"][method];
            std::set<int64_t> active;
            double pairwise = 0.0;
            size_t n_pairs = 0, n_repeats = 0;
            for (size_t a = 0; a < picked.size(); ++a) {
                for (int64_t latent = 0; latent < kDSae; ++latent)
                    if (pool[picked[a]].sae[latent] > 0) active.insert(latent);
                bool repeat = false;
                for (size_t b = 0; b < a; ++b) {
                    pairwise += jac(picked[a], picked[b]);
                    ++n_pairs;
                    repeat = repeat || normalised[picked[a]] == normalised[picked[b]];
                }
                n_repeats += repeat;
            }
            double mass = 0.0, total = 0.0;
            size_t support = 0, covered = 0;
            for (int64_t latent = 0; latent < kDSae; ++latent) {
                total += proto[latent];
                if (proto[latent] > 0) ++support;
                if (active.count(latent)) mass += proto[latent], covered += proto[latent] > 0;
            }
            EXPECT_NEAR(mass / total, jm["coverage"]["mass"].get<double>(), 1e-6) << task << " " << method;
            EXPECT_NEAR(static_cast<double>(covered) / static_cast<double>(support),
                        jm["coverage"]["latents"].get<double>(), 1e-9)
                << task << " " << method;
            EXPECT_NEAR(pairwise / static_cast<double>(n_pairs), jm["mean_pairwise_jaccard"].get<double>(), kScoreTol)
                << task << " " << method;
            EXPECT_EQ(static_cast<double>(n_repeats) / static_cast<double>(picked.size()),
                      jm["duplicate_rate"].get<double>())
                << task << " " << method;
        }
    }
    EXPECT_GT(n_mmr_differs, 0u) << "LAMBDA 1 must change some selection: the MMR comparison would be vacuous";
    EXPECT_GT(n_dedup_drops, 0u) << "T 0.5 must drop some candidate: the dedup comparison would be vacuous";
    const std::string md = fixtures::read_file(out + "/eval.md");
    EXPECT_NE(std::string::npos, md.find("## redundancy and prototype coverage")) << md;
    EXPECT_NE(std::string::npos, fixtures::read_file(out + "/report.html").find("id=\"redundancy\""));
}

TEST_F(EvalE2eTest, BadMethodOptionsAreUsageErrors) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"mona:layer=1", "SAE features at layer 1 need an SAE trained there"},
        {"poly-jaccard:layer=0", "has no MLP gate"},
        {"raw-cosine:layer=3", "layer 3 out of range"},
        {"raw-cosine:k=4", "raw-cosine takes no k option"},
        {"bm25:layer=1", "bm25 takes no layer option"},
        {"mona:k=0", "k must be an integer >= 1"},
        {"mona:k=999", "larger than the SAE width"},
        {"mona:depth=3", "unknown option 'depth'"},
        {"mona:pooling=max", "expected one of mean, sum"},
        {"poly-jaccard:k=500", "larger than the MLP width"},
        {"raw-cosine:diversity=0.3", "raw-cosine takes no diversity option"},
        {"mona:dedup=2", "dedup must be a number in (0, 1]"},
        {"mona:prototype=contrast:0", "expected mean or contrast:BETA"},
    };
    for (const auto& [method, message] : cases) {
        const std::string out = dir_ + "/out-bad-option";
        const RunResult run = run_mona(common_args("eval", out, {"--method", "mona", "--method", method}));
        EXPECT_NE(0, run.exit_code) << method;
        EXPECT_NE(std::string::npos, run.err.find(message)) << method << ": " << run.err;
        EXPECT_TRUE(regular_files_under(out).empty()) << method;
    }
    for (const std::string name : {"mona:k=8:pooling=sum", "poly-jaccard:layer=1:k=5"}) {
        Result<EvalMethodSpec> spec = parse_eval_method_spec(name);
        ASSERT_TRUE(spec.ok()) << spec.status().message();
        EXPECT_EQ(name, spec->name);
    }
    EXPECT_EQ("mona:layer=2:k=8", parse_eval_method_spec("mona:k=8:layer=2")->name) << "canonical option order";
}

TEST_F(EvalE2eTest, UnknownMethodIsAUsageError) {
    const std::string out = dir_ + "/out-unknown";
    const RunResult run = run_mona(common_args("eval", out, {"--method", "dsir"}));
    EXPECT_EQ(2, run.exit_code) << run.err;
    EXPECT_NE(std::string::npos, run.err.find("unknown method 'dsir'")) << run.err;
    EXPECT_TRUE(regular_files_under(out).empty());
}

}  // namespace
}  // namespace mona
