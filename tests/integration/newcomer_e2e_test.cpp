// What a new user meets (issue 14, items 1, 2 and 10), on the real binary with a tiny random-weight model and
// SAE: --out refuses a folder it would mix into, a rerun leaves only what its manifest lists, a failed run
// leaves no folder it created; a target whose name no pool sample carries as its label is reported before the
// pass and gets no "precision 0.0 %"; a malformed pool record is found before the model is even loaded.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "integration/run_util.hpp"
#include "integration/tiny_model_util.hpp"
#include "io/safetensors.hpp"
#include "jobs/progress.hpp"
#include "util/home.hpp"

namespace mona {
namespace {

namespace fs = std::filesystem;
using fixtures::RunResult;

class NewcomerE2eTest : public ::testing::Test {
   protected:
    static void SetUpTestSuite() {
        fixtures::unset_mona_environment();
        dir_ = fixtures::make_temp_dir("mona-newcomer-e2e");
        ASSERT_FALSE(dir_.empty());
        model_ = dir_ + "/tiny.gguf";
        fixtures::TinyModelSpec spec;
        spec.n_layer = 3;
        spec.n_head_kv = 2;
        ASSERT_TRUE(fixtures::write_tiny_llama_gguf(model_, spec).ok());
        Result<fixtures::TinySae> sae = fixtures::write_tiny_sparsify_sae(dir_ + "/sae", 64, 256, 8, 7, "layers.1");
        ASSERT_TRUE(sae.ok()) << sae.status().message();
        sae_dir_ = sae->folder;
        pool_ = dir_ + "/pool.jsonl";
        Result<std::vector<std::string>> lines = fixtures::write_jsonl(pool_, fixtures::make_labelled_pool(4));
        ASSERT_TRUE(lines.ok());
        pool_lines_ = lines.value();
        math_ = dir_ + "/math5.jsonl";
        cooking_ = dir_ + "/cooking5.jsonl";
        ASSERT_TRUE(fixtures::write_jsonl(math_, fixtures::make_target_exemplars("math", 5)).ok());
        ASSERT_TRUE(fixtures::write_jsonl(cooking_, fixtures::make_target_exemplars("cooking", 5)).ok());
        ready_ = true;
    }
    static void TearDownTestSuite() {
        std::error_code ec;
        if (!dir_.empty() && std::getenv("MONA_KEEP_TEST_DIR") == nullptr) fs::remove_all(dir_, ec);
    }
    void SetUp() override {
        if (!ready_) GTEST_SKIP() << "fixture setup failed";
    }

    static RunResult run(const std::string& verb, const std::vector<std::string>& targets, const std::string& out,
                         std::vector<std::string> extra = {}, const std::string& pool = "") {
        std::vector<std::string> args = {
            verb,      "--model", model_,      "--sae", sae_dir_, "--pool", pool.empty() ? pool_ : pool,
            "--count", "4",       "--threads", "1",     "--out",  out};
        for (const auto& t : targets) {
            args.push_back("--target");
            args.push_back(t);
        }
        args.insert(args.end(), extra.begin(), extra.end());
        return fixtures::run_binary(MONA_BIN, args, dir_);
    }

    // Names directly inside `dir` (hidden ones too), sorted.
    static std::vector<std::string> entries(const std::string& dir) {
        std::vector<std::string> names;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename().string());
        std::sort(names.begin(), names.end());
        return names;
    }

