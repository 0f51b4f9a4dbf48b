#include "text/formats.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mona {
namespace {

const SourceLoc kLoc{"pool.jsonl", 18342, 17};

Sample parse_ok(const std::string& json, InputFormat format = InputFormat::kAuto) {
    Result<Sample> sample = parse_sample(json, format, kLoc);
    EXPECT_TRUE(sample.ok()) << json << "\n" << sample.status().message();
    return sample.ok() ? sample.value() : Sample{};
}

std::string parse_error(const std::string& json, InputFormat format = InputFormat::kAuto) {
    Result<Sample> sample = parse_sample(json, format, kLoc);
    EXPECT_FALSE(sample.ok()) << json;
    if (sample.ok()) return "";
    EXPECT_EQ(StatusCode::kInvalidInput, sample.status().code()) << sample.status().message();
    return sample.status().message();
}

void expect_turn(const Sample& sample, size_t turn_idx, Role role, const std::string& content) {
    ASSERT_LT(turn_idx, sample.turns.size());
    EXPECT_EQ(role_name(role), std::string(role_name(sample.turns[turn_idx].role))) << "turn " << turn_idx;
    EXPECT_EQ(content, sample.turns[turn_idx].content) << "turn " << turn_idx;
}

TEST(Formats, MessagesKeepsRolesIdAndTask) {
    const Sample sample = parse_ok(
        R"({"id": "tulu_1", "task": "flan", "messages": [
              {"role": "system", "content": "Be brief."},
              {"role": "user", "content": "2+2?"},
              {"role": "assistant", "content": "4"}]})");
    EXPECT_EQ(InputFormat::kMessages, sample.format);
    EXPECT_EQ("tulu_1", sample.id);
    EXPECT_EQ("flan", sample.task);
    EXPECT_EQ(17u, sample.record_idx);
    EXPECT_EQ(18342u, sample.line_no);
    EXPECT_EQ("", sample.text);
    ASSERT_EQ(3u, sample.turns.size());
    expect_turn(sample, 0, Role::kSystem, "Be brief.");
    expect_turn(sample, 1, Role::kUser, "2+2?");
    expect_turn(sample, 2, Role::kAssistant, "4");
}

TEST(Formats, EmptyTurnsAreDroppedButContentIsKeptVerbatim) {
    const Sample sample = parse_ok(
        R"({"messages": [{"role": "system", "content": " \n\t"}, {"role": "user", "content": "  hi\n"},
                         {"role": "assistant", "content": ""}]})");
    ASSERT_EQ(1u, sample.turns.size());
    expect_turn(sample, 0, Role::kUser, "  hi\n");
    EXPECT_EQ("17", sample.id);
    EXPECT_EQ("", sample.task);
}

TEST(Formats, MessagesFieldErrorsNameTheFieldPath) {
    EXPECT_EQ("pool.jsonl:18342: field messages[2].content: expected string, found number (format: messages)",
              parse_error(R"({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                                           {"role": "user", "content": 3}]})"));
    EXPECT_EQ("pool.jsonl:18342: field messages: expected array, found object (format: messages)",
              parse_error(R"({"messages": {"role": "user"}})"));
    EXPECT_EQ("pool.jsonl:18342: field messages[0]: expected object, found string (format: messages)",
              parse_error(R"({"messages": ["hello"]})"));
    EXPECT_EQ("pool.jsonl:18342: missing field messages[0].role (format: messages)",
              parse_error(R"({"messages": [{"content": "x"}]})"));
    EXPECT_EQ(
        "pool.jsonl:18342: field messages[1].content: expected string, found null (format: messages)",
        parse_error(R"({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": null}]})"));
    EXPECT_EQ(
        "pool.jsonl:18342: field messages[0].role: unknown role 'human' (expected system, user or assistant) "
        "(format: messages)",
        parse_error(R"({"messages": [{"role": "human", "content": "x"}]})"));
}

