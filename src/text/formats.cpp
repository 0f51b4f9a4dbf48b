#include "text/formats.hpp"

#include <algorithm>
#include <new>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

namespace mona {

namespace {

using Json = nlohmann::json;

constexpr size_t kMaxKeysInMessage = 12;

bool is_blank(std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    });
}

std::string ascii_lower(std::string_view text) {
    std::string lower(text);
    for (char& c : lower) {
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    }
    return lower;
}

// nlohmann calls every number "number"; an id or a count cares whether it is integral.
std::string json_type_name(const Json& value) {
    if (value.is_number_float()) return "non-integer number";
    return value.type_name();
}

// Builds the error messages of one record: "<path>:<line>: field <field>: <what> (format: <name>)".
class RecordContext {
   public:
    RecordContext(const SourceLoc& loc, InputFormat format) : loc_(loc), format_(format) {}

    std::string where() const { return loc_.path + ":" + std::to_string(loc_.line_no); }

    Status error(const std::string& what) const {
        return invalid_input(where() + ": " + what + " (format: " + input_format_name(format_) + ")");
    }
    Status type_error(const std::string& field, const char* expected, const Json& found) const {
        return error("field " + field + ": expected " + expected + ", found " + json_type_name(found));
    }
    Status missing(const std::string& field) const { return error("missing field " + field); }

    // Moves the string at `object[key]` into `out`. Absent keys are an error unless `optional`, in which case
    // `out` is left empty.
    Status take_string(Json& object, const char* key, const std::string& field, bool optional, std::string& out) const {
        out.clear();
        auto it = object.find(key);
        if (it == object.end()) return optional ? Status() : missing(field);
        if (!it->is_string()) return type_error(field, "string", *it);
        out = std::move(it->get_ref<std::string&>());
        return Status();
    }

    Result<Json*> array_field(Json& object, const char* key) const {
        auto it = object.find(key);
        if (it == object.end()) return missing(key);
        if (!it->is_array()) return type_error(key, "array", *it);
        return &*it;
    }

   private:
    const SourceLoc& loc_;
    InputFormat format_;
};

void add_turn(Sample& sample, Role role, std::string content) {
    if (is_blank(content)) return;
    sample.turns.push_back(Turn{role, std::move(content)});
}

std::optional<Role> role_from_messages(std::string_view role) {
    if (role == "system") return Role::kSystem;
    if (role == "user") return Role::kUser;
    if (role == "assistant") return Role::kAssistant;
    return std::nullopt;
}

// ShareGPT dumps name the speakers after the chat product they were scraped from.
std::optional<Role> role_from_sharegpt(std::string_view from) {
    const std::string lower = ascii_lower(from);
    if (lower == "system") return Role::kSystem;
    if (lower == "human" || lower == "user") return Role::kUser;
    if (lower == "gpt" || lower == "assistant" || lower == "chatgpt" || lower == "bing" || lower == "bard") {
        return Role::kAssistant;
    }
    return std::nullopt;
}

Status parse_turn_list(Json& record, const RecordContext& ctx, const char* list_key, const char* role_key,
                       const char* content_key, const char* allowed_roles,
                       std::optional<Role> (*map_role)(std::string_view), Sample& sample) {
    MONA_TRY(Json * list, ctx.array_field(record, list_key));
    std::string role_text;
    std::string content;
    for (size_t turn_idx = 0; turn_idx < list->size(); ++turn_idx) {
        Json& turn = (*list)[turn_idx];
        const std::string field = std::string(list_key) + "[" + std::to_string(turn_idx) + "]";
        if (!turn.is_object()) return ctx.type_error(field, "object", turn);
        MONA_RETURN_IF_ERROR(ctx.take_string(turn, role_key, field + "." + role_key, false, role_text));
        const std::optional<Role> role = map_role(role_text);
        if (!role) {
            return ctx.error("field " + field + "." + role_key + ": unknown role '" + role_text + "' (expected " +
                             allowed_roles + ")");
        }
        MONA_RETURN_IF_ERROR(ctx.take_string(turn, content_key, field + "." + content_key, false, content));
        add_turn(sample, *role, std::move(content));
    }
    return Status();
}