    static std::string dir_, model_, sae_dir_, pool_, math_, cooking_;
    static std::vector<std::string> pool_lines_;
    static bool ready_;
};

std::string NewcomerE2eTest::dir_, NewcomerE2eTest::model_, NewcomerE2eTest::sae_dir_, NewcomerE2eTest::pool_,
    NewcomerE2eTest::math_, NewcomerE2eTest::cooking_;
std::vector<std::string> NewcomerE2eTest::pool_lines_;
bool NewcomerE2eTest::ready_ = false;

// Item 2: Hugging Face's output_dir rule.
TEST_F(NewcomerE2eTest, OutRefusesAForeignFolderUnlessOverwrite) {
    const std::string out = dir_ + "/foreign";
    fs::create_directories(out);
    std::ofstream(out + "/notes.txt") << "mine\n";
    const RunResult refused = run("select", {"math=" + math_}, out, {"--quiet"});
    EXPECT_EQ(2, refused.exit_code) << refused.err;
    EXPECT_NE(refused.err.find("is not empty (notes.txt) and holds no complete `mona select` run"), std::string::npos)
        << refused.err;
    EXPECT_NE(refused.err.find("--overwrite"), std::string::npos) << refused.err;
    EXPECT_EQ((std::vector<std::string>{"notes.txt"}), entries(out)) << "a refused run writes nothing";

    const RunResult forced = run("select", {"math=" + math_}, out, {"--quiet", "--overwrite"});
    ASSERT_EQ(0, forced.exit_code) << forced.err;
    EXPECT_EQ((std::vector<std::string>{"manifest.json", "math", "notes.txt", "report.html"}), entries(out));

    // A complete select run is not an eval run (or a score run): those refuse it too.
    const RunResult eval = run("eval", {"math=" + math_}, out, {"--quiet"});
    EXPECT_EQ(2, eval.exit_code) << eval.err;
    EXPECT_NE(eval.err.find("holds no complete `mona eval` run"), std::string::npos) << eval.err;
}

TEST_F(NewcomerE2eTest, RerunReplacesTheEarlierRunAndLeavesNothingTheManifestDoesNotList) {
    const std::string out = dir_ + "/rerun";
    const RunResult first =
        run("select", {"a=" + math_, "b=" + cooking_}, out, {"--quiet", "--merge", "round-robin", "--skip-bad"});
    ASSERT_EQ(0, first.exit_code) << first.err;
    EXPECT_EQ((std::vector<std::string>{"a", "b", "manifest.json", "merged", "report.html", "skipped.tsv"}),
              entries(out));
    // The same command again, and then other targets: no --overwrite needed for its own earlier run.
    const RunResult second = run("select", {"math=" + math_}, out, {"--quiet"});
    ASSERT_EQ(0, second.exit_code) << second.err;
    EXPECT_EQ((std::vector<std::string>{"manifest.json", "math", "report.html"}), entries(out));
    std::ifstream in(out + "/manifest.json");
    const nlohmann::json manifest = nlohmann::json::parse(in);
    ASSERT_EQ(1u, manifest["targets"].size());
    EXPECT_EQ("math", manifest["targets"][0]["name"]);
}

TEST_F(NewcomerE2eTest, FailedRunLeavesNoFolderItCreated) {
    const std::string parent = dir_ + "/new-parent";
    const RunResult failed = run("select", {"math=" + dir_ + "/missing.jsonl"}, parent + "/out", {"--quiet"});
    EXPECT_NE(0, failed.exit_code) << failed.err;
    EXPECT_FALSE(fs::exists(parent)) << "neither --out nor the parents it created";
}

// Item 1: the README's own trap (gsm8k= against a pool labelled math_word_problems).
TEST_F(NewcomerE2eTest, TargetWithoutPoolLabelIsReportedBeforeThePassAndHasNoPrecision) {
    const std::string out = dir_ + "/labels";
    const RunResult run_ = run("select", {"gsm8k=" + math_, "cooking=" + cooking_}, out);
    ASSERT_EQ(0, run_.exit_code) << run_.err;
    const std::string warning =
        "mona: warning: target 'gsm8k': no pool sample is labelled 'gsm8k' (the pool's labels: code (4), cooking (4), "
        "geography (4), math (4))";
    EXPECT_EQ(0u, run_.err.find(warning)) << "the first line, before any progress of the pass:\n" << run_.err;
    EXPECT_EQ(std::string::npos, run_.err.find("warning: target 'cooking'")) << run_.err;

    const std::string report = fixtures::read_file(out + "/report.html");
    EXPECT_NE(report.find("precision: n/a (no pool sample is labelled &#39;gsm8k&#39;"), std::string::npos);
    EXPECT_EQ(report.find("precision vs <b>gsm8k</b>"), std::string::npos);
    EXPECT_NE(report.find("precision vs <b>cooking</b>"), std::string::npos) << "matching labels keep precision";
    // The summary row of gsm8k: no label, precision n/a (not 0.0%).
    const size_t row = report.find("<tr id=\"summary-0\">");
    ASSERT_NE(row, std::string::npos);
    const std::string summary_row = report.substr(row, report.find("</tr>", row) - row);
    EXPECT_EQ(summary_row.find("0.0%"), std::string::npos) << summary_row;
    EXPECT_NE(summary_row.find("n/a"), std::string::npos) << summary_row;

    // --label maps the target to the pool's label; the warning goes.
    const RunResult mapped = run("select", {"gsm8k=" + math_}, out + "-mapped", {"--label", "gsm8k=math"});
    ASSERT_EQ(0, mapped.exit_code) << mapped.err;
    // (The fixture's random SAE draws the first-batch SAE check's warning, jobs/check.hpp; the label's is the one
    // here.)
    EXPECT_EQ(std::string::npos, mapped.err.find("warning: target")) << mapped.err;
    EXPECT_NE(fixtures::read_file(out + "-mapped/report.html").find("precision vs <b>math</b>"), std::string::npos);

    const RunResult typo = run("select", {"gsm8k=" + math_}, out + "-typo", {"--label", "gsm9k=math"});
    EXPECT_EQ(2, typo.exit_code);
    EXPECT_NE(typo.err.find("no --target is named 'gsm9k'; did you mean gsm8k?"), std::string::npos) << typo.err;
}

TEST_F(NewcomerE2eTest, EvalRefusesATargetNoPoolSampleIsLabelledBeforeThePass) {
    const RunResult eval = run("eval", {"gsm8k=" + math_}, dir_ + "/eval-labels", {"--model", "/nonexistent.gguf"});
    EXPECT_EQ(2, eval.exit_code) << eval.err;
    EXPECT_NE(eval.err.find("target 'gsm8k': no pool sample is labelled 'gsm8k' (the pool's labels: code (4)"),
              std::string::npos)
        << eval.err;
    EXPECT_EQ(eval.err.find("nonexistent.gguf"), std::string::npos) << "found before the model is opened";
    EXPECT_FALSE(fs::exists(dir_ + "/eval-labels"));
}

// Item 10: the parse-only pass over the whole pool comes before the model is opened (a missing model is not
// even noticed), for select, eval and embed; --skip-bad lets the run go on.
TEST_F(NewcomerE2eTest, MalformedRecordIsFoundBeforeTheModelPass) {
    std::vector<std::string> lines = pool_lines_;
    lines[lines.size() - 2] = R"({"id": "bad", "messages": [{"role": "user", "content": 5}]})";
    const std::string pool = dir_ + "/pool_bad.jsonl";
    ASSERT_TRUE(fixtures::write_lines(pool, lines).ok());
    const std::string where = "pool_bad.jsonl:" + std::to_string(lines.size() - 1);
    for (const std::string verb : {"select", "eval", "embed"}) {
        const std::string out = dir_ + "/bad-" + verb;
        std::vector<std::string> args = {
            verb, "--model", "/nonexistent/model.gguf", "--sae", sae_dir_, "--pool", pool, "--out", out};
        if (verb != "embed") args.insert(args.end(), {"--target", "math=" + math_});
        const RunResult run_ = fixtures::run_binary(MONA_BIN, args, dir_);
        EXPECT_EQ(1, run_.exit_code) << verb << ": " << run_.err;
        EXPECT_NE(run_.err.find(where), std::string::npos) << verb << ": " << run_.err;
        EXPECT_NE(run_.err.find("before the model pass"), std::string::npos) << verb << ": " << run_.err;
        EXPECT_EQ(run_.err.find("/nonexistent/model.gguf"), std::string::npos) << verb << ": " << run_.err;
        EXPECT_FALSE(fs::exists(out)) << verb;

        args.push_back("--skip-bad");
        const RunResult skipping = fixtures::run_binary(MONA_BIN, args, dir_);
        EXPECT_EQ(1, skipping.exit_code) << verb;
        EXPECT_NE(skipping.err.find("/nonexistent/model.gguf"), std::string::npos) << verb << ": " << skipping.err;
    }
}

// `cd dir && command` through the shell: stdout and stderr together, and the exit code.
RunResult run_in(const std::string& dir, const std::string& command) {
    RunResult result;
    const std::string cmd = "cd " + fixtures::shell_quote(dir) + " && " + command + " 2>&1";
    FILE* pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr) return result;
    char buf[4096];
    size_t n = 0;
    while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) result.err.append(buf, n);
    const int status = pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

