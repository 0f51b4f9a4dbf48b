// `mona embed` / `mona score` / `mona merge` end to end on the tiny fixture model: a store scores exactly like
// `mona select`, slices and merges read as one pool, and a killed embed resumes to a byte-identical store.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "integration/tiny_model_util.hpp"
#include "util/sha256.hpp"

namespace mona {
namespace {

namespace fs = std::filesystem;

struct Out {
    int code = -1;
    std::string err;
};

std::string quote(const std::string& arg) {
    std::string out = "'";
    for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

class StoreE2eTest : public ::testing::Test {
   protected:
    static void SetUpTestSuite() {
        for (const char* var : {"MONA_MODEL", "MONA_SAE", "MONA_KEEP", "MONA_SHARD", "MONA_SHARD_ROWS"}) ::unsetenv(var);
        dir_ = fixtures::make_temp_dir("mona-store-e2e");
        model_ = dir_ + "/tiny.gguf";
        fixtures::TinyModelSpec spec;
        spec.n_layer = 3;
        ASSERT_TRUE(fixtures::write_tiny_llama_gguf(model_, spec).ok());
        auto sae = fixtures::write_tiny_sparsify_sae(dir_ + "/sae", 64, 256, 8, 7, "layers.1");
        ASSERT_TRUE(sae.ok()) << sae.status().message();
        sae_dir_ = sae->folder;
        pool_ = dir_ + "/pool.jsonl";
        ASSERT_TRUE(fixtures::write_jsonl(pool_, fixtures::make_labelled_pool(10)).ok());
        target_ = dir_ + "/target_math.jsonl";
        ASSERT_TRUE(fixtures::write_jsonl(target_, fixtures::make_target_exemplars("math", 5)).ok());
        Out sel = mona("select --model " + quote(model_) + " --sae " + quote(sae_dir_) + " --pool " + quote(pool_) +
                       " --target math=" + quote(target_) + " --count 8 --out " + quote(dir_ + "/select"));
        ASSERT_EQ(0, sel.code) << sel.err;
    }
    static void TearDownTestSuite() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    static Out mona(const std::string& args, bool runs_model = true) {
        const std::string err = dir_ + "/stderr.txt";
        const std::string cmd = "OMP_WAIT_POLICY=passive " + quote(MONA_BIN) + " " + args +
                                (runs_model ? " --quiet --threads 1" : "") + " >/dev/null 2>" + quote(err);
        const int status = std::system(cmd.c_str());
        return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, fixtures::read_file(err)};
    }
    static std::string embed_args(const std::string& store, const std::string& extra = "") {
        return "embed --model " + quote(model_) + " --sae " + quote(sae_dir_) + " --pool " + quote(pool_) +
               " --shard-rows 3 --out " + quote(store) + " " + extra;
    }
    static std::string score_args(const std::vector<std::string>& stores, const std::string& out) {
        std::string args = "score --target math=" + quote(target_) + " --count 8 --out " + quote(out);
        for (const auto& s : stores) args += " --store " + quote(s);
        return args;
    }
    // Every file of a store (sorted names) with the sha256 of its bytes, lock and temporaries excluded.
    static std::vector<std::pair<std::string, std::string>> store_files(const std::string& store) {
        std::vector<std::pair<std::string, std::string>> files;
        for (const auto& entry : fs::directory_iterator(store)) {
            const std::string name = entry.path().filename().string();
            if (name == ".lock" || name.find(".tmp") != std::string::npos) continue;
            files.emplace_back(name, sha256_hex(fixtures::read_file(entry.path().string())));
        }
        std::sort(files.begin(), files.end());
        return files;
    }

    static inline std::string dir_, model_, sae_dir_, pool_, target_;
};

TEST_F(StoreE2eTest, ScoreFromAStoreEqualsSelect) {
    const std::string store = dir_ + "/store-full";
    Out embed = mona(embed_args(store));
    ASSERT_EQ(0, embed.code) << embed.err;
    Out score = mona(score_args({store}, dir_ + "/score-full"));
    ASSERT_EQ(0, score.code) << score.err;
    EXPECT_EQ(fixtures::read_file(dir_ + "/select/math/selected.jsonl"),
              fixtures::read_file(dir_ + "/score-full/math/selected.jsonl"));
    // Same rows; scores equal up to float noise (the store batches samples by shard, select by token budget).
    auto lines = [](const std::string& path) {
        std::vector<std::vector<std::string>> rows;
        std::stringstream in(fixtures::read_file(path));
        for (std::string line; std::getline(in, line);) {
            std::vector<std::string> fields;
            std::stringstream ls(line);
            for (std::string f; std::getline(ls, f, '\t');) fields.push_back(f);
            rows.push_back(fields);
        }
        return rows;
    };
    const auto want = lines(dir_ + "/select/math/scores.tsv");
    const auto got = lines(dir_ + "/score-full/math/scores.tsv");
    ASSERT_EQ(want.size(), got.size());
    ASSERT_EQ(41u, want.size());
    for (size_t row = 1; row < want.size(); ++row) {
        ASSERT_EQ(9u, got[row].size());
        for (size_t col = 0; col < 6; ++col) EXPECT_EQ(want[row][col], got[row][col]) << "row " << row << " col " << col;
        EXPECT_NEAR(std::stod(want[row][6]), std::stod(got[row][6]), 1e-5) << "row " << row;
    }
}

TEST_F(StoreE2eTest, SlicesScoreAndMergeAsOnePool) {
    const std::string s0 = dir_ + "/slice0", s1 = dir_ + "/slice1", merged = dir_ + "/merged";
    ASSERT_EQ(0, mona(embed_args(s0, "--shard 0/2")).code);
    ASSERT_EQ(0, mona(embed_args(s1, "--shard 1/2")).code);
    Out score = mona(score_args({s1, s0}, dir_ + "/score-slices"));
    ASSERT_EQ(0, score.code) << score.err;
    EXPECT_EQ(fixtures::read_file(dir_ + "/select/math/selected.jsonl"),
              fixtures::read_file(dir_ + "/score-slices/math/selected.jsonl"));
    Out merge = mona("merge --store " + quote(s0) + " --store " + quote(s1) + " --out " + quote(merged) + " --shard-rows 3", false);
    ASSERT_EQ(0, merge.code) << merge.err;
    // The merged store holds the slices' vectors: scoring it gives the slices' outputs byte for byte.
    Out merged_score = mona(score_args({merged}, dir_ + "/score-merged"));
    ASSERT_EQ(0, merged_score.code) << merged_score.err;
    EXPECT_EQ(fixtures::read_file(dir_ + "/score-slices/math/scores.tsv"),
              fixtures::read_file(dir_ + "/score-merged/math/scores.tsv"));
    Out missing = mona(score_args({s0}, dir_ + "/score-one-slice"));
    EXPECT_EQ(1, missing.code);
    EXPECT_NE(missing.err.find("slice"), std::string::npos) << missing.err;
}

TEST_F(StoreE2eTest, KilledEmbedResumesToTheSameStore) {
    const std::string reference = dir_ + "/store-reference";
    ASSERT_EQ(0, mona(embed_args(reference)).code);
    const auto expected = store_files(reference);
    int n_partial = 0;
    for (int delay_ms : {20, 60, 120, 250, 500}) {
        const std::string store = dir_ + "/store-killed-" + std::to_string(delay_ms);
        const pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            const std::string cmd = "exec env OMP_WAIT_POLICY=passive " + quote(MONA_BIN) + " " + embed_args(store) +
                                    " --quiet --threads 1 >/dev/null 2>&1";
            execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
            _exit(127);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
        if (WIFSIGNALED(status)) ++n_partial;
        Out resumed = mona(embed_args(store));
        ASSERT_EQ(0, resumed.code) << "kill after " << delay_ms << " ms: " << resumed.err;
        EXPECT_EQ(expected, store_files(store)) << "kill after " << delay_ms << " ms";
    }
    EXPECT_GE(n_partial, 1) << "no run was killed before it finished; the test proved nothing";
}

TEST_F(StoreE2eTest, ResumeWithOtherParametersIsRefusedNamingThem) {
    const std::string store = dir_ + "/store-params";
    ASSERT_EQ(0, mona(embed_args(store)).code);
    Out other = mona(embed_args(store, "--k 4"));
    EXPECT_EQ(1, other.code);
    EXPECT_NE(other.err.find("'k'"), std::string::npos) << other.err;
    // A pool edited after embedding is refused by score, naming the parameter.
    const std::string pool_copy = fixtures::read_file(pool_);
    ASSERT_TRUE(fixtures::write_lines(pool_, {pool_copy + "{\"text\": \"one more sample\"}"}).ok());
    Out score = mona(score_args({store}, dir_ + "/score-edited"));
    ASSERT_TRUE(fixtures::write_lines(pool_, {pool_copy.substr(0, pool_copy.size() - 1)}).ok());
    EXPECT_EQ(1, score.code);
    EXPECT_NE(score.err.find("pool_sha256"), std::string::npos) << score.err;
    EXPECT_EQ(pool_copy, fixtures::read_file(pool_));
}

}  // namespace
}  // namespace mona