// Issue 9: nlohmann quotes the bytes it read last; an ill-formed byte must reach the message escaped, not raw.
TEST(Formats, IllFormedUtf8IsEscapedInTheMessage) {
    Result<Sample> s = parse_sample("{\"text\": \"caf\xff au lait\"}", InputFormat::kAuto, kLoc);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(StatusCode::kInvalidInput, s.status().code());
    const std::string& message = s.status().message();
    EXPECT_NE(std::string::npos, message.find("pool.jsonl:18342: malformed JSON")) << message;
    EXPECT_NE(std::string::npos, message.find("ill-formed UTF-8")) << message;
    EXPECT_NE(std::string::npos, message.find("caf\\xFF")) << message;
    EXPECT_EQ(std::string::npos, message.find('\xff')) << "a raw 0xFF byte in: " << message;
}

TEST(Formats, ShareGptMapsSpeakerNames) {
    const Sample sample = parse_ok(
        R"({"id": 42, "conversations": [
              {"from": "system", "value": "s"}, {"from": "human", "value": "h"}, {"from": "gpt", "value": "g",
               "weight": 1.0}, {"from": "user", "value": "u"}, {"from": "assistant", "value": "a"},
              {"from": "chatgpt", "value": "c"}, {"from": "bing", "value": "b"}, {"from": "bard", "value": "d"},
              {"from": "Human", "value": "H"}]})");
    EXPECT_EQ(InputFormat::kShareGpt, sample.format);
    EXPECT_EQ("42", sample.id);
    ASSERT_EQ(9u, sample.turns.size());
    expect_turn(sample, 0, Role::kSystem, "s");
    expect_turn(sample, 1, Role::kUser, "h");
    expect_turn(sample, 2, Role::kAssistant, "g");
    expect_turn(sample, 3, Role::kUser, "u");
    expect_turn(sample, 4, Role::kAssistant, "a");
    expect_turn(sample, 5, Role::kAssistant, "c");
    expect_turn(sample, 6, Role::kAssistant, "b");
    expect_turn(sample, 7, Role::kAssistant, "d");
    expect_turn(sample, 8, Role::kUser, "H");
}

TEST(Formats, ShareGptErrors) {
    EXPECT_EQ("pool.jsonl:18342: field conversations[1].value: expected string, found array (format: sharegpt)",
              parse_error(R"({"conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": []}]})"));
    EXPECT_EQ(
        "pool.jsonl:18342: field conversations[0].from: unknown role 'tool' (expected system, human, user, gpt, "
        "assistant, chatgpt, bing or bard) (format: sharegpt)",
        parse_error(R"({"conversations": [{"from": "tool", "value": "x"}]})"));
    EXPECT_EQ("pool.jsonl:18342: missing field conversations[0].from (format: sharegpt)",
              parse_error(R"({"conversations": [{"role": "user", "value": "x"}]})"));
}

TEST(Formats, AlpacaJoinsInstructionAndInput) {
    Sample sample = parse_ok(R"({"instruction": "Translate.", "input": "Bonjour", "output": "Hello"})");
    EXPECT_EQ(InputFormat::kAlpaca, sample.format);
    ASSERT_EQ(2u, sample.turns.size());
    expect_turn(sample, 0, Role::kUser, "Translate.\n\nBonjour");
    expect_turn(sample, 1, Role::kAssistant, "Hello");

    sample = parse_ok(R"({"instruction": "Name a colour.", "input": "", "output": "Red"})");
    ASSERT_EQ(2u, sample.turns.size());
    expect_turn(sample, 0, Role::kUser, "Name a colour.");

    sample = parse_ok(R"({"instruction": "Name a colour."})");
    ASSERT_EQ(1u, sample.turns.size());
    expect_turn(sample, 0, Role::kUser, "Name a colour.");

    sample = parse_ok(R"({"instruction": "Name a colour.", "output": "  "})");
    ASSERT_EQ(1u, sample.turns.size());

    sample = parse_ok(R"({"instruction": "", "input": "Only input", "output": "ok"})");
    ASSERT_EQ(2u, sample.turns.size());
    expect_turn(sample, 0, Role::kUser, "Only input");

    EXPECT_EQ("pool.jsonl:18342: field input: expected string, found boolean (format: alpaca)",
              parse_error(R"({"instruction": "x", "input": true, "output": "y"})"));
    EXPECT_EQ("pool.jsonl:18342: field output: expected string, found number (format: alpaca)",
              parse_error(R"({"instruction": "x", "output": 1})"));
}

