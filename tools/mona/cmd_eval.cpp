// mona eval: MoNA against its baselines and ablations on a labelled pool (src/eval/eval.hpp).
#include <fmt/format.h>

#include "commands.hpp"
#include "eval/eval.hpp"

namespace mona::cli {

CommandResult cmd_eval(const ParsedArgs& args) {
    auto select = select_config_from_args(args);
    if (!select.ok()) return usage_error(select.status());
    if (Status usage = check_select_config(select.value()); !usage.ok()) return usage_error(usage);
    if (Status usage = check_out_folder(args); !usage.ok()) return usage_error(usage);
    {
        // Before the model pass: every record parses, and every target names a label of the pool (eval's
        // precision and recall count the samples labelled as the target's name; without any, each would be 0).
        auto pool = check_pool_records(select->pool_path, select->format, select->skip_bad);
        if (!pool.ok()) return pool.status();
        if (select->progress) select->progress = progress_with_total(pool->n_records - pool->n_bad);
        const std::vector<std::string> unlabelled = unlabelled_targets(select.value(), pool.value());
        if (!unlabelled.empty()) {
            return usage_error(
                invalid_input(unlabelled.front() +
                              "; eval measures precision against the pool's labels: name each target after its label "
                              "(--target LABEL=FILE)"));
        }
    }
    EvalConfig config;
    config.select = std::move(select.value());
    config.select.command_line = args.command_line;
    for (const auto& name : args.all("method")) {
        auto method = parse_eval_method_spec(name);
        if (!method.ok()) return usage_error(method.status().with_context("--method"));
        config.methods.push_back(method.value());
    }
    config.seed = args.get_int<uint64_t>("seed");
    FinetuneOptions& ft = config.finetune;
    ft.enabled = args.on("finetune");
    ft.epochs = args.get_int<int32_t>("finetune-epochs");
    ft.learning_rate = args.get_float("finetune-lr");
    ft.n_ctx = args.get_int<int32_t>("finetune-ctx");
    ft.n_samples = args.get_int<int32_t>("finetune-samples");
    ft.n_random_seeds = args.get_int<int32_t>("finetune-seeds");
    ft.heldout_every = args.get_int<int32_t>("finetune-heldout-every");
    ft.n_eval = args.get_int<int32_t>("finetune-eval");
    ft.methods = args.all("finetune-method");
    ft.trainable_model = args.get("finetune-model");
    if (!ft.enabled) {
        for (const FlagSpec& flag : flag_table()) {
            if (flag.name.rfind("finetune-", 0) == 0 && args.has(flag.name)) {
                return usage_error(invalid_input(fmt::format("--{} needs --finetune", flag.name)));
            }
        }
    }
    if (config.select.progress) config.log = print_log;

    auto summary = run_eval(config);
    if (!summary.ok()) return summary.status();
    const EvalSummary& s = summary.value();
    std::fprintf(stderr, "mona: pool %lld samples (%lld skipped, %lld truncated, %lld tokens), n = %lld, %.1f s\n",
                 static_cast<long long>(s.n_pool_read), static_cast<long long>(s.n_pool_skipped),
                 static_cast<long long>(s.n_pool_truncated), static_cast<long long>(s.n_pool_tokens),
                 static_cast<long long>(s.n_select), s.seconds_total);
    std::printf("target\tmethod\tprecision@n\trecall@n\n");
    for (const auto& t : s.targets) {
        for (size_t method_idx = 0; method_idx < s.methods.size(); ++method_idx) {
            std::printf("%s\t%s\t%.4f\t%.4f\n", t.name.c_str(), s.methods[method_idx].c_str(), t.precision[method_idx],
                        t.recall[method_idx]);
        }
    }
    if (s.finetune) {
        std::printf("\ntarget\tmethod\tbase_loss\ttuned_loss\treduction\treduction_se\n");
        for (const FinetuneTarget& t : s.finetune->targets) {
            for (const std::string& m : s.finetune->methods) {
                const MeanSe r = mean_se(reductions(t, m));
                std::printf("%s\t%s\t%.4f\t%.4f\t%.4f\t%.4f\n", t.name.c_str(), m.c_str(), t.base_loss,
                            t.base_loss - r.mean, r.mean, r.se);
            }
        }
    }
    std::fprintf(stderr, "mona: wrote %s/eval.json, eval.md, report.html\n", config.select.out_dir.c_str());
    return {};
}

}  // namespace mona::cli
