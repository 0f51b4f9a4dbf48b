// jobs/selection_writer.hpp: the one writer of a selection run's outputs (select and score): per target
// selected.jsonl and scores.tsv, merged/ with --merge, skipped.tsv with --skip-bad, report.html and manifest.json
// (jobs/manifest.hpp), staged and renamed into place together (jobs/run_support.hpp OutputStage).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <unordered_map>
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
    // With --diversity only (else empty): each target's candidates (row positions, score order) and their vectors.
    std::vector<std::vector<uint64_t>> candidates;           // [target] -> top c*n row positions
    std::unordered_map<uint64_t, SparseVec> candidate_vecs;  // record_idx -> pooled vector
};

// Samples per target: config.count, else round(ratio * n_pool), clamped to [1, n_pool].
int64_t n_select_of(const SelectConfig& config, int64_t n_pool);

// True when the selection compares samples with each other, so that the candidates' vectors must be read back.
bool needs_candidate_vectors(const SelectConfig& config);

// Fills run.candidates from run.scores (each target's top c*n, score/diversity.hpp) and returns the records of
// all of them (for gather_candidate_vectors).
std::vector<uint64_t> choose_candidates(const SelectConfig& config, SelectRun& run);

// Picks each target's top n (with --diversity: the MMR picks among run.candidates, score/diversity.hpp; and the
// merged subset, from those picks), reads the pool a second time (the selected records' bytes,
// task labels, report snippets, truncation, and with skip_bad the pool's skipped records), and writes every
// output into config.out_dir (see jobs/select.hpp). Consumes run.scores. `extra` goes into the manifest.
Result<SelectSummary> write_selection(const SelectConfig& config, SelectEngine& engine, SelectRun& run,
                                      std::chrono::steady_clock::time_point t_start, const nlohmann::json& extra);

}  // namespace mona::detail
