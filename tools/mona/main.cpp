// mona: task-specific data selection for instruction tuning (MoNA) on llama.cpp.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>

#include "cli/flags.hpp"
#include "commands.hpp"
#include "util/comm.hpp"

namespace {

int run(int argc, char** argv) {
    using namespace mona::cli;
    auto parsed = parse_args(argc, argv);
    if (!parsed.ok()) {
        std::fprintf(stderr, "mona: error: %s\n", parsed.status().message().c_str());
        return 2;
    }
    const ParsedArgs& args = parsed.value();
    std::string command_line;
    for (int arg_idx = 0; arg_idx < argc; ++arg_idx) {
        if (arg_idx > 0) command_line += ' ';
        command_line += argv[arg_idx];
    }

    if (args.verb == "help") {
        std::fputs(args.on("markdown") ? markdown_reference().c_str() : usage_text().c_str(), stdout);
        return 0;
    }
    if (args.verb == "version") {
        std::printf("mona %s\n", MONA_VERSION);
        return 0;
    }
    if (args.on("help")) {
        std::fputs(verb_help(args.verb).c_str(), stdout);
        return 0;
    }
    // Only embed and score split their work across MPI ranks; any other command would run once per rank, every
    // copy writing the same outputs.
    if (mona::Comm::launcher_ranks() > 1 && args.verb != "embed" && args.verb != "score") {
        std::fprintf(stderr, "mona: error: `mona %s` does not run under mpirun with several ranks (only embed and score "
                     "do); run it as one process\n", args.verb.c_str());
        return 2;
    }
    if (args.verb == "select") return cmd_select(args, command_line);
    if (args.verb == "eval") return cmd_eval(args, command_line);
    if (args.verb == "info") return cmd_info(args);
    if (args.verb == "activations") return cmd_activations(args);
    if (args.verb == "train-sae") return cmd_train_sae(args);
    if (args.verb == "demo") return cmd_demo(args, command_line);
    if (args.verb == "embed") return cmd_embed(args);
    if (args.verb == "score") return cmd_score(args, command_line);
    if (args.verb == "merge") return cmd_merge(args);
    std::fprintf(stderr, "mona: error: command '%s' is not implemented\n", args.verb.c_str());
    return 2;
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
        std::fprintf(stderr,
                     "mona: error: unknown exception (this is a bug in mona, please report it with the command line)\n");
    }
    return 1;
}
