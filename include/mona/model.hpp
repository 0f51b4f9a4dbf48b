// mona/model.hpp (public): what a GGUF model is, as `mona info --model` reports it, without running it.
//
// read_model_summary loads the model through llama.cpp with its weights mmapped, not read, and frees it; path "" means
// the default model ($MONA_HOME), as the jobs take it. Errors: kNotFound for a missing file, kInvalidInput for a file
// llama.cpp cannot load (the message says so), as `mona info` reports them. Thread-safety: may be called from any
// thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mona/status.hpp"

namespace mona {

struct ModelSummary {
    std::string path;
    std::string architecture;  // general.architecture
    std::string name;          // general.name, "" if absent
    std::string description;   // llama.cpp's one-line description
    int32_t n_layer = 0;       // layers usable as --layer: 0..n_layer-1 (HF hidden_states[L])
    int32_t n_embd = 0;        // the residual width (an SAE's d_in)
    int32_t n_vocab = 0;
    int32_t n_ctx_train = 0;
    uint64_t n_params = 0;
    uint64_t size_bytes = 0;
    bool add_bos = false;            // the tokenizer prepends BOS
    bool has_chat_template = false;  // the GGUF carries tokenizer.chat_template
};

Result<ModelSummary> read_model_summary(const std::string& path);

// The paths the jobs use when no model or SAE is given ($MONA_HOME; see the README's set-up).
std::string default_model_file();
std::string default_sae_folder();

}  // namespace mona
