#include "jobs/select.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "jobs/embed.hpp"
#include "jobs/engine.hpp"
#include "jobs/manifest.hpp"
#include "jobs/run_support.hpp"
#include "jobs/score.hpp"
#include "jobs/selection_writer.hpp"
#include "store/feature_store.hpp"
#include "util/comm.hpp"

namespace mona {

using namespace detail;

namespace {

// Select's own store (<out>/.store) is kept only to resume the same run: one left by a run with other parameters
// (another pool, model, k, ...) or that cannot be read is removed, so that the pool pass starts afresh.
Status discard_other_store(const SelectConfig& embed_config, const EmbedStoreOptions& options,
                           const SelectEngine& engine) {
    namespace fs = std::filesystem;
    const std::string& dir = embed_config.out_dir;
    std::error_code ec;
    if (!fs::exists(dir, ec)) return Status();
    MONA_TRY(nlohmann::json params, store_params(embed_config, engine));
    Result<StoreReader> reader = StoreReader::open(dir);
    const uint64_t shard_rows = options.shard_rows ? options.shard_rows : kDefaultShardRows;
    if (reader.ok() && reader->params_json() == params.dump() && reader->shard_rows() == shard_rows &&
        reader->keep() == options.keep && reader->n_slices() == 1) {
        return Status();
    }
    fs::remove_all(dir, ec);
    if (ec) return io_error(fmt::format("cannot remove the stale store {}: {}", dir, ec.message()));
    return Status();
}

}  // namespace

Result<SelectSummary> run_select(const SelectConfig& config) {
    const auto t_start = Clock::now();
    MONA_RETURN_IF_ERROR(check_select_config(config));
    // Held until the store below is removed: the last thing the run does in --out.
    MONA_TRY(RunFolderLock out_lock, RunFolderLock::acquire(config.out_dir));
    SelectRun run;
    MONA_TRY(run.pool_stamp, FileStamp::of(config.pool_path));
    std::optional<SelectEngine> engine;
    {
        MONA_TRY(SelectEngine opened, SelectEngine::open(config));
        engine.emplace(std::move(opened));
    }
    MONA_RETURN_IF_ERROR(embed_targets(config, *engine, run));

    // The model pass over the pool goes into a store (resumable: rerunning the same command continues it), which
    // is then scored exactly as `mona score` scores it.
    const bool own_store = config.store_dir.empty();
    SelectConfig embed_config = config;
    embed_config.out_dir = own_store ? config.out_dir + "/.store" : config.store_dir;
    EmbedStoreOptions options;
    options.shard_rows = config.store_shard_rows;
    if (own_store) MONA_RETURN_IF_ERROR(discard_other_store(embed_config, options, *engine));
    // A --store written by `mona embed` (q8 values by default) is resumed with its own value encoding.
    if (!own_store) {
        if (Result<StoreReader> existing = StoreReader::open(embed_config.out_dir); existing.ok()) {
            options.values = existing->values();
        }
    }
    Result<SelectSummary> summary = [&]() -> Result<SelectSummary> {
        const auto t_pool = Clock::now();
        MONA_TRY(EmbedSummary embedded, embed_pool(embed_config, options, *engine));
        run.summary.n_pool_resumed = embedded.n_resumed;
        run.seconds_pool = seconds_since(t_pool);
        return score_and_write(config, engine, run, {embed_config.out_dir}, Comm::local(), nlohmann::json::object(),
                               t_start);
    }();
    // Select's own store goes when the run ends, in success or error (only an interruption leaves it to resume);
    // a --store DIR stays.
    if (own_store) {
        std::error_code ec;
        std::filesystem::remove_all(embed_config.out_dir, ec);
        if (ec && summary.ok()) {
            return io_error(fmt::format("the outputs are in {}, but the store {} could not be removed: {}",
                                        config.out_dir, embed_config.out_dir, ec.message()));
        }
    }
    return summary;
}

}  // namespace mona
