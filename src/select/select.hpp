// select/select.hpp: the `mona select` job.
//
// `mona select` is `mona embed` + `mona score` in one process with one model load: one pass of the selection model
// over the target exemplar files, then one over the pool into a feature store (<out>/.store, or
// SelectConfig::store_dir; resumable, so rerunning an interrupted command continues the pool pass instead of
// starting it again), then one streaming pass over the store shared by every target, scoring each sample against
// each target prototype (generalized Jaccard, method.md §3), so memory holds scores, not vectors. The store's
// decode batches are those of one uninterrupted pass even after a resume (run_embed), so the outputs do not
// depend on interruptions. At the end, per target, the top n (ties: lower input position first) are written:
//   <out>/<target>/selected.jsonl   the selected pool records, byte-for-byte as in the input, in rank order
//   <out>/<target>/scores.tsv       every pool sample: record, id, line, task, n_tokens, score, rank, selected
//   <out>/report.html               a self-contained report (score histograms, composition, lengths)
//   <out>/skipped.tsv               with skip_bad: one row per skipped record
//   <out>/manifest.json             parameters, versions, file hashes, counts, timings
// With config.merge set, also one merged subset of the same size n (score/merge_select.hpp):
//   <out>/merged/selected.jsonl     the merged subset's records, in the order the turns took them
//   <out>/merged/selected.tsv       pick, record, id, line, target and rank that brought it in, that target's score
// Every file is written to a temporary name and renamed into place only after the whole run succeeded; then
// <out>/.store is removed (a store_dir given by the caller is kept).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "capture/session.hpp"
#include "mona/status.hpp"
#include "pool/pool.hpp"
#include "report/html_report.hpp"
#include "score/merge_select.hpp"
#include "select/embed.hpp"
#include "text/formats.hpp"
#include "util/comm.hpp"

