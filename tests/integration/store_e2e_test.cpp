// `mona embed` / `mona score` / `mona merge` end to end on the tiny fixture model: a store scores exactly like
// `mona select`, slices and merges read as one pool, and a killed embed resumes to a byte-identical store.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fstream>

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "integration/run_util.hpp"
#include "integration/tiny_model_util.hpp"
#include "util/sha256.hpp"

namespace mona {
namespace {

namespace fs = std::filesystem;

struct Out {
    int code = -1;
    std::string err;
};

std::string quote(const std::string& arg) { return fixtures::shell_quote(arg); }

class StoreE2eTest : public ::testing::Test {
   protected:
    static void SetUpTestSuite() {
        for (const char* var : {"MONA_MODEL", "MONA_SAE", "MONA_KEEP", "MONA_SHARD", "MONA_SHARD_ROWS", "MONA_VALUES"})
            ::unsetenv(var);
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
        code_target_ = dir_ + "/target_code.jsonl";
        ASSERT_TRUE(fixtures::write_jsonl(code_target_, fixtures::make_target_exemplars("code", 5)).ok());
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
    // Starts `mona args` (quiet, one thread) and SIGKILLs it after `delay_ms`, or, with `kill_once_exists`, as
    // soon as that file exists (polled every millisecond; a state-based kill that a slow or fast machine cannot
    // miss). Returns true when the process died of the kill rather than finishing first.
    static bool run_and_kill(const std::string& args, int delay_ms, const std::string& kill_once_exists = "") {
        const pid_t pid = fork();
        if (pid < 0) return false;
        if (pid == 0) {
            const std::string cmd = "exec env OMP_WAIT_POLICY=passive " + quote(MONA_BIN) + " " + args +
                                    " --quiet --threads 1 >/dev/null 2>&1";
            execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
            _exit(127);
        }
        int status = 0;
        if (kill_once_exists.empty()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        } else {
            while (!fs::exists(kill_once_exists) && ::waitpid(pid, &status, WNOHANG) == 0) {
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
        }
        ::kill(pid, SIGKILL);  // harmless if it already exited and was reaped: then waitpid below fails
        const pid_t reaped = ::waitpid(pid, &status, 0);
        return reaped == pid && WIFSIGNALED(status);
    }
    // The embed command as an argument list (for the kill harness), quiet and on one thread. These tests compare
    // stores with `mona select`, whose pool store is exact: they ask for f32 values (the CLI default is q12).
    static std::vector<std::string> embed_argv(const std::string& store) {
        return {"embed", "--model",  model_, "--sae", sae_dir_, "--pool",  pool_,       "--shard-rows",
                "3",     "--values", "f32",  "--out", store,    "--quiet", "--threads", "1"};
    }
    static std::string embed_args(const std::string& store, const std::string& extra = "") {
        return "embed --model " + quote(model_) + " --sae " + quote(sae_dir_) + " --pool " + quote(pool_) +
               " --shard-rows 3 --values f32 --out " + quote(store) + " " + extra;
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

    // A TSV file as rows of fields, header included.
    static std::vector<std::vector<std::string>> tsv_rows(const std::string& path) {
        std::vector<std::vector<std::string>> rows;
        std::stringstream in(fixtures::read_file(path));
        for (std::string line; std::getline(in, line);) {
            std::vector<std::string> fields;
            std::stringstream ls(line);
            for (std::string f; std::getline(ls, f, '\t');) fields.push_back(f);
            rows.push_back(fields);
        }
        return rows;
    }
    static std::vector<std::string> file_lines(const std::string& path) {
        std::vector<std::string> lines;
        std::stringstream in(fixtures::read_file(path));
        for (std::string line; std::getline(in, line);) lines.push_back(line);
        return lines;
    }

    static inline std::string dir_, model_, sae_dir_, pool_, target_, code_target_;
};

TEST_F(StoreE2eTest, ScoreFromAStoreEqualsSelect) {
    const std::string store = dir_ + "/store-full";
    Out embed = mona(embed_args(store));
    ASSERT_EQ(0, embed.code) << embed.err;
    Out score = mona(score_args({store}, dir_ + "/score-full"));
    ASSERT_EQ(0, score.code) << score.err;
    EXPECT_EQ(fixtures::read_file(dir_ + "/select/math/selected.jsonl"),
              fixtures::read_file(dir_ + "/score-full/math/selected.jsonl"));
    // The store batches samples exactly as one uninterrupted pass, so every score is the same, to the bit.
    for (const char* file : {"math/scores.tsv", "report.html"}) {
        EXPECT_EQ(fixtures::read_file(dir_ + "/select/" + std::string(file)),
                  fixtures::read_file(dir_ + "/score-full/" + std::string(file)))
            << file;
    }
    EXPECT_EQ(41u, tsv_rows(dir_ + "/score-full/math/scores.tsv").size());
}

// Issue 16: `mona embed` writes q12 values by default (docs/store.md); score reads them (decoded exactly as the
// store defines), names the encoding in its manifest, and a resume with other values is refused by name.
TEST_F(StoreE2eTest, DefaultEmbedWritesQ12ValuesThatScore) {
    const std::string store = dir_ + "/store-q12";
    const std::string embed = "embed --model " + quote(model_) + " --sae " + quote(sae_dir_) + " --pool " +
                              quote(pool_) + " --shard-rows 3 --out " + quote(store);
    Out made = mona(embed);
    ASSERT_EQ(0, made.code) << made.err;
    const std::string manifest = fixtures::read_file(store + "/manifest.json");
    EXPECT_NE(manifest.find("\"values\": \"q12\""), std::string::npos) << manifest;
    EXPECT_NE(manifest.find("\"format_version\": 3"), std::string::npos) << manifest;
    Out other = mona(embed + " --values bf16");
    EXPECT_EQ(1, other.code);
    EXPECT_NE(other.err.find("'values' differs (store: q12, now: bf16)"), std::string::npos) << other.err;
    Out score = mona(score_args({store}, dir_ + "/score-q12"));
    ASSERT_EQ(0, score.code) << score.err;
    EXPECT_EQ(41u, tsv_rows(dir_ + "/score-q12/math/scores.tsv").size());
    EXPECT_NE(fixtures::read_file(dir_ + "/score-q12/manifest.json").find("\"store_values\": \"q12\""),
              std::string::npos);
    Out bad = mona(embed + "-x --values fp8");
    EXPECT_EQ(2, bad.code);
    EXPECT_NE(bad.err.find("--values: value encoding 'fp8': expected f32, bf16, q8 or q12"), std::string::npos)
        << bad.err;
}

TEST_F(StoreE2eTest, SlicesScoreAndMergeAsOnePool) {
    const std::string s0 = dir_ + "/slice0", s1 = dir_ + "/slice1", merged = dir_ + "/merged";
    ASSERT_EQ(0, mona(embed_args(s0, "--shard 0/2")).code);
    ASSERT_EQ(0, mona(embed_args(s1, "--shard 1/2")).code);
    Out score = mona(score_args({s1, s0}, dir_ + "/score-slices"));
    ASSERT_EQ(0, score.code) << score.err;
    EXPECT_EQ(fixtures::read_file(dir_ + "/select/math/selected.jsonl"),
              fixtures::read_file(dir_ + "/score-slices/math/selected.jsonl"));
    Out merge = mona(
        "merge --store " + quote(s0) + " --store " + quote(s1) + " --out " + quote(merged) + " --shard-rows 3", false);
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

// kill -9 at 12 points of `mona embed`, drawn from a seeded RNG (the seed is printed; MONA_TEST_FAULT_SEED replays
// it) and spread over the run's states: its start, the store's first manifest and every shard as it is stored,
// each with or without a random delay after it. Each killed store, rerun with the same command, is byte for byte
// the store of an uninterrupted run (every file but the writer's lock and temporaries).
TEST_F(StoreE2eTest, KilledEmbedResumesToTheSameStore) {
    const std::string reference = dir_ + "/store-reference";
    const auto t_ref = std::chrono::steady_clock::now();
    ASSERT_EQ(0, mona(embed_args(reference)).code);
    const auto ref_us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t_ref).count();
    const auto expected = store_files(reference);
    size_t n_shards = 0;
    for (const auto& [name, sha] : expected) n_shards += name.rfind("shard-", 0) == 0;
    ASSERT_GE(n_shards, 10u);
    const uint64_t seed = fixtures::fault_seed();
    std::printf("[ faults   ] embed: kill points from seed %llu (MONA_TEST_FAULT_SEED=%llu replays them)\n",
                static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
    int n_resumed = 0;  // reruns that found stored samples
    fixtures::FaultCase faults;
    faults.max_delay_us = 2 * ref_us / static_cast<int64_t>(n_shards + 2);
    faults.run_dir = [&](int attempt_idx) { return dir_ + "/store-killed-" + std::to_string(attempt_idx); };
    faults.args = [&](const std::string& store) { return embed_argv(store); };
    faults.states = [&](const std::string& store) {
        std::vector<fixtures::RunState> states = {
            {"start", [] { return true; }},
            {"manifest.json created", [store] { return fs::exists(store + "/manifest.json"); }}};
        for (size_t shard_idx = 0; shard_idx < n_shards; ++shard_idx) {
            char name[32];
            std::snprintf(name, sizeof(name), "shard-%05zu.bin", shard_idx);
            states.push_back({std::string(name) + " stored", [path = store + "/" + name] { return fs::exists(path); }});
        }
        return states;
    };
    faults.after_kill = [&](const std::string& store, const std::string& where) {
        SCOPED_TRACE(where);
        // A killed store never claims to be complete, unless the kill came after its commit.
        if (fs::exists(store + "/manifest.json")) {
            const auto manifest = nlohmann::json::parse(fixtures::read_file(store + "/manifest.json"));
            if (manifest.value("complete", false)) {
                EXPECT_EQ(expected, store_files(store));
            }
        }
        Out resumed = mona(embed_args(store));
        ASSERT_EQ(0, resumed.code) << resumed.err;
        n_resumed += resumed.err.find(", 0 resumed") == std::string::npos;
        EXPECT_EQ(expected, store_files(store));
    };
    const fixtures::FaultTally tally = fixtures::run_fault_points(MONA_BIN, seed, faults);
    EXPECT_GE(tally.n_killed, 12) << "seed " << seed << ": the runs outran the kill points (" << tally.n_finished_first
                                  << " finished first)";
    EXPECT_GE(n_resumed, tally.n_killed / 2) << "seed " << seed << ": too few reruns had stored shards to resume";
    std::printf("[ faults   ] embed: %d runs killed (%d points outrun), %d reruns resumed stored shards\n",
                tally.n_killed, tally.n_finished_first, n_resumed);
}

// A rerun over a store resumes without the model, but its skip list and truncation count still cover the whole
// slice (the stored records are re-read), so they are the same as the first run's.
TEST_F(StoreE2eTest, ResumedEmbedKeepsTheSkipListAndTruncationCount) {
    std::vector<std::string> lines = file_lines(pool_);
    lines.insert(lines.begin() + 3, R"({"messages": [{"role": "user", "content": 5}]})");  // line 4
    const std::string pool = dir_ + "/pool-bad4.jsonl";
    {
        std::ofstream out(pool);
        for (const auto& line : lines) out << line << "\n";
    }
    const std::string store = dir_ + "/store-skip";
    const std::string args = "embed --model " + quote(model_) + " --sae " + quote(sae_dir_) + " --pool " + quote(pool) +
                             " --shard-rows 3 --max-tokens 24 --skip-bad --out " + quote(store);
    const Out first = mona(args);
    ASSERT_EQ(0, first.code) << first.err;
    const Out again = mona(args);
    ASSERT_EQ(0, again.code) << again.err;
    EXPECT_NE(first.err.find("0 resumed, 1 skipped"), std::string::npos) << first.err;
    EXPECT_NE(again.err.find("0 embedded now, 40 resumed, 1 skipped"), std::string::npos) << again.err;
    const auto truncated = [](const std::string& err) {
        const size_t end = err.find(" truncated)");
        const size_t begin = err.rfind(' ', end - 1);
        return end == std::string::npos ? std::string("?") : err.substr(begin + 1, end - begin - 1);
    };
    EXPECT_NE("0", truncated(first.err)) << "--max-tokens 24 truncates nothing: the check would be empty";
    EXPECT_EQ(truncated(first.err), truncated(again.err));
    const auto rows = tsv_rows(store + "/skipped-0-of-1.tsv");
    ASSERT_EQ(2u, rows.size());
    EXPECT_EQ("4", rows[1][1]);
}

TEST_F(StoreE2eTest, ResumeWithOtherParametersIsRefusedNamingThem) {
    const std::string store = dir_ + "/store-params";
    ASSERT_EQ(0, mona(embed_args(store)).code);
    Out other = mona(embed_args(store, "--k 4"));
    EXPECT_EQ(1, other.code);
    EXPECT_NE(other.err.find("'k'"), std::string::npos) << other.err;
    // Issue 9: the system prompt decides the rendered text, so it is a store parameter too.
    Out no_system = mona(embed_args(store, "--system-prompt none"));
    EXPECT_EQ(1, no_system.code);
    EXPECT_NE(no_system.err.find("'system_prompt'"), std::string::npos) << no_system.err;
    EXPECT_NE(fixtures::read_file(store + "/manifest.json").find("\"system_prompt\": \"template\""), std::string::npos);
    // A pool edited after embedding is refused by score, naming the parameter.
    const std::string pool_copy = fixtures::read_file(pool_);
    ASSERT_TRUE(fixtures::write_lines(pool_, {pool_copy + "{\"text\": \"one more sample\"}"}).ok());
    Out score = mona(score_args({store}, dir_ + "/score-edited"));
    ASSERT_TRUE(fixtures::write_lines(pool_, {pool_copy.substr(0, pool_copy.size() - 1)}).ok());
    EXPECT_EQ(1, score.code);
    EXPECT_NE(score.err.find("pool_sha256"), std::string::npos) << score.err;
    EXPECT_EQ(pool_copy, fixtures::read_file(pool_));
    // A hand-edited parameter of the wrong type is an error naming the manifest, not a crash.
    const std::string edited = dir_ + "/store-edited";
    fs::copy(store, edited, fs::copy_options::recursive);
    std::string manifest = fixtures::read_file(edited + "/manifest.json");
    const size_t at = manifest.find("\"layer\": ");
    ASSERT_NE(std::string::npos, at) << manifest;
    manifest.replace(at, manifest.find(',', at) - at, "\"layer\": \"twenty\"");
    ASSERT_TRUE(fixtures::write_lines(edited + "/manifest.json", {manifest.substr(0, manifest.size() - 1)}).ok());
    Out typed = mona(score_args({edited}, dir_ + "/score-typed"));
    EXPECT_EQ(1, typed.code);
    EXPECT_NE(typed.err.find("manifest.json: a run parameter"), std::string::npos) << typed.err;
}

// The merged subset, recomputed here from the per-target scores.tsv files (their rank column) by the documented
// turn rule: targets take turns in --target order, each taking its best-ranked sample not taken yet, up to its
// quota. Returns the record indices in pick order and who took each (target name and rank).
std::vector<std::tuple<std::string, std::string, std::string>> expected_merge(
    const std::vector<std::vector<std::vector<std::string>>>& score_tables, const std::vector<std::string>& names,
    const std::vector<size_t>& quotas) {
    std::vector<std::vector<std::string>> ranking(names.size());  // record ids by rank
    for (size_t t = 0; t < names.size(); ++t) {
        const auto& table = score_tables[t];
        ranking[t].resize(table.size() - 1);
        for (size_t row = 1; row < table.size(); ++row) ranking[t][std::stoul(table[row][7]) - 1] = table[row][0];
    }
    size_t total = 0;
    for (size_t q : quotas) total += q;
    std::vector<std::tuple<std::string, std::string, std::string>> picks;
    std::set<std::string> taken;
    std::vector<size_t> got(names.size(), 0);
    while (picks.size() < total) {
        for (size_t t = 0; t < names.size() && picks.size() < total; ++t) {
            if (got[t] == quotas[t]) continue;
            for (size_t place = 0; place < ranking[t].size(); ++place) {
                if (taken.insert(ranking[t][place]).second) {
                    picks.emplace_back(ranking[t][place], names[t], std::to_string(place + 1));
                    ++got[t];
                    break;
                }
            }
        }
    }
    return picks;
}

TEST_F(StoreE2eTest, MergedSubsetTakesTurnsWithoutDuplicates) {
    const std::string store = dir_ + "/store-merge";
    ASSERT_EQ(0, mona(embed_args(store)).code);
    const std::vector<std::string> pool_lines = file_lines(pool_);
    struct Case {
        std::vector<std::pair<std::string, std::string>> targets;  // name, file
        std::string flags;
        std::vector<size_t> quotas;  // in target order
    };
    const std::vector<std::pair<std::string, std::string>> math_code = {{"math", target_}, {"code", code_target_}};
    // The same exemplars twice: the two rankings are equal, so every second turn skips a taken sample.
    const std::vector<std::pair<std::string, std::string>> math_twice = {{"math", target_}, {"again", target_}};
    const std::vector<Case> cases = {{math_code, "--merge round-robin", {4, 3}},
                                     {math_code, "--merge quota --quota code=5 --quota math=2", {2, 5}},
                                     {math_code, "--merge quota --quota math=3 --quota code=1", {5, 2}},  // 5.25, 1.75
                                     {math_twice, "--merge round-robin", {4, 3}}};
    for (size_t case_idx = 0; case_idx < cases.size(); ++case_idx) {
        const Case& c = cases[case_idx];
        const std::string out = dir_ + "/score-merge-" + std::to_string(case_idx);
        std::string args = "score --store " + quote(store) + " --count 7 " + c.flags + " --out " + quote(out);
        std::vector<std::string> names;
        std::vector<std::vector<std::vector<std::string>>> tables;
        for (const auto& [name, file] : c.targets) args += " --target " + name + "=" + quote(file);
        Out score = mona(args);
        ASSERT_EQ(0, score.code) << c.flags << ": " << score.err;
        for (const auto& [name, file] : c.targets) {
            names.push_back(name);
            tables.push_back(tsv_rows(out + "/" + name + "/scores.tsv"));
            // The per-target outputs are those of a run without --merge.
            EXPECT_EQ(7u, file_lines(out + "/" + name + "/selected.jsonl").size());
        }
        const auto want = expected_merge(tables, names, c.quotas);
        const auto got = tsv_rows(out + "/merged/selected.tsv");
        ASSERT_EQ(want.size() + 1, got.size()) << c.flags;
        EXPECT_EQ((std::vector<std::string>{"pick", "record", "id", "line", "target", "rank", "score"}), got[0]);
        const std::vector<std::string> merged_lines = file_lines(out + "/merged/selected.jsonl");
        ASSERT_EQ(want.size(), merged_lines.size());
        std::set<std::string> records;
        int n_skips = 0;  // picks below the target's next rank: a sample another target had taken
        std::map<std::string, int> n_picks;
        for (size_t pick = 0; pick < want.size(); ++pick) {
            const auto& row = got[pick + 1];
            ASSERT_EQ(7u, row.size());
            EXPECT_EQ(std::to_string(pick + 1), row[0]);
            EXPECT_EQ(std::get<0>(want[pick]), row[1]) << c.flags << " pick " << pick;
            EXPECT_EQ(std::get<1>(want[pick]), row[4]) << c.flags << " pick " << pick;
            EXPECT_EQ(std::get<2>(want[pick]), row[5]) << c.flags << " pick " << pick;
            records.insert(row[1]);
            n_skips += std::stoi(row[5]) > ++n_picks[row[4]];
            // The record's bytes as in the pool (line numbers are 1-based), and the target's own score.
            EXPECT_EQ(pool_lines[std::stoul(row[3]) - 1], merged_lines[pick]);
            const size_t target_idx = std::find(names.begin(), names.end(), row[4]) - names.begin();
            ASSERT_LT(target_idx, names.size());
            EXPECT_EQ(tables[target_idx][std::stoul(row[1]) + 1][6], row[6]);
        }
        EXPECT_EQ(want.size(), records.size()) << "a sample was selected twice";
        // Equal rankings: math takes ranks 1, 3, 5, 7 and again 2, 4, 6, so every turn but the first skips one.
        if (c.targets == math_twice) {
            EXPECT_EQ(6, n_skips);
        }
    }

    const std::string base = "score --store " + quote(store) + " --target math=" + quote(target_) +
                             " --target code=" + quote(code_target_) + " --count 7 --out " +
                             quote(dir_ + "/score-merge-bad") + " ";
    Out missing = mona(base + "--merge quota --quota math=1");
    EXPECT_NE(0, missing.code);
    EXPECT_NE(missing.err.find("target 'code' has no --quota"), std::string::npos) << missing.err;
    Out unknown = mona(base + "--merge quota --quota math=1 --quota code=1 --quota cooking=2");
    EXPECT_NE(0, unknown.code);
    EXPECT_NE(unknown.err.find("no --target is named 'cooking'"), std::string::npos) << unknown.err;
    Out bad_weight = mona(base + "--merge quota --quota math=-1 --quota code=1");
    EXPECT_EQ(2, bad_weight.code);
    EXPECT_NE(bad_weight.err.find("must be a number >= 0"), std::string::npos) << bad_weight.err;
    Out no_mode = mona(base + "--quota math=1");
    EXPECT_NE(0, no_mode.code);
    EXPECT_NE(no_mode.err.find("--quota needs --merge quota"), std::string::npos) << no_mode.err;
    Out bad_mode = mona(base + "--merge zigzag");
    EXPECT_EQ(2, bad_mode.code);
    EXPECT_NE(bad_mode.err.find("round-robin or quota"), std::string::npos) << bad_mode.err;
    EXPECT_FALSE(fs::exists(dir_ + "/score-merge-bad/merged"));
}

// Every output file of two run folders, byte for byte, except two fields of manifest.json, compared without them:
// "timings_s" (wall-clock seconds) and "command_line" (it names the run's own --out, and each run has its own).
// Hidden entries (.store, staging folders) are not outputs.
void expect_same_outputs(const std::string& want_dir, const std::string& got_dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::recursive_directory_iterator(want_dir)) {
        if (entry.is_regular_file()) names.push_back(fs::relative(entry.path(), want_dir).string());
    }
    std::sort(names.begin(), names.end());
    ASSERT_GE(names.size(), 5u);
    for (const auto& name : names) {
        const std::string want = fixtures::read_file(want_dir + "/" + name);
        const std::string got = fixtures::read_file(got_dir + "/" + name);
        if (name != "manifest.json") {
            EXPECT_EQ(want, got) << name;
            continue;
        }
        nlohmann::json want_json = nlohmann::json::parse(want), got_json = nlohmann::json::parse(got);
        for (auto* json : {&want_json, &got_json}) {
            json->erase("timings_s");
            json->erase("command_line");
        }
        EXPECT_EQ(want_json, got_json);
    }
    size_t n_got = 0;
    for (const auto& entry : fs::recursive_directory_iterator(got_dir)) {
        // Hidden entries: the staging folder a killed run leaves behind.
        n_got += entry.is_regular_file() && fs::relative(entry.path(), got_dir).string().front() != '.';
    }
    EXPECT_EQ(names.size(), n_got);
}

TEST_F(StoreE2eTest, KilledSelectResumesItsPoolPassToTheSameOutputs) {
    const std::vector<std::string> select_argv = {"select",
                                                  "--model",
                                                  model_,
                                                  "--sae",
                                                  sae_dir_,
                                                  "--pool",
                                                  pool_,
                                                  "--target",
                                                  "math=" + target_,
                                                  "--target",
                                                  "code=" + code_target_,
                                                  "--count",
                                                  "6",
                                                  "--shard-rows",
                                                  "3",
                                                  "--batch-tokens",
                                                  "64"};
    std::string select;
    for (const auto& arg : select_argv) {
        if (!select.empty()) select += ' ';
        select += quote(arg);
    }
    const std::string reference = dir_ + "/select-reference";
    const auto t_ref = std::chrono::steady_clock::now();
    Out ref = mona(select + " --out " + quote(reference));
    const double ref_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_ref).count();
    ASSERT_EQ(0, ref.code) << ref.err;
    EXPECT_FALSE(fs::exists(reference + "/.store")) << "select removes its own store after success";
    EXPECT_NE(ref.err.find(" 0 resumed from the store"), std::string::npos) << ref.err;
    // kill -9 at 12 points drawn from a seeded RNG (printed; MONA_TEST_FAULT_SEED replays it), spread over the
    // run's states: its start (model load, targets), the pool store's manifest and each stored shard, the staging
    // of the outputs and their commit, each with or without a random delay after it.
    const uint64_t seed = fixtures::fault_seed();
    std::printf("[ faults   ] select: kill points from seed %llu (MONA_TEST_FAULT_SEED=%llu replays them)\n",
                static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
    const size_t n_shards = 14;  // 40 samples, 3 per shard
    const auto staging = [](const std::string& out) {
        std::error_code ec;
        for (auto it = fs::directory_iterator(out, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
            if (it->path().filename().string().rfind(".mona-staging-", 0) == 0) return true;
        }
        return false;
    };
    int n_resumed = 0;  // reruns that found stored samples
    fixtures::FaultCase faults;
    faults.max_delay_us = static_cast<int64_t>(2000 * ref_ms) / static_cast<int64_t>(n_shards + 4);
    faults.run_dir = [&](int attempt_idx) { return dir_ + "/select-killed-" + std::to_string(attempt_idx); };
    faults.args = [&](const std::string& out) {
        std::vector<std::string> args = select_argv;
        for (const char* arg : {"--out", out.c_str(), "--quiet", "--threads", "1"}) args.push_back(arg);
        return args;
    };
    faults.states = [&](const std::string& out) {
        std::vector<fixtures::RunState> states = {
            {"start", [] { return true; }},
            {".store/manifest.json created", [out] { return fs::exists(out + "/.store/manifest.json"); }}};
        for (size_t shard_idx = 0; shard_idx < n_shards; ++shard_idx) {
            char name[32];
            std::snprintf(name, sizeof(name), "shard-%05zu.bin", shard_idx);
            const std::string path = out + "/.store/" + name;
            states.push_back({".store/" + std::string(name) + " stored", [path] { return fs::exists(path); }});
        }
        states.push_back({"outputs staged", [out, staging] { return staging(out); }});
        states.push_back({"outputs committed", [out] { return fs::exists(out + "/manifest.json"); }});
        return states;
    };
    faults.after_kill = [&](const std::string& out, const std::string& where) {
        SCOPED_TRACE(where);
        // Nothing of a killed run looks finished: manifest.json, renamed into place last, means every output is in
        // place; without it, visible outputs only while a commit was cut (its staging folder holds the rest).
        if (fs::exists(out + "/manifest.json")) {
            expect_same_outputs(reference, out);
        } else if (!fixtures::visible_files_under(out).empty()) {
            EXPECT_TRUE(staging(out)) << "outputs appeared outside a commit";
        }
        Out rerun = mona(select + " --out " + quote(out));
        ASSERT_EQ(0, rerun.code) << rerun.err;
        n_resumed += rerun.err.find(" 0 resumed from the store") == std::string::npos;
        expect_same_outputs(reference, out);
        EXPECT_FALSE(fs::exists(out + "/.store"));
        EXPECT_FALSE(staging(out)) << "the rerun left a staging folder";
    };
    const fixtures::FaultTally tally = fixtures::run_fault_points(MONA_BIN, seed, faults);
    EXPECT_GE(tally.n_killed, 12) << "seed " << seed << ": the runs outran the kill points (" << tally.n_finished_first
                                  << " finished first)";
    EXPECT_GE(n_resumed, tally.n_killed / 2) << "seed " << seed << ": too few reruns had stored shards to resume";
    std::printf("[ faults   ] select: %d runs killed (%d points outrun), %d reruns resumed stored shards\n",
                tally.n_killed, tally.n_finished_first, n_resumed);
    // A store left by a run with other parameters (here k = 4) is not resumed but replaced.
    const std::string stale = dir_ + "/select-stale";
    ASSERT_EQ(0, mona(embed_args(stale + "/.store", "--k 4")).code);
    Out fresh = mona(select + " --out " + quote(stale));
    ASSERT_EQ(0, fresh.code) << fresh.err;
    EXPECT_NE(fresh.err.find(" 0 resumed from the store"), std::string::npos) << fresh.err;
    expect_same_outputs(reference, stale);

    // --store keeps the store; `mona score` of it writes the same outputs.
    const std::string store = dir_ + "/select-store";
    Out kept = mona(select + " --store " + quote(store) + " --out " + quote(dir_ + "/select-kept"));
    ASSERT_EQ(0, kept.code) << kept.err;
    expect_same_outputs(reference, dir_ + "/select-kept");
    ASSERT_TRUE(fs::exists(store + "/manifest.json"));
    Out scored = mona("score --store " + quote(store) + " --target math=" + quote(target_) + " --target code=" +
                      quote(code_target_) + " --count 6 --batch-tokens 64 --out " + quote(dir_ + "/select-scored"));
    ASSERT_EQ(0, scored.code) << scored.err;
    for (const char* file : {"math/selected.jsonl", "math/scores.tsv", "code/scores.tsv", "report.html"}) {
        EXPECT_EQ(fixtures::read_file(reference + "/" + file), fixtures::read_file(dir_ + "/select-scored/" + file))
            << file;
    }
}

TEST_F(StoreE2eTest, MpirunRanksEmbedAndScoreLikeOneProcess) {
    if (!MONA_TEST_HAVE_MPI) GTEST_SKIP() << "this build has no MPI (CMake MONA_MPI=OFF or no MPI found)";
    const std::string mpiexec = MONA_MPIEXEC;
    ASSERT_FALSE(mpiexec.empty() || mpiexec.find("NOTFOUND") != std::string::npos)
        << "the build has MPI but CMake found no mpiexec (install openmpi-bin)";
    const auto mpirun = [&](int n_ranks, const std::string& args) {
        const std::string err = dir_ + "/mpirun-stderr.txt";
        // Root in containers: allowed explicitly; no single-copy shared memory (ptrace is often not permitted).
        // Under ASan, the ranks unwind malloc stacks the slow way: OpenMPI's plugins are unloaded before the leak
        // check, so the fast unwinder's stacks end in "<unknown module>" frames that scripts/lsan.supp cannot
        // name; the slow unwinder reaches the OpenMPI libraries it lists (ignored by builds without ASan).
        const std::string cmd =
            "ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0\" "
            "OMP_WAIT_POLICY=passive OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
            "OMPI_MCA_btl_vader_single_copy_mechanism=none " +
            quote(mpiexec) + " --oversubscribe -n " + std::to_string(n_ranks) + " " + quote(MONA_BIN) + " " + args +
            " --quiet --threads 1 >/dev/null 2>" + quote(err);
        const int status = std::system(cmd.c_str());
        return Out{WIFEXITED(status) ? WEXITSTATUS(status) : -1, fixtures::read_file(err)};
    };
    // Embed on 2 ranks: the store `--shard 0/2` + `--shard 1/2` + `mona merge` makes, byte for byte.
    const std::string s0 = dir_ + "/mpi-slice0", s1 = dir_ + "/mpi-slice1", merged = dir_ + "/mpi-merged";
    ASSERT_EQ(0, mona(embed_args(s0, "--shard 0/2")).code);
    ASSERT_EQ(0, mona(embed_args(s1, "--shard 1/2")).code);
    ASSERT_EQ(
        0, mona("merge --store " + quote(s0) + " --store " + quote(s1) + " --out " + quote(merged) + " --shard-rows 3",
                false)
               .code);
    const std::string store = dir_ + "/mpi-store";
    Out embed = mpirun(2, embed_args(store));
    ASSERT_EQ(0, embed.code) << embed.err;
    EXPECT_EQ(store_files(merged), store_files(store));
    EXPECT_FALSE(fs::exists(store + "/.mpi-slices"));
    // An interrupted run resumes: here rank 0's slice is already complete, rank 1's is missing.
    const std::string resumed = dir_ + "/mpi-store-resumed";
    ASSERT_EQ(0, mona(embed_args(resumed + "/.mpi-slices/0-of-2", "--shard 0/2")).code);
    Out resume = mpirun(2, embed_args(resumed));
    ASSERT_EQ(0, resume.code) << resume.err;
    EXPECT_EQ(store_files(merged), store_files(resumed));
    // Running it again finds the finished store and leaves it as it is.
    Out again = mpirun(2, embed_args(store));
    ASSERT_EQ(0, again.code) << again.err;
    EXPECT_EQ(store_files(merged), store_files(store));

    // Score on 2 and 3 ranks (more ranks than some stores have shards is fine) = score in one process.
    const std::string targets =
        " --target math=" + quote(target_) + " --target code=" + quote(code_target_) + " --count 6 --merge round-robin";
    ASSERT_EQ(0, mona("score --store " + quote(store) + targets + " --out " + quote(dir_ + "/mpi-score-1")).code);
    Out two = mpirun(2, "score --store " + quote(store) + targets + " --out " + quote(dir_ + "/mpi-score-2"));
    ASSERT_EQ(0, two.code) << two.err;
    expect_same_outputs(dir_ + "/mpi-score-1", dir_ + "/mpi-score-2");
    Out three = mpirun(
        3, "score --store " + quote(s1) + " --store " + quote(s0) + targets + " --out " + quote(dir_ + "/mpi-score-3"));
    ASSERT_EQ(0, three.code) << three.err;
    ASSERT_EQ(0, mona("score --store " + quote(s1) + " --store " + quote(s0) + targets + " --out " +
                      quote(dir_ + "/mpi-score-slices-1"))
                     .code);
    expect_same_outputs(dir_ + "/mpi-score-slices-1", dir_ + "/mpi-score-3");

    // Errors: reported once, by rank 0, with the same exit code on every rank; no output folder appears.
    Out bad = mpirun(2, "score --store " + quote(s0) + targets + " --out " + quote(dir_ + "/mpi-score-bad"));
    EXPECT_EQ(1, bad.code);
    EXPECT_NE(bad.err.find("slice"), std::string::npos) << bad.err;
    EXPECT_EQ(bad.err.find("mona: error:"), bad.err.rfind("mona: error:")) << bad.err;
    EXPECT_FALSE(fs::exists(dir_ + "/mpi-score-bad/math"));
    Out shard = mpirun(2, embed_args(dir_ + "/mpi-store-shard", "--shard 0/2"));
    EXPECT_EQ(1, shard.code);
    EXPECT_NE(shard.err.find("give one or the other"), std::string::npos) << shard.err;
    // Other commands refuse to run once per rank.
    Out select = mpirun(2, "select --model " + quote(model_) + " --sae " + quote(sae_dir_) + " --pool " + quote(pool_) +
                               " --target math=" + quote(target_) + " --out " + quote(dir_ + "/mpi-select"));
    EXPECT_EQ(2, select.code);
    EXPECT_NE(select.err.find("does not run under mpirun"), std::string::npos) << select.err;
    EXPECT_FALSE(fs::exists(dir_ + "/mpi-select"));
}

}  // namespace
}  // namespace mona
