#include "embed/token_mode.hpp"

#include <fmt/format.h>

namespace mona {

Result<TokenMode> parse_token_mode(const std::string& name) {
    if (name == "all") return TokenMode::kAll;
    if (name == "no-bos") return TokenMode::kNoBos;
    if (name == "prompt") return TokenMode::kPrompt;
    if (name == "response") return TokenMode::kResponse;
    return invalid_input(fmt::format("unknown token mode '{}': expected all, no-bos, prompt or response", name));
}

const char* token_mode_name(TokenMode mode) {
    switch (mode) {
        case TokenMode::kAll: return "all";
        case TokenMode::kNoBos: return "no-bos";
        case TokenMode::kPrompt: return "prompt";
        case TokenMode::kResponse: return "response";
    }
    return "?";
}

}  // namespace mona