namespace mona {

struct TargetSpec {
    std::string name;  // output folder name: [A-Za-z0-9_.-]+
    std::string path;
};

// Parses "name=path" (or a bare path, named after its file stem).
Result<TargetSpec> parse_target_spec(const std::string& text);

// --quota NAME=W: target NAME's share of the merged subset (a weight >= 0; see score/merge_select.hpp).
struct QuotaSpec {
    std::string name;
    double weight = 0.0;
};
Result<QuotaSpec> parse_quota_spec(const std::string& text);

struct SelectConfig {
    std::string model_path;
    std::string sae_path;
    std::string pool_path;
    std::vector<TargetSpec> targets;
    std::string out_dir;
    int32_t layer = -1;          // HF hidden_states[L]; -1 = the SAE's own layer, else n_layer - 1 (penultimate)
    double ratio = 0.05;         // used when count == 0
    int64_t count = 0;           // samples to select per target; 0 = round(ratio * pool size), at least 1
    MergeMode merge = MergeMode::kNone;  // also write <out>/merged/: one subset of `count` samples from all targets
    std::vector<QuotaSpec> quotas;       // merge = kQuota: one weight per target
    std::string store_dir;               // select: the pool's store; "" = <out>/.store, removed after success
    uint64_t store_shard_rows = 0;       // select: samples per shard of a new store; 0 = the store's default
    int32_t k = 0;               // 0 = the SAE's own TopK k
    TokenMode token_mode = TokenMode::kNoBos;
    PoolingMode pooling = PoolingMode::kMean;
    InputFormat format = InputFormat::kAuto;
    std::string template_name = "model";
    bool cpu_repack = false;     // llama.cpp's CPU weight repacking (--cpu-repack on)
    SystemPrompt system_prompt;  // default: the template's own behaviour
    int32_t max_tokens = kDefaultMaxTokens;      // capture/session.hpp
    int32_t batch_tokens = kDefaultBatchTokens;
    int32_t threads = 0;
    bool skip_bad = false;
    bool progress = true;
    bool verbose = false;
    std::string command_line;    // recorded in the manifest
};

struct TargetResult {
    std::string name;
    int64_t n_exemplars = 0;
    int64_t n_selected = 0;
    double prototype_l1 = 0.0;
    int64_t prototype_nnz = 0;
};

struct SelectSummary {
    int64_t n_pool_read = 0;
    int64_t n_pool_skipped = 0;   // found again when writing, so also right after a resumed pool pass
    int64_t n_pool_resumed = 0;   // select: samples already in the store when the run started
    int64_t n_pool_truncated = 0;
    int64_t n_pool_tokens = 0;
    int64_t n_target_skipped = 0;
    int32_t layer = 0;
    std::vector<TargetResult> targets;
    int64_t n_merged = -1;  // samples in <out>/merged/selected.jsonl; -1 without --merge
    double seconds_total = 0.0;
    ReportInput report;  // what report.html shows; also printed as a table by `mona demo`
};

// Checks the model/SAE pair and picks the layer: the SAE's own layer when it records one (an explicit
// different `layer` is an error naming both), else `layer`, else n_layer - 1.
Result<int32_t> resolve_layer(int32_t requested, const ModelInfo& model, const SaeInfo& sae);

// Checks what needs no model: at least one target, distinct target names, a valid --count or --ratio, and with
// --merge quota exactly one --quota per target.
Status check_select_config(const SelectConfig& config);

// `mona select` (see the top of this file): embed_targets, the pool into its store (run_embed's resumable pass, in
// this process), then run_score's scoring and outputs. Its own store (<out>/.store) is removed when the run ends,
// in success or error; one left by an interrupted run is resumed if it was made with the same parameters, else
// replaced. config.store_dir names a store to keep (and resume) instead.
// The run holds <out>/.mona-run.lock throughout (run_support.hpp RunFolderLock): a second run into the same
// --out fails at once (kInvalidInput naming the first run's pid), and a failed run leaves no --out folder it
// created. A pool that changes during the run (size, modification time or inode) fails it before anything is
// committed (kInvalidInput "pool ... changed during the run"); so does it in run_embed (before the store is marked
// complete) and run_score.
Result<SelectSummary> run_select(const SelectConfig& config);

// `mona embed`: one model pass over the pool into a feature store (store/feature_store.hpp) at config.out_dir.
// The store's params record everything that changes the vectors (model and SAE sha256, layer, k, token mode,
// pooling, template, format, max_tokens, pool sha256); running the same command again resumes an interrupted
// store (records up to the last completed shard are skipped without touching the model) and refuses, naming the
// parameter, if anything differs. Only records with record_idx % n_slices == slice_idx are embedded.
struct EmbedStoreOptions {
    uint32_t keep = 0;        // latents kept per sample (largest first; exact L1 still stored); 0 = all
    uint64_t shard_rows = 0;  // samples per shard file; 0 = the store's default
    uint32_t slice_idx = 0;
    uint32_t n_slices = 1;
};
struct EmbedSummary {
    int64_t n_embedded = 0;   // samples added by this run
    int64_t n_resumed = 0;    // samples already in the store when the run started
    int64_t n_skipped = 0;    // bad records of the whole slice (a resumed run re-reads the stored ones)
    int64_t n_truncated = 0;  // samples of the whole slice cut at max_tokens
    uint64_t store_size = 0;
    uint64_t bytes_on_disk = 0;
};
//
// Under mpirun (comm.size() = N > 1; see util/comm.hpp) rank r embeds slice r/N into <out>/.mpi-slices/r-of-N
// (resumable like any slice store), then rank 0 merges the slices into <out> (merge_stores(): the store
// `mona embed --shard r/N` on N machines plus `mona merge` would give) and removes them. options.n_slices must
// then be 1. If <out> already holds a store and no .mpi-slices, rank 0 alone resumes it as without MPI. The
// summary is rank 0's (counts over all ranks); every rank returns the same status.
Result<EmbedSummary> run_embed(const SelectConfig& config, const EmbedStoreOptions& options,
                               const Comm& comm = Comm::local());

// `mona score`: embeds the targets with the store's own settings (model, SAE, layer, ... read from its params;
// the model and SAE files must still hash to the recorded sha256) and scores every stored sample in one streaming
// pass, writing the same outputs as `mona select`. Several stores (the slices of one pool) are read as one.
// config.model_path / sae_path override the recorded paths (the files must still match the recorded hashes).
//
// Under mpirun rank 0 alone loads the model, checks the stores and embeds the targets, then sends the prototypes to
// every rank; rank r scores the store shards numbered unit_idx % N == r (stores in slice order, then their
// shards), and rank 0 gathers rows and scores, orders them by record and alone writes the outputs, which are
// byte-for-byte those of one process. Memory: rank 0 holds every sample's row (record, line, id, n_tokens) and
// one double per sample per target, as without MPI. Every rank returns the same status; only rank 0's summary
// is filled.
Result<SelectSummary> run_score(SelectConfig config, const std::vector<std::string>& store_dirs,
                                const Comm& comm = Comm::local());

}  // namespace mona
