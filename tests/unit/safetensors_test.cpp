#include "io/safetensors.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace mona {
namespace {

namespace fs = std::filesystem;

class SafetensorsTest : public ::testing::Test {
   protected:
    void SetUp() override {
        static int counter = 0;
        dir_ = fs::temp_directory_path() /
               ("mona_safetensors_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::create_directories(dir_);
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    std::string file(const std::string& name) const { return (dir_ / name).string(); }

    // Writes raw bytes: the 8-byte little-endian length `header_len` (defaults to header.size()), header, data.
    std::string write_raw(const std::string& name, const std::string& header, const std::string& data,
                          uint64_t header_len = UINT64_MAX) const {
        if (header_len == UINT64_MAX) header_len = header.size();
        std::string bytes(8, '\0');
        for (int byte_idx = 0; byte_idx < 8; ++byte_idx) {
            bytes[byte_idx] = static_cast<char>((header_len >> (8 * byte_idx)) & 0xff);
        }
        bytes += header;
        bytes += data;
        return write_bytes(name, bytes);
    }

    std::string write_bytes(const std::string& name, const std::string& bytes) const {
        const std::string path = file(name);
        std::ofstream out(path, std::ios::binary);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        return path;
    }

    static std::string read_bytes(const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }

    fs::path dir_;
};

std::string u16_bytes(std::initializer_list<uint16_t> values) {
    std::string s;
    for (uint16_t v : values) {
        s.push_back(static_cast<char>(v & 0xff));
        s.push_back(static_cast<char>(v >> 8));
    }
    return s;
}

std::string f32_bytes(std::initializer_list<float> values) {
    std::string s;
    for (float v : values) {
        const uint32_t bits = std::bit_cast<uint32_t>(v);
        for (int byte_idx = 0; byte_idx < 4; ++byte_idx)
            s.push_back(static_cast<char>((bits >> (8 * byte_idx)) & 0xff));
    }
    return s;
}

// ---- conversions

TEST(Safetensors, KnownHalfPrecisionValuesDecode) {
    EXPECT_EQ(1.0f, bf16_to_f32(0x3F80));
    EXPECT_EQ(-2.0f, bf16_to_f32(0xC000));
    EXPECT_EQ(std::ldexp(1.0f, -133), bf16_to_f32(0x0001));  // bf16 subnormal
    EXPECT_EQ(std::numeric_limits<float>::infinity(), bf16_to_f32(0x7F80));
    EXPECT_TRUE(std::isnan(bf16_to_f32(0x7FC0)));

    EXPECT_EQ(1.0f, f16_to_f32(0x3C00));
    EXPECT_EQ(-2.0f, f16_to_f32(0xC000));
    EXPECT_EQ(std::ldexp(1.0f, -24), f16_to_f32(0x0001));            // smallest subnormal
    EXPECT_EQ(1023.0f * std::ldexp(1.0f, -24), f16_to_f32(0x03FF));  // largest subnormal
    EXPECT_EQ(std::ldexp(1.0f, -14), f16_to_f32(0x0400));            // smallest normal
    EXPECT_EQ(65504.0f, f16_to_f32(0x7BFF));
    EXPECT_EQ(std::numeric_limits<float>::infinity(), f16_to_f32(0x7C00));
    EXPECT_EQ(-std::numeric_limits<float>::infinity(), f16_to_f32(0xFC00));
    EXPECT_TRUE(std::isnan(f16_to_f32(0x7E00)));
    EXPECT_TRUE(std::isnan(f16_to_f32(0x7C01)));
    EXPECT_EQ(0.0f, f16_to_f32(0x8000));
    EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)));
}

