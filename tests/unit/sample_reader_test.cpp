#include "io/sample_reader.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <string>
#include <vector>

namespace mona {
namespace {

std::string temp_path(const std::string& stem) {
    return ::testing::TempDir() + "mona_sample_reader_test_" + std::to_string(::getpid()) + "_" + stem;
}

// Writes `bytes` to a fresh temp file (gzip-compressed when asked) and returns its path.
std::string write_temp(const std::string& stem, const std::string& bytes, bool gzip = false) {
    const std::string path = temp_path(stem);
    if (gzip) {
        gzFile file = gzopen(path.c_str(), "wb");
        EXPECT_NE(nullptr, file) << path;
        if (file == nullptr) return path;
        if (!bytes.empty()) {
            EXPECT_EQ(int(bytes.size()), gzwrite(file, bytes.data(), unsigned(bytes.size())));
        }
        EXPECT_EQ(Z_OK, gzclose(file));
    } else {
        std::FILE* file = std::fopen(path.c_str(), "wb");
        EXPECT_NE(nullptr, file) << path;
        if (file == nullptr) return path;
        EXPECT_EQ(bytes.size(), std::fwrite(bytes.data(), 1, bytes.size(), file));
        EXPECT_EQ(0, std::fclose(file));
    }
    return path;
}

struct ReadAll {
    std::vector<RawRecord> records;
    Status status;  // the first error, if any; records holds what came before it
};

ReadAll read_all(const std::string& path) {
    ReadAll result;
    Result<RecordReader> reader = RecordReader::open(path);
    if (!reader.ok()) {
        result.status = reader.status();
        return result;
    }
    while (true) {
        RawRecord record;
        Result<bool> more = reader->next(record);
        if (!more.ok()) {
            result.status = more.status();
            return result;
        }
        if (!more.value()) return result;
        result.records.push_back(std::move(record));
    }
}

// Pseudo-random printable text, so that gzip cannot shrink it to nothing.
std::string noisy_text(size_t n_bytes, uint32_t seed) {
    std::string text;
    text.reserve(n_bytes);
    uint32_t state = seed;
    for (size_t byte_idx = 0; byte_idx < n_bytes; ++byte_idx) {
        state = state * 1664525u + 1013904223u;
        text.push_back(char('a' + (state >> 24) % 26));
    }
    return text;
}

void expect_record(const RawRecord& record, const std::string& bytes, uint64_t line_no, uint64_t record_idx) {
    EXPECT_EQ(bytes, record.bytes) << "record " << record_idx;
    EXPECT_EQ(line_no, record.line_no) << "record " << record_idx;
    EXPECT_EQ(record_idx, record.record_idx);
}

TEST(RecordReader, JsonlSkipsBlankLinesAndStripsLineEnds) {
    const std::string path = write_temp("basic.jsonl",
                                        "{\"id\": 1}\n"
                                        "\n"
                                        "   \t \n"
                                        "{\"id\": 2}\r\n"
                                        "\r\n"
                                        "  {\"id\": 3} \n"
                                        "{\"id\": 4}");
    ReadAll all = read_all(path);
    ASSERT_TRUE(all.status.ok()) << all.status.message();
    ASSERT_EQ(4u, all.records.size());
    expect_record(all.records[0], "{\"id\": 1}", 1, 0);
    expect_record(all.records[1], "{\"id\": 2}", 4, 1);
    expect_record(all.records[2], "  {\"id\": 3} ", 6, 2);
    expect_record(all.records[3], "{\"id\": 4}", 7, 3);

    Result<RecordReader> reader = RecordReader::open(path);
    ASSERT_TRUE(reader.ok());
    EXPECT_FALSE(reader->gzipped());
    EXPECT_FALSE(reader->json_array());
    EXPECT_EQ(path, reader->path());
    std::remove(path.c_str());
}

TEST(RecordReader, EmptyAndBlankFilesHaveNoRecords) {
    for (const std::string& content :
         {std::string(""), std::string("\n\n  \r\n"), std::string("[]"), std::string("\n [ \n ] \n")}) {
        const std::string path = write_temp("empty.jsonl", content);
        ReadAll all = read_all(path);
        EXPECT_TRUE(all.status.ok()) << all.status.message();
        EXPECT_EQ(0u, all.records.size()) << "content: " << content;
        std::remove(path.c_str());
    }
}

TEST(RecordReader, NextAfterTheEndKeepsReturningFalse) {
    const std::string path = write_temp("end.jsonl", "{}\n");
    Result<RecordReader> reader = RecordReader::open(path);
    ASSERT_TRUE(reader.ok());
    RawRecord record;
    ASSERT_TRUE(reader->next(record).value());
    EXPECT_FALSE(reader->next(record).value());
    EXPECT_FALSE(reader->next(record).value());
    std::remove(path.c_str());
}

TEST(RecordReader, Utf8ByteOrderMarkIsDropped) {
    const std::string path = write_temp("bom.jsonl", "\xEF\xBB\xBF{\"a\":1}\n{\"b\":2}\n");
    ReadAll all = read_all(path);
    ASSERT_TRUE(all.status.ok()) << all.status.message();
    ASSERT_EQ(2u, all.records.size());
    expect_record(all.records[0], "{\"a\":1}", 1, 0);
    expect_record(all.records[1], "{\"b\":2}", 2, 1);
    std::remove(path.c_str());
}

TEST(RecordReader, ArraySplitsElementsWithTrickyStrings) {
    const std::string content =
        "\n"
        "[\n"
        "  {\"s\": \"a ] b , c } d [\"},\n"                                 // line 3: brackets and commas in a string
        "  {\"q\": \"say \\\"hi\\\", ]\", \"n\": [1, [2, {\"x\": 3}]]},\n"  // line 4: escaped quotes, nesting
        "  {\"bs\": \"ends with backslash \\\\\"},\n"                       // line 5: escaped backslash before quote
        "  {\"nl\": \"escaped \\n newline\",\n"                             // line 6: element spans lines 6-8
        "   \"raw\": \"raw\n"
        "newline ]\"},\n"
        "\n"
        "  {\"last\": true}\n"  // line 10
        "]\n";
    const std::string path = write_temp("array.json", content);
    ReadAll all = read_all(path);
    ASSERT_TRUE(all.status.ok()) << all.status.message();
    ASSERT_EQ(5u, all.records.size());
    expect_record(all.records[0], "{\"s\": \"a ] b , c } d [\"}", 3, 0);
    expect_record(all.records[1], "{\"q\": \"say \\\"hi\\\", ]\", \"n\": [1, [2, {\"x\": 3}]]}", 4, 1);
    expect_record(all.records[2], "{\"bs\": \"ends with backslash \\\\\"}", 5, 2);
    expect_record(all.records[3], "{\"nl\": \"escaped \\n newline\",\n   \"raw\": \"raw\nnewline ]\"}", 6, 3);
    expect_record(all.records[4], "{\"last\": true}", 10, 4);

    Result<RecordReader> reader = RecordReader::open(path);
    ASSERT_TRUE(reader.ok());
    EXPECT_TRUE(reader->json_array());
    std::remove(path.c_str());
}

TEST(RecordReader, ArrayOnOneLineWithScalarsAndCrlf) {
    const std::string path = write_temp("inline.json", "[1,\"two\" ,{\"three\":[3]},\r\n null]");
    ReadAll all = read_all(path);
    ASSERT_TRUE(all.status.ok()) << all.status.message();
    ASSERT_EQ(4u, all.records.size());
    expect_record(all.records[0], "1", 1, 0);
    expect_record(all.records[1], "\"two\"", 1, 1);
    expect_record(all.records[2], "{\"three\":[3]}", 1, 2);
    expect_record(all.records[3], "null", 2, 3);
    std::remove(path.c_str());
}

TEST(RecordReader, GzipJsonlAndGzipArray) {
    const std::string jsonl = write_temp("pool.jsonl.gz", "{\"a\":1}\r\n\n{\"b\":2}\n", true);
    ReadAll all = read_all(jsonl);
    ASSERT_TRUE(all.status.ok()) << all.status.message();
    ASSERT_EQ(2u, all.records.size());
    expect_record(all.records[0], "{\"a\":1}", 1, 0);
    expect_record(all.records[1], "{\"b\":2}", 3, 1);
    Result<RecordReader> reader = RecordReader::open(jsonl);
    ASSERT_TRUE(reader.ok());
    EXPECT_TRUE(reader->gzipped());

    // Compression is detected by magic bytes, so the name need not end in .gz.
    const std::string array = write_temp("pool_array_no_suffix", "[\n{\"a\":\"[\"},\n{\"b\":2}\n]\n", true);
    all = read_all(array);
    ASSERT_TRUE(all.status.ok()) << all.status.message();
    ASSERT_EQ(2u, all.records.size());
    expect_record(all.records[0], "{\"a\":\"[\"}", 2, 0);
    expect_record(all.records[1], "{\"b\":2}", 3, 1);
    std::remove(jsonl.c_str());
    std::remove(array.c_str());
}

TEST(RecordReader, LongLinesAndElementsSpanManyChunks) {
    // Records of 3 MB cross every internal chunk boundary; the buffer must grow, not truncate.
    const std::string big = "{\"text\": \"" + noisy_text(3 << 20, 7) + "\"}";
    const std::string small = "{\"text\": \"short\"}";
    std::string jsonl = small + "\n" + big + "\n" + small + "\n";
    for (bool gzip : {false, true}) {
        const std::string path = write_temp("long.jsonl", jsonl, gzip);
        ReadAll all = read_all(path);
        ASSERT_TRUE(all.status.ok()) << all.status.message();
        ASSERT_EQ(3u, all.records.size());
        EXPECT_EQ(small, all.records[0].bytes);
        EXPECT_TRUE(all.records[1].bytes == big) << "gzip " << gzip << ", size " << all.records[1].bytes.size();
        expect_record(all.records[2], small, 3, 2);
        std::remove(path.c_str());
    }

    std::string array = "[\n";
    std::vector<std::string> elements;
    for (uint32_t element_idx = 0; element_idx < 2000; ++element_idx) {
        elements.push_back("{\"i\": " + std::to_string(element_idx) + ", \"s\": \"" +
                           noisy_text(100 + element_idx * 3, element_idx) + "\\\"]\"}");
        array += elements.back() + (element_idx + 1 < 2000 ? ",\n" : "\n");
    }
    array += "]\n";
    const std::string path = write_temp("long.json", array, true);
    ReadAll all = read_all(path);
    ASSERT_TRUE(all.status.ok()) << all.status.message();
    ASSERT_EQ(elements.size(), all.records.size());
    for (size_t element_idx = 0; element_idx < elements.size(); ++element_idx) {
        ASSERT_EQ(elements[element_idx], all.records[element_idx].bytes) << element_idx;
        ASSERT_EQ(element_idx + 2, all.records[element_idx].line_no);
    }
    std::remove(path.c_str());
}

TEST(RecordReader, MissingFileIsNotFound) {
    const std::string path = temp_path("missing.jsonl");
    Result<RecordReader> reader = RecordReader::open(path);
    ASSERT_FALSE(reader.ok());
    EXPECT_EQ(StatusCode::kNotFound, reader.status().code());
    EXPECT_NE(std::string::npos, reader.status().message().find(path)) << reader.status().message();
}

TEST(RecordReader, TruncatedGzipIsAnIoErrorNamingThePath) {
    const std::string full = noisy_text(1 << 20, 3);
    std::string jsonl;
    for (size_t offset = 0; offset < full.size(); offset += 1000) {
        jsonl += "{\"t\": \"" + full.substr(offset, 1000) + "\"}\n";
    }
    const std::string path = write_temp("truncated.jsonl.gz", jsonl, true);
    std::FILE* file = std::fopen(path.c_str(), "rb");
    ASSERT_NE(nullptr, file);
    std::fseek(file, 0, SEEK_END);
    const long n_compressed = std::ftell(file);
    std::fclose(file);
    // Cut in the middle of the deflate data, and (separately) just the 8-byte CRC/length trailer.
    for (long n_kept : {n_compressed / 2, n_compressed - 4}) {
        ASSERT_EQ(0, ::truncate(path.c_str(), n_kept));
        ReadAll all = read_all(path);
        ASSERT_FALSE(all.status.ok()) << "kept " << n_kept << " of " << n_compressed << " bytes";
        EXPECT_EQ(StatusCode::kIo, all.status.code()) << all.status.message();
        EXPECT_NE(std::string::npos, all.status.message().find(path + ":")) << all.status.message();
        EXPECT_NE(std::string::npos, all.status.message().find("truncated gzip")) << all.status.message();
    }
    std::remove(path.c_str());
}

TEST(RecordReader, UnterminatedArrayNamesPathAndLine) {
    struct Case {
        const char* content;
        size_t n_records_before_error;
        const char* where;
    };
    const Case cases[] = {
        {"[\n{\"a\": 1},\n{\"b\": \"never closed\n", 1, ":3: unterminated JSON array"},
        {"[\n{\"a\": 1},\n\n", 1, ":4: unterminated JSON array"},
        {"\n\n[{\"a\": 1}", 0, ":3: unterminated JSON array"},
        {"[", 0, ":1: unterminated JSON array"},
    };
    for (const Case& c : cases) {
        const std::string path = write_temp("unterminated.json", c.content);
        ReadAll all = read_all(path);
        ASSERT_FALSE(all.status.ok()) << c.content;
        EXPECT_EQ(StatusCode::kInvalidInput, all.status.code()) << all.status.message();
        EXPECT_NE(std::string::npos, all.status.message().find(path + c.where)) << all.status.message();
        EXPECT_EQ(c.n_records_before_error, all.records.size()) << c.content;
        std::remove(path.c_str());
    }
}

TEST(RecordReader, MalformedArraysAreInvalidInput) {
    struct Case {
        const char* content;
        const char* expected;
    };
    const Case cases[] = {
        {"[{\"a\": 1},\n,{\"b\": 2}]", ":2: malformed JSON array: expected an element, found ','"},
        {"[{\"a\": 1},\n]", ":2: malformed JSON array: expected an element, found ']'"},
        {"[{\"a\": 1}}]", ":1: malformed JSON array: unbalanced '}'"},
        {"[{\"a\": 1}]\n[{\"b\": 2}]\n", ":2: unexpected content after the top-level JSON array"},
    };
    for (const Case& c : cases) {
        const std::string path = write_temp("malformed.json", c.content);
        ReadAll all = read_all(path);
        ASSERT_FALSE(all.status.ok()) << c.content;
        EXPECT_EQ(StatusCode::kInvalidInput, all.status.code());
        EXPECT_NE(std::string::npos, all.status.message().find(path + c.expected)) << all.status.message();
        std::remove(path.c_str());
    }
}

TEST(RecordReader, ErrorsAreSticky) {
    const std::string path = write_temp("sticky.json", "[{\"a\": 1},,]");
    Result<RecordReader> reader = RecordReader::open(path);
    ASSERT_TRUE(reader.ok());
    RawRecord record;
    ASSERT_TRUE(reader->next(record).value());
    Result<bool> first = reader->next(record);
    ASSERT_FALSE(first.ok());
    Result<bool> second = reader->next(record);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(first.status().message(), second.status().message());
    std::remove(path.c_str());
}

}  // namespace
}  // namespace mona
