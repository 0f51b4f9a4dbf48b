// store/value_codec.hpp: how a stored vector's values are written (ValueEncoding, mona/feature_store.hpp).
//
// The latent indices are stored the same way for every encoding (varint gaps); only the value block differs:
//   f32   nnz × 4 bytes, the floats verbatim (store format 1, bit-exact round trip).
//   bf16  nnz × 2 bytes: the upper 16 bits of each float, rounded to nearest, ties to even (a finite value that
//         would round past the largest bf16 is clamped to it). Relative error <= 2^-8.
//   q8    a per-sample grid, then nnz × 1 byte codes (no block at all when nnz = 0):
//           f32 lo, f32 ratio   the grid: g[1] = lo, g[c+1] = g[c] · ratio (float multiplications, in order),
//                               c = 1..255; lo = the smallest positive value, ratio = (max/min)^(1/254)
//                               rounded to float (1 when all positive values are equal);
//           code c              value 0 when c = 0, else g[c].
//         The encoder picks, for each value v, the code whose decoded value is nearest to v (ties: the lower
//         code), so |decode − v| <= (g[c+1] − g[c]) / 2 between the grid's ends: a relative error of at most
//         (ratio − 1)/2, about 1.8 % for a 10^4 spread of values in one sample. Only values >= 0 can be
//         encoded (SAE codes are non-negative; jaccard assumes it); the writer refuses a negative value.
//   q12   a per-sample grid as q8's with 4,096 codes (c = 1..4095, ratio = (max/min)^(1/4094) rounded to float,
//         then raised by ulps until the top code reaches the largest value), then 12-bit codes,
//         two codes in 3 bytes (c_k | c_{k+1} << 12, little-endian; an odd last code in 2 bytes). The grid is
//         built in two levels so a reader does not run a 4,095-step chain per sample: fine[j] = ratio^j
//         (fine[0] = 1, fine[j+1] = fine[j] · ratio, j < 64), step = fine[63] · ratio, coarse[0] = lo,
//         coarse[i+1] = coarse[i] · step (i < 64), and code c decodes to coarse[(c−1) / 64] · fine[(c−1) % 64].
//         The encoder picks the nearest decoded value among the log guess's neighbours (ties: the lower code):
//         a relative error of about (ratio − 1)/2, 0.11 % for a 10^4 spread, 16 times finer than q8.
// The grid is built by IEEE float multiplication alone, so encoder and decoder (and every platform) agree on
// each decoded value bit for bit: scoring a q8 store scores exactly these decoded floats. The sample's exact L1
// norm is stored separately (f64) for every encoding, so jaccard's Σmax identity uses the true norm.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "mona/feature_store.hpp"

namespace mona::store_detail {

// Bytes a record's value block takes for `nnz` values.
size_t value_block_bytes(ValueEncoding encoding, size_t nnz);
// The fewest bytes per latent a record can take (1 gap byte + the value's bytes): bounds a decoded nnz.
size_t min_bytes_per_latent(ValueEncoding encoding);

uint16_t bf16_from_float(float value);
float float_from_bf16(uint16_t bits);

// A q8 grid: decoded value of every code (table[0] = 0).
struct Q8Grid {
    float lo = 0.0f;
    float ratio = 1.0f;
    std::array<float, 256> table{};
};
// The grid of `lo` and `ratio` as the format defines it (see the top of this file).
Q8Grid q8_grid(float lo, float ratio);
// The grid the encoder chooses for these values (all >= 0, finite).
Q8Grid q8_grid_for(const float* values, size_t n);
// The code of `value` (>= 0) on `grid`: nearest decoded value, ties to the lower code; 0 only for value 0.
uint8_t q8_code(const Q8Grid& grid, float value);

// A q12 grid (see the top of this file).
struct Q12Grid {
    float lo = 0.0f;
    float ratio = 1.0f;
    std::array<float, 64> coarse{};
    std::array<float, 64> fine{};
    // The decoded value of code c (0 for c = 0).
    float value(uint32_t c) const { return c == 0 ? 0.0f : coarse[(c - 1) >> 6] * fine[(c - 1) & 63]; }
};
Q12Grid q12_grid(float lo, float ratio);
Q12Grid q12_grid_for(const float* values, size_t n);
// The code of `value` (>= 0): the nearest decoded value near the log guess, ties to the lower code; 0 only for 0.
uint16_t q12_code(const Q12Grid& grid, float value);

// Appends the value block of `n` values (checked by the caller: finite, and >= 0 for q8).
void encode_values(std::string& out, ValueEncoding encoding, const float* values, size_t n);
// Decodes the value block at `data` (value_block_bytes(encoding, n) bytes) into `out[0..n)`.
void decode_values(const char* data, ValueEncoding encoding, size_t n, float* out);

}  // namespace mona::store_detail