TEST(Safetensors, NarrowingRoundsToNearestEven) {
    struct Case {
        float value;
        uint16_t f16;
    };
    const float unit = std::ldexp(1.0f, -24);  // one f16 subnormal step
    const Case cases[] = {
        {1.0f, 0x3C00},
        {-1.0f, 0xBC00},
        {0.0f, 0x0000},
        {-0.0f, 0x8000},
        {65504.0f, 0x7BFF},
        {65519.0f, 0x7BFF},  // below the halfway point to 65536
        {65520.0f, 0x7C00},  // halfway: ties to even = inf
        {1e10f, 0x7C00},
        {std::numeric_limits<float>::infinity(), 0x7C00},
        {unit, 0x0001},
        {unit * 0.5f, 0x0000},  // tie between 0 and 1 unit: even is 0
        {unit * 0.75f, 0x0001},
        {unit * 1.5f, 0x0002},     // tie between 1 and 2: even is 2
        {unit * 2.5f, 0x0002},     // tie between 2 and 3: even is 2
        {unit * 1023.5f, 0x0400},  // rounds up into the smallest normal
        {std::ldexp(1.0f, -14), 0x0400},
        {1.0f + std::ldexp(1.0f, -11), 0x3C00},                          // tie: stays on even 0x3C00
        {1.0f + 3 * std::ldexp(1.0f, -11), 0x3C02},                      // tie: goes to even 0x3C02
        {1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20), 0x3C01},  // just above the tie
        {2047.5f, 0x6800},  // 2047.5 -> 2048 (f16 step is 1 at this range; tie to even)
    };
    for (const Case& c : cases) {
        EXPECT_EQ(c.f16, f32_to_f16(c.value)) << "value " << c.value;
    }
    EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(std::numeric_limits<float>::quiet_NaN()))));

    EXPECT_EQ(0x3F80, f32_to_bf16(1.0f));
    EXPECT_EQ(0x3F80, f32_to_bf16(1.0f + std::ldexp(1.0f, -8)));      // tie -> even
    EXPECT_EQ(0x3F82, f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)));  // tie -> even
    EXPECT_EQ(0x3F81, f32_to_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)));
    EXPECT_EQ(0x7F80, f32_to_bf16(std::numeric_limits<float>::max()));  // rounds up to inf
    EXPECT_EQ(0xFF80, f32_to_bf16(-std::numeric_limits<float>::infinity()));
    EXPECT_EQ(0x0001, f32_to_bf16(std::ldexp(1.0f, -133)));
    EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
    // A NaN whose payload sits only in the low 16 bits must not turn into infinity.
    EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::bit_cast<float>(0x7F800001u)))));
}

TEST(Safetensors, EveryHalfValueRoundTripsThroughF32) {
    for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
        const auto h = static_cast<uint16_t>(bits);
        const float f16 = f16_to_f32(h);
        if (std::isnan(f16)) {
            EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f16)))) << std::hex << bits;
        } else {
            EXPECT_EQ(h, f32_to_f16(f16)) << std::hex << bits;
        }
        const float bf16 = bf16_to_f32(h);
        if (std::isnan(bf16)) {
            EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(bf16)))) << std::hex << bits;
        } else {
            EXPECT_EQ(h, f32_to_bf16(bf16)) << std::hex << bits;
        }
    }
}

#if defined(__FLT16_MANT_DIG__)
TEST(Safetensors, F16NarrowingMatchesTheCompiler) {
    std::mt19937 rng(7);
    std::uniform_int_distribution<uint32_t> any_bits;
    for (int trial = 0; trial < 200000; ++trial) {
        // Bias half the draws to the f16 range so subnormals and rounding boundaries get exercised.
        uint32_t bits = any_bits(rng);
        if (trial % 2 == 0) bits = (bits & 0x807fffffu) | ((100u + bits % 46u) << 23);
        const float value = std::bit_cast<float>(bits);
        if (std::isnan(value)) continue;
        const auto expected = std::bit_cast<uint16_t>(static_cast<_Float16>(value));
        ASSERT_EQ(expected, f32_to_f16(value)) << "bits 0x" << std::hex << bits;
    }
}
#endif

// ---- writing and reading back

