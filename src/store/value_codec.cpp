// store/value_codec.cpp: the value blocks of store records (store/value_codec.hpp).
#include "store/value_codec.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <utility>

#include "mona/status.hpp"

namespace mona {

const char* value_encoding_name(ValueEncoding encoding) {
    switch (encoding) {
        case ValueEncoding::kF32: return "f32";
        case ValueEncoding::kBf16: return "bf16";
        case ValueEncoding::kQ8: return "q8";
        case ValueEncoding::kQ12: return "q12";
    }
    return "?";
}

Result<ValueEncoding> parse_value_encoding(const std::string& name) {
    for (ValueEncoding encoding :
         {ValueEncoding::kF32, ValueEncoding::kBf16, ValueEncoding::kQ8, ValueEncoding::kQ12}) {
        if (name == value_encoding_name(encoding)) return encoding;
    }
    return invalid_input("value encoding '" + name + "': expected f32, bf16, q8 or q12");
}

namespace store_detail {

size_t value_block_bytes(ValueEncoding encoding, size_t nnz) {
    switch (encoding) {
        case ValueEncoding::kF32: return nnz * 4;
        case ValueEncoding::kBf16: return nnz * 2;
        case ValueEncoding::kQ8: return nnz == 0 ? 0 : 8 + nnz;
        case ValueEncoding::kQ12: return nnz == 0 ? 0 : 8 + (3 * nnz + 1) / 2;
    }
    return 0;
}

size_t min_bytes_per_latent(ValueEncoding encoding) {
    switch (encoding) {
        case ValueEncoding::kF32: return 5;
        case ValueEncoding::kBf16: return 3;
        case ValueEncoding::kQ8: return 2;
        case ValueEncoding::kQ12: return 2;  // 1 gap byte + 1.5, rounded down
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

namespace {

// The smallest and largest positive value (both 0 when there is none): the ends of a q8 or q12 grid.
std::pair<float, float> positive_range(const float* values, size_t n) {
    float lo = 0.0f;
    float hi = 0.0f;
    for (size_t k = 0; k < n; ++k) {
        if (values[k] > 0.0f) {
            lo = lo == 0.0f ? values[k] : std::min(lo, values[k]);
            hi = std::max(hi, values[k]);
        }
    }
    return {lo, hi};
}

}  // namespace

Q8Grid q8_grid_for(const float* values, size_t n) {
    const auto [lo, hi] = positive_range(values, n);
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

Q12Grid q12_grid(float lo, float ratio) {
    Q12Grid grid;
    grid.lo = lo;
    grid.ratio = ratio;
    float power = 1.0f;
    for (size_t j = 0; j < 64; ++j) {
        grid.fine[j] = power;
        power *= ratio;
    }
    const float step = power;  // fine[63] · ratio
    float value = lo;
    for (size_t i = 0; i < 64; ++i) {
        grid.coarse[i] = value;
        value *= step;
    }
    return grid;
}

Q12Grid q12_grid_for(const float* values, size_t n) {
    const auto [lo, hi] = positive_range(values, n);
    if (lo == 0.0f || hi == lo) return q12_grid(lo, 1.0f);
    float ratio = static_cast<float>(std::pow(static_cast<double>(hi) / static_cast<double>(lo), 1.0 / 4094.0));
    Q12Grid grid = q12_grid(lo, ratio);
    // The float ratio's rounding, raised to the 4,094th power, can leave the top up to ~2.5e-4 below the largest
    // value (more than half a step for a narrow spread): raise it by ulps until the grid spans every value.
    while (grid.value(4095) < hi && std::isfinite(grid.value(4095))) {
        ratio = std::nextafter(ratio, 2.0f);
        grid = q12_grid(lo, ratio);
    }
    // Accumulated rounding can carry the top of the grid past FLT_MAX for values near it: shrink the ratio.
    while (!std::isfinite(grid.value(4095)) && ratio > 1.0f) {
        ratio = std::nextafter(ratio, 1.0f);
        grid = q12_grid(lo, ratio);
    }
    return grid;
}

uint16_t q12_code(const Q12Grid& grid, float value) {
    if (!(value > 0.0f)) return 0;
    // A first guess from the logarithm, then the exact nearest decoded value among the guess's neighbours (the
    // guess is off by at most one from float rounding; the two-level grid is monotone up to an ulp).
    long guess = 1;
    if (grid.ratio > 1.0f && value > grid.lo) {
        const double steps = std::log(static_cast<double>(value) / static_cast<double>(grid.lo)) /
                             std::log(static_cast<double>(grid.ratio));
        guess = std::clamp(1 + std::lround(std::min(steps, 5000.0)), 1L, 4095L);
    }
    long best = std::max(1L, guess - 3);
    double best_dist = std::fabs(static_cast<double>(grid.value(best)) - static_cast<double>(value));
    for (long code = best + 1; code <= std::min(4095L, guess + 3); ++code) {
        const double dist = std::fabs(static_cast<double>(grid.value(code)) - static_cast<double>(value));
        if (dist < best_dist) {
            best = code;
            best_dist = dist;
        }
    }
    return static_cast<uint16_t>(best);
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
        case ValueEncoding::kQ12: {
            if (n == 0) return;
            const Q12Grid grid = q12_grid_for(values, n);
            std::memcpy(dst, &grid.lo, 4);
            std::memcpy(dst + 4, &grid.ratio, 4);
            // Codes k and k+1 share 3 bytes: c_k | c_{k+1} << 12, little-endian; an odd last code takes 2 bytes.
            unsigned char* codes = reinterpret_cast<unsigned char*>(dst + 8);
            for (size_t k = 0; k < n; k += 2) {
                const uint32_t a = q12_code(grid, values[k]);
                const uint32_t b = k + 1 < n ? q12_code(grid, values[k + 1]) : 0;
                const uint32_t pair = a | (b << 12);
                codes[k / 2 * 3] = static_cast<unsigned char>(pair);
                codes[k / 2 * 3 + 1] = static_cast<unsigned char>(pair >> 8);
                if (k + 1 < n) codes[k / 2 * 3 + 2] = static_cast<unsigned char>(pair >> 16);
            }
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
        case ValueEncoding::kQ12: {
            if (n == 0) return;
            float lo = 0.0f;
            float ratio = 0.0f;
            std::memcpy(&lo, data, 4);
            std::memcpy(&ratio, data + 4, 4);
            const Q12Grid grid = q12_grid(lo, ratio);
            const auto* codes = reinterpret_cast<const unsigned char*>(data + 8);
            size_t k = 0;
            for (; k + 1 < n; k += 2) {
                const unsigned char* at = codes + k / 2 * 3;
                const uint32_t pair = at[0] | (uint32_t{at[1]} << 8) | (uint32_t{at[2]} << 16);
                out[k] = grid.value(pair & 0xFFFu);
                out[k + 1] = grid.value(pair >> 12);
            }
            if (k < n) {
                const unsigned char* at = codes + k / 2 * 3;
                out[k] = grid.value((at[0] | (uint32_t{at[1]} << 8)) & 0xFFFu);
            }
            return;
        }
    }
}

}  // namespace store_detail
}  // namespace mona
