// The CLI's documented surface: README reference in sync with the flag table, each verb's flags, required flags
// and defaults, usage errors, exit codes.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "capture/session.hpp"
#include "cli/flags.hpp"
#include "eval/eval.hpp"
#include "jobs/config.hpp"
#include "jobs/embed.hpp"
#include "sae/train.hpp"
#include "util/home.hpp"

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

// What each verb takes, written out by hand (a trailing '*' marks a required flag): the flag table, the help
// the binary prints and the parser must all agree with it. Each flag listed here is read by its verb's command;
// a flag a command ignores (score's --max-tokens, which the store decides) does not belong in its list.
const std::map<std::string, std::vector<std::string>>& expected_flags() {
    static const std::map<std::string, std::vector<std::string>> verbs = {
        {"select", {"model",
                    "model-sha256",
                    "sae",
                    "pool*",
                    "target*",
                    "label",
                    "out*",
                    "overwrite",
                    "ratio",
                    "count",
                    "merge",
                    "quota",
                    "diversity",
                    "diversity-candidates",
                    "dedup",
                    "dedup-against",
                    "prototype",
                    "length-strata",
                    "coverage",
                    "layer",
                    "k",
                    "tokens",
                    "pooling",
                    "max-tokens",
                    "batch-tokens",
                    "threads",
                    "template",
                    "cpu-repack",
                    "system-prompt",
                    "format",
                    "skip-bad",
                    "store",
                    "shard-rows",
                    "quiet",
                    "verbose"}},
        {"eval",
         {"model",
          "model-sha256",
          "sae",
          "pool*",
          "target*",
          "out*",
          "overwrite",
          "ratio",
          "count",
          "layer",
          "k",
          "tokens",
          "pooling",
          "max-tokens",
          "batch-tokens",
          "threads",
          "template",
          "cpu-repack",
          "system-prompt",
          "format",
          "skip-bad",
          "method",
          "seed",
          "finetune",
          "finetune-epochs",
          "finetune-lr",
          "finetune-ctx",
          "finetune-samples",
          "finetune-seeds",
          "finetune-heldout-every",
          "finetune-eval",
          "finetune-method",
          "finetune-model",
          "quiet",
          "verbose"}},
        {"info", {"model", "model-sha256", "sae", "json"}},
        {"activations",
         {"model", "model-sha256", "sae", "out*", "layer", "tokens", "max-tokens", "batch-tokens", "threads",
          "template", "cpu-repack", "system-prompt", "format", "input*", "quiet", "verbose"}},
        {"train-sae",
         {"model",      "model-sha256", "out*",          "layer",  "k",      "batch-tokens", "threads",
          "template",   "cpu-repack",   "system-prompt", "format", "input*", "latents",      "train-tokens",
          "batch-size", "doc-tokens",   "buffer-tokens", "epochs", "lr",     "warmup",       "dead-tokens",
          "seed",       "log-every",    "cache-mb",      "resume", "quiet",  "verbose"}},
        {"demo",
         {"model", "model-sha256", "sae", "out", "overwrite", "ratio", "count", "max-tokens", "batch-tokens", "threads",
          "template", "cpu-repack", "system-prompt", "quiet", "verbose"}},
        {"embed",
         {"model",
          "model-sha256",
          "sae",
          "pool*",
          "out*",
          "layer",
          "k",
          "tokens",
          "pooling",
          "max-tokens",
          "batch-tokens",
          "threads",
          "template",
          "cpu-repack",
          "system-prompt",
          "format",
          "skip-bad",
          "keep",
          "shard",
          "values",
          "shard-rows",
          "device",
          "gpu-layers",
          "sae-dtype",
          "allow-mixed-backends",
          "quiet",
          "verbose"}},
        {"score", {"model",     "model-sha256",
                   "sae",       "pool",
                   "target*",   "label",
                   "out*",      "overwrite",
                   "ratio",     "count",
                   "merge",     "quota",
                   "diversity", "diversity-candidates",
                   "dedup",     "dedup-against",
                   "prototype", "length-strata",
                   "coverage",  "batch-tokens",
                   "threads",   "store*",
                   "quiet",     "verbose"}},
        {"merge", {"out*", "store*", "shard-rows"}},
        {"check",
         {"model", "model-sha256", "sae", "pool*", "out", "layer", "tokens", "max-tokens", "batch-tokens", "threads",
          "template", "cpu-repack", "system-prompt", "format", "skip-bad", "json", "samples", "quiet", "verbose"}},
        {"help", {"markdown"}},
        {"version", {}},
    };
    return verbs;
}

// The flags `mona <verb> --help` lists, each with a '*' when the line says "(required)".
std::vector<std::string> flags_in_help(const std::string& help) {
    std::vector<std::string> flags;
    std::istringstream lines(help);
    for (std::string line; std::getline(lines, line);) {
        const size_t dashes = line.find("--");
        if (line.rfind("  -", 0) != 0 || dashes == std::string::npos) continue;
        const size_t end = line.find(' ', dashes);
        flags.push_back(line.substr(dashes + 2, end - dashes - 2) +
                        (line.find(" (required)") != std::string::npos ? "*" : ""));
    }
    return flags;
}