TEST_F(SafetensorsTest, RoundTripsF32F16AndBf16) {
    const std::vector<float> values = {1.0f, -2.5f, 0.0f, 65504.0f, 1e-7f, 3.14159f};
    const std::vector<float> row = {7.0f, 8.0f};
    const std::string path = file("round.safetensors");
    ASSERT_TRUE(write_safetensors(path,
                                  {{"a.f32", {2, 3}, values.data(), "F32"},
                                   {"b.f16", {2, 3}, values.data(), "F16"},
                                   {"c.bf16", {3, 2}, values.data(), "BF16"},
                                   {"d.scalar", {}, row.data(), "F32"},
                                   {"e.empty", {0, 4}, nullptr, "F16"}},
                                  {{"format", "pt"}})
                    .ok());
    auto file_or = SafetensorsFile::open(path);
    ASSERT_TRUE(file_or.ok()) << file_or.status().message();
    const SafetensorsFile& st = file_or.value();
    ASSERT_EQ(5u, st.tensors().size());
    EXPECT_EQ("pt", st.metadata().at("format"));
    EXPECT_EQ("F16", st.tensors().at("b.f16").dtype);
    EXPECT_EQ((std::vector<int64_t>{3, 2}), st.tensors().at("c.bf16").shape);
    EXPECT_TRUE(st.has("a.f32"));
    EXPECT_FALSE(st.has("missing"));

    auto f32 = st.read_f32("a.f32");
    ASSERT_TRUE(f32.ok());
    EXPECT_EQ(values, f32.value());
    auto f16 = st.read_f32("b.f16");
    auto bf16 = st.read_f32("c.bf16");
    ASSERT_TRUE(f16.ok() && bf16.ok());
    for (size_t elem_idx = 0; elem_idx < values.size(); ++elem_idx) {
        EXPECT_EQ(f16_to_f32(f32_to_f16(values[elem_idx])), f16.value()[elem_idx]) << elem_idx;
        EXPECT_EQ(bf16_to_f32(f32_to_bf16(values[elem_idx])), bf16.value()[elem_idx]) << elem_idx;
    }
    EXPECT_EQ(1.0f, f16.value()[0]);
    EXPECT_EQ(65504.0f, f16.value()[3]);
    auto scalar = st.read_f32("d.scalar");
    ASSERT_TRUE(scalar.ok());
    EXPECT_EQ(std::vector<float>{7.0f}, scalar.value());
    auto empty = st.read_f32("e.empty");
    ASSERT_TRUE(empty.ok());
    EXPECT_TRUE(empty.value().empty());

    auto missing = st.read_f32("missing");
    EXPECT_EQ(StatusCode::kNotFound, missing.status().code());
    EXPECT_NE(std::string::npos, missing.status().message().find("missing"));
}

TEST_F(SafetensorsTest, LargeHalfTensorConvertsAcrossReadChunks) {
    const size_t n = (size_t{1} << 20) + 37;
    std::vector<float> values(n);
    for (size_t elem_idx = 0; elem_idx < n; ++elem_idx)
        values[elem_idx] = static_cast<float>(elem_idx % 2049) - 1024.0f;
    const std::string path = file("big.safetensors");
    ASSERT_TRUE(write_safetensors(path, {{"w", {static_cast<int64_t>(n)}, values.data(), "F16"}}).ok());
    auto st = SafetensorsFile::open(path);
    ASSERT_TRUE(st.ok());
    auto back = st->read_f32("w");
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(values, back.value());  // integers up to 1024 are exact in f16
}

