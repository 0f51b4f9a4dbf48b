#include <cstdio>
#include <cstdlib>

#include "commands.hpp"
#include "util/fetch.hpp"
#include "util/home.hpp"

namespace mona::cli {

int report_error(const Status& status) {
    std::fprintf(stderr, "mona: error: %s\n", status.message().c_str());
    return 1;
}

void warn(const std::string& message) { std::fprintf(stderr, "mona: warning: %s\n", message.c_str()); }

void print_progress(const ProgressUpdate& update) { std::fprintf(stderr, "mona: %s\n", progress_line(update).c_str()); }

void print_log(const std::string& message) { std::fprintf(stderr, "mona: %s\n", message.c_str()); }

Result<std::string> model_path_arg(const ParsedArgs& args) {
    const std::string source = args.get("model", default_model_path());
    auto path = resolve_model_source(source, args.get("model-sha256"));
    if (!path.ok()) {
        // The model loader reports a missing or unreadable path; a failed download or digest check is final.
        if (is_url(source) || args.has("model-sha256")) return path.status();
        return source;
    }
    return path.value();
}

std::string sae_path_arg(const ParsedArgs& args) { return args.get("sae", default_sae_dir()); }

Result<bool> cpu_repack_arg(const ParsedArgs& args) {
    const std::string value = args.get("cpu-repack", "off");
    if (value == "on") return true;
    if (value == "off") return false;
    return invalid_input("--cpu-repack must be on or off, got '" + value + "'");
}

Result<SessionOptions> session_options_from_args(const ParsedArgs& args, const std::string& max_tokens_flag,
                                                 int32_t default_max_tokens) {
    SessionOptions options;
    MONA_TRY(options.model_path, model_path_arg(args));
    options.n_threads = static_cast<int32_t>(args.get_int("threads", options.n_threads));
    options.max_tokens = static_cast<int32_t>(args.get_int(max_tokens_flag, default_max_tokens));
    options.batch_tokens = static_cast<int32_t>(args.get_int("batch-tokens", options.batch_tokens));
    options.template_name = args.get("template", options.template_name);
    if (args.has("system-prompt")) options.system_prompt = system_prompt_from_flag(args.get("system-prompt"));
    options.verbose = args.on("verbose");
    MONA_TRY(options.cpu_repack, cpu_repack_arg(args));
    return options;
}

}  // namespace mona::cli
