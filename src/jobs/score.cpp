#include "jobs/score.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "jobs/candidate_vectors.hpp"
#include "jobs/engine.hpp"
#include "jobs/manifest.hpp"
#include "jobs/run_support.hpp"
#include "jobs/selection_writer.hpp"
#include "score/jaccard.hpp"
#include "score/length_strata.hpp"
#include "score/store_scan.hpp"
#include "store/feature_store.hpp"

namespace mona {

using namespace detail;

namespace detail {

Status embed_targets(const SelectConfig& config, SelectEngine& engine, SelectRun& run) {
    Session& session = engine.session;
    const SaeModel& sae = engine.sae;
    const EmbedOptions& eopts = engine.eopts;
    std::vector<SkipRow>& skipped = run.skipped;
    SelectSummary& summary = run.summary;
    std::vector<Prototype>& prototypes = run.prototypes;
    std::vector<std::vector<int64_t>>& target_lengths = run.target_lengths;
    target_lengths.assign(config.targets.size(), {});
    run.target_snippets.assign(config.targets.size(), {});
    summary.layer = eopts.layer;
    const auto t_targets = Clock::now();
    for (size_t target_idx = 0; target_idx < config.targets.size(); ++target_idx) {
        const TargetSpec& target = config.targets[target_idx];
        std::vector<SparseVec> vecs;
        Embedder embedder(session, sae, eopts, [&](EmbeddedSample& item) -> Status {
            target_lengths[target_idx].push_back(static_cast<int64_t>(item.tokens.tokens.size()));
            vecs.push_back(std::move(item.pooled));
            return Status();
        });
        const size_t skipped_before = skipped.size();
        MONA_RETURN_IF_ERROR(stream_samples(target.path, config, session, skipped,
                                            [&](const Sample& sample, TokenizedSample tokens) -> Status {
                                                if (run.target_snippets[target_idx].size() < kReportExemplars) {
                                                    run.target_snippets[target_idx].push_back(snippet_of(sample));
                                                }
                                                return embedder.add(vecs.size(), std::move(tokens));
                                            }));
        MONA_RETURN_IF_ERROR(embedder.flush());
        if (config.progress) {  // the target pass, one line per target (it is short, but not silent)
            const std::string stage = fmt::format("target '{}'", target.name);
            config.progress(ProgressUpdate{stage, static_cast<int64_t>(vecs.size()), embedder.n_tokens_run(),
                                           seconds_since(t_targets), true});
        }
        summary.n_target_skipped += static_cast<int64_t>(skipped.size() - skipped_before);
        if (vecs.empty()) {
            return invalid_input(fmt::format("target '{}': {} holds no usable exemplar", target.name, target.path));
        }
        prototypes.push_back(make_prototype(vecs, sae.info().d_sae));
        TargetResult result;
        result.name = target.name;
        result.n_exemplars = static_cast<int64_t>(vecs.size());
        result.prototype_l1 = prototypes.back().l1;
        for (float v : prototypes.back().dense) result.prototype_nnz += v != 0.0f;
        summary.targets.push_back(result);
    }
    run.seconds_targets = seconds_since(t_targets);
    return Status();
}

}  // namespace detail

namespace {

// Rank 0's part of `mona score` before any sample is scored: the stores checked against the model and SAE, the
// targets embedded with the stores' settings. Fills `engine`, `run` (prototypes, target results) and `extra`.
Status score_setup(SelectConfig& config, const std::vector<std::string>& store_dirs,
                   std::optional<SelectEngine>& engine, SelectRun& run, nlohmann::json& extra) {
    if (store_dirs.empty()) return invalid_input("no --store given");
    MONA_TRY(StoreSet stores, StoreSet::open(store_dirs));
    nlohmann::json params = nlohmann::json::parse(stores.params_json(), nullptr, false);
    if (params.is_discarded() || !params.contains("model_sha256") || !params.contains("sae_sha256")) {
        return invalid_input(
            fmt::format("store {} was not written by `mona embed` (no model/SAE parameters)", store_dirs.front()));
    }
    // The store's settings decide how the targets are embedded.
    std::string tokens, pooling, format, system_prompt;
    try {
        if (config.model_path.empty()) config.model_path = params.value("model_path", "");
        if (config.sae_path.empty()) config.sae_path = params.value("sae_path", "");
        // --pool: the same pool moved elsewhere (its sha256 is checked against the store's below).
        if (config.pool_path.empty()) config.pool_path = params.value("pool_path", "");
        config.layer = params.value("layer", -1);
        config.k = params.value("k", 0);
        tokens = params.value("tokens", "no-bos");
        pooling = params.value("pooling", "mean");
        format = params.value("format", "auto");
        config.template_name = params.value("template", "model");
        config.cpu_repack = params.value("cpu_repack", false);
        system_prompt = params.value("system_prompt", "");
        config.max_tokens = params.value("max_tokens", 2048);  // stores from before max_tokens was recorded: 2048
    } catch (const nlohmann::json::exception& e) {
        return invalid_input(fmt::format("{}/manifest.json: a run parameter under \"params\" has the wrong type: {}",
                                         store_dirs.front(), e.what()));
    }
    MONA_TRY(config.token_mode, parse_token_mode(tokens));
    MONA_TRY(config.pooling, parse_pooling_mode(pooling));
    MONA_TRY(config.format, parse_input_format(format));
    if (system_prompt.empty()) {
        return invalid_input(
            fmt::format("store {} has no system_prompt parameter: it was embedded before mona "
                        "rendered samples with the model's Jinja chat template; re-embed the pool",
                        store_dirs.front()));
    }
    MONA_TRY(config.system_prompt, parse_system_prompt_param(system_prompt));
    MONA_RETURN_IF_ERROR(check_select_config(config));
    MONA_TRY(run.pool_stamp, FileStamp::of(config.pool_path));
    MONA_TRY(SelectEngine opened, SelectEngine::open(config));
    engine.emplace(std::move(opened));
    MONA_TRY(nlohmann::json now, store_params(config, *engine));
    for (const char* key : {"model_sha256", "sae_sha256", "pool_sha256", "layer", "k"}) {
        if (now[key] != params[key]) {
            return invalid_input(
                fmt::format("store {} was embedded with {} = {}, but now {} = {} ({}): re-embed, or "
                            "point --model/--sae at the original files",
                            store_dirs.front(), key, params[key].dump(), key, now[key].dump(),
                            std::string(key) == "pool_sha256" ? config.pool_path : "this run"));
        }
    }
    if (config.k > 0 && config.k == engine->sae.info().k) config.k = 0;  // the SAE's own k: nothing overridden
    extra = {{"stores", store_dirs}, {"store_keep", stores.keep()}};
    // Named only when compressed, so the manifest of a score over an f32 store keeps its bytes.
    if (stores.values() != ValueEncoding::kF32) extra["store_values"] = value_encoding_name(stores.values());
    return embed_targets(config, *engine, run);
}

// The pool's mean pooled vector over every store sample in source order (score/prototype_mode.hpp), and every
// target's prototype replaced by the contrast against it. The mean prototypes stay in the targets' results.
Status apply_contrast(const SelectConfig& config, const std::vector<std::string>& store_dirs, SelectRun& run) {
    if (run.prototypes.empty()) return Status();
    MONA_TRY(StoreSet stores, StoreSet::open(store_dirs));
    PoolMean mean(static_cast<int64_t>(run.prototypes.front().dense.size()));
    MONA_RETURN_IF_ERROR(stores.for_each([&](const StoredSample& sample) -> Status {
        mean.add(sample.vec);
        return Status();
    }));
    const Prototype pool_mean = mean.mean();
    for (Prototype& proto : run.prototypes) proto = apply_prototype_mode(proto, pool_mean, config.prototype);
    return Status();
}

// The prototypes as bytes for the other ranks: bit-exact, so every rank scores exactly as rank 0 would.
std::string pack_prototypes(const std::vector<Prototype>& prototypes) {
    ByteWriter writer;
    writer.put<uint64_t>(prototypes.size());
    for (const auto& p : prototypes) {
        writer.put_vector(p.dense);
        writer.put(p.l1);
        writer.put(p.l2);
    }
    return std::move(writer.bytes());
}

std::vector<Prototype> unpack_prototypes(const std::string& bytes) {
    ByteReader reader(bytes);
    std::vector<Prototype> prototypes(reader.get<uint64_t>());
    for (auto& p : prototypes) {
        p.dense = reader.get_vector<float>();
        p.l1 = reader.get<double>();
        p.l2 = reader.get<double>();
    }
    return prototypes;
}

// One rank's share of the scoring: the store shards numbered unit_idx (the stores in slice order, then their
// shards) with unit_idx % n_ranks == rank, scored on `threads` threads, all targets together per sample
// (score/store_scan.hpp: the same bits as jaccard() target by target). Packs the status, then every row and its
// score per target.
std::string score_share(const std::vector<std::string>& store_dirs, const std::vector<Prototype>& prototypes,
                        int threads, const Comm& comm) {
    std::vector<PoolRow> rows;
    std::vector<std::vector<double>> scores(prototypes.size());
    const Status status = [&]() -> Status {
        MONA_TRY(StoreSet stores, StoreSet::open(store_dirs));
        std::vector<StoreUnit> units;
        size_t unit_idx = 0;
        for (size_t store_idx = 0; store_idx < stores.n_stores(); ++store_idx) {
            const StoreReader& reader = stores.store(store_idx);
            for (size_t shard_idx = 0; shard_idx < reader.n_shards(); ++shard_idx, ++unit_idx) {
                if (unit_idx % static_cast<size_t>(comm.size()) != static_cast<size_t>(comm.rank())) continue;
                units.push_back({store_idx, shard_idx});
            }
        }
        const PrototypeBlock block = make_prototype_block(prototypes);
        std::vector<ScoredUnit> scored;
        MONA_RETURN_IF_ERROR(score_units(stores, units, block, threads, scored));
        const size_t n_targets = prototypes.size();
        for (ScoredUnit& unit : scored) {
            for (size_t row_idx = 0; row_idx < unit.record_idx.size(); ++row_idx) {
                PoolRow row;
                row.record_idx = unit.record_idx[row_idx];
                row.line_no = unit.source_pos[row_idx];
                row.id = std::move(unit.id[row_idx]);
                row.n_tokens = unit.n_tokens[row_idx];
                rows.push_back(std::move(row));
                for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
                    scores[target_idx].push_back(unit.scores[row_idx * n_targets + target_idx]);
                }
            }
            unit = ScoredUnit();  // release as soon as copied
        }
        return Status();
    }();
    ByteWriter writer;
    writer.put<int32_t>(static_cast<int32_t>(status.code()));
    writer.put_string(status.message());
    if (!status.ok()) return std::move(writer.bytes());
    writer.put<uint64_t>(rows.size());
    for (const auto& row : rows) {
        writer.put(row.record_idx);
        writer.put(row.line_no);
        writer.put(row.n_tokens);
        writer.put_string(row.id);
    }
    for (const auto& target_scores : scores) writer.put_vector(target_scores);
    return std::move(writer.bytes());
}

// Rank 0: every rank's rows and scores into `run`, in source order (ascending record_idx).
Status collect_shares(std::vector<std::string>& shares, const Comm& comm, const std::string& store_dir,
                      SelectRun& run) {
    const size_t n_targets = run.prototypes.size();
    std::vector<PoolRow> rows;
    std::vector<std::vector<double>> scores(n_targets);
    for (size_t rank = 0; rank < shares.size(); ++rank) {
        ByteReader reader(shares[rank]);
        const auto code = static_cast<StatusCode>(reader.get<int32_t>());
        const std::string message = reader.get_string();
        if (code != StatusCode::kOk) {
            const Status status(code, message);
            return comm.size() > 1 ? status.with_context(fmt::format("rank {} of {}", rank, comm.size())) : status;
        }
        const uint64_t n_rows = reader.get<uint64_t>();
        for (uint64_t row_idx = 0; row_idx < n_rows; ++row_idx) {
            PoolRow row;
            row.record_idx = reader.get<uint64_t>();
            row.line_no = reader.get<uint64_t>();
            row.n_tokens = reader.get<int64_t>();
            row.id = reader.get_string();
            rows.push_back(std::move(row));
        }
        for (auto& target_scores : scores) {
            const std::vector<double> share = reader.get_vector<double>();
            target_scores.insert(target_scores.end(), share.begin(), share.end());
        }
        std::string().swap(shares[rank]);  // release the message as soon as it is read
    }
    std::vector<size_t> order(rows.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rows[a].record_idx < rows[b].record_idx; });
    run.rows.clear();
    run.rows.reserve(rows.size());
    run.scores.assign(n_targets, {});
    for (auto& target_scores : run.scores) target_scores.reserve(rows.size());
    for (size_t place = 0; place < order.size(); ++place) {
        if (place > 0 && rows[order[place]].record_idx == rows[order[place - 1]].record_idx) {
            return invalid_input(
                fmt::format("stores {} ...: record {} is stored twice", store_dir, rows[order[place]].record_idx));
        }
        run.rows.push_back(std::move(rows[order[place]]));
        for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
            run.scores[target_idx].push_back(scores[target_idx][order[place]]);
        }
    }
    return Status();
}

}  // namespace

