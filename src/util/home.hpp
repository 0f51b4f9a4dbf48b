// util/home.hpp: where mona keeps its built-in model and SAE.
//
// $MONA_HOME (default ~/.cache/mona) holds
//   models/SmolLM2-135M-Instruct.Q4_1.gguf       the default selection model (fetched by scripts/setup.sh)
//   saes/<default_sae_name()>/layers.<N>/        the default SAE (trained by scripts/setup.sh)
//   downloads/                                   pinned archives the set-up verified
#pragma once

#include <string>

namespace mona {

std::string mona_home();
std::string default_model_path();
// Default SAE of the default model: HF layer 20 of 30 (sparsify folder layers.19), 4608 latents, k = 32.
std::string default_sae_dir();
inline constexpr int kDefaultSaeLayer = 20;
inline constexpr int kDefaultSaeLatents = 4608;
inline constexpr int kDefaultSaeK = 32;

}  // namespace mona