TEST_F(SafetensorsTest, WrittenHeaderIsSortedPaddedAndAligned) {
    const float v[2] = {1.0f, 2.0f};
    const std::string path = file("layout.safetensors");
    ASSERT_TRUE(write_safetensors(path, {{"zeta", {1}, v, "F32"}, {"alpha", {2}, v, "BF16"}}, {{"k", "v"}}).ok());
    const std::string bytes = read_bytes(path);
    ASSERT_GE(bytes.size(), 8u);
    uint64_t header_len = 0;
    for (int byte_idx = 7; byte_idx >= 0; --byte_idx) {
        header_len = (header_len << 8) | static_cast<unsigned char>(bytes[byte_idx]);
    }
    EXPECT_EQ(0u, header_len % 8);
    EXPECT_EQ(8 + header_len + 4 + 4, bytes.size());  // bf16 x2 + f32 x1
    const std::string header = bytes.substr(8, header_len);
    EXPECT_EQ('{', header.front());
    const size_t last_brace = header.find_last_of('}');
    EXPECT_EQ(std::string(header.size() - last_brace - 1, ' '), header.substr(last_brace + 1));
    const size_t meta_pos = header.find("\"__metadata__\"");
    const size_t alpha_pos = header.find("\"alpha\"");
    const size_t zeta_pos = header.find("\"zeta\"");
    ASSERT_NE(std::string::npos, meta_pos);
    EXPECT_LT(meta_pos, alpha_pos);
    EXPECT_LT(alpha_pos, zeta_pos);
    // Data follows in key order: alpha (bf16 1.0, 2.0) then zeta (f32 1.0).
    EXPECT_EQ(u16_bytes({0x3F80, 0x4000}) + f32_bytes({1.0f}), bytes.substr(8 + header_len));
    // No temporary file is left behind.
    for (const auto& entry : fs::directory_iterator(dir_)) {
        EXPECT_EQ(std::string::npos, entry.path().filename().string().find(".tmp.")) << entry.path();
    }
}

TEST_F(SafetensorsTest, ReadsHandBuiltFile) {
    const std::string header = R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},)"
                               R"("b":{"dtype":"BF16","shape":[1,2],"data_offsets":[6,10]},)"
                               R"("f":{"dtype":"F32","shape":[1],"data_offsets":[10,14]},)"
                               R"("i":{"dtype":"I64","shape":[1],"data_offsets":[14,22]},)"
                               R"("__metadata__":{"format":"pt"}})";
    const std::string data =
        u16_bytes({0x3C00, 0x0001, 0xC000}) + u16_bytes({0x3F80, 0xBF80}) + f32_bytes({0.5f}) + std::string(8, '\0');
    const std::string path = write_raw("hand.safetensors", header, data);
    auto st = SafetensorsFile::open(path);
    ASSERT_TRUE(st.ok()) << st.status().message();
    EXPECT_EQ(path, st->path());
    auto h = st->read_f32("h");
    ASSERT_TRUE(h.ok());
    EXPECT_EQ((std::vector<float>{1.0f, std::ldexp(1.0f, -24), -2.0f}), h.value());
    auto b = st->read_f32("b");
    ASSERT_TRUE(b.ok());
    EXPECT_EQ((std::vector<float>{1.0f, -1.0f}), b.value());
    auto f = st->read_f32("f");
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(std::vector<float>{0.5f}, f.value());
    EXPECT_EQ(1, st->tensors().at("i").n_elements());
    auto i = st->read_f32("i");
    EXPECT_EQ(StatusCode::kUnsupported, i.status().code());
    EXPECT_NE(std::string::npos, i.status().message().find("'i'"));
    EXPECT_NE(std::string::npos, i.status().message().find("I64"));
}

// ---- corruption: every case is kInvalidInput naming the path (and the tensor where there is one)

struct CorruptCase {
    const char* label;
    std::string header;
    std::string data;
    uint64_t header_len;  // UINT64_MAX = the real header size
    const char* tensor;   // expected in the message, or nullptr
    const char* detail;   // expected in the message
};

