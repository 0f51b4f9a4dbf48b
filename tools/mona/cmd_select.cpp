#include <fmt/format.h>

#include "commands.hpp"
#include "jobs/config.hpp"
#include "jobs/select.hpp"

namespace mona::cli {

// Builds the typed select configuration from raw flags (shared by `select` and `demo`).
Result<SelectConfig> select_config_from_args(const ParsedArgs& args) {
    SelectConfig config;
    MONA_TRY(config.model_path, model_path_arg(args));
    config.sae_path = sae_path_arg(args);
    config.pool_path = args.get("pool");
    config.out_dir = args.get("out");
    for (const auto& text : args.all("target")) {
        MONA_TRY(TargetSpec spec, parse_target_spec(text));
        for (const auto& earlier : config.targets) {
            if (earlier.name == spec.name) {
                return invalid_input(fmt::format("--target '{}': target name '{}' is given twice (also --target {}={}); "
                                                 "each target writes <out>/<name>/, so names must differ",
                                                 text, spec.name, earlier.name, earlier.path));
            }
        }
        config.targets.push_back(spec);
    }
    config.layer = static_cast<int32_t>(args.get_int("layer", -1));
    if (args.has("layer") && config.layer < 0) return invalid_input("--layer must be >= 0");
    config.ratio = args.get_float("ratio", 0.05);
    config.count = args.get_int("count", 0);
    if (args.has("count") && config.count < 1) return invalid_input(fmt::format("--count must be >= 1, got {}", config.count));
    if (args.has("count") && args.has("ratio")) return invalid_input("give --count or --ratio, not both");
    if (args.has("merge")) {
        MONA_TRY(config.merge, parse_merge_mode(args.get("merge")));
    }
    for (const auto& text : args.all("quota")) {
        MONA_TRY(QuotaSpec quota, parse_quota_spec(text));
        config.quotas.push_back(quota);
    }
    config.k = static_cast<int32_t>(args.get_int("k", 0));
    if (args.has("k") && config.k < 1) return invalid_input(fmt::format("--k must be >= 1, got {}", config.k));
    MONA_TRY(config.token_mode, parse_token_mode(args.get("tokens", "no-bos")));
    MONA_TRY(config.pooling, parse_pooling_mode(args.get("pooling", "mean")));
    MONA_TRY(config.format, parse_input_format(args.get("format", "auto")));
    config.template_name = args.get("template", "model");
    MONA_TRY(config.cpu_repack, cpu_repack_arg(args));
    if (args.has("system-prompt")) config.system_prompt = system_prompt_from_flag(args.get("system-prompt"));
    config.max_tokens = static_cast<int32_t>(args.get_int("max-tokens", 2048));
    config.batch_tokens = static_cast<int32_t>(args.get_int("batch-tokens", 512));
    config.threads = static_cast<int32_t>(args.get_int("threads", 0));
    if (config.max_tokens < 1) return invalid_input("--max-tokens must be >= 1");
    if (config.batch_tokens < 1) return invalid_input("--batch-tokens must be >= 1");
    if (config.threads < 0) return invalid_input("--threads must be >= 0");
    config.skip_bad = args.on("skip-bad");
    if (!args.on("quiet")) config.progress = print_progress;
    config.verbose = args.on("verbose");
    return config;
}

void print_selection(const SelectSummary& summary, const std::string& out_dir) {
    for (const auto& t : summary.targets) {
        std::printf("%s\t%lld exemplars\t%lld selected\t%s/%s/selected.jsonl\n", t.name.c_str(),
                    static_cast<long long>(t.n_exemplars), static_cast<long long>(t.n_selected), out_dir.c_str(),
                    t.name.c_str());
    }
    if (summary.n_merged >= 0) {
        std::printf("merged\t%zu targets\t%lld selected\t%s/merged/selected.jsonl\n", summary.targets.size(),
                    static_cast<long long>(summary.n_merged), out_dir.c_str());
    }
}

int cmd_select(const ParsedArgs& args, const std::string& command_line) {
    if (!args.has("pool")) return report_error(invalid_input("--pool is required")), 2;
    if (!args.has("target")) return report_error(invalid_input("at least one --target NAME=FILE is required")), 2;
    if (!args.has("out")) return report_error(invalid_input("--out is required")), 2;
    auto config = select_config_from_args(args);
    if (!config.ok()) return report_error(config.status()), 2;
    config->command_line = command_line;
    if (args.all("store").size() > 1) return report_error(invalid_input("select keeps its store in one --store DIR")), 2;
    config->store_dir = args.get("store");
    if (Status usage = check_select_config(config.value()); !usage.ok()) return report_error(usage), 2;
    config->store_shard_rows = static_cast<uint64_t>(args.get_int("shard-rows", 0));  // >= 1 when given (flag table)
    auto summary = run_select(config.value());
    if (!summary.ok()) return report_error(summary.status());
    const SelectSummary& s = summary.value();
    std::fprintf(stderr,
                 "mona: pool %lld samples (%lld skipped, %lld truncated, %lld tokens, %lld resumed from the store), "
                 "layer %d, %.1f s\n",
                 static_cast<long long>(s.n_pool_read), static_cast<long long>(s.n_pool_skipped),
                 static_cast<long long>(s.n_pool_truncated), static_cast<long long>(s.n_pool_tokens),
                 static_cast<long long>(s.n_pool_resumed), s.layer, s.seconds_total);
    print_selection(s, config->out_dir);
    return 0;
}

}  // namespace mona::cli
