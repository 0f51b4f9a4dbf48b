#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "io/fetch.hpp"
#include "sae/sae.hpp"
#include "util/home.hpp"

namespace mona::cli {

CommandResult usage_error(Status status) {
    CommandResult result(std::move(status));
    result.usage = true;
    return result;
}

void print_error(const Status& status) { std::fprintf(stderr, "mona: error: %s\n", status.message().c_str()); }

void warn(const std::string& message) { std::fprintf(stderr, "mona: warning: %s\n", message.c_str()); }

void print_progress(const ProgressUpdate& update) { std::fprintf(stderr, "mona: %s\n", progress_line(update).c_str()); }

ProgressFn progress_with_total(int64_t n_total) {
    return [n_total](const ProgressUpdate& update) {
        ProgressUpdate with_total = update;
        if (update.stage == "embed" || update.stage == "pool") with_total.n_total = n_total;
        print_progress(with_total);
    };
}

void print_log(const std::string& message) { std::fprintf(stderr, "mona: %s\n", message.c_str()); }

namespace {

// Whether `out` holds a complete run of `verb`: its completion mark, written last (select, score and demo:
// manifest.json, naming the verb in its command line; eval: eval.json).
bool holds_complete_run(const std::filesystem::path& out, const std::string& verb) {
    if (verb == "eval") return std::filesystem::is_regular_file(out / "eval.json");
    std::ifstream in(out / "manifest.json");
    if (!in) return false;
    const nlohmann::json manifest = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!manifest.is_object() || !manifest.contains("command_line") || !manifest["command_line"].is_string()) {
        return false;
    }
    std::istringstream words(manifest["command_line"].get<std::string>());
    std::string program, run_verb;
    words >> program >> run_verb;
    return run_verb == verb;
}

}  // namespace

Status check_out_folder(const ParsedArgs& args) {
    namespace fs = std::filesystem;
    const fs::path out = args.get("out");
    std::error_code ec;
    if (args.on("overwrite") || !fs::is_directory(out, ec)) return Status();  // new (or not a folder: the job says)
    std::vector<std::string> foreign;
    for (auto it = fs::directory_iterator(out, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        const std::string name = it->path().filename().string();
        // mona's own: an interrupted run's store and lock, and the demo's generated inputs.
        if (name == ".store" || name.rfind(".mona-", 0) == 0) continue;
        if (args.verb == "demo" && name == "inputs") continue;
        foreign.push_back(name);
    }
    if (ec) return io_error(fmt::format("--out {}: cannot list the folder: {}", out.string(), ec.message()));
    if (foreign.empty() || holds_complete_run(out, args.verb)) return Status();
    std::sort(foreign.begin(), foreign.end());
    std::string shown;
    for (size_t i = 0; i < foreign.size() && i < 3; ++i) shown += (i == 0 ? "" : ", ") + foreign[i];
    if (foreign.size() > 3) shown += fmt::format(" and {} more", foreign.size() - 3);
    return invalid_input(
        fmt::format("--out {} is not empty ({}) and holds no complete `mona {}` run to replace; give another --out, "
                    "or --overwrite to write into it anyway",
                    out.string(), shown, args.verb));
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

Result<std::optional<int32_t>> default_sae_layer() {
    std::error_code ec;
    if (!std::filesystem::exists(default_sae_dir(), ec)) return std::optional<int32_t>();
    MONA_TRY(SaeModel sae, SaeModel::open({default_sae_dir()}));
    return sae.info().layer;
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