// Item 5: a store embedded from a relative pool path is scored from another folder; a moved pool is named with
// `score --pool`, and checked by its hash.
TEST_F(NewcomerE2eTest, StoreIsScoredFromAnyFolderAndFollowsAMovedPool) {
    const std::string work = dir_ + "/store-work";
    fs::create_directories(work);
    fs::copy_file(pool_, work + "/pool30.jsonl");
    const std::string bin = fixtures::shell_quote(MONA_BIN);
    const std::string common =
        " --model " + fixtures::shell_quote(model_) + " --sae " + fixtures::shell_quote(sae_dir_);
    const RunResult embedded =
        run_in(work, bin + " embed --pool pool30.jsonl --out store --threads 1 --quiet" + common);
    ASSERT_EQ(0, embedded.exit_code) << embedded.err;

    const std::string score = bin + " score --store " + fixtures::shell_quote(work + "/store") +
                              " --target math=" + fixtures::shell_quote(math_) +
                              " --count 4 --threads 1 --quiet --out ";
    const RunResult elsewhere = run_in("/", score + fixtures::shell_quote(dir_ + "/scored-1"));
    EXPECT_EQ(0, elsewhere.exit_code) << elsewhere.err;

    fs::create_directories(work + "/moved");
    fs::rename(work + "/pool30.jsonl", work + "/moved/pool30.jsonl");
    const RunResult lost = run_in("/", score + fixtures::shell_quote(dir_ + "/scored-2"));
    EXPECT_NE(0, lost.exit_code);
    EXPECT_NE(lost.err.find(work + "/pool30.jsonl"), std::string::npos) << "names the absolute path: " << lost.err;
    const RunResult moved = run_in("/", score + fixtures::shell_quote(dir_ + "/scored-3") + " --pool " +
                                            fixtures::shell_quote(work + "/moved/pool30.jsonl"));
    EXPECT_EQ(0, moved.exit_code) << moved.err;
    EXPECT_EQ(fixtures::read_file(dir_ + "/scored-1/math/selected.jsonl"),
              fixtures::read_file(dir_ + "/scored-3/math/selected.jsonl"));
    const RunResult other =
        run_in("/", score + fixtures::shell_quote(dir_ + "/scored-4") + " --pool " + fixtures::shell_quote(math_));
    EXPECT_NE(0, other.exit_code);
    EXPECT_NE(other.err.find("pool_sha256"), std::string::npos) << other.err;
}

