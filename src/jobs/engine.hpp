// jobs/engine.hpp: the one place a job opens its model and SAE: SessionOptions from the config, the layer
// checked against the model/SAE pair, --k checked against the SAE, and the Embedder's options.
#pragma once

#include <cstdint>

#include "capture/session.hpp"
#include "embed/embedder.hpp"
#include "jobs/config.hpp"
#include "mona/status.hpp"
#include "sae/sae.hpp"

namespace mona {

// Checks the model/SAE pair and picks the layer: the SAE's own layer when it records one (an explicit
// different `layer` is an error naming both), else `layer`, else n_layer - 1.
Result<int32_t> resolve_layer(int32_t requested, const ModelInfo& model, const SaeInfo& sae);

// The Session's options of a job with this config (model, threads, batch and sample sizes, template, system
// prompt, weight repacking, llama.cpp's log). Every job opens its Session with these.
SessionOptions session_options(const SelectConfig& config);

namespace detail {

// The model, the SAE and the embedding settings of one run.
struct SelectEngine {
    SaeModel sae;
    Session session;
    EmbedOptions eopts;
    // Opens the SAE and the model (session_options), resolves the layer (resolve_layer) and checks config.k.
    static Result<SelectEngine> open(const SelectConfig& config);
};

}  // namespace detail
}  // namespace mona
