#include "commands.hpp"
#include "io/fetch.hpp"

namespace mona::cli {

CommandResult usage_error(Status status) {
    CommandResult result(std::move(status));
    result.usage = true;
    return result;
}

void print_error(const Status& status) { std::fprintf(stderr, "mona: error: %s\n", status.message().c_str()); }

void print_progress(const ProgressUpdate& update) { std::fprintf(stderr, "mona: %s\n", progress_line(update).c_str()); }

void print_log(const std::string& message) { std::fprintf(stderr, "mona: %s\n", message.c_str()); }

Result<std::string> model_path_arg(const ParsedArgs& args) {
    const std::string source = args.get("model");
    if (source.empty()) return source;  // score: the store's model
    auto path = resolve_model_source(source, args.get("model-sha256"));
    if (!path.ok()) {
        // The model loader reports a missing or unreadable path; a failed download or digest check is final.
        if (is_url(source) || args.has("model-sha256")) return path.status();
        return source;
    }
    return path.value();
}

Result<bool> cpu_repack_arg(const ParsedArgs& args) {
    const std::string value = args.get("cpu-repack");
    if (value == "on") return true;
    if (value == "off") return false;
    return invalid_input("--cpu-repack must be on or off, got '" + value + "'");
}

Result<SessionOptions> session_options_from_args(const ParsedArgs& args, const std::string& max_tokens_flag) {
    SessionOptions options;
    MONA_TRY(options.model_path, model_path_arg(args));
    options.n_threads = args.get_int<int32_t>("threads");
    options.max_tokens = args.get_int<int32_t>(max_tokens_flag);
    options.batch_tokens = args.get_int<int32_t>("batch-tokens");
    options.template_name = args.get("template");
    if (args.has("system-prompt")) options.system_prompt = system_prompt_from_flag(args.get("system-prompt"));
    options.verbose = args.on("verbose");
    MONA_TRY(options.cpu_repack, cpu_repack_arg(args));
    return options;
}

}  // namespace mona::cli