TEST_F(SafetensorsTest, CorruptFilesAreInvalidInputNamingPathAndTensor) {
    const std::string good_entry = R"("dtype":"F32","shape":[2],"data_offsets":[0,8])";
    const CorruptCase cases[] = {
        {"length past the end", "{}", "", 64, nullptr, "runs past the end"},
        {"length over 100 MB", "{}", "", uint64_t{200} << 20, nullptr, "exceeds"},
        {"invalid json", R"({"w": {"dtype": )", "", UINT64_MAX, nullptr, "not valid JSON"},
        {"header not an object", "[1,2]", "", UINT64_MAX, nullptr, "expected a JSON object"},
        {"entry not an object", R"({"w": 3})", "", UINT64_MAX, "'w'", "expected an object"},
        {"missing dtype", R"({"w":{"shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0'), UINT64_MAX, "'w'",
         "missing field 'dtype'"},
        {"missing shape", R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", std::string(8, '\0'), UINT64_MAX, "'w'",
         "missing field 'shape'"},
        {"missing offsets", R"({"w":{"dtype":"F32","shape":[2]}})", std::string(8, '\0'), UINT64_MAX, "'w'",
         "missing field 'data_offsets'"},
        {"dtype not a string", R"({"w":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0'),
         UINT64_MAX, "'w'", "field 'dtype'"},
        {"negative dim", R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", std::string(8, '\0'), UINT64_MAX,
         "'w'", "field 'shape'"},
        {"offsets wrong arity", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", std::string(8, '\0'),
         UINT64_MAX, "'w'", "field 'data_offsets'"},
        {"offsets past buffer", "{\"w\":{" + good_entry + "}}", std::string(6, '\0'), UINT64_MAX, "'w'",
         "run past the data buffer"},
        {"begin after end", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", std::string(8, '\0'),
         UINT64_MAX, "'w'", "begin is after end"},
        {"size mismatch", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0'), UINT64_MAX,
         "'w'", "expected 12"},
        {"shape overflow", R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
         std::string(8, '\0'), UINT64_MAX, "'w'", "too large"},
        {"metadata not strings", R"({"__metadata__":{"n":1}})", "", UINT64_MAX, nullptr, "__metadata__.n"},
    };
    int case_idx = 0;
    for (const CorruptCase& c : cases) {
        const std::string path =
            write_raw("corrupt" + std::to_string(case_idx++) + ".safetensors", c.header, c.data, c.header_len);
        auto st = SafetensorsFile::open(path);
        ASSERT_FALSE(st.ok()) << c.label;
        EXPECT_EQ(StatusCode::kInvalidInput, st.status().code()) << c.label << ": " << st.status().message();
        EXPECT_NE(std::string::npos, st.status().message().find(path)) << c.label << ": " << st.status().message();
        if (c.tensor != nullptr) {
            EXPECT_NE(std::string::npos, st.status().message().find(c.tensor))
                << c.label << ": " << st.status().message();
        }
        EXPECT_NE(std::string::npos, st.status().message().find(c.detail)) << c.label << ": " << st.status().message();
    }
}

TEST_F(SafetensorsTest, ShortAndMissingFiles) {
    for (size_t size : {0, 1, 7}) {
        const std::string path = write_bytes("short" + std::to_string(size), std::string(size, '\x01'));
        auto st = SafetensorsFile::open(path);
        EXPECT_EQ(StatusCode::kInvalidInput, st.status().code()) << size;
        EXPECT_NE(std::string::npos, st.status().message().find(path)) << st.status().message();
        EXPECT_NE(std::string::npos, st.status().message().find("too short")) << st.status().message();
    }
    auto missing = SafetensorsFile::open(file("nope.safetensors"));
    EXPECT_EQ(StatusCode::kNotFound, missing.status().code());
    EXPECT_NE(std::string::npos, missing.status().message().find("nope.safetensors"));
}

TEST_F(SafetensorsTest, OverlappingTensorsAreAccepted) {
    const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
    const std::string path = write_raw("overlap.safetensors", header, f32_bytes({1.0f, 2.0f}));
    auto st = SafetensorsFile::open(path);
    ASSERT_TRUE(st.ok()) << st.status().message();
    auto b = st->read_f32("b");
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(std::vector<float>{2.0f}, b.value());
}

