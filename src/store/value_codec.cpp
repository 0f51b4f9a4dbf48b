// store/value_codec.cpp: the value blocks of store records (store/value_codec.hpp).
#include "store/value_codec.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "mona/status.hpp"

namespace mona {

const char* value_encoding_name(ValueEncoding encoding) {
    switch (encoding) {
        case ValueEncoding::kF32: return "f32";
        case ValueEncoding::kBf16: return "bf16";
        case ValueEncoding::kQ8: return "q8";
    }
    return "?";
}

Result<ValueEncoding> parse_value_encoding(const std::string& name) {
    for (ValueEncoding encoding : {ValueEncoding::kF32, ValueEncoding::kBf16, ValueEncoding::kQ8}) {
        if (name == value_encoding_name(encoding)) return encoding;
    }
    return invalid_input("value encoding '" + name + "': expected f32, bf16 or q8");
}

namespace store_detail {

size_t value_block_bytes(ValueEncoding encoding, size_t nnz) {
    switch (encoding) {
        case ValueEncoding::kF32: return nnz * 4;
        case ValueEncoding::kBf16: return nnz * 2;
        case ValueEncoding::kQ8: return nnz == 0 ? 0 : 8 + nnz;
    }
    return 0;
}

size_t min_bytes_per_latent(ValueEncoding encoding) {
    switch (encoding) {
        case ValueEncoding::kF32: return 5;
        case ValueEncoding::kBf16: return 3;
        case ValueEncoding::kQ8: return 2;
    }
    return 2;
}

uint16_t bf16_from_float(float value) {
    const uint32_t bits = std::bit_cast<uint32_t>(value);
    // Round to nearest, ties to even: add 0x7FFF plus the lowest kept bit, then drop the low half.
    const uint32_t rounded = bits + 0x7FFFu + ((bits >> 16) & 1u);
    uint16_t out = static_cast<uint16_t>(rounded >> 16);
    // A finite value may round up to infinity (exponent all ones): clamp to the largest finite bf16 instead.
    if ((out & 0x7F80u) == 0x7F80u && (bits & 0x7F800000u) != 0x7F800000u) out = static_cast<uint16_t>(out - 1);
    return out;
}

float float_from_bf16(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

Q8Grid q8_grid(float lo, float ratio) {
    Q8Grid grid;
    grid.lo = lo;
    grid.ratio = ratio;
    grid.table[0] = 0.0f;
    float value = lo;
    for (size_t code = 1; code < 256; ++code) {
        grid.table[code] = value;
        value *= ratio;
    }
    return grid;
}

Q8Grid q8_grid_for(const float* values, size_t n) {
    float lo = 0.0f;
    float hi = 0.0f;
    for (size_t k = 0; k < n; ++k) {
        if (values[k] > 0.0f) {
            lo = lo == 0.0f ? values[k] : std::min(lo, values[k]);
            hi = std::max(hi, values[k]);
        }
    }
    if (lo == 0.0f || hi == lo) return q8_grid(lo, 1.0f);
    float ratio = static_cast<float>(std::pow(static_cast<double>(hi) / static_cast<double>(lo), 1.0 / 254.0));
    Q8Grid grid = q8_grid(lo, ratio);
    // Accumulated rounding can carry the top of the grid past FLT_MAX for values near it: shrink the ratio.
    while (!std::isfinite(grid.table[255]) && ratio > 1.0f) {
        ratio = std::nextafter(ratio, 1.0f);
        grid = q8_grid(lo, ratio);
    }
    return grid;
}

uint8_t q8_code(const Q8Grid& grid, float value) {
    if (!(value > 0.0f)) return 0;
    const float* t = grid.table.data();
    // A first guess from the logarithm, then the exact nearest by comparing decoded values (the guess is at most
    // off by one or two from float rounding; the walk makes the answer independent of libm).
    long code = 1;
    if (grid.ratio > 1.0f && value > grid.lo) {
        const double steps = std::log(static_cast<double>(value) / static_cast<double>(grid.lo)) /
                             std::log(static_cast<double>(grid.ratio));
        code = 1 + std::lround(std::min(steps, 300.0));
        code = std::clamp(code, 1L, 255L);
    }
    auto dist = [&](long c) { return std::fabs(static_cast<double>(t[c]) - static_cast<double>(value)); };
    while (code < 255 && dist(code + 1) < dist(code)) ++code;
    while (code > 1 && dist(code - 1) <= dist(code)) --code;
    return static_cast<uint8_t>(code);
}

void encode_values(std::string& out, ValueEncoding encoding, const float* values, size_t n) {
    const size_t at = out.size();
    out.resize(at + value_block_bytes(encoding, n));
    char* dst = out.data() + at;
    switch (encoding) {
        case ValueEncoding::kF32:
            if (n > 0) std::memcpy(dst, values, n * sizeof(float));
            return;
        case ValueEncoding::kBf16:
            for (size_t k = 0; k < n; ++k) {
                const uint16_t bits = bf16_from_float(values[k]);
                std::memcpy(dst + 2 * k, &bits, 2);
            }
            return;
        case ValueEncoding::kQ8: {
            if (n == 0) return;
            const Q8Grid grid = q8_grid_for(values, n);
            std::memcpy(dst, &grid.lo, 4);
            std::memcpy(dst + 4, &grid.ratio, 4);
            for (size_t k = 0; k < n; ++k) dst[8 + k] = static_cast<char>(q8_code(grid, values[k]));
            return;
        }
    }
}

void decode_values(const char* data, ValueEncoding encoding, size_t n, float* out) {
    switch (encoding) {
        case ValueEncoding::kF32:
            if (n > 0) std::memcpy(out, data, n * sizeof(float));
            return;
        case ValueEncoding::kBf16:
            for (size_t k = 0; k < n; ++k) {
                uint16_t bits = 0;
                std::memcpy(&bits, data + 2 * k, 2);
                out[k] = float_from_bf16(bits);
            }
            return;
        case ValueEncoding::kQ8: {
            if (n == 0) return;
            float lo = 0.0f;
            float ratio = 0.0f;
            std::memcpy(&lo, data, 4);
            std::memcpy(&ratio, data + 4, 4);
            const Q8Grid grid = q8_grid(lo, ratio);
            const auto* codes = reinterpret_cast<const unsigned char*>(data + 8);
            for (size_t k = 0; k < n; ++k) out[k] = grid.table[codes[k]];
            return;
        }
    }
}

}  // namespace store_detail
}  // namespace mona
