#include "select/run_support.hpp"

namespace mona::detail {

std::string tsv_field(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) out += (c == '\t' || c == '\n' || c == '\r') ? ' ' : c;
    return out;
}

std::string snippet_of(const Sample& sample) {
    std::string text = sample.text;
    for (const auto& turn : sample.turns) {
        if (turn.role == Role::kUser) {
            text = turn.content;
            break;
        }
    }
    if (text.empty() && !sample.turns.empty()) text = sample.turns.front().content;
    if (text.size() > 200) {
        size_t cut = 200;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
        text = text.substr(0, cut) + "…";
    }
    return text;
}

}  // namespace mona::detail