Status parse_alpaca(Json& record, const RecordContext& ctx, Sample& sample) {
    std::string instruction, input, output;
    MONA_RETURN_IF_ERROR(ctx.take_string(record, "instruction", "instruction", false, instruction));
    MONA_RETURN_IF_ERROR(ctx.take_string(record, "input", "input", true, input));
    MONA_RETURN_IF_ERROR(ctx.take_string(record, "output", "output", true, output));
    std::string user = std::move(instruction);
    if (!is_blank(input)) {
        if (!is_blank(user)) user += "\n\n";
        user += input;
    }
    add_turn(sample, Role::kUser, std::move(user));
    add_turn(sample, Role::kAssistant, std::move(output));
    return Status();
}

Status parse_prompt_completion(Json& record, const RecordContext& ctx, Sample& sample) {
    std::string prompt, completion;
    MONA_RETURN_IF_ERROR(ctx.take_string(record, "prompt", "prompt", false, prompt));
    MONA_RETURN_IF_ERROR(ctx.take_string(record, "completion", "completion", true, completion));
    add_turn(sample, Role::kUser, std::move(prompt));
    add_turn(sample, Role::kAssistant, std::move(completion));
    return Status();
}

InputFormat detect_format(const Json& record) {
    if (record.contains("messages")) return InputFormat::kMessages;
    if (record.contains("conversations")) return InputFormat::kShareGpt;
    if (record.contains("instruction")) return InputFormat::kAlpaca;
    if (record.contains("prompt")) return InputFormat::kPromptCompletion;
    if (record.contains("text")) return InputFormat::kText;
    return InputFormat::kAuto;
}

Status unknown_format(const Json& record, const RecordContext& ctx) {
    std::string keys;
    size_t n_keys = 0;
    for (auto it = record.begin(); it != record.end(); ++it, ++n_keys) {
        if (n_keys == kMaxKeysInMessage) {
            keys += ", ... (" + std::to_string(record.size()) + " keys in all)";
            break;
        }
        if (n_keys > 0) keys += ", ";
        keys += it.key();
    }
    if (n_keys == 0) keys = "none, the object is empty";
    return invalid_input(ctx.where() +
                         ": unknown record format: expected one of messages, conversations, instruction, prompt, "
                         "text keys (found keys: " +
                         keys + ")");
}

// `text` with every byte outside a UTF-8 sequence of the right shape (lead byte, continuation bytes) written as
// "\xHH": nlohmann quotes the bytes it last read, and a message must not carry ill-formed UTF-8 to a terminal or
// into skipped.tsv.
std::string escape_ill_formed_utf8(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    size_t pos = 0;
    while (pos < text.size()) {
        const auto lead = static_cast<unsigned char>(text[pos]);
        size_t n = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
        bool ok = n > 0 && pos + n <= text.size() && !(lead == 0xC0 || lead == 0xC1 || lead > 0xF4);
        for (size_t cont = 1; ok && cont < n; ++cont) {
            ok = (static_cast<unsigned char>(text[pos + cont]) & 0xC0) == 0x80;
        }
        if (ok) {
            out.append(text.substr(pos, n));
            pos += n;
        } else {
            static const char kHex[] = "0123456789ABCDEF";
            out += "\\x";
            out += kHex[lead >> 4];
            out += kHex[lead & 0xF];
            ++pos;
        }
    }
    return out;
}

// nlohmann reports "[json.exception.parse_error.101] parse error at line 1, column 7: <detail>", counted within
// the record. A record cut from a JSON array can span lines, so the line is recomputed from the byte offset to be
// the file's; the column counts from the start of that line (on the record's first line, from its first byte).
Status malformed_json(const nlohmann::json::parse_error& error, std::string_view json_text, const SourceLoc& loc) {
    const size_t n_bytes_before = std::min<size_t>(error.byte > 0 ? error.byte - 1 : 0, json_text.size());
    uint64_t line = loc.line_no;
    size_t line_start = 0;
    for (size_t byte_idx = 0; byte_idx < n_bytes_before; ++byte_idx) {
        if (json_text[byte_idx] == '\n') {
            ++line;
            line_start = byte_idx + 1;
        }
    }
    std::string detail = error.what();
    const size_t colon = detail.find(": ", detail.find("parse error"));
    if (colon != std::string::npos) detail.erase(0, colon + 2);
    return invalid_input(loc.path + ":" + std::to_string(line) + ": malformed JSON: " + escape_ill_formed_utf8(detail) +
                         " (column " + std::to_string(n_bytes_before - line_start + 1) + ")");
}