Result<SelectSummary> run_score(SelectConfig config, const std::vector<std::string>& store_dirs, const Comm& comm) {
    const auto t_start = Clock::now();
    // Rank 0 checks the stores and embeds the targets; every rank gets the prototypes and scores its share.
    std::optional<SelectEngine> engine;
    SelectRun run;
    nlohmann::json extra;
    Status status;
    RunFolderLock out_lock;  // rank 0 alone writes --out
    if (comm.is_root()) {
        status = [&]() -> Status {
            MONA_RETURN_IF_ERROR(check_select_config(config));
            MONA_TRY(out_lock, RunFolderLock::acquire(config.out_dir));
            return score_setup(config, store_dirs, engine, run, extra);
        }();
    }
    MONA_RETURN_IF_ERROR(comm.broadcast_status(status));
    return score_and_write(config, engine, run, store_dirs, comm, extra, t_start);
}

namespace detail {

Result<SelectSummary> score_and_write(const SelectConfig& config, std::optional<SelectEngine>& engine, SelectRun& run,
                                      const std::vector<std::string>& store_dirs, const Comm& comm,
                                      const nlohmann::json& extra, Clock::time_point t_start) {
    // --prototype contrast:BETA: rank 0 reads the stores once for the pool mean (in source order, so the same bits
    // as one process under any number of ranks) and replaces the prototypes before they are sent.
    if (!config.prototype.is_mean()) {
        const Status status = comm.is_root() ? apply_contrast(config, store_dirs, run) : Status();
        MONA_RETURN_IF_ERROR(comm.broadcast_status(status));
    }
    std::string packed = comm.is_root() ? pack_prototypes(run.prototypes) : std::string();
    comm.broadcast(packed);
    const std::vector<Prototype> prototypes = comm.is_root() ? run.prototypes : unpack_prototypes(packed);
    const auto t_score = Clock::now();
    std::vector<std::string> shares = comm.gather(score_share(store_dirs, prototypes, config.threads, comm));
    Status collected;
    if (comm.is_root()) {
        collected = [&]() -> Status {
            MONA_RETURN_IF_ERROR(collect_shares(shares, comm, store_dirs.front(), run));
            run.summary.n_pool_read = static_cast<int64_t>(run.rows.size());
            for (const auto& row : run.rows) run.summary.n_pool_tokens += row.n_tokens;
            run.seconds_pool += seconds_since(t_score);
            if (run.rows.empty()) {
                return invalid_input(
                    fmt::format("pool {} holds no usable sample (store {})", config.pool_path, store_dirs.front()));
            }
            // --length-strata B: every score becomes its standard score within its length stratum (the scores
            // written and ranked are those).
            if (config.length_strata > 0) {
                std::vector<int64_t> tokens;
                for (const auto& row : run.rows) tokens.push_back(row.n_tokens);
                for (auto& scores : run.scores) scores = length_stratified_scores(scores, tokens, config.length_strata);
            }
            return Status();
        }();
    }
    if (needs_candidate_vectors(config)) {
        // After the scores: each target's candidates (top c*n) are chosen on rank 0, and their vectors read back
        // from the stores by the ranks that scored them (a collective, so every rank first learns rank 0's status).
        MONA_RETURN_IF_ERROR(comm.broadcast_status(collected));
        const std::vector<uint64_t> records = comm.is_root() ? choose_candidates(config, run) : std::vector<uint64_t>();
        MONA_RETURN_IF_ERROR(gather_candidate_vectors(store_dirs, records, comm, run.candidate_vecs));
    }
    Result<SelectSummary> summary = SelectSummary();
    if (comm.is_root()) {
        summary = [&]() -> Result<SelectSummary> {
            MONA_RETURN_IF_ERROR(collected);
            return write_selection(config, *engine, run, t_start, extra);
        }();
    }
    MONA_RETURN_IF_ERROR(comm.broadcast_status(summary.status()));
    return summary;
}

}  // namespace detail
}  // namespace mona
