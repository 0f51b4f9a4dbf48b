#include "jobs/engine.hpp"

#include <fmt/format.h>

namespace mona {

Result<int32_t> resolve_layer(int32_t requested, const ModelInfo& model, const SaeInfo& sae) {
    if (sae.d_in != model.n_embd) {
        return invalid_input(fmt::format("SAE {} reads vectors of width d_in = {}, but model {} has n_embd = {}",
                                         sae.path, sae.d_in, model.path, model.n_embd));
    }
    int32_t layer = requested;
    if (sae.layer.has_value()) {
        if (requested >= 0 && requested != *sae.layer) {
            return invalid_input(fmt::format(
                "--layer {} contradicts the SAE's own layer {} (hook '{}' in {}; HF hidden_states numbering)",
                requested, *sae.layer, sae.hook, sae.path));
        }
        layer = *sae.layer;
    }
    if (layer < 0) layer = model.n_layer - 1;
    MONA_RETURN_IF_ERROR(layer_tensor_name(layer, model.n_layer, model.path).status());
    return layer;
}

SessionOptions session_options(const SelectConfig& config) {
    SessionOptions options;
    options.model_path = config.model_path;
    options.n_threads = config.threads;
    options.batch_tokens = config.batch_tokens;
    options.max_tokens = config.max_tokens;
    options.template_name = config.template_name;
    options.cpu_repack = config.cpu_repack;
    options.gpu_layers = config.gpu_layers;
    options.system_prompt = config.system_prompt;
    options.verbose = config.verbose;
    return options;
}

namespace detail {

Result<SelectEngine> SelectEngine::open(const SelectConfig& config) {
    MONA_TRY(SaeModel sae, SaeModel::open({config.sae_path}));
    MONA_TRY(Session session, Session::open(session_options(config)));
    MONA_TRY(int32_t layer, resolve_layer(config.layer, session.info(), sae.info()));
    if (config.k < 0 || (config.k > 0 && sae.info().k == 0)) {
        return invalid_input(fmt::format("--k {} needs a TopK SAE with k >= 1; SAE {} is {}", config.k, sae.info().path,
                                         sae.info().architecture));
    }
    if (config.k > sae.info().d_sae) {
        return invalid_input(fmt::format("--k {} is larger than the SAE width {}", config.k, sae.info().d_sae));
    }
    EmbedOptions eopts;
    eopts.layer = layer;
    eopts.k_override = config.k;
    eopts.token_mode = config.token_mode;
    eopts.pooling = config.pooling;
    return SelectEngine{std::move(sae), std::move(session), eopts};
}

}  // namespace detail
}  // namespace mona
