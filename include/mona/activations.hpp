// mona/activations.hpp (public): what `mona activations` dumps, as values: per sample its token ids, the residual
// rows at one layer and, with an SAE, the per-token SAE codes and the mean-pooled vector, computed by the jobs'
// own pipeline stage (the Embedder's CPU backend; so the codes and vectors are the ones mona scores).
//
// For small inputs (inspection, checking mona against HF transformers' hidden_states[L], SAE training data
// elsewhere): every sample's rows are held in memory (n_tokens x n_embd floats each).
//
// Options: common.pool_path is the input (records in any format mona reads); model_path ("" = the default
// model), layer (-1: the SAE's own layer, else n_layer - 1), tokens (which rows are pooled), format, chat_template,
// system_prompt, cpu_repack, max_tokens, batch_tokens, threads, cancelled. The SAE: common.sae_path when with_sae
// ("" = the default SAE); with_sae = false captures rows only. Other fields of common are ignored; the pooling is
// always mean and k the SAE's own, as in `mona activations`.
// Errors: as the jobs (a bad record names file:line and field; kCancelled when cancelled).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mona/jobs.hpp"
#include "mona/status.hpp"
#include "mona/types.hpp"

namespace mona {

struct ActivationsJobOptions {
    JobCommonOptions common;
    bool with_sae = true;
};

struct SampleActivations {
    std::string id;
    int32_t n_prompt = 0;         // tokens of the prompt part (the rest is the response)
    std::vector<int32_t> tokens;  // [n_tokens]
    std::vector<float> residual;  // [n_tokens, n_embd] row-major: hidden_states[layer] of every token
    SparseCodes codes;            // with an SAE: one CSR row per token
    SparseVec pooled;             // with an SAE: the mean over the `tokens` rows
};

struct ActivationsResult {
    int32_t layer = 0;                       // HF hidden_states numbering
    int32_t n_embd = 0;                      // residual width
    std::string llama_tensor;                // llama.cpp's name of the captured tensor (l_out-N)
    std::vector<SampleActivations> samples;  // in record order
};

Result<ActivationsResult> run_activations_job(const ActivationsJobOptions& options);

}  // namespace mona
