// jobs/check.hpp: `mona check`, the SAE health check on the user's own samples, and the one-batch version that
// select and embed run on the pool's first batch (sae/health.hpp has the numbers and the verdict).
//
// run_check: the first n_samples records of the pool, one model pass that captures the SAE's layer L and its
// neighbours L-1 and L+1 (Session extra tensors; a neighbour outside 0..n_layer-1 is left out), the rows the token
// mode pools (no-bos by default: the first token is the attention sink, ~100x a normal token's norm) encoded,
// decoded and measured per layer: FVU, L0, dead-latent share; then the verdict. The decoder is loaded for this only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "jobs/config.hpp"
#include "sae/health.hpp"

namespace mona {

struct CheckConfig {
    SelectConfig base;  // model_path, sae_path, pool_path, layer, token mode, format, session settings, skip_bad
    int64_t n_samples = 100;
};

struct CheckReport {
    std::string model_path;
    std::string sae_path;
    int32_t configured_layer = 0;  // the layer select uses this SAE at
    int32_t center_layer = 0;      // the layer checked with its neighbours (--layer, else the configured one)
    int64_t n_samples = 0;
    int64_t n_skipped = 0;
    std::vector<LayerHealth> layers;  // in layer order
    RecordedFvu recorded;
    HealthVerdict verdict;
    std::vector<std::string> notes;  // e.g. a neighbour outside the model

    nlohmann::ordered_json to_json() const;
    std::string table() const;  // the table and the verdict, as `mona check` prints them
};

Result<CheckReport> run_check(const CheckConfig& config);

// Decoders larger than this are not loaded by select's and embed's first-batch check (the default SAE's is 10 MB;
// a Llama-3-8B 131k-latent SAE's is 2 GB, which would double the SAE's memory during the run): `mona check` does it.
inline constexpr uint64_t kProbeMaxDecoderBytes = uint64_t{256} << 20;

// The first-batch check of select and embed (EmbedOptions::first_batch_probe): FVU of the batch's pooled rows at
// the configured layer, with `log` called only for a warning (FVU above 1, or far above the recorded value). Does
// nothing without `log` or for a decoder above kProbeMaxDecoderBytes; a decoder that cannot be read is a note in
// the log, never an error of the run. `sae` must outlive the probe.
EmbedOptions::BatchProbe make_first_batch_probe(const SaeModel& sae, TokenMode token_mode, int32_t k_override,
                                                LogFn log);

}  // namespace mona
