// jobs/selection_writer.hpp: the one writer of a selection run's outputs (select and score): per target
// selected.jsonl and scores.tsv, merged/ with --merge, skipped.tsv with --skip-bad, report.html and manifest.json
// (jobs/manifest.hpp), staged and renamed into place together (jobs/run_support.hpp OutputStage).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "jobs/config.hpp"
#include "jobs/engine.hpp"
#include "jobs/run_support.hpp"
#include "mona/status.hpp"
#include "pool/pool.hpp"

namespace mona::detail {

// Per pool sample, what the outputs need (task labels and snippets are read from the pool when writing).
struct PoolRow {
    uint64_t record_idx = 0;
    uint64_t line_no = 0;
    std::string id;
    int64_t n_tokens = 0;
    bool truncated = false;  // found when writing (the store keeps only the token count)
};

// What a run accumulates before it writes: target prototypes, one row and one score per target per pool sample.
struct SelectRun {
    SelectSummary summary;
    std::vector<SkipRow> skipped;
    std::vector<Prototype> prototypes;
    std::vector<std::vector<int64_t>> target_lengths;
    std::vector<std::vector<std::string>> target_snippets;  // [target] the first exemplars' snippets, for the report
    std::vector<PoolRow> rows;                              // ascending record_idx
    std::vector<std::vector<double>> scores;                // [target][row]
    double seconds_targets = 0.0;
    double seconds_pool = 0.0;
    std::optional<FileStamp> pool_stamp;  // the pool as the run found it (checked before anything is committed)
};

// Picks each target's top n (and the merged subset), reads the pool a second time (the selected records' bytes,
// task labels, report snippets, truncation, and with skip_bad the pool's skipped records), and writes every
// output into config.out_dir (see jobs/select.hpp). Consumes run.scores. `extra` goes into the manifest.
Result<SelectSummary> write_selection(const SelectConfig& config, SelectEngine& engine, SelectRun& run,
                                      std::chrono::steady_clock::time_point t_start, const nlohmann::json& extra);

}  // namespace mona::detail
