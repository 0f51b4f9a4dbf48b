#include <fmt/format.h>

#include <algorithm>

#include "commands.hpp"
#include "jobs/config.hpp"
#include "jobs/select.hpp"

namespace mona::cli {

// Builds the typed select configuration from raw flags (shared by select, demo, eval, embed and score). The flag
// table's defaults are SelectConfig's own; fields whose default means "decide later" (layer, k, count) are set
// only when their flag is given.
Result<SelectConfig> select_config_from_args(const ParsedArgs& args) {
    SelectConfig config;
    MONA_TRY(config.model_path, model_path_arg(args));
    config.sae_path = args.get("sae");
    config.pool_path = args.get("pool");
    config.out_dir = args.get("out");
    for (const auto& text : args.all("target")) {
        MONA_TRY(TargetSpec spec, parse_target_spec(text));
        for (const auto& earlier : config.targets) {
            if (earlier.name == spec.name) {
                return invalid_input(
                    fmt::format("--target '{}': target name '{}' is given twice (also --target {}={}); "
                                "each target writes <out>/<name>/, so names must differ",
                                text, spec.name, earlier.name, earlier.path));
            }
        }
        config.targets.push_back(spec);
    }
    for (const auto& text : args.all("label")) {
        const size_t eq = text.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
            return invalid_input(fmt::format("--label '{}': expected NAME=LABEL, e.g. math=math_word_problems", text));
        }
        const std::string name = text.substr(0, eq);
        auto it = std::find_if(config.targets.begin(), config.targets.end(),
                               [&](const TargetSpec& t) { return t.name == name; });
        if (it == config.targets.end()) {
            std::vector<std::string> names;
            for (const auto& t : config.targets) names.push_back(t.name);
            const std::string guess = closest(name, names);
            return invalid_input(fmt::format("--label '{}': no --target is named '{}'{}", text, name,
                                             guess.empty() ? "" : "; did you mean " + guess + "?"));
        }
        it->label = text.substr(eq + 1);
    }
    if (args.has("layer")) config.layer = args.get_int<int32_t>("layer");
    config.ratio = args.get_float("ratio");
    if (args.has("count")) config.count = args.get_int("count");
    if (args.has("count") && args.has("ratio")) return invalid_input("give --count or --ratio, not both");
    if (args.has("merge")) {
        MONA_TRY(config.merge, parse_merge_mode(args.get("merge")));
    }
    for (const auto& text : args.all("quota")) {
        MONA_TRY(QuotaSpec quota, parse_quota_spec(text));
        config.quotas.push_back(quota);
    }
    if (args.has("diversity")) config.diversity = args.get_float("diversity");
    if (args.has("diversity-candidates")) {
        config.diversity_candidates = args.get_int<uint32_t>("diversity-candidates");
    }
    if (args.has("dedup")) config.dedup = args.get_float("dedup");
    if (args.has("dedup-against")) config.dedup_against = args.get("dedup-against");
    config.coverage = args.on("coverage");
    if (args.has("length-strata")) config.length_strata = args.get_int<uint32_t>("length-strata");
    if (args.has("prototype")) {
        MONA_TRY(config.prototype, parse_prototype_mode(args.get("prototype")));
    }
    if (args.has("k")) config.k = args.get_int<int32_t>("k");
    MONA_TRY(config.token_mode, parse_token_mode(args.get("tokens")));
    MONA_TRY(config.pooling, parse_pooling_mode(args.get("pooling")));
    MONA_TRY(config.format, parse_input_format(args.get("format")));
    config.template_name = args.get("template");
    MONA_TRY(config.cpu_repack, cpu_repack_arg(args));
    if (args.has("system-prompt")) config.system_prompt = system_prompt_from_flag(args.get("system-prompt"));
    config.max_tokens = args.get_int<int32_t>("max-tokens");
    config.batch_tokens = args.get_int<int32_t>("batch-tokens");
    config.threads = args.get_int<int32_t>("threads");
    config.skip_bad = args.on("skip-bad");
    if (!args.on("quiet")) config.progress = print_progress;
    config.log = print_log;  // warnings only (the SAE check of the pool's first batch), shown even with --quiet
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

CommandResult cmd_select(const ParsedArgs& args) {
    auto config = select_config_from_args(args);
    if (!config.ok()) return usage_error(config.status());
    config->command_line = args.command_line;
    if (args.all("store").size() > 1) return usage_error(invalid_input("select keeps its store in one --store DIR"));
    config->store_dir = args.get("store");
    if (Status usage = check_select_config(config.value()); !usage.ok()) return usage_error(usage);
    if (Status usage = check_out_folder(args); !usage.ok()) return usage_error(usage);
    {
        // Before the model is loaded: every record parses, and each target's label is one the pool carries.
        auto pool = check_pool_records(config->pool_path, config->format, config->skip_bad);
        if (!pool.ok()) return pool.status();
        if (config->progress) config->progress = progress_with_total(pool->n_records - pool->n_bad);
        for (const auto& message : unlabelled_targets(config.value(), pool.value())) {
            warn(message + "; the report leaves its precision out; --label NAME=LABEL names the label");
        }
    }
    if (args.has("shard-rows")) config->store_shard_rows = args.get_int<uint64_t>("shard-rows");
    auto summary = run_select(config.value());
    if (!summary.ok()) return summary.status();
    const SelectSummary& s = summary.value();
    std::fprintf(stderr,
                 "mona: pool %lld samples (%lld skipped, %lld truncated, %lld tokens, %lld resumed from the store), "
                 "layer %d, %.1f s\n",
                 static_cast<long long>(s.n_pool_read), static_cast<long long>(s.n_pool_skipped),
                 static_cast<long long>(s.n_pool_truncated), static_cast<long long>(s.n_pool_tokens),
                 static_cast<long long>(s.n_pool_resumed), s.layer, s.seconds_total);
    print_selection(s, config->out_dir);
    return {};
}

}  // namespace mona::cli
