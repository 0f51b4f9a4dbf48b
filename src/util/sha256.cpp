#include "util/sha256.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace mona {

namespace {

// FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes.
constexpr uint32_t kRoundConstants[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

// FIPS 180-4 §5.3.3: initial hash value.
constexpr uint32_t kInitialState[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

inline uint32_t load_be32(const uint8_t* p) {
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

}  // namespace

Sha256::Sha256() { reset(); }

void Sha256::reset() {
    for (size_t word_idx = 0; word_idx < 8; ++word_idx) state_[word_idx] = kInitialState[word_idx];
    n_buffered_ = 0;
    n_total_ = 0;
    finished_ = false;
}

void Sha256::compress(const uint8_t* block) {
    uint32_t w[64];
    for (int t = 0; t < 16; ++t) w[t] = load_be32(block + 4 * t);
    for (int t = 16; t < 64; ++t) {
        const uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        const uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
    uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
    for (int t = 0; t < 64; ++t) {
        const uint32_t big_s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        const uint32_t ch = (e & f) ^ (~e & g);
        const uint32_t t1 = h + big_s1 + ch + kRoundConstants[t] + w[t];
        const uint32_t big_s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        const uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        const uint32_t t2 = big_s0 + maj;
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state_[0] += a;
    state_[1] += b;
    state_[2] += c;
    state_[3] += d;
    state_[4] += e;
    state_[5] += f;
    state_[6] += g;
    state_[7] += h;
}

void Sha256::update(const void* data, size_t n) {
    MONA_ASSERT(!finished_, "Sha256::update called after finish()");
    if (n == 0) return;
    const uint8_t* bytes = static_cast<const uint8_t*>(data);
    n_total_ += n;
    if (n_buffered_ > 0) {
        const size_t n_take = std::min(n, 64 - n_buffered_);
        std::memcpy(buffer_.data() + n_buffered_, bytes, n_take);
        n_buffered_ += n_take;
        bytes += n_take;
        n -= n_take;
        if (n_buffered_ < 64) return;
        compress(buffer_.data());
        n_buffered_ = 0;
    }
    while (n >= 64) {
        compress(bytes);
        bytes += 64;
        n -= 64;
    }
    if (n > 0) {
        std::memcpy(buffer_.data(), bytes, n);
        n_buffered_ = n;
    }
}

Sha256::Digest Sha256::finish() {
    MONA_ASSERT(!finished_, "Sha256::finish called twice");
    // FIPS 180-4 §5.1.1: append 0x80, zero-pad to 56 mod 64, then the message length in bits, big-endian.
    const uint64_t n_bits = n_total_ * 8;
    buffer_[n_buffered_++] = 0x80;
    if (n_buffered_ > 56) {
        std::memset(buffer_.data() + n_buffered_, 0, 64 - n_buffered_);
        compress(buffer_.data());
        n_buffered_ = 0;
    }
    std::memset(buffer_.data() + n_buffered_, 0, 56 - n_buffered_);
    for (int byte_idx = 0; byte_idx < 8; ++byte_idx) buffer_[56 + byte_idx] = uint8_t(n_bits >> (56 - 8 * byte_idx));
    compress(buffer_.data());
    finished_ = true;

    Digest digest;
    for (size_t word_idx = 0; word_idx < 8; ++word_idx) {
        for (size_t byte_idx = 0; byte_idx < 4; ++byte_idx) {
            digest[4 * word_idx + byte_idx] = uint8_t(state_[word_idx] >> (24 - 8 * byte_idx));
        }
    }
    return digest;
}

std::string Sha256::finish_hex() { return to_hex(finish()); }

std::string to_hex(const Sha256::Digest& digest) {
    static const char kHexDigits[] = "0123456789abcdef";
    std::string hex(64, '0');
    for (size_t byte_idx = 0; byte_idx < digest.size(); ++byte_idx) {
        hex[2 * byte_idx] = kHexDigits[digest[byte_idx] >> 4];
        hex[2 * byte_idx + 1] = kHexDigits[digest[byte_idx] & 0xf];
    }
    return hex;
}

std::string sha256_hex(const void* data, size_t n) {
    Sha256 hasher;
    hasher.update(data, n);
    return hasher.finish_hex();
}

Result<std::string> sha256_file(const std::string& path) {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) {
        const int err = errno;
        std::string message = path + ": cannot open for hashing: " + std::strerror(err);
        return err == ENOENT ? not_found(std::move(message)) : io_error(std::move(message));
    }
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(file, &std::fclose);
    constexpr size_t kChunkBytes = size_t(1) << 20;
    std::vector<uint8_t> chunk;
    try {
        chunk.resize(kChunkBytes);
    } catch (const std::bad_alloc&) {
        return internal_error(path + ": cannot allocate a 1 MiB read buffer for hashing");
    }
    Sha256 hasher;
    while (true) {
        const size_t n_read = std::fread(chunk.data(), 1, chunk.size(), file);
        hasher.update(chunk.data(), n_read);
        if (n_read < chunk.size()) {
            if (std::ferror(file)) return io_error(path + ": read failed while hashing: " + std::strerror(errno));
            break;
        }
    }
    return hasher.finish_hex();
}

}  // namespace mona
