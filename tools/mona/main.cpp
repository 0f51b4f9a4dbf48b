// mona: task-specific data selection for instruction tuning (MoNA) on llama.cpp.
#include <csignal>
#include <cstdio>
#include <string>

#include "cli/flags.hpp"
#include "commands.hpp"

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);  // a closed pipe ends output quietly (stdout writes fail, exit code 0)
    using namespace mona::cli;
    auto parsed = parse_args(argc, argv);
    if (!parsed.ok()) {
        std::fprintf(stderr, "mona: error: %s\n", parsed.status().message().c_str());
        return 2;
    }
    const ParsedArgs& args = parsed.value();
    std::string command_line;
    for (int arg_idx = 0; arg_idx < argc; ++arg_idx) command_line += (arg_idx ? " " : "") + std::string(argv[arg_idx]);

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
    if (args.verb == "select") return cmd_select(args, command_line);
    if (args.verb == "info") return cmd_info(args);
    if (args.verb == "activations") return cmd_activations(args);
    if (args.verb == "train-sae") return cmd_train_sae(args);
    if (args.verb == "demo") return cmd_demo(args, command_line);
    std::fprintf(stderr, "mona: error: command '%s' is not implemented\n", args.verb.c_str());
    return 2;
}
