// mona: task-specific data selection for instruction tuning (MoNA) on llama.cpp.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <new>
#include <string>

#include <fmt/format.h>

#include "cli/flags.hpp"
#include "commands.hpp"
#include "util/comm.hpp"

namespace {

using namespace mona::cli;

CommandResult cmd_help(const ParsedArgs& args) {
    if (!args.help_topic.empty()) {  // `mona help select` reads as `mona select --help`
        std::fputs(verb_help(args.help_topic, true).c_str(), stdout);
        return {};
    }
    std::fputs(args.on("markdown") ? markdown_reference().c_str() : usage_text().c_str(), stdout);
    return {};
}

CommandResult cmd_version(const ParsedArgs&) {
    std::printf("mona %s\n", MONA_VERSION);
    return {};
}

// The command of each verb of verb_table() (flags.cpp, which the tests link without the commands).
const std::map<std::string, Command>& commands() {
    static const std::map<std::string, Command> table = {
        {"select", cmd_select},       {"eval", cmd_eval}, {"info", cmd_info},       {"activations", cmd_activations},
        {"train-sae", cmd_train_sae}, {"demo", cmd_demo}, {"embed", cmd_embed},     {"score", cmd_score},
        {"merge", cmd_merge},         {"help", cmd_help}, {"version", cmd_version}, {"check", cmd_check},
    };
    return table;
}

CommandResult run_verb(const ParsedArgs& args) {
    if (args.on("help")) {
        std::fputs(verb_help(args.verb, args.help_long).c_str(), stdout);
        return {};
    }
    const VerbSpec* verb = find_verb(args.verb);  // parse_args accepted the verb
    // Only embed and score split their work across MPI ranks; any other command would run once per rank, every
    // copy writing the same outputs.
    if (mona::Comm::launcher_ranks() > 1 && !verb->splits_over_ranks) {
        std::string verbs;
        for (const auto& v : verb_table()) {
            if (v.splits_over_ranks) verbs += (verbs.empty() ? "" : " and ") + v.name;
        }
        return usage_error(mona::invalid_input(
            fmt::format("`mona {}` does not run under mpirun with several ranks (only {} do); run it as one process",
                        args.verb, verbs)));
    }
    if (mona::Status missing = check_required(args); !missing.ok()) return usage_error(missing);
    if (mona::Status bad = check_values(args); !bad.ok()) return usage_error(bad);
    return commands().at(args.verb)(args);
}

// Ctrl-C during a long pass: one line saying what a rerun does, then the default action (the exit status says
// SIGINT, as shells expect). The message is fixed before the handler is installed: write() and raise() are all a
// signal handler may call.
std::string g_interrupt_message;
extern "C" void on_interrupt(int signal_number) {
    if (!g_interrupt_message.empty()) {
        const ssize_t ignored = ::write(STDERR_FILENO, g_interrupt_message.data(), g_interrupt_message.size());
        (void)ignored;
    }
    std::signal(signal_number, SIG_DFL);
    std::raise(signal_number);
}

void install_interrupt_message(const std::string& verb, const std::string& command_line) {
    if (verb == "select" || verb == "embed" || verb == "demo") {
        g_interrupt_message = fmt::format(
            "\nmona: interrupted; the samples embedded so far are kept: rerunning the same command resumes the pool "
            "pass where it stopped:\n  {}\n",
            command_line);
    } else if (verb == "train-sae") {
        g_interrupt_message =
            "\nmona: interrupted; rerun the same command with --resume to continue from the last checkpoint\n";
    } else if (verb == "score" || verb == "eval") {
        g_interrupt_message = "\nmona: interrupted; nothing was written to --out (a rerun starts the pass again)\n";
    } else {
        return;
    }
    std::signal(SIGINT, on_interrupt);
}

// The one place that turns a command's end into stderr and the exit code.
int run(int argc, char** argv) {
    for (const auto& verb : verb_table()) {
        MONA_ASSERT(commands().count(verb.name) == 1, "every verb of the table has a command");
    }
    // Bare `mona`: the usage on stderr and exit 2, as ripgrep and git do (a command is missing, so it is a usage
    // error for scripts; a person asking for help types `mona help` or `mona --help`, which exit 0).
    if (argc < 2) {
        std::fputs(usage_text().c_str(), stderr);
        return 2;
    }
    auto parsed = parse_args(argc, argv);
    if (parsed.ok() && !parsed->on("help")) install_interrupt_message(parsed->verb, parsed->command_line);
    const CommandResult result = parsed.ok() ? run_verb(parsed.value()) : usage_error(parsed.status());
    if (result.status.ok()) return 0;
    if (!result.quiet) print_error(result.status);
    return result.usage ? 2 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    // llama.cpp's OpenMP workers spin between graph computations by default; alternating with the BLAS threads
    // of the SAE encoder on the same cores, that spinning cost 2x in throughput on a 2-core machine. libgomp
    // reads its policy once at load time, so set it and re-execute once (an explicit user setting is kept).
    if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        execv("/proc/self/exe", argv);  // returns only on failure; then carry on with the default policy
    }
    std::signal(SIGPIPE, SIG_IGN);  // a closed pipe ends output quietly (stdout writes fail, exit code 0)
    // Input errors come back as Status. An exception reaching this point escaped a module edge that should have
    // converted it: say what it was and exit 1 instead of ending in std::terminate.
    try {
        return run(argc, argv);
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "mona: error: out of memory\n");
    } catch (const std::exception& e) {
        std::fprintf(stderr,
                     "mona: error: %s (unexpected exception; this is a bug in mona, please report it with the command "
                     "line)\n",
                     e.what());
    } catch (...) {
        std::fprintf(
            stderr, "mona: error: unknown exception (this is a bug in mona, please report it with the command line)\n");
    }
    return 1;
}
