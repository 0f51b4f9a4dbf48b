// jobs/score.hpp: the `mona score` job (feature stores -> selections), also the scoring of `mona select`.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "jobs/config.hpp"
#include "mona/status.hpp"
#include "util/comm.hpp"

namespace mona {

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

namespace detail {
struct SelectEngine;
struct SelectRun;
// The target pass of select and score: embeds every target file (skip_bad rows into run.skipped), makes one
// prototype per target and fills run.summary's target results and layer, and run.target_lengths.
Status embed_targets(const SelectConfig& config, SelectEngine& engine, SelectRun& run);
// Scores every sample of the stores against run.prototypes (rank 0's) on the ranks of `comm`; rank 0 gathers rows
// and scores, orders them by record and writes the outputs (jobs/selection_writer.hpp). engine is set on rank 0
// only. `extra` goes into the manifest.
Result<SelectSummary> score_and_write(const SelectConfig& config, std::optional<SelectEngine>& engine, SelectRun& run,
                                      const std::vector<std::string>& store_dirs, const Comm& comm,
                                      const nlohmann::json& extra, std::chrono::steady_clock::time_point t_start);
}  // namespace detail

}  // namespace mona
