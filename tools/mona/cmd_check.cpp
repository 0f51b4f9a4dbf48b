// mona check: the SAE health check on the user's own samples (jobs/check.hpp): FVU, L0 and dead latents at the
// SAE's layer and its neighbours, and a verdict. The table (or --json) goes to stdout, --out FILE gets the JSON.
#include <fmt/format.h>

#include "commands.hpp"
#include "io/atomic_file.hpp"
#include "jobs/check.hpp"

namespace mona::cli {

namespace {

Result<CheckConfig> check_config_from_args(const ParsedArgs& args) {
    CheckConfig config;
    SelectConfig& base = config.base;
    MONA_TRY(base.model_path, model_path_arg(args));
    base.sae_path = args.get("sae");
    base.pool_path = args.get("pool");
    if (args.has("layer")) base.layer = args.get_int<int32_t>("layer");
    MONA_TRY(base.token_mode, parse_token_mode(args.get("tokens")));
    MONA_TRY(base.format, parse_input_format(args.get("format")));
    base.template_name = args.get("template");
    MONA_TRY(base.cpu_repack, cpu_repack_arg(args));
    if (args.has("system-prompt")) base.system_prompt = system_prompt_from_flag(args.get("system-prompt"));
    base.max_tokens = args.get_int<int32_t>("max-tokens");
    base.batch_tokens = args.get_int<int32_t>("batch-tokens");
    base.threads = args.get_int<int32_t>("threads");
    base.skip_bad = args.on("skip-bad");
    if (!args.on("quiet")) base.progress = print_progress;
    base.verbose = args.on("verbose");
    config.n_samples = args.get_int("samples");
    return config;
}

}  // namespace

CommandResult cmd_check(const ParsedArgs& args) {
    auto config = check_config_from_args(args);
    if (!config.ok()) return usage_error(config.status());
    auto report = run_check(config.value());
    if (!report.ok()) return report.status();
    const std::string json = report->to_json().dump(2) + "\n";
    if (args.has("out")) {
        if (Status written = write_file_atomic(args.get("out"), json); !written.ok()) return written;
    }
    if (args.on("json")) {
        std::fputs(json.c_str(), stdout);
    } else {
        std::fputs(report->table().c_str(), stdout);
    }
    return {};
}

}  // namespace mona::cli
