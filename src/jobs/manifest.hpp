// jobs/manifest.hpp: the one builder of what select and score record about a run: a store's parameters (the
// settings that decide a stored vector, checked when a store is resumed or scored) and manifest.json.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "jobs/config.hpp"
#include "jobs/engine.hpp"
#include "mona/status.hpp"

namespace mona::detail {

// The parameters that decide a stored vector (model and SAE sha256, layer, k, token mode, pooling, template,
// format, max_tokens, pool sha256, ...); a store records them and score/resume check them.
Result<nlohmann::json> store_params(const SelectConfig& config, const SelectEngine& engine);

// The "model" and "sae" records of a manifest (select, score, eval): path, sha256 and what the file says.
Result<nlohmann::json> model_record(const std::string& model_path, const ModelInfo& info);
Result<nlohmann::json> sae_record(const SaeInfo& info);
// The "pool" record: path, sha256 and the counts of the pass over it.
Result<nlohmann::json> pool_record(const std::string& pool_path, int64_t n_read, int64_t n_skipped, int64_t n_truncated,
                                   int64_t n_tokens);

// The run settings every manifest's "parameters" records (select, score, eval): tokens, pooling, format, template,
// cpu_repack, system_prompt, max_tokens, batch_tokens, threads, ratio (null with a count), count, skip_bad.
nlohmann::json run_settings_record(const SelectConfig& config, int64_t n_select);

// manifest.json of select and score, all but "timings_s" (the caller adds it last, so that "total" includes the
// hashing here): tool and llama.cpp versions, the command line, model, SAE, parameters, pool, targets (with the
// files' sha256), targets_skipped, `merge_json` under "merge" unless null, and every key of `extra`.
Result<nlohmann::json> selection_manifest(const SelectConfig& config, const SelectEngine& engine,
                                          const SelectSummary& summary, int64_t n_select,
                                          const nlohmann::json& merge_json, const nlohmann::json& extra);

}  // namespace mona::detail
