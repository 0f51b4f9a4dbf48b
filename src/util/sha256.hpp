// util/sha256.hpp: SHA-256 (FIPS 180-4), written here so that mona needs no crypto library.
//
// Used to fingerprint input files and outputs (pool files, SAE weights, the selection) in reports and
// manifests. Three entry points:
//   sha256_hex(data, n)      digest of a buffer, as 64 lowercase hex characters;
//   sha256_file(path)        digest of a file, read in 1 MiB chunks (never loaded whole);
//   Sha256                   streaming: update() any number of times, then finish() once.
//
// Usage:
//   Sha256 h;
//   h.update(header.data(), header.size());
//   h.update(body.data(), body.size());
//   std::string hex = h.finish_hex();
//
// Thread-safety: the free functions are reentrant; one Sha256 object must not be shared between threads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mona/status.hpp"

namespace mona {

class Sha256 {
   public:
    using Digest = std::array<uint8_t, 32>;

    Sha256();

    // Feeds `n` bytes at `data` (may be null when n == 0). Must not be called after finish().
    void update(const void* data, size_t n);
    void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }

    // Pads, finalises and returns the 32-byte digest. Call at most once; reset() starts a new digest.
    Digest finish();
    // finish(), formatted as 64 lowercase hex characters.
    std::string finish_hex();

    // Returns the object to its freshly constructed state.
    void reset();

   private:
    void compress(const uint8_t* block);

    std::array<uint32_t, 8> state_{};
    std::array<uint8_t, 64> buffer_{};
    size_t n_buffered_ = 0;  // bytes waiting in buffer_, always < 64
    uint64_t n_total_ = 0;   // bytes fed so far
    bool finished_ = false;
};

// Lowercase hex of a digest (64 characters).
std::string to_hex(const Sha256::Digest& digest);

// SHA-256 of `n` bytes at `data`, as 64 lowercase hex characters.
std::string sha256_hex(const void* data, size_t n);
inline std::string sha256_hex(std::string_view bytes) { return sha256_hex(bytes.data(), bytes.size()); }

// SHA-256 of the file at `path`, streamed in 1 MiB chunks. Errors: kNotFound if the file does not exist,
// kIo if it cannot be opened or read; the message names the path and the OS reason.
Result<std::string> sha256_file(const std::string& path);

}  // namespace mona