// Item 7: tqdm's habits: a total, a percentage and an ETA; the target pass reported; on Ctrl-C a line that
// says what rerunning does.
TEST(ProgressLine, ShowsTotalPercentageAndEta) {
    EXPECT_EQ("embed: 17 samples, 4463 tokens, 213 tokens/s, 21 s",
              progress_line(ProgressUpdate{"embed", 17, 4463, 21.0, false}))
        << "without a total, as before";
    EXPECT_EQ("embed: 17/100 samples (17.0%), 4463 tokens, 213 tokens/s, 21 s, ETA 1 min 43 s",
              progress_line(ProgressUpdate{"embed", 17, 4463, 21.0, false, 100, 0}));
    // A resumed store: its samples count towards the total, the ETA uses this run's rate over what is left.
    EXPECT_EQ("embed: 60/100 samples (60.0%), 1000 tokens, 100 tokens/s, 10 s, 50 resumed, ETA 40 s",
              progress_line(ProgressUpdate{"embed", 10, 1000, 10.0, false, 100, 50}));
    EXPECT_EQ("pool: 100/100 samples (100.0%), 9000 tokens, 2 tokens/s, 1 h 15 min",
              progress_line(ProgressUpdate{"pool", 100, 9000, 4500.0, true, 100, 0}));
}

