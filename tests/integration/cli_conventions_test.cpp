// The CLI habits of the tools mona's users know (issue 14, items 6 and 9): `mona help <verb>`, bare `mona`,
// "did you mean", command line over environment over defaults, short and long help with an example, and exit
// code 2 for every usage error whichever verb it reaches.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/flags.hpp"

namespace {

struct CliRun {
    int exit_code = -1;
    std::string out;  // stdout
    std::string all;  // stdout + stderr
};

// Runs `env MONA_BIN args` through the shell; `out` is stdout alone, `all` stdout then stderr.
CliRun run_mona(const std::string& args, const std::string& env = "") {
    CliRun run;
    // One file per process: ctest runs this file's tests as separate processes, in parallel.
    const std::string err_file = ::testing::TempDir() + "cli_conventions_stderr." + std::to_string(::getpid()) + ".txt";
    const std::string cmd = env + " " + std::string(MONA_BIN) + " " + args + " 2>" + err_file;
    FILE* pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr) return run;
    std::array<char, 4096> buf{};
    size_t n = 0;
    while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) run.out.append(buf.data(), n);
    const int status = pclose(pipe);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.all = run.out;
    if (FILE* err = std::fopen(err_file.c_str(), "r")) {
        while ((n = fread(buf.data(), 1, buf.size(), err)) > 0) run.all.append(buf.data(), n);
        std::fclose(err);
    }
    return run;
}

mona::Result<mona::cli::ParsedArgs> parse(std::vector<std::string> argv) {
    argv.insert(argv.begin(), "mona");
    std::vector<const char*> ptrs;
    for (const auto& arg : argv) ptrs.push_back(arg.c_str());
    return mona::cli::parse_args(static_cast<int>(ptrs.size()), ptrs.data());
}

// Sets environment variables for one test and removes them after it.
class ScopedEnv {
   public:
    using Vars = std::vector<std::pair<std::string, std::string>>;
    explicit ScopedEnv(Vars vars) : vars_(std::move(vars)) {
        for (const auto& [name, value] : vars_) setenv(name.c_str(), value.c_str(), 1);
    }
    ~ScopedEnv() {
        for (const auto& [name, value] : vars_) unsetenv(name.c_str());
    }

   private:
    std::vector<std::pair<std::string, std::string>> vars_;
};

TEST(CliConventions, HelpVerbPrintsThatVerbsHelp) {
    // git help <verb>, cargo help <verb>: the same text as `mona <verb> --help`, exit 0.
    for (const std::string verb : {"select", "score", "eval", "embed"}) {
        const CliRun help = run_mona("help " + verb);
        EXPECT_EQ(0, help.exit_code) << verb << ": " << help.all;
        EXPECT_EQ(run_mona(verb + " --help").out, help.out) << verb;
        EXPECT_NE(help.out.find("mona " + verb + ": "), std::string::npos) << help.out;
    }
    const CliRun unknown = run_mona("help selcet");
    EXPECT_EQ(2, unknown.exit_code);
    EXPECT_NE(unknown.all.find("unknown command 'selcet'; did you mean select?"), std::string::npos) << unknown.all;
}

TEST(CliConventions, BareMonaPrintsUsageAndExitsTwo) {
    const CliRun bare = run_mona("");
    EXPECT_EQ(2, bare.exit_code) << "a missing command is a usage error, as ripgrep and git";
    EXPECT_NE(bare.all.find("usage: mona <command> [flags]"), std::string::npos) << bare.all;
    EXPECT_NE(bare.all.find("  select "), std::string::npos) << "the commands are listed: " << bare.all;
    EXPECT_EQ(bare.all.find("mona: error"), std::string::npos) << bare.all;
    // Asking for it is not an error.
    EXPECT_EQ(0, run_mona("help").exit_code);
    EXPECT_EQ(0, run_mona("--help").exit_code);
}

TEST(CliConventions, UnknownNamesSuggestTheClosest) {
    const CliRun flag = run_mona("select --traget math=m.jsonl");
    EXPECT_EQ(2, flag.exit_code);
    EXPECT_NE(flag.all.find("unknown flag --traget; did you mean --target?"), std::string::npos) << flag.all;
    const CliRun verb = run_mona("scroe");
    EXPECT_EQ(2, verb.exit_code);
    EXPECT_NE(verb.all.find("unknown command 'scroe'; did you mean score?"), std::string::npos) << verb.all;

    // The flags of the verb are preferred; a prefix of exactly one flag counts; nothing close, no guess.
    EXPECT_EQ("target", mona::cli::closest("targte", {"target", "tokens"}));
    EXPECT_EQ("batch-tokens", mona::cli::closest("batch", {"batch-tokens", "max-tokens"}));
    EXPECT_EQ("", mona::cli::closest("batch", {"batch-tokens", "batch-size"}));
    EXPECT_EQ("", mona::cli::closest("zzzzzz", {"target", "tokens"}));
    EXPECT_EQ("ratio", mona::cli::closest("raito", {"count", "ratio"}));
    auto parsed = parse({"score", "--rato", "0.1"});
    ASSERT_FALSE(parsed.ok());
    EXPECT_NE(parsed.status().message().find("did you mean --ratio?"), std::string::npos) << parsed.status().message();
}

