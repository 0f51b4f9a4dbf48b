// mona embed / score / merge: the feature-store workflow (embed a pool once, score many targets later).
#include <fmt/format.h>

#include "commands.hpp"
#include "select/select.hpp"
#include "store/feature_store.hpp"

namespace mona::cli {

Result<SelectConfig> select_config_from_args(const ParsedArgs& args);

namespace {

Result<EmbedStoreOptions> embed_options_from_args(const ParsedArgs& args) {
    EmbedStoreOptions options;
    const int64_t keep = args.get_int("keep", 0);
    if (keep < 0 || keep > UINT32_MAX) return invalid_input(fmt::format("--keep must be >= 0, got {}", keep));
    options.keep = static_cast<uint32_t>(keep);
    const int64_t shard_rows = args.get_int("shard-rows", 0);
    if (shard_rows < 0) return invalid_input(fmt::format("--shard-rows must be >= 1, got {}", shard_rows));
    options.shard_rows = static_cast<uint64_t>(shard_rows);
    if (args.has("shard")) {
        const std::string text = args.get("shard");
        unsigned slice = 0, n = 0;
        char tail = 0;
        if (std::sscanf(text.c_str(), "%u/%u%c", &slice, &n, &tail) != 2 || n == 0 || slice >= n) {
            return invalid_input(fmt::format("--shard '{}': expected I/N with 0 <= I < N, e.g. 0/4", text));
        }
        options.slice_idx = slice;
        options.n_slices = n;
    }
    return options;
}

}  // namespace

int cmd_embed(const ParsedArgs& args) {
    if (!args.has("pool")) return report_error(invalid_input("--pool is required")), 2;
    if (!args.has("out")) return report_error(invalid_input("--out STORE_DIR is required")), 2;
    auto config = select_config_from_args(args);
    if (!config.ok()) return report_error(config.status()), 2;
    auto options = embed_options_from_args(args);
    if (!options.ok()) return report_error(options.status()), 2;
    auto summary = run_embed(config.value(), options.value());
    if (!summary.ok()) return report_error(summary.status());
    const EmbedSummary& s = summary.value();
    std::fprintf(stderr,
                 "mona: store %s: %llu samples (%lld embedded now, %lld resumed, %lld skipped, %lld truncated), "
                 "%.0f bytes/sample\n",
                 config->out_dir.c_str(), static_cast<unsigned long long>(s.store_size),
                 static_cast<long long>(s.n_embedded), static_cast<long long>(s.n_resumed),
                 static_cast<long long>(s.n_skipped), static_cast<long long>(s.n_truncated),
                 s.store_size ? static_cast<double>(s.bytes_on_disk) / static_cast<double>(s.store_size) : 0.0);
    return 0;
}

int cmd_score(const ParsedArgs& args, const std::string& command_line) {
    if (!args.has("store")) return report_error(invalid_input("at least one --store DIR is required")), 2;
    if (!args.has("target")) return report_error(invalid_input("at least one --target NAME=FILE is required")), 2;
    if (!args.has("out")) return report_error(invalid_input("--out is required")), 2;
    auto config = select_config_from_args(args);
    if (!config.ok()) return report_error(config.status()), 2;
    config->command_line = command_line;
    // Empty paths mean "as recorded in the store".
    if (!args.has("model")) config->model_path.clear();
    if (!args.has("sae")) config->sae_path.clear();
    auto summary = run_score(config.value(), args.all("store"));
    if (!summary.ok()) return report_error(summary.status());
    for (const auto& t : summary->targets) {
        std::printf("%s\t%lld exemplars\t%lld selected\t%s/%s/selected.jsonl\n", t.name.c_str(),
                    static_cast<long long>(t.n_exemplars), static_cast<long long>(t.n_selected),
                    config->out_dir.c_str(), t.name.c_str());
    }
    return 0;
}

int cmd_merge(const ParsedArgs& args) {
    if (!args.has("store") || !args.has("out")) {
        return report_error(invalid_input("usage: mona merge --store A --store B ... --out MERGED")), 2;
    }
    MergeOptions options;
    options.shard_rows = static_cast<uint64_t>(std::max<int64_t>(0, args.get_int("shard-rows", 0)));
    options.resume = true;
    Status status = merge_stores(args.get("out"), args.all("store"), options);
    return status.ok() ? 0 : report_error(status);
}

}  // namespace mona::cli
