// select/select.hpp: the `mona select` job.
//
// One pass of the selection model over the target exemplar files, then one streaming pass over the pool shared
// by every target. Each pool sample is scored against each target prototype as it goes (generalized Jaccard,
// method.md §3), so memory holds scores, not vectors. At the end, per target, the top n (ties: lower input
// position first) are written:
//   <out>/<target>/selected.jsonl   the selected pool records, byte-for-byte as in the input, in rank order
//   <out>/<target>/scores.tsv       every pool sample: record, id, line, task, n_tokens, score, rank, selected
//   <out>/report.html               a self-contained report (score histograms, composition, lengths)
//   <out>/skipped.tsv               with skip_bad: one row per skipped record
//   <out>/manifest.json             parameters, versions, file hashes, counts, timings
// Every file is written to a temporary name and renamed into place only after the whole run succeeded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "capture/session.hpp"
#include "mona/status.hpp"
#include "pool/pool.hpp"
#include "report/html_report.hpp"
#include "select/embed.hpp"
#include "text/formats.hpp"

namespace mona {

struct TargetSpec {
    std::string name;  // output folder name: [A-Za-z0-9_.-]+
    std::string path;
};

// Parses "name=path" (or a bare path, named after its file stem).
Result<TargetSpec> parse_target_spec(const std::string& text);

struct SelectConfig {
    std::string model_path;
    std::string sae_path;
    std::string pool_path;
    std::vector<TargetSpec> targets;
    std::string out_dir;
    int32_t layer = -1;          // HF hidden_states[L]; -1 = the SAE's own layer, else n_layer - 1 (penultimate)
    double ratio = 0.05;         // used when count == 0
    int64_t count = 0;           // samples to select per target; 0 = round(ratio * pool size), at least 1
    int32_t k = 0;               // 0 = the SAE's own TopK k
    TokenMode token_mode = TokenMode::kNoBos;
    PoolingMode pooling = PoolingMode::kMean;
    InputFormat format = InputFormat::kAuto;
    std::string template_name = "model";
    int32_t max_tokens = 2048;
    int32_t batch_tokens = 512;
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
    int64_t n_pool_skipped = 0;
    int64_t n_pool_truncated = 0;
    int64_t n_pool_tokens = 0;
    int64_t n_target_skipped = 0;
    int32_t layer = 0;
    std::vector<TargetResult> targets;
    double seconds_total = 0.0;
    ReportInput report;  // what report.html shows; also printed as a table by `mona demo`
};

// Checks the model/SAE pair and picks the layer: the SAE's own layer when it records one (an explicit
// different `layer` is an error naming both), else `layer`, else n_layer - 1.
Result<int32_t> resolve_layer(int32_t requested, const ModelInfo& model, const SaeInfo& sae);

// Checks what needs no model: at least one target, distinct target names, a valid --count or --ratio.
Status check_select_config(const SelectConfig& config);

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
    int64_t n_skipped = 0;
    int64_t n_truncated = 0;
    uint64_t store_size = 0;
    uint64_t bytes_on_disk = 0;
};
Result<EmbedSummary> run_embed(const SelectConfig& config, const EmbedStoreOptions& options);

// `mona score`: embeds the targets with the store's own settings (model, SAE, layer, ... read from its params;
// the model and SAE files must still hash to the recorded sha256) and scores every stored sample in one streaming
// pass, writing the same outputs as `mona select`. Several stores (the slices of one pool) are read as one.
// config.model_path / sae_path override the recorded paths (the files must still match the recorded hashes).
Result<SelectSummary> run_score(SelectConfig config, const std::vector<std::string>& store_dirs);

}  // namespace mona