TEST(CliConventions, CommandLineBeatsEnvironmentBeatsDefaults) {
    {
        // The case: MONA_COUNT in the environment, --ratio on the command line.
        ScopedEnv env(ScopedEnv::Vars{{"MONA_COUNT", "3"}});
        auto parsed = parse({"select", "--pool", "p.jsonl", "--target", "t.jsonl", "--out", "o", "--ratio", "0.1"});
        ASSERT_TRUE(parsed.ok()) << parsed.status().message();
        EXPECT_FALSE(parsed->has("count"));
        EXPECT_DOUBLE_EQ(0.1, parsed->get_float("ratio"));
        EXPECT_TRUE(mona::cli::check_values(parsed.value()).ok());
        // The same flag: the command line's value.
        auto count = parse({"select", "--count", "7"});
        ASSERT_TRUE(count.ok());
        EXPECT_EQ(7, count->get_int("count"));
        // Not given: the environment's, over the default.
        auto from_env = parse({"demo"});
        ASSERT_TRUE(from_env.ok());
        EXPECT_EQ(3, from_env->get_int("count"));
    }
    {
        ScopedEnv env(ScopedEnv::Vars{{"MONA_RATIO", "0.2"}});
        auto parsed = parse({"score", "--count", "5"});
        ASSERT_TRUE(parsed.ok());
        EXPECT_FALSE(parsed->has("ratio"));
        EXPECT_TRUE(mona::cli::check_values(parsed.value()).ok());
    }
    {
        // Both from the environment: nothing says which one is meant.
        ScopedEnv env(ScopedEnv::Vars{{"MONA_RATIO", "0.2"}, {"MONA_COUNT", "4"}});
        auto parsed = parse({"select"});
        ASSERT_TRUE(parsed.ok());
        const mona::Status both = mona::cli::check_values(parsed.value());
        EXPECT_FALSE(both.ok());
        EXPECT_NE(both.message().find("give --count or --ratio, not both"), std::string::npos) << both.message();
    }
    // The binary: the run gets past the flags and fails on the missing pool (exit 1), not on count/ratio.
    const CliRun run = run_mona("select --pool /nonexistent/pool.jsonl --target t=/nonexistent/t.jsonl --out " +
                                    ::testing::TempDir() + "cli_env_out --ratio 0.1 --quiet",
                                "MONA_COUNT=3");
    EXPECT_EQ(run.all.find("not both"), std::string::npos) << run.all;
    EXPECT_NE(run.all.find("/nonexistent/"), std::string::npos) << run.all;
}

TEST(CliConventions, EveryUsageErrorExitsTwo) {
    // Each of these was a failure (exit 1) reached inside the command; the flags alone decide them.
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"demo --count 3 --ratio 0.1", "give --count or --ratio, not both"},
        {"train-sae --input x.jsonl --out /nonexistent/sae --cpu-repack maybe", "--cpu-repack: expected on or off"},
        {"activations --input x.jsonl --out /nonexistent/a.safetensors --format yaml", "--format"},
        {"activations --input x.jsonl --out /nonexistent/a.safetensors --tokens some", "--tokens"},
        {"embed --pool x.jsonl --out /nonexistent/s --pooling max", "--pooling"},
        {"score --store s --target t.jsonl --out o --merge zip", "--merge"},
        {"score --store s --target t.jsonl --out o --template plain", "--template does not apply to `mona score`"},
        {"help --bogus", "unknown flag --bogus"},
        {"select --pool p --target t --out o extra", "unexpected argument 'extra'"},
    };
    for (const auto& [args, message] : cases) {
        const CliRun run = run_mona(args);
        EXPECT_EQ(2, run.exit_code) << args << ": " << run.all;
        EXPECT_NE(run.all.find(message), std::string::npos) << args << ": " << run.all;
    }
}

TEST(CliConventions, ShortAndLongHelpWithUsageLineAndExample) {
    for (const auto& verb : mona::cli::verb_table()) {
        EXPECT_FALSE(verb.example.empty()) << verb.name << " has an example";
        EXPECT_EQ(0u, verb.example.rfind("mona " + verb.name, 0)) << verb.example;
        // The example parses as written (flags exist for the verb, required ones present).
        std::vector<std::string> words;
        for (size_t at = 0; at < verb.example.size();) {
            const size_t end = std::min(verb.example.find(' ', at), verb.example.size());
            words.push_back(verb.example.substr(at, end - at));
            at = end + 1;
        }
        words.erase(words.begin());
        auto parsed = parse(words);
        ASSERT_TRUE(parsed.ok()) << verb.example << ": " << parsed.status().message();
        EXPECT_TRUE(mona::cli::check_required(parsed.value()).ok()) << verb.example;

        const CliRun shorter = run_mona(verb.name + " -h");
        const CliRun longer = run_mona(verb.name + " --help");
        EXPECT_EQ(0, shorter.exit_code);
        EXPECT_EQ(0, longer.exit_code);
        EXPECT_NE(shorter.out.find("example:\n  " + verb.example + "\n"), std::string::npos) << shorter.out;
        EXPECT_NE(longer.out.find("example:\n  " + verb.example + "\n"), std::string::npos) << longer.out;
        EXPECT_LT(shorter.out.size(), longer.out.size()) << verb.name;
    }
    const CliRun shorter = run_mona("select -h");
    const CliRun longer = run_mona("select --help");
    EXPECT_NE(shorter.out.find("usage: mona select --pool FILE --target NAME=FILE --out PATH [flags]\n"),
              std::string::npos)
        << shorter.out;
    EXPECT_EQ(shorter.out.find("[env: "), std::string::npos) << shorter.out;
    EXPECT_NE(shorter.out.find("`mona select --help` also shows defaults"), std::string::npos) << shorter.out;
    EXPECT_NE(longer.out.find("[env: MONA_POOL]"), std::string::npos) << longer.out;
    EXPECT_NE(longer.out.find("[default: 0.05]"), std::string::npos) << longer.out;
    EXPECT_NE(longer.out.find("the command line beats the\nenvironment"), std::string::npos) << longer.out;
}

}  // namespace
