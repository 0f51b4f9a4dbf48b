#include "util/home.hpp"

#include <fmt/format.h>

#include <cstdlib>

namespace mona {

std::string mona_home() {
    if (const char* home = std::getenv("MONA_HOME"); home != nullptr && *home != '\0') return home;
    const char* user = std::getenv("HOME");
    return std::string(user != nullptr ? user : ".") + "/.cache/mona";
}

std::string default_model_path() { return mona_home() + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"; }

std::string default_sae_dir() {
    return fmt::format("{}/saes/smollm2-135m-instruct-{}x{}-k{}/layers.{}", mona_home(), kDefaultSaeLatents, 576,
                       kDefaultSaeK, kDefaultSaeLayer - 1);
}

}  // namespace mona
