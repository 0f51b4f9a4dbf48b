// mona embed / score / merge: the feature-store workflow (embed a pool once, score many targets later).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "jobs/config.hpp"
#include "jobs/embed.hpp"
#include "jobs/score.hpp"
#include "store/feature_store.hpp"
#include "util/comm.hpp"

namespace mona::cli {

namespace {

Result<EmbedStoreOptions> embed_options_from_args(const ParsedArgs& args) {
    EmbedStoreOptions options;
    options.keep = args.get_int<uint32_t>("keep");
    Result<ValueEncoding> values = parse_value_encoding(args.get("values"));
    if (!values.ok()) return invalid_input("--values: " + values.status().message());
    options.values = *values;
    if (args.has("shard-rows")) options.shard_rows = args.get_int<uint64_t>("shard-rows");
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
    options.device = args.get("device");
    options.sae_dtype = args.get("sae-dtype");
    if (options.sae_dtype != "f32" && options.sae_dtype != "f16" && options.sae_dtype != "bf16") {
        return invalid_input(fmt::format("--sae-dtype '{}': expected f32, f16 or bf16", options.sae_dtype));
    }
    const std::string gpu_layers = args.get("gpu-layers");
    if (gpu_layers == "all") {
        options.gpu_layers = -1;
    } else {
        unsigned n = 0;
        char tail = 0;
        if (std::sscanf(gpu_layers.c_str(), "%u%c", &n, &tail) != 1 || n > 100000) {
            return invalid_input(fmt::format("--gpu-layers '{}': expected a layer count or all", gpu_layers));
        }
        options.gpu_layers = static_cast<int32_t>(n);
    }
    options.allow_mixed_backends = args.on("allow-mixed-backends");
    return options;
}

// The ranks of this run (util/comm.hpp) for embed and score: MPI is finalised when the command returns, and
// only rank 0 prints (the other ranks' errors reach rank 0, which names the rank).
class Ranks {
   public:
    Ranks() {
        auto world = Comm::world();
        if (world.ok()) {
            comm_ = world.value();
        } else {
            status_ = world.status();
        }
    }
    ~Ranks() { Comm::finalize(); }
    const Status& status() const { return status_; }
    const Comm& comm() const { return *comm_; }
    bool quiet() const { return !comm_->is_root(); }
    // The error, printed here on rank 0 only, before ~Ranks finalizes MPI: once a rank has exited non-zero after
    // MPI_Finalize, mpirun may kill the others, rank 0 included, before main() would print it.
    CommandResult fail(const Status& status) const { return printed(CommandResult(status)); }
    CommandResult usage(const Status& status) const { return printed(usage_error(status)); }

   private:
    CommandResult printed(CommandResult result) const {
        if (!quiet()) print_error(result.status);
        result.quiet = true;
        return result;
    }

    const Comm* comm_ = &Comm::local();
    Status status_;
};

}  // namespace

CommandResult cmd_embed(const ParsedArgs& args) {
    Ranks ranks;
    if (!ranks.status().ok()) return usage_error(ranks.status());
    auto config = select_config_from_args(args);
    if (!config.ok()) return ranks.usage(config.status());
    auto options = embed_options_from_args(args);
    if (!options.ok()) return ranks.usage(options.status());
    {
        // Every record parses before the model pass (a malformed one found hours in would waste the pass), and
        // the count of this slice's records is the progress lines' total.
        auto pool = check_pool_records(config->pool_path, config->format, config->skip_bad);
        if (!pool.ok()) return ranks.fail(pool.status());
        const int64_t n = pool->n_records, i = options->slice_idx, slices = options->n_slices;
        if (config->progress) config->progress = progress_with_total(n > i ? (n - i + slices - 1) / slices : 0);
    }
    auto summary = run_embed(config.value(), options.value(), ranks.comm());
    if (!summary.ok()) return ranks.fail(summary.status());
    if (ranks.quiet()) return {};
    const EmbedSummary& s = summary.value();
    std::fprintf(stderr,
                 "mona: store %s: %llu samples (%lld embedded now, %lld resumed, %lld skipped, %lld truncated), "
                 "%.0f bytes/sample\n",
                 config->out_dir.c_str(), static_cast<unsigned long long>(s.store_size),
                 static_cast<long long>(s.n_embedded), static_cast<long long>(s.n_resumed),
                 static_cast<long long>(s.n_skipped), static_cast<long long>(s.n_truncated),
                 s.store_size ? static_cast<double>(s.bytes_on_disk) / static_cast<double>(s.store_size) : 0.0);
    return {};
}

CommandResult cmd_score(const ParsedArgs& args) {
    Ranks ranks;
    if (!ranks.status().ok()) return usage_error(ranks.status());
    // Without --model and --sae, the paths are empty (their defaults for score): as recorded in the store.
    auto config = select_config_from_args(args);
    if (!config.ok()) return ranks.usage(config.status());
    if (Status usage = check_select_config(config.value()); !usage.ok()) return ranks.usage(usage);
    if (Status usage = check_out_folder(args); !usage.ok()) return ranks.usage(usage);
    config->command_line = args.command_line;
    if (!ranks.quiet()) {
        // As select does before its pass: each target's label is one the pool carries, or the user is told which
        // labels it has. The pool is the store's own (or --pool); when it cannot be read, run_score says why.
        std::string pool_path = config->pool_path;
        if (pool_path.empty()) {
            auto stores = StoreSet::open(args.all("store"));
            if (stores.ok()) {
                const auto params = nlohmann::json::parse(stores->params_json(), nullptr, /*allow_exceptions=*/false);
                if (params.is_object()) pool_path = params.value("pool_path", "");
            }
        }
        if (!pool_path.empty()) {
            auto pool = check_pool_records(pool_path, config->format, /*skip_bad=*/true);
            if (pool.ok()) {
                for (const auto& message : unlabelled_targets(config.value(), pool.value())) {
                    warn(message + "; the report leaves its precision out; --label NAME=LABEL names the label");
                }
            }
        }
    }
    auto summary = run_score(config.value(), args.all("store"), ranks.comm());
    if (!summary.ok()) return ranks.fail(summary.status());
    if (ranks.quiet()) return {};
    print_selection(summary.value(), config->out_dir);
    return {};
}

CommandResult cmd_merge(const ParsedArgs& args) {
    MergeOptions options;
    if (args.has("shard-rows")) options.shard_rows = args.get_int<uint64_t>("shard-rows");
    options.resume = true;
    return merge_stores(args.get("out"), args.all("store"), options);
}

}  // namespace mona::cli
