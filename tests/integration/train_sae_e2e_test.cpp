// `mona train-sae` end to end on the tiny fixture model: kill -9 at any point of training, then the rerun a user
// makes (scripts/train_default_sae.sh: --resume when checkpoint.bin exists, else the same command afresh), ends
// with the SAE of an uninterrupted run, byte for byte.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "integration/run_util.hpp"
#include "integration/tiny_model_util.hpp"

namespace mona {
namespace {

namespace fs = std::filesystem;

class TrainSaeE2eTest : public ::testing::Test {
   protected:
    static void SetUpTestSuite() {
        fixtures::fault_seed();  // read before the environment is cleared
        fixtures::unset_mona_environment();
        dir_ = fixtures::make_temp_dir("mona-train-sae-e2e");
        model_ = dir_ + "/tiny.gguf";
        fixtures::TinyModelSpec spec;
        spec.n_layer = 3;
        ASSERT_TRUE(fixtures::write_tiny_llama_gguf(model_, spec).ok());
        corpus_ = dir_ + "/corpus.jsonl";
        ASSERT_TRUE(fixtures::write_jsonl(corpus_, fixtures::make_labelled_pool(10)).ok());
    }
    static void TearDownTestSuite() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    // 4 epochs of ~1.4k token rows in batches of 64 (epochs 2-4 replay the rows in memory; with --cache-mb 0
    // every epoch runs the model again), AuxK active (latents die after 1000 tokens).
    static std::vector<std::string> train_argv(const std::string& out, const std::vector<std::string>& extra = {}) {
        std::vector<std::string> args = {"train-sae", "--model",      model_,      "--input",
                                         corpus_,     "--layer",      "2",         "--latents",
                                         "128",       "--k",          "8",         "--epochs",
                                         "4",         "--batch-size", "64",        "--buffer-tokens",
                                         "256",       "--doc-tokens", "48",        "--batch-tokens",
                                         "128",       "--warmup",     "5",         "--dead-tokens",
                                         "1000",      "--seed",       "3",         "--out",
                                         out,         "--quiet",      "--threads", "1"};
        args.insert(args.end(), extra.begin(), extra.end());
        return args;
    }

    static std::string file(const std::string& path) { return fixtures::read_file(path); }

