// The CLI's documented surface: README reference in sync with the flag table, usage errors, exit codes.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "cli/flags.hpp"

namespace {

struct CliRun {
    int exit_code = -1;
    std::string output;  // stdout + stderr
};

CliRun run_mona(const std::string& args) {
    CliRun run;
    const std::string cmd = std::string(MONA_BIN) + " " + args + " 2>&1";
    FILE* pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr) return run;
    std::array<char, 4096> buf{};
    size_t n = 0;
    while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) run.output.append(buf.data(), n);
    const int status = pclose(pipe);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

TEST(Cli, ReadmeReferenceMatchesFlagTable) {
    std::ifstream in(std::string(MONA_SOURCE_DIR) + "/README.md");
    ASSERT_TRUE(in.good());
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string readme = ss.str();
    const std::string begin = "<!-- cli-reference:begin -->\n";
    const size_t a = readme.find(begin);
    const size_t b = readme.find("<!-- cli-reference:end -->");
    ASSERT_NE(a, std::string::npos);
    ASSERT_NE(b, std::string::npos);
    EXPECT_EQ(mona::cli::markdown_reference(), readme.substr(a + begin.size(), b - a - begin.size()))
        << "regenerate the README section with `mona help --markdown`";
}

TEST(Cli, EveryFlagAppearsInItsVerbsHelp) {
    for (const auto& flag : mona::cli::flag_table()) {
        for (const auto& verb : flag.verbs) {
            EXPECT_NE(mona::cli::verb_help(verb).find("--" + flag.name), std::string::npos) << verb << " --" << flag.name;
        }
    }
}

TEST(Cli, UsageErrorsExitWithTwo) {
    CliRun unknown_verb = run_mona("frobnicate");
    EXPECT_EQ(2, unknown_verb.exit_code);
    EXPECT_NE(unknown_verb.output.find("unknown command 'frobnicate'"), std::string::npos) << unknown_verb.output;

    CliRun unknown_flag = run_mona("select --pool x.jsonl --bogus 1");
    EXPECT_EQ(2, unknown_flag.exit_code);
    EXPECT_NE(unknown_flag.output.find("unknown flag --bogus"), std::string::npos) << unknown_flag.output;

    CliRun wrong_verb = run_mona("info --pool x.jsonl");
    EXPECT_EQ(2, wrong_verb.exit_code);
    EXPECT_NE(wrong_verb.output.find("--pool does not apply to `mona info`"), std::string::npos) << wrong_verb.output;

    CliRun not_int = run_mona("select --layer abc");
    EXPECT_EQ(2, not_int.exit_code);
    EXPECT_NE(not_int.output.find("--layer: expected an integer, got 'abc'"), std::string::npos) << not_int.output;

    CliRun missing = run_mona("select --target a=b.jsonl --out /tmp/x");
    EXPECT_EQ(2, missing.exit_code);
    EXPECT_NE(missing.output.find("--pool is required"), std::string::npos) << missing.output;
}

TEST(Cli, MissingModelFileIsAnErrorNamingIt) {
    CliRun run = run_mona("info --model /nonexistent/model.gguf");
    EXPECT_EQ(1, run.exit_code);
    EXPECT_NE(run.output.find("/nonexistent/model.gguf"), std::string::npos) << run.output;
}

TEST(Cli, EnvironmentFillsFlags) {
    const std::string cmd = "MONA_MODEL=/nonexistent/env.gguf " + std::string(MONA_BIN) + " info 2>&1";
    FILE* pipe = popen(cmd.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::array<char, 4096> buf{};
    std::string out;
    size_t n = 0;
    while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
    const int status = pclose(pipe);
    EXPECT_EQ(1, WEXITSTATUS(status));
    EXPECT_NE(out.find("/nonexistent/env.gguf"), std::string::npos) << out;
}

}  // namespace