TEST_F(NewcomerE2eTest, ProgressShowsTotalsAndTheTargetPass) {
    const RunResult run_ = run("select", {"math=" + math_}, dir_ + "/progress");
    ASSERT_EQ(0, run_.exit_code) << run_.err;
    EXPECT_NE(run_.err.find("mona: target 'math': 5 samples, "), std::string::npos) << run_.err;
    EXPECT_NE(run_.err.find("mona: embed: 16/16 samples (100.0%), "), std::string::npos) << run_.err;
}

TEST_F(NewcomerE2eTest, InterruptSaysThatRerunningResumes) {
    // A pool long enough to be interrupted mid-pass on any machine.
    const std::string pool = dir_ + "/pool_long.jsonl";
    ASSERT_TRUE(fixtures::write_jsonl(pool, fixtures::make_labelled_pool(250)).ok());
    const std::string out = dir_ + "/interrupted";
    std::vector<std::string> args = {"select",   "--model",       model_,    "--sae", sae_dir_,    "--pool", pool,
                                     "--target", "math=" + math_, "--count", "4",     "--threads", "1",      "--out",
                                     out,        "--shard-rows",  "8"};
    const fixtures::RunningBinary running = fixtures::start_binary(MONA_BIN, args, dir_);
    // Wait until the pool pass has stored something (its first shard), then Ctrl-C.
    bool stored = false;
    for (int i = 0; i < 6000 && !stored; ++i) {
        stored = fs::exists(out + "/.store/shard-00001.bin");
        if (!stored) ::usleep(10'000);
    }
    ASSERT_TRUE(stored) << "the pass never stored a shard";
    ::kill(running.pid, SIGINT);
    const RunResult interrupted = fixtures::finish_binary(running);
    if (interrupted.exit_code == 0) GTEST_SKIP() << "the run ended before the interrupt arrived";
    EXPECT_EQ(128 + SIGINT, interrupted.exit_code) << interrupted.err;
    EXPECT_NE(interrupted.err.find("mona: interrupted; the samples embedded so far are kept: rerunning the same "
                                   "command resumes the pool pass where it stopped"),
              std::string::npos)
        << interrupted.err;
    // And it does: the rerun reports the resumed samples.
    const RunResult rerun = fixtures::run_binary(MONA_BIN, args, dir_);
    ASSERT_EQ(0, rerun.exit_code) << rerun.err;
    EXPECT_NE(rerun.err.find(" resumed"), std::string::npos) << rerun.err;
    EXPECT_EQ(rerun.err.find(" 0 resumed from the store"), std::string::npos) << interrupted.err << rerun.err;
}

// Item 4: `mona activations` without --layer reads the layer `mona select` reads (the built-in SAE's, with the
// built-in model), and `mona info` says so; a model of one's own keeps n_layer - 1. The built-in model and SAE
// are stood in for by tiny ones in a MONA_HOME of the test's own.
TEST_F(NewcomerE2eTest, ActivationsAndInfoUseTheBuiltInSaesLayerByDefault) {
    const std::string home = dir_ + "/home";
    setenv("MONA_HOME", home.c_str(), 1);
    const std::string model = default_model_path();
    const std::string sae_dir = default_sae_dir();
    unsetenv("MONA_HOME");
    fs::create_directories(fs::path(model).parent_path());
    fixtures::TinyModelSpec spec;
    spec.n_layer = 24;  // n_layer - 1 = 23, the built-in SAE's layer 20 (its folder layers.19)
    ASSERT_TRUE(fixtures::write_tiny_llama_gguf(model, spec).ok());
    const fs::path sae_path(sae_dir);
    ASSERT_EQ("layers.19", sae_path.filename().string());
    ASSERT_TRUE(fixtures::write_tiny_sparsify_sae(sae_path.parent_path().string(), 64, 256, 8, 7, "layers.19").ok());

    const auto layer_of = [&](const std::vector<std::string>& extra) {
        const std::string out = dir_ + "/acts.safetensors";
        std::vector<std::string> args = {"activations", "--input", math_, "--out", out, "--quiet", "--threads", "1"};
        args.insert(args.end(), extra.begin(), extra.end());
        const RunResult run_ =
            fixtures::finish_binary(fixtures::start_binary(MONA_BIN, args, dir_, {{"MONA_HOME", home}}));
        EXPECT_EQ(0, run_.exit_code) << run_.err;
        Result<SafetensorsFile> file = SafetensorsFile::open(out);
        if (!file.ok()) return std::string("unreadable: ") + file.status().message();
        const auto& meta = file->metadata();
        return meta.count("layer") ? meta.at("layer") : std::string("none");
    };
    EXPECT_EQ("20", layer_of({}));
    EXPECT_EQ("23", layer_of({"--model", model}));
    EXPECT_EQ("5", layer_of({"--layer", "5"}));

    const RunResult info =
        fixtures::finish_binary(fixtures::start_binary(MONA_BIN, {"info"}, dir_, {{"MONA_HOME", home}}));
    EXPECT_EQ(0, info.exit_code) << info.err;
    EXPECT_NE(info.out.find("default the built-in SAE's layer = 20)"), std::string::npos) << info.out;
    const RunResult own = fixtures::finish_binary(
        fixtures::start_binary(MONA_BIN, {"info", "--model", model}, dir_, {{"MONA_HOME", home}}));
    EXPECT_NE(own.out.find("default n_layer-1 = 23)"), std::string::npos) << own.out;
}

// Item 1 for score: the labels are checked before its pass too (the pool is the store's own).
TEST_F(NewcomerE2eTest, ScoreReportsATargetNoPoolSampleIsLabelledBeforeItsPass) {
    const std::string store = dir_ + "/label-store";
    const RunResult embedded = fixtures::run_binary(
        MONA_BIN,
        {"embed", "--model", model_, "--sae", sae_dir_, "--pool", pool_, "--out", store, "--threads", "1", "--quiet"},
        dir_);
    ASSERT_EQ(0, embedded.exit_code) << embedded.err;
    const RunResult scored =
        fixtures::run_binary(MONA_BIN,
                             {"score", "--store", store, "--target", "gsm8k=" + math_, "--target",
                              "cooking=" + cooking_, "--count", "4", "--threads", "1", "--out", dir_ + "/label-scored"},
                             dir_);
    ASSERT_EQ(0, scored.exit_code) << scored.err;
    const std::string warning =
        "mona: warning: target 'gsm8k': no pool sample is labelled 'gsm8k' (the pool's labels: code (4), cooking (4), "
        "geography (4), math (4))";
    EXPECT_EQ(0u, scored.err.find(warning)) << "the first line, before any progress of the pass:\n" << scored.err;
    EXPECT_EQ(std::string::npos, scored.err.find("warning: target 'cooking'")) << scored.err;
}

// Item 2 for eval and for --dedup: a rerun leaves nothing of the earlier run that the new one did not write.
TEST_F(NewcomerE2eTest, EvalRerunWithFewerTargetsRemovesTheEarlierTargetsFolders) {
    const std::string out = dir_ + "/eval-rerun";
    const RunResult first = run("eval", {"math=" + math_, "cooking=" + cooking_}, out, {"--quiet", "--method", "mona"});
    ASSERT_EQ(0, first.exit_code) << first.err;
    EXPECT_TRUE(fs::exists(out + "/cooking/selections.tsv"));
    const RunResult second = run("eval", {"math=" + math_}, out, {"--quiet", "--method", "mona"});
    ASSERT_EQ(0, second.exit_code) << second.err;
    EXPECT_EQ((std::vector<std::string>{"eval.json", "eval.md", "math", "report.html"}), entries(out));
}

TEST_F(NewcomerE2eTest, SelectRerunWithoutDedupRemovesTheEarlierDroppedList) {
    const std::string out = dir_ + "/dedup-rerun";
    const RunResult first = run("select", {"math=" + math_}, out, {"--quiet", "--dedup", "0.5"});
    ASSERT_EQ(0, first.exit_code) << first.err;
    EXPECT_TRUE(fs::exists(out + "/dropped.tsv"));
    const RunResult second = run("select", {"math=" + math_}, out, {"--quiet"});
    ASSERT_EQ(0, second.exit_code) << second.err;
    EXPECT_EQ((std::vector<std::string>{"manifest.json", "math", "report.html"}), entries(out));
}

}  // namespace
}  // namespace mona
