// embed/token_mode.hpp: which tokens of a sample are pooled (--tokens). Separate from embedder.hpp so that code
// without llama.cpp (the flag table, its fuzz harness) can name the modes.
#pragma once

#include <string>

#include "mona/status.hpp"

namespace mona {

enum class TokenMode { kAll, kNoBos, kPrompt, kResponse };
Result<TokenMode> parse_token_mode(const std::string& name);
const char* token_mode_name(TokenMode mode);

}  // namespace mona
