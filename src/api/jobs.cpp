#include "api/jobs.hpp"

#include <exception>
#include <new>

#include "mona/log.hpp"
#include "util/home.hpp"

namespace mona {
namespace api {

namespace {

Status in_field(const Status& status, const char* field) {
    return invalid_input(std::string(field) + ": " + status.message());
}

}  // namespace

Result<SelectConfig> to_select_config(const SelectJobOptions& options, bool fill_default_paths) {
    const JobCommonOptions& common = options.common;
    SelectConfig config;
    config.model_path = common.model_path.empty() && fill_default_paths ? default_model_path() : common.model_path;
    config.sae_path = common.sae_path.empty() && fill_default_paths ? default_sae_dir() : common.sae_path;
    config.pool_path = common.pool_path;
    config.out_dir = common.out_dir;
    for (const JobTarget& target : options.targets) {
        if (target.name.empty() && target.path.find('=') != std::string::npos) {
            return invalid_input("targets: '" + target.path + "' contains '=': give the target a name");
        }
        Result<TargetSpec> spec =
            parse_target_spec(target.name.empty() ? target.path : target.name + "=" + target.path);
        if (!spec.ok()) return in_field(spec.status(), "targets");
        config.targets.push_back(std::move(spec.value()));
        config.targets.back().label = target.label;
    }
    config.layer = common.layer;
    config.ratio = options.ratio;
    config.count = options.count;
    if (options.merge != "none") {  // the flag is absent for none
        Result<MergeMode> merge = parse_merge_mode(options.merge);
        if (!merge.ok()) return in_field(merge.status(), "merge");
        config.merge = merge.value();
    }
    for (const JobQuota& quota : options.quotas) config.quotas.push_back(QuotaSpec{quota.target, quota.weight});
    config.store_dir = options.store_dir;
    config.store_shard_rows = options.store_shard_rows;
    config.diversity = options.diversity;
    config.diversity_candidates = options.diversity_candidates;
    config.dedup = options.dedup;
    config.dedup_against = options.dedup_against;
    config.coverage = options.coverage;
    Result<PrototypeMode> prototype = parse_prototype_mode(options.prototype);
    if (!prototype.ok()) return in_field(prototype.status(), "prototype");
    config.prototype = prototype.value();
    config.length_strata = options.length_strata;
    config.k = common.k;
    Result<TokenMode> tokens = parse_token_mode(common.tokens);
    if (!tokens.ok()) return in_field(tokens.status(), "tokens");
    config.token_mode = tokens.value();
    Result<PoolingMode> pooling = parse_pooling_mode(common.pooling);
    if (!pooling.ok()) return in_field(pooling.status(), "pooling");
    config.pooling = pooling.value();
    Result<InputFormat> format = parse_input_format(common.format);
    if (!format.ok()) return in_field(format.status(), "format");
    config.format = format.value();
    config.template_name = common.chat_template;
    config.cpu_repack = common.cpu_repack;
    if (common.system_prompt) config.system_prompt = system_prompt_from_flag(*common.system_prompt);
    config.max_tokens = common.max_tokens;
    config.batch_tokens = common.batch_tokens;
    config.threads = common.threads;
    config.skip_bad = common.skip_bad;
    // The jobs report progress through their config's callback; the public API sends it to the log callback.
    if (common.progress && common.on_progress) {
        config.progress = [fn = common.on_progress](const ProgressUpdate& update) {
            fn(JobProgress{.stage = std::string(update.stage),
                           .n_samples = update.n_samples,
                           .n_tokens = update.n_tokens,
                           .seconds = update.seconds,
                           .final = update.final,
                           .line = progress_line(update)});
        };
    } else if (common.progress) {
        config.progress = [](const ProgressUpdate& update) {
            log_message(LogLevel::kInfo, "mona: " + progress_line(update));
        };
    }
    // Warnings of the jobs (the SAE check of the pool's first batch) go to the log callback with the progress lines.
    if (common.progress) {
        config.log = [](const std::string& message) { log_message(LogLevel::kWarning, "mona: " + message); };
    }
    config.cancelled = common.cancelled;
    config.command_line = common.command_line;
    return config;
}

Result<EvalConfig> to_eval_config(const EvalJobOptions& options) {
    EvalConfig config;
    MONA_TRY(config.select, to_select_config(options.select, /*fill_default_paths=*/true));
    for (const std::string& method : options.methods) {
        Result<EvalMethodSpec> spec = parse_eval_method_spec(method);
        if (!spec.ok()) return in_field(spec.status(), "methods");
        config.methods.push_back(std::move(spec.value()));
    }
    config.seed = options.seed;
    config.n_latents = options.n_latents;
    config.n_latent_samples = options.n_latent_samples;
    return config;
}

SelectJobResult from_select_summary(const SelectSummary& summary) {
    SelectJobResult result;
    result.n_pool_read = summary.n_pool_read;
    result.n_pool_skipped = summary.n_pool_skipped;
    result.n_pool_resumed = summary.n_pool_resumed;
    result.n_pool_truncated = summary.n_pool_truncated;
    result.n_pool_tokens = summary.n_pool_tokens;
    result.n_target_skipped = summary.n_target_skipped;
    result.layer = summary.layer;
    for (const TargetResult& target : summary.targets) {
        JobTargetResult& out = result.targets.emplace_back();
        out.name = target.name;
        out.n_exemplars = target.n_exemplars;
        out.n_selected = target.n_selected;
    }
    result.n_merged = summary.n_merged;
    result.seconds_total = summary.seconds_total;
    return result;
}

EmbedJobResult from_embed_summary(const EmbedSummary& summary) {
    return {.n_embedded = summary.n_embedded,
            .n_resumed = summary.n_resumed,
            .n_skipped = summary.n_skipped,
            .n_truncated = summary.n_truncated,
            .store_size = summary.store_size,
            .bytes_on_disk = summary.bytes_on_disk};
}

EvalJobResult from_eval_summary(const EvalSummary& summary) {
    EvalJobResult result;
    result.methods = summary.methods;
    result.n_pool_read = summary.n_pool_read;
    result.n_pool_skipped = summary.n_pool_skipped;
    result.n_pool_truncated = summary.n_pool_truncated;
    result.n_select = summary.n_select;
    result.layer = summary.layer;
    for (const EvalTargetSummary& target : summary.targets) {
        result.targets.push_back({.name = target.name,
                                  .n_exemplars = target.n_exemplars,
                                  .n_selected = summary.n_select,
                                  .precision = target.precision,
                                  .recall = target.recall});
    }
    result.seconds_total = summary.seconds_total;
    return result;
}

}  // namespace api

namespace {

// Runs a job and keeps any exception inside the library (mona/status.hpp: none crosses include/mona/).
template <class Fn>
auto guarded(const char* job, Fn&& fn) -> decltype(fn()) {
    try {
        return fn();
    } catch (const std::bad_alloc&) {
        return internal_error(std::string(job) + ": out of memory");
    } catch (const std::exception& e) {
        return internal_error(std::string(job) + ": " + e.what());
    }
}

}  // namespace

Result<SelectJobResult> run_select_job(const SelectJobOptions& options) {
    return guarded("select", [&]() -> Result<SelectJobResult> {
        MONA_TRY(SelectConfig config, api::to_select_config(options, /*fill_default_paths=*/true));
        MONA_TRY(SelectSummary summary, run_select(config));
        return api::from_select_summary(summary);
    });
}

Result<EmbedJobResult> run_embed_job(const EmbedJobOptions& options) {
    return guarded("embed", [&]() -> Result<EmbedJobResult> {
        SelectJobOptions select;
        select.common = options.common;
        MONA_TRY(SelectConfig config, api::to_select_config(select, /*fill_default_paths=*/true));
        Result<ValueEncoding> values = parse_value_encoding(options.values);
        if (!values.ok()) return invalid_input("values: " + values.status().message());
        const EmbedStoreOptions store{.keep = options.keep,
                                      .values = *values,
                                      .shard_rows = options.shard_rows,
                                      .slice_idx = options.slice_idx,
                                      .n_slices = options.n_slices};
        MONA_TRY(EmbedSummary summary, run_embed(config, store));
        return api::from_embed_summary(summary);
    });
}

Result<SelectJobResult> run_score_job(const ScoreJobOptions& options) {
    return guarded("score", [&]() -> Result<SelectJobResult> {
        MONA_TRY(SelectConfig config, api::to_select_config(options.select, /*fill_default_paths=*/false));
        MONA_TRY(SelectSummary summary, run_score(std::move(config), options.store_dirs));
        return api::from_select_summary(summary);
    });
}

Result<EvalJobResult> run_eval_job(const EvalJobOptions& options) {
    return guarded("eval", [&]() -> Result<EvalJobResult> {
        MONA_TRY(EvalConfig config, api::to_eval_config(options));
        MONA_TRY(EvalSummary summary, run_eval(config));
        return api::from_eval_summary(summary);
    });
}

const char* version() { return MONA_VERSION; }

}  // namespace mona