    // metrics.json without "seconds" (wall-clock time).
    static nlohmann::json metrics_of(const std::string& out) {
        nlohmann::json metrics = nlohmann::json::parse(file(out + "/metrics.json"));
        metrics.erase("seconds");
        return metrics;
    }
    // train_log.tsv without its last column, tokens_per_s (wall-clock rate).
    static std::vector<std::string> log_of(const std::string& out) {
        std::vector<std::string> rows = fixtures::file_lines(out + "/train_log.tsv");
        for (auto& row : rows) row = row.substr(0, row.rfind('\t'));
        return rows;
    }
    static bool has_staging(const std::string& out) {
        std::error_code ec;
        for (auto it = fs::directory_iterator(out, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
            if (it->path().filename().string().rfind(".mona-staging-", 0) == 0) return true;
        }
        return false;
    }
    static int64_t n_log_rows(const std::string& out) {
        const std::string text = fixtures::read_file(out + "/train_log.tsv");
        return static_cast<int64_t>(std::count(text.begin(), text.end(), '\n')) - 1;
    }

    // The fault test of one configuration: an uninterrupted reference run, then n_points killed runs, each rerun
    // until it completes and compared with the reference.
    static void kill_and_resume(const std::string& name, const std::vector<std::string>& extra, int n_points) {
        const std::string reference = dir_ + "/" + name + "-reference";
        const auto t_ref = std::chrono::steady_clock::now();
        const fixtures::RunResult ref = fixtures::run_binary(MONA_BIN, train_argv(reference, extra), dir_);
        const auto ref_us =
            std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t_ref).count();
        ASSERT_EQ(0, ref.exit_code) << ref.err;
        const std::string sae = "/layers.1/sae.safetensors";
        ASSERT_TRUE(fs::exists(reference + sae));
        EXPECT_FALSE(has_staging(reference));
        const int64_t n_steps = n_log_rows(reference);
        const int64_t n_epochs = 4;
        ASSERT_GE(n_steps, 40) << "too few steps to spread kill points over";
        ASSERT_EQ(0, n_steps % n_epochs) << "every epoch takes the same number of steps";
        const nlohmann::json ref_state = nlohmann::json::parse(file(reference + "/train_state.json"));
        ASSERT_EQ(n_epochs, ref_state["epochs_done"]);

        // States in run order, by the step they come at: a number of logged steps (every 10th of the run), each
        // epoch's checkpoint, then the end: metrics.json, and the SAE folder renamed into place.
        struct Planned {
            double step;
            fixtures::RunState state;
        };
        const auto make_states = [&](const std::string& out) {
            std::vector<Planned> planned = {{-1, {"start", [] { return true; }}}};
            for (int64_t tenth = 1; tenth < 10; ++tenth) {
                const int64_t rows = n_steps * tenth / 10;
                const auto logged = [out, rows] { return n_log_rows(out) >= rows; };
                planned.push_back({static_cast<double>(rows), {std::to_string(rows) + " steps logged", logged}});
            }
            for (int64_t epoch = 1; epoch <= n_epochs; ++epoch) {
                planned.push_back({static_cast<double>(n_steps * epoch / n_epochs) + 0.5,
                                   {"checkpoint of epoch " + std::to_string(epoch), [out, epoch] {
                                        const std::string text = fixtures::read_file(out + "/train_state.json");
                                        const auto state = nlohmann::json::parse(text, nullptr, false);
                                        return !state.is_discarded() && state.value("epochs_done", 0) >= epoch;
                                    }}});
            }
            planned.push_back({static_cast<double>(n_steps) + 1,
                               {"metrics.json written", [out] { return fs::exists(out + "/metrics.json"); }}});
            planned.push_back({static_cast<double>(n_steps) + 2,
                               {"SAE folder in place", [out] { return fs::exists(out + "/layers.1"); }}});
            std::stable_sort(planned.begin(), planned.end(),
                             [](const Planned& a, const Planned& b) { return a.step < b.step; });
            std::vector<fixtures::RunState> states;
            for (auto& p : planned) states.push_back(std::move(p.state));
            return states;
        };

        const uint64_t seed = fixtures::fault_seed();
        std::printf("[ faults   ] train-sae %s: kill points from seed %llu (MONA_TEST_FAULT_SEED=%llu replays them)\n",
                    name.c_str(), static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
        int n_resumed = 0;       // reruns that resumed a checkpoint
        int n_killed_again = 0;  // reruns killed in turn
        std::mt19937_64 rerun_rng(seed + 1);
        fixtures::FaultCase faults;
        faults.n_points = n_points;
        faults.max_delay_us = 2 * ref_us / 16;
        faults.run_dir = [&](int attempt_idx) { return dir_ + "/" + name + "-killed-" + std::to_string(attempt_idx); };
        faults.args = [&](const std::string& out) { return train_argv(out, extra); };
        faults.states = make_states;
        faults.after_kill = [&](const std::string& out, const std::string& where) {
            SCOPED_TRACE(where);
            // No SAE folder unless the finished one was moved into place (then only the staging folder's removal
            // was cut short).
            if (fs::exists(out + "/layers.1")) {
                EXPECT_EQ(file(reference + sae), file(out + sae));
                EXPECT_EQ(file(reference + "/layers.1/cfg.json"), file(out + "/layers.1/cfg.json"));
            }
            // The rerun of scripts/train_default_sae.sh: --resume when a checkpoint exists.
            const auto rerun_args = [&] {
                std::vector<std::string> rerun_extra = extra;
                if (fs::exists(out + "/checkpoint.bin")) rerun_extra.push_back("--resume");
                return train_argv(out, rerun_extra);
            };
            // Every third rerun is killed in turn, at a random time (a resume cut short, its rebuild pass too).
            if (rerun_rng() % 3 == 0) {
                const int64_t delay_us = static_cast<int64_t>(rerun_rng() % static_cast<uint64_t>(ref_us / 3 + 1));
                n_killed_again +=
                    fixtures::run_and_kill(MONA_BIN, rerun_args(), {"rerun start", [] { return true; }}, delay_us);
            }
            const bool resume = fs::exists(out + "/checkpoint.bin");
            const fixtures::RunResult rerun = fixtures::run_binary(MONA_BIN, rerun_args(), dir_);
            ASSERT_EQ(0, rerun.exit_code) << rerun.err;
            n_resumed += resume;
            // The SAE and the final training state byte for byte; metrics and log but for their wall-clock fields.
            EXPECT_EQ(file(reference + sae), file(out + sae)) << "resume: " << resume;
            for (const char* same : {"/layers.1/cfg.json", "/checkpoint.bin", "/train_state.json"}) {
                EXPECT_EQ(file(reference + same), file(out + same)) << same << ", resume: " << resume;
            }
            EXPECT_EQ(metrics_of(reference), metrics_of(out));
            EXPECT_EQ(log_of(reference), log_of(out));
            EXPECT_FALSE(has_staging(out));
        };
        const fixtures::FaultTally tally = fixtures::run_fault_points(MONA_BIN, seed, faults);
        EXPECT_GE(tally.n_killed, n_points)
            << "seed " << seed << ": the runs outran the kill points (" << tally.n_finished_first << " finished first)";
        EXPECT_GE(n_resumed, tally.n_killed / 2) << "seed " << seed << ": too few kills left a checkpoint to resume";
        std::printf(
            "[ faults   ] train-sae %s: %d runs killed (%d points outrun), %d reruns resumed a checkpoint, "
            "%d reruns killed in turn\n",
            name.c_str(), tally.n_killed, tally.n_finished_first, n_resumed, n_killed_again);
    }

    static inline std::string dir_, model_, corpus_;
};

// Epochs 2-4 replay the rows epoch 1 kept in memory: a resume must rebuild them to train as an uninterrupted run.
TEST_F(TrainSaeE2eTest, KilledTrainingResumesToTheSameSae) { kill_and_resume("replay", {}, 12); }

// Every epoch runs the model (--cache-mb 0): a resumed epoch must batch its documents as an uninterrupted one.
TEST_F(TrainSaeE2eTest, KilledStreamingTrainingResumesToTheSameSae) {
    kill_and_resume("stream", {"--cache-mb", "0"}, 4);
}

// The checkpoint's own run state decides whether --resume may continue it: another --k is refused, naming the
// parameter and the checkpoint, and changes nothing.
TEST_F(TrainSaeE2eTest, ResumeWithOtherParametersIsRefused) {
    const std::string out = dir_ + "/other-params";
    const fixtures::RunResult first = fixtures::run_binary(MONA_BIN, train_argv(out, {"--epochs", "1"}), dir_);
    ASSERT_EQ(0, first.exit_code) << first.err;
    const std::string checkpoint = file(out + "/checkpoint.bin");
    std::vector<std::string> args = train_argv(out, {"--epochs", "2", "--resume"});
    args[std::find(args.begin(), args.end(), "--k") - args.begin() + 1] = "4";
    const fixtures::RunResult other = fixtures::run_binary(MONA_BIN, args, dir_);
    EXPECT_EQ(1, other.exit_code);
    // train_state.json (the readable copy of the checkpoint's state) is checked first; it names file and field.
    EXPECT_NE(std::string::npos, other.err.find("--resume: k differs from the checkpointed run (4 vs 8 in " + out +
                                                "/train_state.json, field 'config.k')"))
        << other.err;
    // Without the copy, the state inside the checkpoint is checked and named.
    std::filesystem::remove(out + "/train_state.json");
    const fixtures::RunResult again = fixtures::run_binary(MONA_BIN, args, dir_);
    EXPECT_EQ(1, again.exit_code);
    EXPECT_NE(std::string::npos, again.err.find("--resume: k differs from the checkpointed run (4 vs 8 in " + out +
                                                "/checkpoint.bin, field 'config.k')"))
        << again.err;
    EXPECT_EQ(checkpoint, file(out + "/checkpoint.bin"));
}

// The job reports through its log callback; the CLI prints each message as a "mona: " line on stderr, and --quiet
// leaves the callback out.
TEST_F(TrainSaeE2eTest, LogLinesGoToStderrUnlessQuiet) {
    const std::string out = dir_ + "/log-lines";
    std::vector<std::string> args = train_argv(out, {"--epochs", "1", "--log-every", "1"});
    args.erase(std::find(args.begin(), args.end(), "--quiet"));
    const fixtures::RunResult first = fixtures::run_binary(MONA_BIN, args, dir_);
    ASSERT_EQ(0, first.exit_code) << first.err;
    EXPECT_EQ(0u, first.err.find("mona: epoch 1/1  step 1  tokens 64  FVU ")) << first.err;
    EXPECT_NE(std::string::npos, first.err.find(" tokens/s  ETA unknown until epoch 1 ends\n")) << first.err;
    EXPECT_NE(std::string::npos, first.err.find("\nmona: SAE written to " + out + "/layers.1\n{\n")) << first.err;
    EXPECT_EQ('\n', first.err.back());

    std::vector<std::string> resume = train_argv(out, {"--epochs", "2", "--log-every", "1", "--resume"});
    resume.erase(std::find(resume.begin(), resume.end(), "--quiet"));
    const fixtures::RunResult again = fixtures::run_binary(MONA_BIN, resume, dir_);
    ASSERT_EQ(0, again.exit_code) << again.err;
    EXPECT_EQ(0u, again.err.find("mona: resuming after epoch 1, step ")) << again.err;
    EXPECT_NE(std::string::npos, again.err.find("\nmona: rebuilding epoch 1's rows in memory (one model pass, no "
                                                "training), so the resumed run trains as an uninterrupted one\n"))
        << again.err;
    EXPECT_NE(std::string::npos, again.err.find("\nmona: epoch 2/2  step ")) << again.err;

    const fixtures::RunResult quiet =
        fixtures::run_binary(MONA_BIN, train_argv(dir_ + "/log-quiet", {"--epochs", "1"}), dir_);
    ASSERT_EQ(0, quiet.exit_code) << quiet.err;
    EXPECT_EQ(std::string::npos, quiet.err.find("mona: ")) << quiet.err;
}

}  // namespace
}  // namespace mona
