// Store value encodings (issue 16): the bf16 and q8 codecs against plain references (nearest representable value
// found by brute force), their round-trip error bounds, the exact L1 norm, compressed stores end to end (read,
// resume refusing another encoding by name, slices, merge byte-identical), and the format-1 store written by
// mona before value encodings existed (tests/fixtures/store-v1), which must stay readable and be written again
// byte for byte by an f32 store; format 3's latent bitmap against the gap encoding, and the format-2 stores written
// by mona before format 3 (tests/fixtures/store-v2-q8, store-v2-bf16): read, resumed, written again byte for byte,
// converted by merge.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "store/feature_store.hpp"
#include "store/record_codec.hpp"
#include "store/value_codec.hpp"

namespace mona {
namespace {

namespace fs = std::filesystem;
using namespace store_detail;

const char* const kParams = R"({"model": "tiny.gguf", "layer": 20})";

std::string fresh_dir(const std::string& stem) {
    const std::string dir = ::testing::TempDir() + "mona_store_values_test_" + std::to_string(::getpid()) + "_" + stem;
    fs::remove_all(dir);
    return dir;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

std::map<std::string, std::string> dir_files(const std::string& dir) {
    std::map<std::string, std::string> files;
    for (const auto& item : fs::directory_iterator(dir)) {
        const std::string name = item.path().filename().string();
        if (name != ".lock") files[name] = read_file(item.path().string());
    }
    return files;
}

// Positive values spread over `decades` powers of ten (as pooled SAE codes are), some exact zeros, l1 exact.
std::vector<StoredSample> random_samples(size_t n, uint32_t seed, double decades = 4.0, size_t max_nnz = 300) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> exponent(-decades, 0.0);
    std::vector<StoredSample> samples(n);
    for (size_t row = 0; row < n; ++row) {
        StoredSample& s = samples[row];
        s.record_idx = row * 3;
        s.source_pos = row * 100;
        s.id = std::to_string(row);
        s.id.insert(0, 1, 's');
        s.n_tokens = 1 + rng() % 500;
        const size_t nnz = rng() % (max_nnz + 1);
        uint32_t index = 0;
        for (size_t k = 0; k < nnz; ++k) {
            index += 1 + rng() % 200;
            s.vec.idx.push_back(index);
            const float value = rng() % 50 == 0 ? 0.0f : static_cast<float>(3.0 * std::pow(10.0, exponent(rng)));
            s.vec.val.push_back(value);
            s.vec.l1 += value;
        }
    }
    return samples;
}

StoreOptions options(ValueEncoding values, uint64_t shard_rows = 16, bool resume = false) {
    StoreOptions opts;
    opts.values = values;
    opts.shard_rows = shard_rows;
    opts.params_json = kParams;
    opts.resume = resume;
    return opts;
}

void write_store(const std::string& dir, const std::vector<StoredSample>& samples, const StoreOptions& opts) {
    Result<StoreWriter> writer = StoreWriter::open(dir, opts);
    ASSERT_TRUE(writer.ok()) << writer.status().message();
    for (const StoredSample& sample : samples) {
        Status status = writer->append(sample);
        ASSERT_TRUE(status.ok()) << status.message();
    }
    Status status = writer->commit();
    ASSERT_TRUE(status.ok()) << status.message();
}

std::vector<StoredSample> read_store(const std::string& dir) {
    Result<StoreReader> reader = StoreReader::open(dir);
    EXPECT_TRUE(reader.ok()) << reader.status().message();
    std::vector<StoredSample> out;
    if (!reader.ok()) return out;
    Status status = reader->for_each([&out](const StoredSample& s) {
        out.push_back(s);
        return Status();
    });
    EXPECT_TRUE(status.ok()) << status.message();
    return out;
}

// ---- references ------------------------------------------------------------------------------------------------

// The nearest bf16 to `value` by brute force over the two neighbours (truncation and the next bf16 up), ties to
// the even bit pattern.
uint16_t reference_bf16(float value) {
    const uint32_t bits = std::bit_cast<uint32_t>(value);
    const uint16_t down = static_cast<uint16_t>(bits >> 16);
    const uint16_t up = static_cast<uint16_t>(down + 1);
    const double v = value;
    const double d_down = std::fabs(double(float_from_bf16(down)) - v);
    const float up_value = float_from_bf16(up);
    if (!std::isfinite(up_value)) return down;  // never round a finite value to infinity
    const double d_up = std::fabs(double(up_value) - v);
    if (d_down < d_up) return down;
    if (d_up < d_down) return up;
    return (down & 1u) == 0 ? down : up;
}

// The q8 grid as the format defines it, written out plainly: g[1] = lo, g[c+1] = g[c] * ratio in float.
std::vector<float> reference_grid(float lo, float ratio) {
    std::vector<float> grid(256, 0.0f);
    float value = lo;
    for (int code = 1; code < 256; ++code) {
        grid[code] = value;
        value = value * ratio;
    }
    return grid;
}

// The nearest grid value by scanning all codes 1..255 (ties: the lower code); 0 only for value 0.
int reference_code(const std::vector<float>& grid, float value) {
    if (value == 0.0f) return 0;
    int best = 1;
    for (int code = 2; code < 256; ++code) {
        if (std::fabs(double(grid[code]) - value) < std::fabs(double(grid[best]) - value)) best = code;
    }
    return best;
}

// ---- codecs ----------------------------------------------------------------------------------------------------

TEST(StoreValues, NamesRoundTripAndUnknownNamesAreRefused) {
    for (ValueEncoding e : {ValueEncoding::kF32, ValueEncoding::kBf16, ValueEncoding::kQ8}) {
        Result<ValueEncoding> parsed = parse_value_encoding(value_encoding_name(e));
        ASSERT_TRUE(parsed.ok());
        EXPECT_EQ(e, *parsed);
    }
    Result<ValueEncoding> bad = parse_value_encoding("fp8");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(std::string::npos, bad.status().message().find("f32, bf16, q8 or q12")) << bad.status().message();
}

TEST(StoreValues, Bf16IsNearestTiesToEvenAgainstBruteForce) {
    std::mt19937 rng(11);
    std::vector<float> values = {0.0f,
                                 -0.0f,
                                 1.0f,
                                 std::numeric_limits<float>::denorm_min(),
                                 std::numeric_limits<float>::max(),
                                 -std::numeric_limits<float>::max(),
                                 std::bit_cast<float>(0x3F808000u),  // exactly halfway, even below
                                 std::bit_cast<float>(0x3F818000u),  // exactly halfway, odd below
                                 1e-30f,
                                 -3.5f};
    for (int i = 0; i < 200000; ++i) {
        const float v = std::bit_cast<float>(static_cast<uint32_t>(rng()));
        if (std::isfinite(v)) values.push_back(v);
    }
    for (float v : values) {
        const uint16_t bits = bf16_from_float(v);
        ASSERT_EQ(reference_bf16(v), bits) << v;
        const float back = float_from_bf16(bits);
        ASSERT_TRUE(std::isfinite(back)) << v;
        // Relative error <= 2^-8 for normal values (half a unit in the last of the significand's 8 bits).
        if (std::fabs(v) >= std::numeric_limits<float>::min() && std::fabs(v) < 3e38f) {
            ASSERT_LE(std::fabs(double(back) - v), std::ldexp(std::fabs(double(v)), -8)) << v;
        }
        ASSERT_EQ(bits, bf16_from_float(back)) << "a bf16 value encodes to itself: " << v;
    }
}

TEST(StoreValues, Q8CodesAreTheNearestGridValueAgainstBruteForce) {
    std::mt19937 rng(12);
    for (int trial = 0; trial < 300; ++trial) {
        const double decades = 0.5 + (trial % 12);
        std::uniform_real_distribution<double> exponent(-decades, 0.0);
        std::vector<float> values(1 + rng() % 400);
        const double scale = std::pow(10.0, double(int(rng() % 20)) - 10.0);
        for (float& v : values) v = rng() % 30 == 0 ? 0.0f : static_cast<float>(scale * std::pow(10.0, exponent(rng)));
        const Q8Grid grid = q8_grid_for(values.data(), values.size());
        const std::vector<float> ref = reference_grid(grid.lo, grid.ratio);
        for (int code = 0; code < 256; ++code) ASSERT_EQ(ref[code], grid.table[code]) << code;
        // The grid spans the values: lo is the smallest positive value, the top within rounding of the largest.
        float lo = 0, hi = 0;
        for (float v : values) {
            if (v > 0) lo = lo == 0 ? v : std::min(lo, v), hi = std::max(hi, v);
        }
        if (lo == 0) continue;
        EXPECT_EQ(lo, grid.lo);
        EXPECT_NEAR(hi, grid.table[255], 1e-4 * hi);
        const double half_step = (double(grid.ratio) - 1.0) / 2.0;
        std::string block;
        encode_values(block, ValueEncoding::kQ8, values.data(), values.size());
        ASSERT_EQ(value_block_bytes(ValueEncoding::kQ8, values.size()), block.size());
        std::vector<float> decoded(values.size());
        decode_values(block.data(), ValueEncoding::kQ8, values.size(), decoded.data());
        for (size_t k = 0; k < values.size(); ++k) {
            const int code = static_cast<unsigned char>(block[8 + k]);
            ASSERT_EQ(reference_code(ref, values[k]), code) << values[k];
            ASSERT_EQ(ref[code], decoded[k]);
            if (values[k] == 0.0f) {
                ASSERT_EQ(0.0f, decoded[k]);
            } else {
                // Between neighbours g and g·ratio the nearest is within (ratio − 1)/2 of the value, relatively,
                // up to the float rounding of the grid (a few ulps per step, 255 steps).
                ASSERT_LE(std::fabs(double(decoded[k]) - values[k]), values[k] * (half_step + 1e-4)) << values[k];
            }
        }
    }
}

TEST(StoreValues, Q8EdgeCases) {
    // All equal, a single value, only zeros, and values near FLT_MAX (the grid must stay finite).
    const std::vector<std::vector<float>> cases = {{2.5f, 2.5f, 2.5f},
                                                   {7.0f},
                                                   {0.0f, 0.0f},
                                                   {std::numeric_limits<float>::max(), 1.0f, 3e38f},
                                                   {std::numeric_limits<float>::denorm_min(), 1.0f}};
    for (const auto& values : cases) {
        std::string block;
        encode_values(block, ValueEncoding::kQ8, values.data(), values.size());
        std::vector<float> decoded(values.size());
        decode_values(block.data(), ValueEncoding::kQ8, values.size(), decoded.data());
        for (size_t k = 0; k < values.size(); ++k) {
            ASSERT_TRUE(std::isfinite(decoded[k]));
            if (values[k] == 0.0f) {
                EXPECT_EQ(0.0f, decoded[k]);
            }
        }
        if (values.size() <= 3 && values[0] != 0.0f && values[0] == values.back()) {
            EXPECT_EQ(values[0], decoded[0]);  // one distinct value is stored exactly
        }
    }
    // The largest value must not decode to infinity.
    const std::vector<float> big = {std::numeric_limits<float>::max(), 1e-30f};
    std::string block;
    encode_values(block, ValueEncoding::kQ8, big.data(), big.size());
    std::vector<float> decoded(2);
    decode_values(block.data(), ValueEncoding::kQ8, 2, decoded.data());
    EXPECT_TRUE(std::isfinite(decoded[0]));
    EXPECT_EQ(1e-30f, decoded[1]);
}

// The q12 grid as the format defines it, written out plainly: fine[j] = ratio^j by repeated float multiplication,
// step = fine[63] * ratio, coarse[i] = lo * step^i likewise, code c -> coarse[(c-1)/64] * fine[(c-1)%64].
std::vector<float> reference_q12_grid(float lo, float ratio) {
    std::vector<float> fine(64), coarse(64), grid(4096, 0.0f);
    float power = 1.0f;
    for (int j = 0; j < 64; ++j) fine[j] = power, power = power * ratio;
    float value = lo;
    for (int i = 0; i < 64; ++i) coarse[i] = value, value = value * power;
    for (int code = 1; code < 4096; ++code) grid[code] = coarse[(code - 1) / 64] * fine[(code - 1) % 64];
    return grid;
}

// The 12-bit codes of a q12 block, unpacked plainly bit by bit (code k = bits 12k .. 12k+11 of the code bytes).
std::vector<int> reference_q12_codes(const std::string& block, size_t n) {
    std::vector<int> codes(n, 0);
    for (size_t k = 0; k < n; ++k) {
        for (int bit = 0; bit < 12; ++bit) {
            const size_t at = 12 * k + bit;
            if ((static_cast<unsigned char>(block[8 + at / 8]) >> (at % 8)) & 1) codes[k] |= 1 << bit;
        }
    }
    return codes;
}

TEST(StoreValues, Q12CodesAreTheNearestGridValueAgainstBruteForce) {
    std::mt19937 rng(13);
    for (int trial = 0; trial < 120; ++trial) {
        const double decades = 0.5 + (trial % 12);
        std::uniform_real_distribution<double> exponent(-decades, 0.0);
        std::vector<float> values(1 + rng() % 300);
        const double scale = std::pow(10.0, double(int(rng() % 20)) - 10.0);
        for (float& v : values) v = rng() % 30 == 0 ? 0.0f : static_cast<float>(scale * std::pow(10.0, exponent(rng)));
        std::string block;
        encode_values(block, ValueEncoding::kQ12, values.data(), values.size());
        ASSERT_EQ(value_block_bytes(ValueEncoding::kQ12, values.size()), block.size());
        float lo = 0.0f;
        float ratio = 0.0f;
        std::memcpy(&lo, block.data(), 4);
        std::memcpy(&ratio, block.data() + 4, 4);
        const std::vector<float> ref = reference_q12_grid(lo, ratio);
        const std::vector<int> codes = reference_q12_codes(block, values.size());
        std::vector<float> decoded(values.size());
        decode_values(block.data(), ValueEncoding::kQ12, values.size(), decoded.data());
        float min_pos = 0, hi = 0;
        for (float v : values) {
            if (v > 0) min_pos = min_pos == 0 ? v : std::min(min_pos, v), hi = std::max(hi, v);
        }
        if (min_pos > 0) {
            EXPECT_EQ(min_pos, lo);
            // The grid spans every value: its top reaches the largest, overshooting by rounding only.
            EXPECT_GE(ref[4095], hi);
            EXPECT_NEAR(hi, ref[4095], 1e-3 * hi);
        }
        const double half_step = (double(ratio) - 1.0) / 2.0;
        for (size_t k = 0; k < values.size(); ++k) {
            // The nearest of all 4,095 grid values (ties: the lower code), by brute force.
            int best = 0;
            if (values[k] != 0.0f) {
                best = 1;
                for (int code = 2; code < 4096; ++code) {
                    if (std::fabs(double(ref[code]) - values[k]) < std::fabs(double(ref[best]) - values[k]))
                        best = code;
                }
            }
            ASSERT_EQ(best, codes[k]) << values[k] << " trial " << trial;
            ASSERT_EQ(ref[best], decoded[k]);
            if (values[k] != 0.0f) {
                ASSERT_LE(std::fabs(double(decoded[k]) - values[k]), values[k] * (half_step + 1e-5)) << values[k];
            }
        }
    }
    // Edge cases: all equal (stored exactly), zeros only, values near FLT_MAX (the grid stays finite), denormals.
    const std::vector<std::vector<float>> cases = {{2.5f, 2.5f, 2.5f},
                                                   {0.0f, 0.0f},
                                                   {std::numeric_limits<float>::max(), 1.0f, 3e38f},
                                                   {std::numeric_limits<float>::denorm_min(), 1.0f, 0.5f}};
    for (const auto& values : cases) {
        std::string block;
        encode_values(block, ValueEncoding::kQ12, values.data(), values.size());
        std::vector<float> decoded(values.size());
        decode_values(block.data(), ValueEncoding::kQ12, values.size(), decoded.data());
        for (size_t k = 0; k < values.size(); ++k) {
            ASSERT_TRUE(std::isfinite(decoded[k])) << k;
            if (values[k] == 0.0f) {
                EXPECT_EQ(0.0f, decoded[k]);
            }
        }
        if (values[0] == 2.5f) {
            EXPECT_EQ(2.5f, decoded[2]);
        }
    }
}

// ---- stores ----------------------------------------------------------------------------------------------------

TEST(StoreValues, CompressedStoresDecodeExactlyAsTheCodecAndKeepTheExactL1) {
    const std::vector<StoredSample> samples = random_samples(150, 21);
    for (ValueEncoding e : {ValueEncoding::kBf16, ValueEncoding::kQ8, ValueEncoding::kQ12}) {
        SCOPED_TRACE(value_encoding_name(e));
        const std::string dir = fresh_dir(std::string("rt_") + value_encoding_name(e));
        write_store(dir, samples, options(e));
        Result<StoreReader> reader = StoreReader::open(dir);
        ASSERT_TRUE(reader.ok()) << reader.status().message();
        EXPECT_EQ(e, reader->values());
        EXPECT_EQ(3u, reader->format_version());
        EXPECT_TRUE(reader->verify().ok());
        EXPECT_NE(
            std::string::npos,
            read_file(dir + "/manifest.json").find(std::string("\"values\": \"") + value_encoding_name(e) + "\""));
        const std::vector<StoredSample> back = read_store(dir);
        ASSERT_EQ(samples.size(), back.size());
        for (size_t row = 0; row < samples.size(); ++row) {
            const StoredSample& a = samples[row];
            const StoredSample& b = back[row];
            EXPECT_EQ(a.record_idx, b.record_idx);
            EXPECT_EQ(a.id, b.id);
            EXPECT_EQ(a.vec.idx, b.vec.idx);
            EXPECT_EQ(0, std::memcmp(&a.vec.l1, &b.vec.l1, sizeof(double))) << "l1 must stay exact";
            std::string block;
            encode_values(block, e, a.vec.val.data(), a.vec.val.size());
            std::vector<float> expected(a.vec.val.size());
            decode_values(block.data(), e, expected.size(), expected.data());
            ASSERT_EQ(expected, b.vec.val) << "row " << row;
            for (size_t k = 0; k < a.vec.val.size(); ++k) {
                // 4 decades: ~1.9 % for q8, ~0.12 % for q12
                const double bound = e == ValueEncoding::kBf16 ? std::ldexp(1.0, -8)
                                     : e == ValueEncoding::kQ8 ? 0.03
                                                               : 0.002;
                ASSERT_LE(std::fabs(double(b.vec.val[k]) - a.vec.val[k]), bound * a.vec.val[k]) << row << "/" << k;
            }
        }
        fs::remove_all(dir);
    }
}

TEST(StoreValues, CompressedStoresAreSmaller) {
    const std::vector<StoredSample> samples = random_samples(100, 22, 4.0, 1500);
    std::map<ValueEncoding, double> per_sample;
    size_t n_values = 0;
    for (const StoredSample& s : samples) n_values += s.vec.nnz();
    for (ValueEncoding e : {ValueEncoding::kF32, ValueEncoding::kBf16, ValueEncoding::kQ8}) {
        const std::string dir = fresh_dir(std::string("size_") + value_encoding_name(e));
        StoreOptions opts = options(e, 100);
        if (e != ValueEncoding::kF32) opts.format_version = 2;  // the indices as format 1 writes them
        write_store(dir, samples, opts);
        Result<StoreReader> reader = StoreReader::open(dir);
        ASSERT_TRUE(reader.ok());
        per_sample[e] = double(reader->bytes_on_disk());
        fs::remove_all(dir);
    }
    // Same indices and fixed fields; the value blocks differ by exactly 2 bytes (bf16) or 3 bytes minus the 8-byte
    // grid of each non-empty sample (q8) per value.
    size_t n_nonempty = 0;
    for (const StoredSample& s : samples) n_nonempty += s.vec.nnz() > 0;
    EXPECT_EQ(per_sample[ValueEncoding::kF32] - 2.0 * n_values, per_sample[ValueEncoding::kBf16]);
    EXPECT_EQ(per_sample[ValueEncoding::kF32] - 3.0 * n_values + 8.0 * n_nonempty, per_sample[ValueEncoding::kQ8]);
}

TEST(StoreValues, ResumeAndSetsRefuseAnotherEncodingByName) {
    const std::vector<StoredSample> samples = random_samples(40, 23, 3.0, 20);
    const std::string dir = fresh_dir("resume_mix");
    write_store(dir, samples, options(ValueEncoding::kQ8, 8));
    for (ValueEncoding e : {ValueEncoding::kF32, ValueEncoding::kBf16, ValueEncoding::kQ12}) {
        Result<StoreWriter> writer = StoreWriter::open(dir, options(e, 8, /*resume=*/true));
        ASSERT_FALSE(writer.ok());
        EXPECT_NE(std::string::npos, writer.status().message().find("'values' differs (store: q8, now: "))
            << writer.status().message();
    }
    Result<StoreWriter> same = StoreWriter::open(dir, options(ValueEncoding::kQ8, 8, /*resume=*/true));
    EXPECT_TRUE(same.ok()) << same.status().message();

    // Two slices of one pool with different encodings do not form a set.
    std::vector<StoredSample> even, odd;
    for (const StoredSample& s : samples) {
        StoredSample copy = s;
        copy.record_idx = s.record_idx;
        (s.record_idx % 2 == 0 ? even : odd).push_back(copy);
    }
    const std::string a = fresh_dir("mix_a");
    const std::string b = fresh_dir("mix_b");
    StoreOptions oa = options(ValueEncoding::kQ8, 8);
    oa.slice_idx = 0;
    oa.n_slices = 2;
    StoreOptions ob = options(ValueEncoding::kBf16, 8);
    ob.slice_idx = 1;
    ob.n_slices = 2;
    write_store(a, even, oa);
    write_store(b, odd, ob);
    Result<StoreSet> set = StoreSet::open({a, b});
    ASSERT_FALSE(set.ok());
    EXPECT_NE(std::string::npos, set.status().message().find("'values' differs")) << set.status().message();
    fs::remove_all(dir);
    fs::remove_all(a);
    fs::remove_all(b);
}

TEST(StoreValues, Q8RefusesNegativeValuesNamingTheRecord) {
    const std::string dir = fresh_dir("negative");
    Result<StoreWriter> writer = StoreWriter::open(dir, options(ValueEncoding::kQ8));
    ASSERT_TRUE(writer.ok());
    StoredSample s;
    s.record_idx = 4;
    s.id = "neg";
    s.vec.idx = {1, 9};
    s.vec.val = {1.0f, -0.5f};
    s.vec.l1 = 1.5;
    Status status = writer->append(s);
    ASSERT_FALSE(status.ok());
    EXPECT_NE(std::string::npos, status.message().find("record 4 (id \"neg\")")) << status.message();
    EXPECT_NE(std::string::npos, status.message().find("latent 9 is negative")) << status.message();
    s.vec.val = {1.0f, -0.0f};  // negative zero is zero
    EXPECT_TRUE(writer->append(s).ok());
    EXPECT_TRUE(writer->commit().ok());
    const std::vector<StoredSample> back = read_store(dir);
    ASSERT_EQ(1u, back.size());
    EXPECT_EQ((std::vector<float>{1.0f, 0.0f}), back[0].vec.val);
    fs::remove_all(dir);
}

TEST(StoreValues, CompressedSlicesMergeByteIdenticalToOneStore) {
    const std::vector<StoredSample> samples = random_samples(90, 24, 4.0, 40);
    for (ValueEncoding e : {ValueEncoding::kBf16, ValueEncoding::kQ8}) {
        SCOPED_TRACE(value_encoding_name(e));
        const std::string single = fresh_dir(std::string("merge_single_") + value_encoding_name(e));
        write_store(single, samples, options(e, 16));
        std::vector<std::string> dirs;
        for (uint32_t slice = 0; slice < 3; ++slice) {
            std::vector<StoredSample> part;
            for (const StoredSample& s : samples) {
                if (belongs_to_slice(s.record_idx, slice, 3)) part.push_back(s);
            }
            StoreOptions opts = options(e, 7);
            opts.slice_idx = slice;
            opts.n_slices = 3;
            dirs.push_back(fresh_dir(std::string("merge_slice_") + value_encoding_name(e) + std::to_string(slice)));
            write_store(dirs.back(), part, opts);
        }
        const std::string merged = fresh_dir(std::string("merge_out_") + value_encoding_name(e));
        MergeOptions merge_options;
        merge_options.shard_rows = 16;
        Status status = merge_stores(merged, dirs, merge_options);
        ASSERT_TRUE(status.ok()) << status.message();
        EXPECT_EQ(dir_files(single), dir_files(merged));
        for (const std::string& dir : dirs) fs::remove_all(dir);
        fs::remove_all(single);
        fs::remove_all(merged);
    }
}

// ---- format 1 ----------------------------------------------------------------------------------------------------

// The samples tests/fixtures/store-v1 holds: written by mona c1d9157 (store format 1) with the program in
// tests/fixtures/store-v1.md, shard_rows 3.
std::vector<StoredSample> fixture_samples() {
    std::vector<StoredSample> samples;
    for (uint64_t r = 0; r < 5; ++r) {
        StoredSample s;
        s.record_idx = r * 2;
        s.source_pos = r * 100 + 7;
        s.id = "v1-" + std::to_string(r);
        s.n_tokens = 10 + static_cast<uint32_t>(r);
        for (uint32_t k = 0; k < 4 + r; ++k) {
            s.vec.idx.push_back(k * 37 + static_cast<uint32_t>(r));
            const float v = std::ldexp(static_cast<float>(1 + k + 3 * r), -3);
            s.vec.val.push_back(v);
            s.vec.l1 += v;
        }
        samples.push_back(s);
    }
    return samples;
}

const char* const kFixtureParams =
    R"({"model": "tiny.gguf", "layer": 2, "note": "written by mona c1d9157 , store format 1"})";

TEST(StoreValues, Format1StoreFromBeforeValueEncodingsIsReadExactly) {
    const std::string fixture = std::string(MONA_SOURCE_DIR) + "/tests/fixtures/store-v1";
    Result<StoreReader> reader = StoreReader::open(fixture);
    ASSERT_TRUE(reader.ok()) << reader.status().message();
    EXPECT_EQ(1u, reader->format_version());
    EXPECT_EQ(ValueEncoding::kF32, reader->values());
    EXPECT_TRUE(reader->verify().ok());
    const std::vector<StoredSample> expected = fixture_samples();
    const std::vector<StoredSample> back = read_store(fixture);
    ASSERT_EQ(expected.size(), back.size());
    for (size_t row = 0; row < expected.size(); ++row) {
        EXPECT_EQ(expected[row].record_idx, back[row].record_idx);
        EXPECT_EQ(expected[row].source_pos, back[row].source_pos);
        EXPECT_EQ(expected[row].id, back[row].id);
        EXPECT_EQ(expected[row].n_tokens, back[row].n_tokens);
        EXPECT_EQ(expected[row].vec.idx, back[row].vec.idx);
        EXPECT_EQ(expected[row].vec.val, back[row].vec.val);
        EXPECT_EQ(expected[row].vec.l1, back[row].vec.l1);
    }
}

TEST(StoreValues, F32StoresAreStillWrittenAsFormat1ByteForByte) {
    const std::string dir = fresh_dir("v1_again");
    StoreOptions opts = options(ValueEncoding::kF32, 3);
    opts.params_json = kFixtureParams;
    write_store(dir, fixture_samples(), opts);
    EXPECT_EQ(dir_files(std::string(MONA_SOURCE_DIR) + "/tests/fixtures/store-v1"), dir_files(dir));
    fs::remove_all(dir);
}

TEST(StoreValues, UnknownVersionsAndMismatchedManifestsAreRefused) {
    const std::string fixture = std::string(MONA_SOURCE_DIR) + "/tests/fixtures/store-v1";
    const std::string manifest = read_file(fixture + "/manifest.json");
    auto with_manifest = [&](const std::string& stem, const std::string& text) {
        const std::string dir = fresh_dir(stem);
        fs::copy(fixture, dir);
        std::ofstream(dir + "/manifest.json", std::ios::trunc) << text;
        return dir;
    };
    auto replaced = [&](const std::string& from, const std::string& to) {
        const size_t at = manifest.find(from);
        EXPECT_NE(std::string::npos, at) << from;
        if (at == std::string::npos) return manifest;
        return manifest.substr(0, at) + to + manifest.substr(at + from.size());
    };
    {  // a newer version
        const std::string dir = with_manifest("v4", replaced("\"format_version\": 1", "\"format_version\": 4"));
        Result<StoreReader> reader = StoreReader::open(dir);
        ASSERT_FALSE(reader.ok());
        EXPECT_EQ(StatusCode::kUnsupported, reader.status().code());
        fs::remove_all(dir);
    }
    {  // format 2 without "values", and format 1 with it
        const std::string dir =
            with_manifest("v2_novalues", replaced("\"format_version\": 1", "\"format_version\": 2"));
        Result<StoreReader> reader = StoreReader::open(dir);
        ASSERT_FALSE(reader.ok());
        EXPECT_NE(std::string::npos, reader.status().message().find("field values: missing"))
            << reader.status().message();
        fs::remove_all(dir);
        const std::string dir1 =
            with_manifest("v1_values", replaced("\"keep\": 0,", "\"keep\": 0,\n  \"values\": \"q8\","));
        Result<StoreReader> reader1 = StoreReader::open(dir1);
        ASSERT_FALSE(reader1.ok());
        EXPECT_NE(std::string::npos, reader1.status().message().find("field values")) << reader1.status().message();
        fs::remove_all(dir1);
    }
    {  // a format 2 manifest over format 1 shards: the shard header names the mismatch
        const std::string dir = with_manifest(
            "v2_over_v1", replaced("\"format_version\": 1,", "\"format_version\": 2,\n  \"values\": \"bf16\","));
        Result<StoreReader> reader = StoreReader::open(dir);
        ASSERT_TRUE(reader.ok()) << reader.status().message();
        Status status = reader->verify();
        ASSERT_FALSE(status.ok());
        EXPECT_NE(std::string::npos, status.message().find("shard-00000.bin: shard format version 1"))
            << status.message();
        fs::remove_all(dir);
    }
}

// ---- format 3: the latent bitmap, and format-2 stores ------------------------------------------------------------

// The samples tests/fixtures/store-v2-q8 and store-v2-bf16 hold: written by mona b25c97f (store format 2) with the
// program in tests/fixtures/store-v2.md, shard_rows 3. The last one is dense (16 consecutive latents).
std::vector<StoredSample> fixture_v2_samples() {
    std::vector<StoredSample> samples;
    for (uint64_t r = 0; r < 5; ++r) {
        StoredSample s;
        s.record_idx = r * 2;
        s.source_pos = r * 100 + 7;
        s.id = "v2-" + std::to_string(r);
        s.n_tokens = 10 + static_cast<uint32_t>(r);
        for (uint32_t k = 0; k < 4 + 3 * r; ++k) {
            s.vec.idx.push_back(k * (r == 4 ? 1 : 37) + static_cast<uint32_t>(r));
            const float v = std::ldexp(static_cast<float>(1 + k + 3 * r), -3) * (k % 2 ? 1.1f : 0.7f);
            s.vec.val.push_back(v);
            s.vec.l1 += v;
        }
        samples.push_back(s);
    }
    return samples;
}

const char* const kFixtureV2Params =
    R"({"model": "tiny.gguf", "layer": 2, "note": "written by mona b25c97f, store format 2"})";

// What a store of `values` must hand back for `sample`: its indices and l1, its values through the codec.
StoredSample decoded_as(const StoredSample& sample, ValueEncoding values) {
    StoredSample out = sample;
    std::string block;
    encode_values(block, values, sample.vec.val.data(), sample.vec.val.size());
    decode_values(block.data(), values, sample.vec.val.size(), out.vec.val.data());
    return out;
}

void expect_same_samples(const std::vector<StoredSample>& expected, const std::vector<StoredSample>& back) {
    ASSERT_EQ(expected.size(), back.size());
    for (size_t row = 0; row < expected.size(); ++row) {
        EXPECT_EQ(expected[row].record_idx, back[row].record_idx) << row;
        EXPECT_EQ(expected[row].source_pos, back[row].source_pos) << row;
        EXPECT_EQ(expected[row].id, back[row].id) << row;
        EXPECT_EQ(expected[row].n_tokens, back[row].n_tokens) << row;
        EXPECT_EQ(expected[row].vec.idx, back[row].vec.idx) << row;
        EXPECT_EQ(expected[row].vec.val, back[row].vec.val) << row;
        EXPECT_EQ(expected[row].vec.l1, back[row].vec.l1) << row;
    }
}

TEST(StoreFormat3, Format2StoresFromBeforeTheBitmapAreReadExactlyAndWrittenAgainByteForByte) {
    for (ValueEncoding values : {ValueEncoding::kQ8, ValueEncoding::kBf16}) {
        const std::string fixture =
            std::string(MONA_SOURCE_DIR) + "/tests/fixtures/store-v2-" + value_encoding_name(values);
        Result<StoreReader> reader = StoreReader::open(fixture);
        ASSERT_TRUE(reader.ok()) << reader.status().message();
        EXPECT_EQ(2u, reader->format_version());
        EXPECT_EQ(values, reader->values());
        EXPECT_TRUE(reader->verify().ok());
        std::vector<StoredSample> expected;
        for (const StoredSample& sample : fixture_v2_samples()) expected.push_back(decoded_as(sample, values));
        expect_same_samples(expected, read_store(fixture));

        // The format-2 writer, kept for resuming such stores, still writes these bytes.
        const std::string dir = fresh_dir(std::string("v2_again_") + value_encoding_name(values));
        StoreOptions opts = options(values, 3);
        opts.params_json = kFixtureV2Params;
        opts.format_version = 2;
        write_store(dir, fixture_v2_samples(), opts);
        EXPECT_EQ(dir_files(fixture), dir_files(dir));
        fs::remove_all(dir);
    }
}

TEST(StoreFormat3, BitmapAndGapsDecodeToTheSameSamplesAndTheBitmapIsTakenWhenSmaller) {
    // Dense vectors (a latent in every 1..3), sparse ones (gaps up to 200), empty ones and a single latent at a
    // large index: every sample must come back exactly as the format-2 gaps give it.
    std::mt19937 rng(11);
    std::vector<StoredSample> samples = random_samples(60, 5);
    for (size_t row = 0; row < samples.size(); row += 2) {
        SparseVec& vec = samples[row].vec;
        vec = SparseVec();
        uint32_t index = rng() % 9;
        const size_t nnz = row % 10 == 0 ? 0 : 1 + rng() % 800;
        for (size_t k = 0; k < nnz; ++k) {
            vec.idx.push_back(index);
            index += 1 + rng() % 3;
            const float value = static_cast<float>(0.01 + (rng() % 1000) / 100.0);
            vec.val.push_back(value);
            vec.l1 += value;
        }
    }
    samples[1].vec = SparseVec();
    samples[1].vec.idx = {131071};
    samples[1].vec.val = {2.5f};
    samples[1].vec.l1 = 2.5;
    for (ValueEncoding values : {ValueEncoding::kQ8, ValueEncoding::kBf16}) {
        const std::string v2 = fresh_dir("gaps");
        const std::string v3 = fresh_dir("bitmap");
        StoreOptions opts = options(values, 7);
        opts.format_version = 2;
        write_store(v2, samples, opts);
        opts.format_version = 0;
        write_store(v3, samples, opts);
        Result<StoreReader> r2 = StoreReader::open(v2);
        Result<StoreReader> r3 = StoreReader::open(v3);
        ASSERT_TRUE(r2.ok() && r3.ok());
        EXPECT_EQ(2u, r2->format_version());
        EXPECT_EQ(3u, r3->format_version());
        EXPECT_TRUE(r3->verify().ok());
        std::vector<StoredSample> expected;
        for (const StoredSample& sample : samples) expected.push_back(decoded_as(sample, values));
        expect_same_samples(expected, read_store(v2));
        expect_same_samples(expected, read_store(v3));
        // The bitmap is taken exactly when smaller: the stores' sizes differ by what a plain count of both index
        // encodings gives per sample (the count varint holds nnz in format 2, nnz * 2 + 1 bit in format 3).
        auto varint_len = [](uint64_t value) { return value < 128 ? 1 : value < 16384 ? 2 : 3; };
        int64_t saved = 0;
        int64_t n_bitmaps = 0;
        for (const StoredSample& sample : samples) {
            const uint64_t nnz = sample.vec.idx.size();
            int64_t gaps = 0;
            for (size_t k = 0; k < nnz; ++k) {
                gaps += varint_len(k == 0 ? sample.vec.idx[0] : sample.vec.idx[k] - sample.vec.idx[k - 1] - 1);
            }
            const uint64_t bitmap_bytes = nnz == 0 ? 0 : sample.vec.idx.back() / 8 + 1;
            const int64_t bitmap = nnz == 0 ? gaps + 1 : varint_len(bitmap_bytes) + int64_t(bitmap_bytes);
            n_bitmaps += bitmap < gaps;
            saved += varint_len(nnz) + gaps - (varint_len(nnz * 2) + std::min(gaps, bitmap));
        }
        EXPECT_GE(n_bitmaps, 20);
        EXPECT_GT(saved, 1000);
        EXPECT_EQ(int64_t(r2->bytes_on_disk()) - int64_t(r3->bytes_on_disk()), saved);
        fs::remove_all(v2);
        fs::remove_all(v3);
    }
}

TEST(StoreFormat3, ResumeKeepsTheStoresFormatAndMergeConvertsFormat2) {
    const std::string fixture = std::string(MONA_SOURCE_DIR) + "/tests/fixtures/store-v2-q8";
    std::vector<StoredSample> expected;
    for (const StoredSample& sample : fixture_v2_samples()) expected.push_back(decoded_as(sample, ValueEncoding::kQ8));
    {  // resuming a format-2 store appends format-2 records
        const std::string dir = fresh_dir("resume_v2");
        fs::copy(fixture, dir);
        StoreOptions opts = options(ValueEncoding::kQ8, 3, true);
        opts.params_json = kFixtureV2Params;
        Result<StoreWriter> writer = StoreWriter::open(dir, opts);
        ASSERT_TRUE(writer.ok()) << writer.status().message();
        EXPECT_EQ(2u, writer->format_version());
        StoredSample more = fixture_v2_samples()[4];
        more.record_idx = 20;
        more.id = "more";
        ASSERT_TRUE(writer->append(more).ok());
        ASSERT_TRUE(writer->commit().ok());
        writer = Result<StoreWriter>(invalid_input("closed"));  // releases the store's lock
        std::vector<StoredSample> back = read_store(dir);
        ASSERT_EQ(6u, back.size());
        EXPECT_EQ(decoded_as(more, ValueEncoding::kQ8).vec.val, back[5].vec.val);
        EXPECT_EQ(more.vec.idx, back[5].vec.idx);
        Result<StoreReader> reader = StoreReader::open(dir);
        ASSERT_TRUE(reader.ok());
        EXPECT_EQ(2u, reader->format_version());
        EXPECT_TRUE(reader->verify().ok());
        // Asking for format 3 on it is refused by name.
        opts.format_version = 3;
        Result<StoreWriter> other = StoreWriter::open(dir, opts);
        ASSERT_FALSE(other.ok());
        EXPECT_NE(std::string::npos, other.status().message().find("'format_version' differs (store: 2, now: 3)"))
            << other.status().message();
        fs::remove_all(dir);
    }
    {  // merge converts: a format-3 store with the same samples, bytes equal to a fresh format-3 writer's
        const std::string merged = fresh_dir("merged_v3");
        ASSERT_TRUE(merge_stores(merged, {fixture}).ok());
        Result<StoreReader> reader = StoreReader::open(merged);
        ASSERT_TRUE(reader.ok());
        EXPECT_EQ(3u, reader->format_version());
        EXPECT_TRUE(reader->verify().ok());
        expect_same_samples(expected, read_store(merged));
        const std::string direct = fresh_dir("direct_v3");
        StoreOptions opts = options(ValueEncoding::kQ8, 3);
        opts.params_json = kFixtureV2Params;
        write_store(direct, fixture_v2_samples(), opts);
        EXPECT_EQ(dir_files(direct), dir_files(merged));
        EXPECT_LT(reader->bytes_on_disk(), StoreReader::open(fixture)->bytes_on_disk());  // the dense sample
        fs::remove_all(merged);
        fs::remove_all(direct);
    }
    {  // a format-2 and a format-3 slice (one pool embedded partly by an older mona) read as one pool, each in its
       // own format, and merge into the format-3 store one writer would have written
        const std::string a = fresh_dir("slice0_v2");
        const std::string b = fresh_dir("slice1_v3");
        StoreOptions opts = options(ValueEncoding::kQ8, 3);
        opts.n_slices = 2;
        opts.format_version = 2;
        const std::vector<StoredSample> samples = random_samples(10, 3);
        std::vector<StoredSample> even, odd;
        for (const StoredSample& sample : samples) (sample.record_idx % 2 == 0 ? even : odd).push_back(sample);
        write_store(a, even, opts);
        opts.slice_idx = 1;
        opts.format_version = 0;
        write_store(b, odd, opts);
        Result<StoreSet> set = StoreSet::open({a, b});
        ASSERT_TRUE(set.ok()) << set.status().message();
        std::vector<StoredSample> back;
        ASSERT_TRUE(set->for_each([&](const StoredSample& sample) {
                           back.push_back(sample);
                           return Status();
                       })
                        .ok());
        std::vector<StoredSample> expected_all;
        for (const StoredSample& sample : samples) expected_all.push_back(decoded_as(sample, ValueEncoding::kQ8));
        expect_same_samples(expected_all, back);
        const std::string merged = fresh_dir("merged_mixed");
        ASSERT_TRUE(merge_stores(merged, {a, b}).ok());
        const std::string direct = fresh_dir("direct_mixed");
        write_store(direct, samples, options(ValueEncoding::kQ8, 3));
        EXPECT_EQ(dir_files(direct), dir_files(merged));
        for (const std::string& dir : {a, b, merged, direct}) fs::remove_all(dir);
    }
    {  // a format that cannot hold the values is refused: f32 in format 3, q12 in format 2
        StoreOptions opts = options(ValueEncoding::kF32);
        opts.format_version = 3;
        const std::string dir = fresh_dir("f32_v3");
        EXPECT_FALSE(StoreWriter::open(dir, opts).ok());
        fs::remove_all(dir);
        opts = options(ValueEncoding::kQ12);
        opts.format_version = 2;
        Result<StoreWriter> q12 = StoreWriter::open(dir, opts);
        ASSERT_FALSE(q12.ok());
        EXPECT_NE(std::string::npos, q12.status().message().find("store format 2 cannot hold q12 values"))
            << q12.status().message();
        fs::remove_all(dir);
    }
}

TEST(StoreFormat3, CorruptBitmapsAreRefusedNamingTheField) {
    // A dense q8 sample; then the record's bitmap is damaged in four ways (a missing latent, an extra latent, a zero
    // last byte, a zero length) with the shard's checksums recomputed, so only the record check can catch it.
    StoredSample sample;
    sample.record_idx = 0;
    sample.id = "d";
    for (uint32_t index = 0; index < 64; index += 2) {
        sample.vec.idx.push_back(index);
        sample.vec.val.push_back(1.0f + index);
        sample.vec.l1 += 1.0 + index;
    }
    std::string record;
    encode_record(record, sample, sample.vec, ValueEncoding::kQ8, 3);
    // head: record_idx, source_pos, n_tokens, id length, id (1 byte), l1 (8 bytes); then varint(nnz << 1 | 1) = 65,
    // varint n_bytes = 8, the bitmap.
    const size_t head = 4 + 1 + 8;
    ASSERT_EQ(static_cast<char>(65), record[head]);
    ASSERT_EQ(static_cast<char>(8), record[head + 1]);
    const size_t bitmap = head + 2;
    StoredSample back;
    {
        ByteReader in(record);
        EXPECT_EQ(nullptr, decode_record(in, back, ValueEncoding::kQ8, 3));
        EXPECT_EQ(sample.vec.idx, back.vec.idx);
    }
    for (int damage = 0; damage < 4; ++damage) {
        std::string bad = record;
        if (damage == 0) bad[bitmap] = static_cast<char>(bad[bitmap] & ~1);  // latent 0 gone
        if (damage == 1) bad[bitmap] = static_cast<char>(bad[bitmap] | 2);   // latent 1 added
        if (damage == 2) bad[bitmap + 7] = 0;                                // last byte zero
        if (damage == 3) bad[head + 1] = 0;                                  // an empty bitmap for a non-empty vector
        ByteReader in(bad);
        const char* field = decode_record(in, back, ValueEncoding::kQ8, 3);
        ASSERT_NE(nullptr, field) << damage;
        EXPECT_STREQ("latent bitmap", field) << damage;
    }
}

}  // namespace
}  // namespace mona