TEST(Cli, EachVerbTakesExactlyItsListedFlags) {
    std::vector<std::string> verbs;
    for (const auto& verb : mona::cli::verb_table()) verbs.push_back(verb.name);
    std::vector<std::string> listed;
    for (const auto& [verb, flags] : expected_flags()) listed.push_back(verb);
    std::sort(verbs.begin(), verbs.end());
    EXPECT_EQ(listed, verbs) << "every verb has a list above";

    for (const auto& [verb, flags] : expected_flags()) {
        // The binary's help: the same flags, in the same order, with the same required marks.
        CliRun help = run_mona(verb + " --help");
        EXPECT_EQ(0, help.exit_code) << verb;
        EXPECT_EQ(flags, flags_in_help(help.output)) << "mona " << verb << " --help:\n" << help.output;

        // The parser: takes each listed flag, refuses every other flag of the table for this verb.
        for (const auto& flag : mona::cli::flag_table()) {
            const bool expected = std::find(flags.begin(), flags.end(), flag.name) != flags.end() ||
                                  std::find(flags.begin(), flags.end(), flag.name + "*") != flags.end();
            std::vector<std::string> argv = {"mona", verb, "--" + flag.name};
            if (flag.kind != mona::cli::ValueKind::kSwitch) argv.push_back("1");
            std::vector<const char*> ptrs;
            for (const auto& arg : argv) ptrs.push_back(arg.c_str());
            auto parsed = mona::cli::parse_args(static_cast<int>(ptrs.size()), ptrs.data());
            const bool refused_as_foreign =
                !parsed.ok() && parsed.status().message().find("does not apply") != std::string::npos;
            EXPECT_EQ(expected, !refused_as_foreign)
                << verb << " --" << flag.name << ": " << (parsed.ok() ? "accepted" : parsed.status().message());
        }
    }
}

TEST(Cli, MissingRequiredFlagsAreUsageErrorsNamingFlagAndVerb) {
    // With no flags at all, each verb names its first required flag (in table order).
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"select", "--pool FILE is required by `mona select`"},
        {"eval", "--pool FILE is required by `mona eval`"},
        {"embed", "--pool FILE is required by `mona embed`"},
        {"score", "at least one --target NAME=FILE is required by `mona score`"},
        {"merge", "--out PATH is required by `mona merge`"},
        {"activations", "--out PATH is required by `mona activations`"},
        {"train-sae", "--out PATH is required by `mona train-sae`"},
    };
    for (const auto& [verb, message] : cases) {
        CliRun run = run_mona(verb);
        EXPECT_EQ(2, run.exit_code) << verb << ": " << run.output;
        EXPECT_NE(run.output.find("mona: error: " + message), std::string::npos) << run.output;
    }
    // An environment variable fills a required flag as it fills any other.
    const std::string cmd = "MONA_OUT=/nonexistent/merged " + std::string(MONA_BIN) + " merge 2>&1";
    FILE* pipe = popen(cmd.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::array<char, 4096> buf{};
    std::string out;
    size_t n = 0;
    while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
    EXPECT_EQ(2, WEXITSTATUS(pclose(pipe)));
    EXPECT_NE(out.find("at least one --store DIR is required by `mona merge`"), std::string::npos) << out;
    // Help needs none of them.
    EXPECT_EQ(0, run_mona("select --help").exit_code);
}

TEST(Cli, DefaultsAreTheConfigStructs) {
    using mona::cli::FlagValue;
    const mona::SelectConfig select;
    const auto default_of = [](const std::string& flag, const std::string& verb) {
        const mona::cli::FlagSpec* spec = mona::cli::find_flag(flag);
        EXPECT_NE(spec, nullptr) << flag;
        return spec == nullptr ? FlagValue{} : spec->default_for(verb);
    };
    EXPECT_EQ(FlagValue(int64_t{select.max_tokens}), default_of("max-tokens", "select"));
    EXPECT_EQ(FlagValue(int64_t{mona::SessionOptions{}.max_tokens}), default_of("max-tokens", "activations"));
    EXPECT_EQ(FlagValue(int64_t{select.batch_tokens}), default_of("batch-tokens", "eval"));
    EXPECT_EQ(FlagValue(int64_t{mona::SessionOptions{}.batch_tokens}), default_of("batch-tokens", "train-sae"));
    EXPECT_EQ(FlagValue(int64_t{select.threads}), default_of("threads", "select"));
    EXPECT_EQ(FlagValue(select.ratio), default_of("ratio", "score"));
    EXPECT_EQ(FlagValue(std::string(mona::token_mode_name(select.token_mode))), default_of("tokens", "select"));
    EXPECT_EQ(FlagValue(std::string(mona::pooling_mode_name(select.pooling))), default_of("pooling", "embed"));
    EXPECT_EQ(FlagValue(std::string(mona::input_format_name(select.format))), default_of("format", "select"));
    EXPECT_EQ(FlagValue(select.template_name), default_of("template", "select"));
    EXPECT_EQ(FlagValue(int64_t{mona::EmbedStoreOptions{}.keep}), default_of("keep", "embed"));
    EXPECT_EQ(FlagValue(static_cast<int64_t>(mona::EvalConfig{}.seed)), default_of("seed", "eval"));
    EXPECT_EQ(FlagValue(mona::SaeTrainOptions{}.lr), default_of("lr", "train-sae"));
    // Per-verb defaults: demo selects 20 into runs/demo, train-sae trains the default SAE's shape.
    EXPECT_EQ(FlagValue(int64_t{20}), default_of("count", "demo"));
    EXPECT_EQ(FlagValue(), default_of("count", "select"));
    EXPECT_EQ(FlagValue(std::string("runs/demo")), default_of("out", "demo"));
    EXPECT_EQ(FlagValue(int64_t{mona::kDefaultSaeK}), default_of("k", "train-sae"));
    EXPECT_EQ(FlagValue(), default_of("k", "select"));
    // score's model and SAE are the store's: no default path.
    EXPECT_EQ(FlagValue(), default_of("model", "score"));
    EXPECT_EQ(FlagValue(), default_of("sae", "score"));
}