TEST_F(SafetensorsTest, WriteRejectsBadRequestsWithoutCreatingFiles) {
    const float v[1] = {1.0f};
    const std::string path = file("bad.safetensors");
    struct Case {
        const char* label;
        std::vector<TensorToWrite> tensors;
        const char* detail;
    };
    const Case cases[] = {
        {"bad dtype", {{"w", {1}, v, "U8"}}, "dtype U8"},
        {"duplicate", {{"w", {1}, v, "F32"}, {"w", {1}, v, "F32"}}, "twice"},
        {"empty name", {{"", {1}, v, "F32"}}, "empty name"},
        {"reserved name", {{"__metadata__", {1}, v, "F32"}}, "reserved"},
        {"null data", {{"w", {1}, nullptr, "F32"}}, "null"},
        {"negative dim", {{"w", {-1}, v, "F32"}}, "negative"},
    };
    for (const Case& c : cases) {
        const Status status = write_safetensors(path, c.tensors);
        EXPECT_EQ(StatusCode::kInvalidInput, status.code()) << c.label;
        EXPECT_NE(std::string::npos, status.message().find(c.detail)) << c.label << ": " << status.message();
    }
    EXPECT_TRUE(fs::is_empty(dir_));

    const Status no_dir = write_safetensors(file("no/such/dir/x.safetensors"), {{"w", {1}, v, "F32"}});
    EXPECT_EQ(StatusCode::kNotFound, no_dir.code()) << no_dir.message();
    EXPECT_NE(std::string::npos, no_dir.message().find("no/such/dir/x.safetensors"));
}

TEST_F(SafetensorsTest, RewriteReplacesTheFile) {
    const float a[1] = {1.0f};
    const float b[2] = {2.0f, 3.0f};
    const std::string path = file("replace.safetensors");
    ASSERT_TRUE(write_safetensors(path, {{"a", {1}, a, "F32"}}).ok());
    ASSERT_TRUE(write_safetensors(path, {{"b", {2}, b, "F32"}}).ok());
    auto st = SafetensorsFile::open(path);
    ASSERT_TRUE(st.ok());
    EXPECT_FALSE(st->has("a"));
    EXPECT_TRUE(st->has("b"));
}

}  // namespace
}  // namespace mona

namespace mona {
namespace {

TEST_F(SafetensorsTest, WritesIntegerTensorsVerbatim) {
    const int32_t ids[3] = {7, -1, 49151};
    const int64_t offsets[2] = {0, 1LL << 40};
    const float vals[1] = {2.5f};
    const std::string path = file("ints.safetensors");
    ASSERT_TRUE(write_safetensors(path, {{"ids", {3}, nullptr, "I32", ids},
                                         {"offsets", {2}, nullptr, "I64", offsets},
                                         {"vals", {1}, vals, "F32", nullptr}})
                    .ok());
    auto st = SafetensorsFile::open(path);
    ASSERT_TRUE(st.ok()) << st.status().message();
    const TensorInfo& info = st->tensors().at("ids");
    EXPECT_EQ("I32", info.dtype);
    EXPECT_EQ(12u, info.end - info.begin);
    EXPECT_EQ("I64", st->tensors().at("offsets").dtype);
    // The integers sit in the data buffer in name order: ids (12 bytes), offsets (16 bytes), vals.
    const std::string bytes = read_bytes(path);
    uint64_t header_len = 0;
    for (int byte_idx = 7; byte_idx >= 0; --byte_idx)
        header_len = (header_len << 8) | static_cast<uint8_t>(bytes[byte_idx]);
    const char* data = bytes.data() + 8 + header_len;
    int32_t got_ids[3];
    int64_t got_offsets[2];
    std::memcpy(got_ids, data + info.begin, sizeof(got_ids));
    std::memcpy(got_offsets, data + st->tensors().at("offsets").begin, sizeof(got_offsets));
    EXPECT_EQ(49151, got_ids[2]);
    EXPECT_EQ(-1, got_ids[1]);
    EXPECT_EQ(1LL << 40, got_offsets[1]);
    auto v = st->read_f32("vals");
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(2.5f, v.value()[0]);
    // An integer tensor without data is refused before anything is written.
    EXPECT_FALSE(write_safetensors(file("bad.safetensors"), {{"ids", {3}, nullptr, "I32", nullptr}}).ok());
    EXPECT_FALSE(fs::exists(file("bad.safetensors")));
}

}  // namespace
}  // namespace mona
