// mona embed / score / merge: the feature-store workflow (embed a pool once, score many targets later).
#include <fmt/format.h>

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
    // The flag table bounds both (--keep 0..2^32-1, --shard-rows >= 1); 0 here means "not given".
    options.keep = static_cast<uint32_t>(args.get_int("keep", 0));
    options.shard_rows = static_cast<uint64_t>(args.get_int("shard-rows", 0));
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
    // report_error() on rank 0; the exit code on every rank.
    int fail(const Status& status, int code = 1) const {
        if (quiet()) return code;
        report_error(status);
        return code;
    }

   private:
    const Comm* comm_ = &Comm::local();
    Status status_;
};

}  // namespace

int cmd_embed(const ParsedArgs& args) {
    Ranks ranks;
    if (!ranks.status().ok()) return report_error(ranks.status()), 2;
    if (!args.has("pool")) return ranks.fail(invalid_input("--pool is required"), 2);
    if (!args.has("out")) return ranks.fail(invalid_input("--out STORE_DIR is required"), 2);
    auto config = select_config_from_args(args);
    if (!config.ok()) return ranks.fail(config.status(), 2);
    auto options = embed_options_from_args(args);
    if (!options.ok()) return ranks.fail(options.status(), 2);
    auto summary = run_embed(config.value(), options.value(), ranks.comm());
    if (!summary.ok()) return ranks.fail(summary.status());
    if (ranks.quiet()) return 0;
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
    Ranks ranks;
    if (!ranks.status().ok()) return report_error(ranks.status()), 2;
    if (!args.has("store")) return ranks.fail(invalid_input("at least one --store DIR is required"), 2);
    if (!args.has("target")) return ranks.fail(invalid_input("at least one --target NAME=FILE is required"), 2);
    if (!args.has("out")) return ranks.fail(invalid_input("--out is required"), 2);
    auto config = select_config_from_args(args);
    if (!config.ok()) return ranks.fail(config.status(), 2);
    if (Status usage = check_select_config(config.value()); !usage.ok()) return ranks.fail(usage, 2);
    config->command_line = command_line;
    // Empty paths mean "as recorded in the store".
    if (!args.has("model")) config->model_path.clear();
    if (!args.has("sae")) config->sae_path.clear();
    auto summary = run_score(config.value(), args.all("store"), ranks.comm());
    if (!summary.ok()) return ranks.fail(summary.status());
    if (ranks.quiet()) return 0;
    print_selection(summary.value(), config->out_dir);
    return 0;
}

int cmd_merge(const ParsedArgs& args) {
    if (!args.has("store") || !args.has("out")) {
        return report_error(invalid_input("usage: mona merge --store A --store B ... --out MERGED")), 2;
    }
    MergeOptions options;
    options.shard_rows = static_cast<uint64_t>(args.get_int("shard-rows", 0));  // >= 1 when given (flag table)
    options.resume = true;
    Status status = merge_stores(args.get("out"), args.all("store"), options);
    return status.ok() ? 0 : report_error(status);
}

}  // namespace mona::cli