Result<Sample> parse_record(Json& record, InputFormat format, const SourceLoc& loc) {
    if (!record.is_object()) {
        return invalid_input(loc.path + ":" + std::to_string(loc.line_no) + ": expected a JSON object, found " +
                             json_type_name(record));
    }
    Sample sample;
    sample.record_idx = loc.record_idx;
    sample.line_no = loc.line_no;
    sample.format = format == InputFormat::kAuto ? detect_format(record) : format;
    const RecordContext ctx(loc, sample.format);
    if (sample.format == InputFormat::kAuto) return unknown_format(record, ctx);

    auto id = record.find("id");
    if (id == record.end()) {
        sample.id = std::to_string(loc.record_idx);
    } else if (id->is_string()) {
        sample.id = std::move(id->get_ref<std::string&>());
    } else if (id->is_number_unsigned()) {
        sample.id = std::to_string(id->get<uint64_t>());
    } else if (id->is_number_integer()) {
        sample.id = std::to_string(id->get<int64_t>());
    } else {
        return ctx.type_error("id", "string or integer", *id);
    }
    MONA_RETURN_IF_ERROR(ctx.take_string(record, "task", "task", true, sample.task));

    switch (sample.format) {
        case InputFormat::kMessages:
            MONA_RETURN_IF_ERROR(parse_turn_list(record, ctx, "messages", "role", "content",
                                                 "system, user or assistant", &role_from_messages, sample));
            break;
        case InputFormat::kShareGpt:
            MONA_RETURN_IF_ERROR(parse_turn_list(record, ctx, "conversations", "from", "value",
                                                 "system, human, user, gpt, assistant, chatgpt, bing or bard",
                                                 &role_from_sharegpt, sample));
            break;
        case InputFormat::kAlpaca: MONA_RETURN_IF_ERROR(parse_alpaca(record, ctx, sample)); break;
        case InputFormat::kPromptCompletion: MONA_RETURN_IF_ERROR(parse_prompt_completion(record, ctx, sample)); break;
        case InputFormat::kText:
            MONA_RETURN_IF_ERROR(ctx.take_string(record, "text", "text", false, sample.text));
            if (is_blank(sample.text)) return ctx.error("empty sample: field text is empty");
            return sample;
        case InputFormat::kAuto: MONA_ASSERT(false, "record format still kAuto after detection");
    }
    if (sample.turns.empty()) return ctx.error("empty sample: every turn's content is empty");
    return sample;
}

}  // namespace

Result<InputFormat> parse_input_format(std::string_view name) {
    static constexpr InputFormat kAll[] = {InputFormat::kAuto,   InputFormat::kMessages,         InputFormat::kShareGpt,
                                           InputFormat::kAlpaca, InputFormat::kPromptCompletion, InputFormat::kText};
    for (InputFormat format : kAll) {
        if (name == input_format_name(format)) return format;
    }
    return invalid_input("unknown input format '" + std::string(name) +
                         "': expected one of auto, messages, sharegpt, alpaca, prompt-completion, text");
}

const char* input_format_name(InputFormat format) {
    switch (format) {
        case InputFormat::kAuto: return "auto";
        case InputFormat::kMessages: return "messages";
        case InputFormat::kShareGpt: return "sharegpt";
        case InputFormat::kAlpaca: return "alpaca";
        case InputFormat::kPromptCompletion: return "prompt-completion";
        case InputFormat::kText: return "text";
    }
    return "unknown";
}

const char* role_name(Role role) {
    switch (role) {
        case Role::kSystem: return "system";
        case Role::kUser: return "user";
        case Role::kAssistant: return "assistant";
    }
    return "unknown";
}

Result<Sample> parse_sample(std::string_view json_text, InputFormat format, const SourceLoc& loc) {
    try {
        Json record = Json::parse(json_text.begin(), json_text.end());
        return parse_record(record, format, loc);
    } catch (const nlohmann::json::parse_error& error) {
        return malformed_json(error, json_text, loc);
    } catch (const nlohmann::json::exception& error) {
        return internal_error(loc.path + ":" + std::to_string(loc.line_no) + ": JSON library error: " + error.what());
    } catch (const std::bad_alloc&) {
        return internal_error(loc.path + ":" + std::to_string(loc.line_no) + ": out of memory parsing a record of " +
                              std::to_string(json_text.size()) + " bytes");
    }
}

}  // namespace mona