TEST(Cli, TypedDefaultsFitTheirFlags) {
    for (const auto& flag : mona::cli::flag_table()) {
        std::vector<std::string> verbs = {""};  // "": the flag's own default
        for (const auto& use : flag.uses) verbs.push_back(use.verb);
        for (const auto& verb : verbs) {
            const mona::cli::FlagValue& value = verb.empty() ? flag.default_value : flag.default_for(verb);
            if (std::holds_alternative<std::monostate>(value)) continue;
            switch (flag.kind) {
                case mona::cli::ValueKind::kInt: {
                    const auto* v = std::get_if<int64_t>(&value);
                    ASSERT_NE(v, nullptr) << "--" << flag.name << " " << verb;
                    EXPECT_GE(*v, flag.min_value) << "--" << flag.name << " " << verb;
                    EXPECT_LE(*v, flag.max_value) << "--" << flag.name << " " << verb;
                    break;
                }
                case mona::cli::ValueKind::kFloat:
                    EXPECT_NE(std::get_if<double>(&value), nullptr) << "--" << flag.name << " " << verb;
                    break;
                case mona::cli::ValueKind::kString:
                    EXPECT_NE(std::get_if<std::string>(&value), nullptr) << "--" << flag.name << " " << verb;
                    break;
                case mona::cli::ValueKind::kSwitch:
                    ADD_FAILURE() << "--" << flag.name << ": a switch has no default value";
                    break;
            }
        }
    }
}

TEST(Cli, ParsedArgsReadDefaultsOfTheirVerb) {
    const char* demo_argv[] = {"mona", "demo"};
    auto demo = mona::cli::parse_args(2, demo_argv);
    ASSERT_TRUE(demo.ok()) << demo.status().message();
    EXPECT_EQ(20, demo->get_int("count"));
    EXPECT_EQ("runs/demo", demo->get("out"));
    EXPECT_FALSE(demo->has("count"));

    const char* train_argv[] = {"mona", "train-sae", "--k", "7", "--latents=96"};
    auto train = mona::cli::parse_args(5, train_argv);
    ASSERT_TRUE(train.ok()) << train.status().message();
    EXPECT_EQ(7, train->get_int<int32_t>("k"));
    EXPECT_EQ(96, train->get_int("latents"));
    EXPECT_EQ(256, train->get_int("doc-tokens"));
    EXPECT_EQ("off", train->get("cpu-repack"));
}

TEST(Cli, PerVerbHelpDescribesTheVerbsOwnUse) {
    const std::string select = mona::cli::verb_help("select");
    EXPECT_NE(select.find("--out PATH"), std::string::npos);
    EXPECT_NE(select.find("run folder"), std::string::npos) << select;
    EXPECT_EQ(select.find(".safetensors file"), std::string::npos) << select;
    EXPECT_EQ(select.find("train-sae"), std::string::npos) << select;
    const std::string activations = mona::cli::verb_help("activations");
    EXPECT_NE(activations.find(".safetensors file to write (required)"), std::string::npos) << activations;
    const std::string demo = mona::cli::verb_help("demo");
    EXPECT_NE(demo.find("[default: runs/demo]"), std::string::npos) << demo;
    EXPECT_NE(demo.find("[default: 20]"), std::string::npos) << demo;
    const std::string train = mona::cli::verb_help("train-sae");
    EXPECT_NE(train.find("TopK k of the trained SAE [default: 32]"), std::string::npos) << train;
    EXPECT_NE(train.find("[default: 2048]"), std::string::npos) << train;                  // --cache-mb
    EXPECT_NE(mona::cli::verb_help("select").find("[default: 2048]"), std::string::npos);  // --max-tokens
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
    EXPECT_NE(missing.output.find("--pool FILE is required by `mona select`"), std::string::npos) << missing.output;
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
