#include "commands.hpp"
#include "util/fetch.hpp"

namespace mona::cli {

CommandResult usage_error(Status status) {
    CommandResult result(std::move(status));
    result.usage = true;
    return result;
}

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

}  // namespace mona::cli