TEST(Formats, PromptCompletionAndText) {
    Sample sample = parse_ok(R"({"prompt": "Q?", "completion": "A."})");
    EXPECT_EQ(InputFormat::kPromptCompletion, sample.format);
    ASSERT_EQ(2u, sample.turns.size());
    expect_turn(sample, 0, Role::kUser, "Q?");
    expect_turn(sample, 1, Role::kAssistant, "A.");

    sample = parse_ok(R"({"text": "plain pretraining-style text", "id": -7})");
    EXPECT_EQ(InputFormat::kText, sample.format);
    EXPECT_EQ("plain pretraining-style text", sample.text);
    EXPECT_TRUE(sample.turns.empty());
    EXPECT_EQ("-7", sample.id);

    EXPECT_EQ("pool.jsonl:18342: field prompt: expected string, found object (format: prompt-completion)",
              parse_error(R"({"prompt": {}, "completion": "A."})"));
    EXPECT_EQ("pool.jsonl:18342: field text: expected string, found array (format: text)",
              parse_error(R"({"text": ["a"]})"));
}

TEST(Formats, DetectionOrderFollowsTheHeader) {
    EXPECT_EQ(InputFormat::kMessages,
              parse_ok(R"({"text": "t", "prompt": "p", "instruction": "i", "conversations": [{"from": "human",
                           "value": "c"}], "messages": [{"role": "user", "content": "m"}]})")
                  .format);
    EXPECT_EQ(
        InputFormat::kShareGpt,
        parse_ok(R"({"text": "t", "instruction": "i", "conversations": [{"from": "human", "value": "c"}]})").format);
    EXPECT_EQ(InputFormat::kAlpaca, parse_ok(R"({"text": "t", "prompt": "p", "instruction": "i"})").format);
    EXPECT_EQ(InputFormat::kPromptCompletion, parse_ok(R"({"text": "t", "prompt": "p"})").format);
}

TEST(Formats, ForcedFormatIgnoresOtherKeys) {
    const Sample sample =
        parse_ok(R"({"messages": [{"role": "user", "content": "m"}], "text": "t"})", InputFormat::kText);
    EXPECT_EQ(InputFormat::kText, sample.format);
    EXPECT_EQ("t", sample.text);
    EXPECT_EQ("pool.jsonl:18342: missing field messages (format: messages)",
              parse_error(R"({"instruction": "i", "output": "o"})", InputFormat::kMessages));
    EXPECT_EQ("pool.jsonl:18342: missing field instruction (format: alpaca)",
              parse_error(R"({"prompt": "p"})", InputFormat::kAlpaca));
}

TEST(Formats, IdIsStringOrInteger) {
    EXPECT_EQ("a-1", parse_ok(R"({"id": "a-1", "text": "x"})").id);
    EXPECT_EQ("0", parse_ok(R"({"id": 0, "text": "x"})").id);
    EXPECT_EQ("18446744073709551615", parse_ok(R"({"id": 18446744073709551615, "text": "x"})").id);
    EXPECT_EQ("-9223372036854775808", parse_ok(R"({"id": -9223372036854775808, "text": "x"})").id);
    EXPECT_EQ("17", parse_ok(R"({"text": "x"})").id);
    EXPECT_EQ("pool.jsonl:18342: field id: expected string or integer, found non-integer number (format: text)",
              parse_error(R"({"id": 1.5, "text": "x"})"));
    EXPECT_EQ("pool.jsonl:18342: field id: expected string or integer, found null (format: text)",
              parse_error(R"({"id": null, "text": "x"})"));
    EXPECT_EQ("pool.jsonl:18342: field task: expected string, found number (format: text)",
              parse_error(R"({"task": 3, "text": "x"})"));
}

