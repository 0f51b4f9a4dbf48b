#include "jobs/embed.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <optional>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "embed/device_backend.hpp"
#include "io/atomic_file.hpp"
#include "jobs/check.hpp"
#include "jobs/engine.hpp"
#include "jobs/manifest.hpp"
#include "jobs/run_support.hpp"
#include "store/feature_store.hpp"

namespace mona {

using namespace detail;

namespace {

// The stored samples to run through the model again when a store is resumed: those of the last decode batch an
// uninterrupted pass would have had open at the resume point. Their vectors are discarded; running them again
// makes every further sample's batch, and therefore its vector, exactly that of one uninterrupted pass (batches
// depend on the samples' token counts alone, see BatchRule, and the store records every count).
Result<std::unordered_set<uint64_t>> samples_to_replay(const std::string& dir, uint64_t n_done, const BatchRule& rule) {
    std::unordered_set<uint64_t> replay;
    if (n_done == 0) return replay;
    MONA_TRY(StoreReader reader, StoreReader::open(dir));
    std::vector<int64_t> n_tokens;
    std::vector<uint64_t> records;
    for (size_t shard_idx = 0; shard_idx < reader.n_shards() && records.size() < n_done; ++shard_idx) {
        MONA_RETURN_IF_ERROR(reader.for_each_in_shard(shard_idx, [&](const StoredSample& stored) -> Status {
            if (records.size() < n_done) {
                records.push_back(stored.record_idx);
                n_tokens.push_back(stored.n_tokens);
            }
            return Status();
        }));
    }
    MONA_ASSERT(records.size() == n_done, "a resumed store holds fewer samples than its writer reported");
    for (size_t pos = open_batch_start(rule, n_tokens); pos < records.size(); ++pos) replay.insert(records[pos]);
    return replay;
}

// "auto" -> the first GPU device's name, else "cpu"; "rpc:HOST:PORT" -> that server's device; else as given.
Result<std::string> resolve_device(const std::string& device) {
    if (device != "auto") return resolve_device_name(device);
    ggml_backend_device* gpu = gpu_device();
    return gpu != nullptr ? device_name(gpu) : std::string("cpu");
}

// The backend the pass runs on, and its name for the store ("cpu", or embed/device_backend.hpp's backend_param).
Result<std::unique_ptr<EmbedBackend>> open_backend(const SelectConfig& config, const EmbedStoreOptions& options,
                                                   SelectEngine& engine, std::string& name) {
    MONA_TRY(const std::string device, resolve_device(options.device));
    if (device == "cpu") {
        name = "cpu";
        // The SAE health check on the first batch: a warning in the log, nothing in any file. (The device backend
        // has no per-token codes on the host to check.)
        EmbedOptions eopts = engine.eopts;
        eopts.first_batch_probe = make_first_batch_probe(engine.sae, eopts.token_mode, eopts.k_override, config.log);
        return make_cpu_backend(engine.session, &engine.sae, eopts);
    }
    DeviceBackendOptions dopts;
    dopts.device = device;
    MONA_TRY(dopts.weight_type, parse_sae_weight_type(options.sae_dtype));
    dopts.n_threads = config.threads > 0 ? config.threads : 1;
    return make_device_backend(engine.session, engine.sae, engine.eopts, dopts, &name);
}

// The backend a store was begun on: its parameter "backend", absent in stores written before it was recorded
// and in every store of the CPU backend (whose parameters stay byte-identical to those stores).
std::string stored_backend(const std::string& dir) {
    std::error_code ec;
    if (!std::filesystem::exists(std::filesystem::path(dir) / "manifest.json", ec)) return "";
    auto reader = StoreReader::open(dir);
    if (!reader.ok()) return "";  // StoreWriter::open reports the store's own problem
    try {
        const nlohmann::json params = nlohmann::json::parse(reader->params_json());
        return params.value("backend", std::string("cpu"));
    } catch (const std::exception&) {
        return "";
    }
}

}  // namespace

namespace detail {

Result<EmbedSummary> embed_pool(const SelectConfig& config, const EmbedStoreOptions& options, SelectEngine& engine) {
    if (options.n_slices < 1 || options.slice_idx >= options.n_slices) {
        return invalid_input(
            fmt::format("--shard {}/{}: expected i/n with 0 <= i < n", options.slice_idx, options.n_slices));
    }
    MONA_TRY(const FileStamp pool_stamp, FileStamp::of(config.pool_path));
    MONA_TRY(nlohmann::json params, store_params(config, engine));
    std::string backend_name;
    MONA_TRY(std::unique_ptr<EmbedBackend> backend, open_backend(config, options, engine, backend_name));
    // Vectors of different backends differ in their last bits (and TopK near-ties): a store holds one
    // backend's unless the user mixes them on purpose.
    const std::string begun_on = stored_backend(config.out_dir);
    if (!begun_on.empty() && begun_on != backend_name) {
        if (!options.allow_mixed_backends) {
            return invalid_input(fmt::format(
                "cannot resume {}: it was begun on backend {} and this run uses {}; their vectors differ in the last "
                "bits (and at TopK near-ties). Resume with --device {}, or pass --allow-mixed-backends to mix them",
                config.out_dir, begun_on, backend_name,
                begun_on == "cpu" ? std::string("cpu") : begun_on.substr(5, begun_on.rfind(':') - 5)));
        }
        backend_name = begun_on;  // the store keeps the name it was begun with
    }
    if (backend_name != "cpu") params["backend"] = backend_name;
    StoreOptions sopts;
    sopts.keep = options.keep;
    sopts.values = options.values;
    sopts.shard_rows = options.shard_rows;
    sopts.params_json = params.dump();
    sopts.resume = true;
    sopts.slice_idx = options.slice_idx;
    sopts.n_slices = options.n_slices;
    MONA_TRY(StoreWriter writer, StoreWriter::open(config.out_dir, sopts));
    EmbedSummary summary;
    summary.n_resumed = static_cast<int64_t>(writer.n_done());
    const std::optional<uint64_t> last_done = writer.last_record_idx();

    std::vector<SkipRow> skipped;
    struct Queued {
        StoredSample stored;  // record_idx/line/id, then the vector
        bool replay = false;  // already stored: run only to rebuild the batch
    };
    std::vector<Queued> queued;  // by Embedder tag
    Progress progress(config.progress, "embed");
    progress.set_before(summary.n_resumed);
    Embedder embedder(std::move(backend), [&](EmbeddedSample& item) -> Status {
        Queued& entry = queued[item.tag];
        if (entry.replay) return Status();
        entry.stored.n_tokens = static_cast<uint32_t>(item.tokens.tokens.size());
        entry.stored.vec = std::move(item.pooled);
        Status status = writer.append(entry.stored);
        entry.stored = StoredSample();  // release the vector
        ++summary.n_embedded;
        return status;
    });
    MONA_TRY(std::unordered_set<uint64_t> replay, samples_to_replay(config.out_dir, writer.n_done(), embedder.rule()));
    Status streamed = stream_samples(
        config.pool_path, config, engine.session, skipped,
        [&](const Sample& sample, TokenizedSample tokens) -> Status {
            Queued entry;
            entry.stored.record_idx = sample.record_idx;
            entry.stored.source_pos = sample.line_no;
            entry.stored.id = sample.id;
            entry.replay = replay.count(sample.record_idx) > 0;
            summary.n_truncated += tokens.truncated;
            // Stored by an earlier run: read and tokenised only so that the skip
            // list and the truncation count cover the whole slice, not this run.
            if (last_done && sample.record_idx <= *last_done && !entry.replay) {
                return Status();
            }
            queued.push_back(std::move(entry));
            MONA_RETURN_IF_ERROR(embedder.add(queued.size() - 1, std::move(tokens)));
            progress.update(summary.n_embedded, embedder.n_tokens_run());
            return Status();
        },
        [&](uint64_t record_idx) {
            // Other slices' records are not even parsed; stored ones never reach the
            // model (see above).
            return belongs_to_slice(record_idx, options.slice_idx, options.n_slices);
        });
    MONA_RETURN_IF_ERROR(streamed);
    MONA_RETURN_IF_ERROR(embedder.flush());
    progress.update(summary.n_embedded, embedder.n_tokens_run(), true);
    // The store records the pool's sha256 from the start: vectors of a pool that changed since must not pass for it.
    MONA_RETURN_IF_ERROR(check_unchanged(config.pool_path, pool_stamp, "pool"));
    MONA_RETURN_IF_ERROR(writer.commit());
    summary.n_skipped = static_cast<int64_t>(skipped.size());
    if (config.skip_bad) {
        MONA_RETURN_IF_ERROR(write_file_atomic(
            config.out_dir + fmt::format("/skipped-{}-of-{}.tsv", options.slice_idx, options.n_slices),
            skipped_tsv(skipped)));
    }
    MONA_TRY(StoreReader reader, StoreReader::open(config.out_dir));
    summary.store_size = reader.size();
    summary.bytes_on_disk = reader.bytes_on_disk();
    return summary;
}

}  // namespace detail

namespace {

// One process embeds one slice of the pool into config.out_dir (all of `mona embed` without mpirun).
Result<EmbedSummary> embed_slice(const SelectConfig& config, const EmbedStoreOptions& options) {
    if (options.n_slices < 1 || options.slice_idx >= options.n_slices) {
        return invalid_input(
            fmt::format("--shard {}/{}: expected i/n with 0 <= i < n", options.slice_idx, options.n_slices));
    }
    // The model's layers go to the GPU only when the pass runs there (--device); the CPU reference stays all CPU.
    SelectConfig device_config = config;
    MONA_TRY(const std::string device, resolve_device(options.device));
    ggml_backend_device* dev = device == "cpu" ? nullptr : device_by_name(device);
    device_config.gpu_layers = dev != nullptr && device_is_gpu(dev) ? options.gpu_layers : 0;
    MONA_TRY(SelectEngine engine, SelectEngine::open(device_config));
    return embed_pool(device_config, options, engine);
}

// What a rank of `mona embed` under mpirun tells rank 0 about its slice.
std::string pack_embed_result(const Result<EmbedSummary>& result) {
    ByteWriter writer;
    writer.put<int32_t>(static_cast<int32_t>(result.status().code()));
    writer.put_string(result.status().message());
    const EmbedSummary summary = result.ok() ? result.value() : EmbedSummary();
    writer.put(summary.n_embedded);
    writer.put(summary.n_resumed);
    writer.put(summary.n_skipped);
    writer.put(summary.n_truncated);
    return std::move(writer.bytes());
}

}  // namespace

Result<EmbedSummary> run_embed(const SelectConfig& config, const EmbedStoreOptions& options, const Comm& comm) {
    if (comm.size() == 1) return embed_slice(config, options);
    // Every rank decides the same way here: the check uses only the flags.
    if (options.n_slices != 1) {
        return invalid_input(
            fmt::format("--shard {}/{} splits the pool by hand, but under mpirun the {} ranks split "
                        "it: give one or the other",
                        options.slice_idx, options.n_slices, comm.size()));
    }
    namespace fs = std::filesystem;
    const std::string slices_dir = config.out_dir + "/.mpi-slices";
    // Rank 0 decides the plan for every rank. A store begun without MPI (or finished by an earlier MPI run, which
    // leaves no slices behind) is resumed by rank 0 alone, exactly as `mona embed` would resume it.
    std::string plan;
    if (comm.is_root()) {
        std::error_code ec;
        plan = fs::exists(config.out_dir + "/manifest.json", ec) && !fs::exists(slices_dir, ec) ? "resume" : "slices";
    }
    comm.broadcast(plan);
    if (plan == "resume") {
        Result<EmbedSummary> result =
            comm.is_root() ? embed_slice(config, options) : Result<EmbedSummary>(EmbedSummary());
        MONA_RETURN_IF_ERROR(comm.broadcast_status(result.status()));
        return result;
    }

    // Rank r embeds slice r of n into <out>/.mpi-slices/r-of-n, resumable like any slice store.
    const auto slice_dir = [&](int rank) { return fmt::format("{}/{}-of-{}", slices_dir, rank, comm.size()); };
    SelectConfig slice_config = config;
    slice_config.out_dir = slice_dir(comm.rank());
    if (!comm.is_root()) slice_config.progress = nullptr;
    EmbedStoreOptions slice_options = options;
    slice_options.slice_idx = static_cast<uint32_t>(comm.rank());
    slice_options.n_slices = static_cast<uint32_t>(comm.size());
    const std::vector<std::string> results = comm.gather(pack_embed_result(embed_slice(slice_config, slice_options)));

    // Rank 0 checks every slice, merges them into <out> (the store `mona merge` makes of the slices) and removes
    // the slices; its status goes to every rank.
    Result<EmbedSummary> merged = EmbedSummary();
    if (comm.is_root()) {
        merged = [&]() -> Result<EmbedSummary> {
            EmbedSummary summary;
            std::vector<std::string> dirs;
            for (int rank = 0; rank < comm.size(); ++rank) {
                ByteReader reader(results[static_cast<size_t>(rank)]);
                const auto code = static_cast<StatusCode>(reader.get<int32_t>());
                const std::string message = reader.get_string();
                if (code != StatusCode::kOk) {
                    return Status(code, message).with_context(fmt::format("rank {} of {}", rank, comm.size()));
                }
                summary.n_embedded += reader.get<int64_t>();
                summary.n_resumed += reader.get<int64_t>();
                summary.n_skipped += reader.get<int64_t>();
                summary.n_truncated += reader.get<int64_t>();
                dirs.push_back(slice_dir(rank));
            }
            MergeOptions merge_options;
            merge_options.shard_rows = options.shard_rows;
            merge_options.resume = true;
            MONA_RETURN_IF_ERROR(merge_stores(config.out_dir, dirs, merge_options));
            if (config.skip_bad) {
                for (int rank = 0; rank < comm.size(); ++rank) {
                    const std::string name = fmt::format("skipped-{}-of-{}.tsv", rank, comm.size());
                    std::error_code ec;
                    fs::rename(slice_dir(rank) + "/" + name, config.out_dir + "/" + name, ec);
                    if (ec) {
                        return io_error(fmt::format("cannot move {}/{} into {}: {}", slice_dir(rank), name,
                                                    config.out_dir, ec.message()));
                    }
                }
            }
            std::error_code ec;
            fs::remove_all(slices_dir, ec);
            if (ec) return io_error(fmt::format("cannot remove the slice stores in {}: {}", slices_dir, ec.message()));
            MONA_TRY(StoreReader reader, StoreReader::open(config.out_dir));
            summary.store_size = reader.size();
            summary.bytes_on_disk = reader.bytes_on_disk();
            return summary;
        }();
    }
    MONA_RETURN_IF_ERROR(comm.broadcast_status(merged.status()));
    return merged;
}

}  // namespace mona
