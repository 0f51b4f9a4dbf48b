// jobs/config.hpp: what the select, embed and score jobs (and eval, which builds on SelectConfig) are given and
// what they return. The CLI fills a SelectConfig from flags (tools/mona/cmd_select.cpp); a program may fill one
// itself. Defaults here are the CLI's defaults.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "capture/session.hpp"
#include "embed/embedder.hpp"
#include "jobs/progress.hpp"
#include "mona/status.hpp"
#include "pool/pool.hpp"
#include "report/html_report.hpp"
#include "score/merge_select.hpp"
#include "score/prototype_mode.hpp"
#include "text/formats.hpp"

namespace mona {

struct TargetSpec {
    std::string name;  // output folder name: [A-Za-z0-9_.-]+
    std::string path;
    std::string label = {};  // the pool's task label of this target, for precision in reports ("" = name)
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
    int32_t layer = -1;   // HF hidden_states[L]; -1 = the SAE's own layer, else n_layer - 1 (penultimate)
    double ratio = 0.05;  // used when count == 0
    int64_t count = 0;    // samples to select per target; 0 = round(ratio * pool size), at least 1
    MergeMode merge = MergeMode::kNone;  // also write <out>/merged/: one subset of `count` samples from all targets
    std::vector<QuotaSpec> quotas;       // merge = kQuota: one weight per target
    double diversity = 0.0;              // MMR LAMBDA >= 0 (score/diversity.hpp); 0 = the paper's top-n
    uint32_t diversity_candidates = 4;   // c >= 1: MMR picks among each target's top c*n
    double dedup = 0.0;                  // near-duplicate Jaccard threshold in (0, 1] (score/dedup.hpp); 0 = off
    std::string dedup_against;           // with dedup: also drop duplicates of this file's samples
    bool coverage = false;               // read the selected vectors back to report coverage even without the above
    PrototypeMode prototype;             // mean = the paper's; contrast:BETA (score/prototype_mode.hpp)
    uint32_t length_strata = 0;          // B >= 1: scores standardised within B length strata (score/length_strata.hpp)
    std::string store_dir;               // select: the pool's store; "" = <out>/.store, removed after success
    uint64_t store_shard_rows = 0;       // select: samples per shard of a new store; 0 = the store's default
    int32_t k = 0;                       // 0 = the SAE's own TopK k
    TokenMode token_mode = TokenMode::kNoBos;
    PoolingMode pooling = PoolingMode::kMean;
    InputFormat format = InputFormat::kAuto;
    std::string template_name = "model";
    bool cpu_repack = false;                 // llama.cpp's CPU weight repacking (--cpu-repack on)
    int32_t gpu_layers = 0;                  // layers offloaded to a GPU (SessionOptions); -1 = all when one is present
    SystemPrompt system_prompt;              // default: the template's own behaviour
    int32_t max_tokens = kDefaultMaxTokens;  // capture/session.hpp
    int32_t batch_tokens = kDefaultBatchTokens;
    int32_t threads = 0;
    bool skip_bad = false;
    ProgressFn progress;       // progress reports of the model passes over the pool; empty = none
    LogFn log;                 // warnings (the SAE check of the pool's first batch, jobs/check.hpp); empty = none
    bool verbose = false;      // llama.cpp's own log to stderr (SessionOptions::verbose)
    std::string command_line;  // recorded in the manifest
    // Polled before each record is read (run_support.hpp stream_samples); true stops the job with kCancelled.
    std::function<bool()> cancelled;
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
    int64_t n_pool_skipped = 0;  // found again when writing, so also right after a resumed pool pass
    int64_t n_pool_resumed = 0;  // select: samples already in the store when the run started
    int64_t n_pool_truncated = 0;
    int64_t n_pool_tokens = 0;
    int64_t n_target_skipped = 0;
    int32_t layer = 0;
    std::vector<TargetResult> targets;
    int64_t n_merged = -1;  // samples in <out>/merged/selected.jsonl; -1 without --merge
    double seconds_total = 0.0;
    ReportInput report;  // what report.html shows; also printed as a table by `mona demo`
};

// Checks what needs no model: at least one target, distinct target names, a valid --count or --ratio, and with
// --merge quota exactly one --quota per target.
Status check_select_config(const SelectConfig& config);

}  // namespace mona