TEST(Formats, EmptySamplesAreErrors) {
    EXPECT_EQ(
        "pool.jsonl:18342: empty sample: every turn's content is empty (format: messages)",
        parse_error(R"({"messages": [{"role": "user", "content": "  "}, {"role": "assistant", "content": ""}]})"));
    EXPECT_EQ("pool.jsonl:18342: empty sample: every turn's content is empty (format: messages)",
              parse_error(R"({"messages": []})"));
    EXPECT_EQ("pool.jsonl:18342: empty sample: every turn's content is empty (format: alpaca)",
              parse_error(R"({"instruction": "", "input": " ", "output": "\n"})"));
    EXPECT_EQ("pool.jsonl:18342: empty sample: field text is empty (format: text)",
              parse_error(R"({"text": " \r\n"})"));
}

TEST(Formats, UnknownFormatListsTheKeysFound) {
    EXPECT_EQ(
        "pool.jsonl:18342: unknown record format: expected one of messages, conversations, instruction, prompt, text "
        "keys (found keys: a, b)",
        parse_error(R"({"b": 1, "a": 2})"));
    EXPECT_EQ(
        "pool.jsonl:18342: unknown record format: expected one of messages, conversations, instruction, prompt, text "
        "keys (found keys: none, the object is empty)",
        parse_error("{}"));
}

TEST(Formats, NonObjectRecordIsAnError) {
    EXPECT_EQ("pool.jsonl:18342: expected a JSON object, found array", parse_error("[1, 2]"));
    EXPECT_EQ("pool.jsonl:18342: expected a JSON object, found string", parse_error(R"("text")"));
}

TEST(Formats, MalformedJsonNamesLineAndColumn) {
    EXPECT_EQ(
        "pool.jsonl:18342: malformed JSON: syntax error while parsing object key - unexpected '}'; expected string "
        "literal (column 14)",
        parse_error(R"({"text": "x",})"));

    // A record from a JSON array can span lines: the line is the file's, not the record's. The column is that of
    // the last byte the parser read, here the closing quote of the unexpected "y" (columns 7-9).
    std::string message = parse_error("{\"text\":\n  \"x\" \"y\"}");
    EXPECT_EQ(0u, message.find("pool.jsonl:18343: malformed JSON: ")) << message;
    EXPECT_NE(std::string::npos, message.find("(column 9)")) << message;

    message = parse_error("");
    EXPECT_EQ(0u, message.find("pool.jsonl:18342: malformed JSON")) << message;
    message = parse_error("{\"text\": \"bad utf-8 \xff\"}");
    EXPECT_EQ(0u, message.find("pool.jsonl:18342: malformed JSON")) << message;
}

TEST(Formats, InputFormatNamesRoundTrip) {
    for (InputFormat format : {InputFormat::kAuto, InputFormat::kMessages, InputFormat::kShareGpt, InputFormat::kAlpaca,
                               InputFormat::kPromptCompletion, InputFormat::kText}) {
        Result<InputFormat> parsed = parse_input_format(input_format_name(format));
        ASSERT_TRUE(parsed.ok()) << input_format_name(format);
        EXPECT_EQ(format, parsed.value());
    }
    EXPECT_EQ(std::string("prompt-completion"), input_format_name(InputFormat::kPromptCompletion));
    Result<InputFormat> bad = parse_input_format("jsonl");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(StatusCode::kInvalidInput, bad.status().code());
    EXPECT_EQ("unknown input format 'jsonl': expected one of auto, messages, sharegpt, alpaca, prompt-completion, text",
              bad.status().message());
    EXPECT_EQ(std::string("assistant"), role_name(Role::kAssistant));
}

}  // namespace
}  // namespace mona
