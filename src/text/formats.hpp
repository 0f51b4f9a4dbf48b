// text/formats.hpp: one instruction-tuning sample, parsed from one JSON record.
//
// Accepted record formats (auto-detected per record unless forced):
//   messages           {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}...]}  (Tulu/LESS)
//   sharegpt           {"conversations": [{"from": "system"|"human"|"gpt"|..., "value": "..."}...]} (OpenHermes)
//   alpaca             {"instruction": "...", "input": "..." (optional), "output": "..."}
//   prompt-completion  {"prompt": "...", "completion": "..."}
//   text               {"text": "..."}
// Detection order is the order above: the first format whose key is present wins. An "id" field (string or
// integer) is kept; otherwise the id is the 0-based record number. A "task" string field is kept as a label.
//
// Errors name the location and the JSON field path, e.g.
//   pool.jsonl:18342: field messages[2].content: expected string, found number (format: messages)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mona/status.hpp"

namespace mona {

enum class InputFormat { kAuto, kMessages, kShareGpt, kAlpaca, kPromptCompletion, kText };

// Parses "auto|messages|sharegpt|alpaca|prompt-completion|text".
Result<InputFormat> parse_input_format(std::string_view name);
const char* input_format_name(InputFormat format);

enum class Role { kSystem, kUser, kAssistant };
const char* role_name(Role role);

struct Turn {
    Role role = Role::kUser;
    std::string content;
};

struct Sample {
    std::string id;                           // "id" field, or the record number as text
    std::string task;                         // optional "task" label, "" if absent
    InputFormat format = InputFormat::kAuto;  // the format actually used (never kAuto after parsing)
    std::vector<Turn> turns;                  // for kText: empty
    std::string text;                         // for kText: the text; otherwise empty
    uint64_t record_idx = 0;                  // 0-based record number in its file
    uint64_t line_no = 0;                     // 1-based line number where the record starts
};

// Where a record came from, used in error messages: "<path>:<line_no>".
struct SourceLoc {
    std::string path;
    uint64_t line_no = 0;
    uint64_t record_idx = 0;
};

// Parses one JSON object. An empty sample (no turns with content and no text) is an error.
Result<Sample> parse_sample(std::string_view json_text, InputFormat format, const SourceLoc& loc);

}  // namespace mona
