#include <cstdio>

#include "commands.hpp"
#include "util/home.hpp"

namespace mona::cli {

int report_error(const Status& status) {
    std::fprintf(stderr, "mona: error: %s\n", status.message().c_str());
    return 1;
}

void warn(const std::string& message) { std::fprintf(stderr, "mona: warning: %s\n", message.c_str()); }

std::string model_path_arg(const ParsedArgs& args) { return args.get("model", default_model_path()); }

std::string sae_path_arg(const ParsedArgs& args) { return args.get("sae", default_sae_dir()); }

}  // namespace mona::cli
