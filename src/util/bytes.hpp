// util/bytes.hpp: the byte encodings mona writes and reads itself (one copy of each): little-endian raw values,
// unsigned LEB128 varints, a bounds-checked reader, and CRC-32.
//
// Two kinds of reads, two tiers of failure (style.md):
//   * bytes from a file (a feature store shard) may be damaged: ByteReader's raw()/varint()/bytes() return false
//     instead of reading past the end, and the caller turns that into a Status naming the file and field;
//   * bytes between the ranks of one mpirun job come from the same binary: get<T>()/get_string()/get_vector()
//     read what a ByteWriter wrote, and reading past the end is a bug in mona (asserted).
// Values are copied with memcpy in the machine's byte order, which is little-endian on every machine mona
// builds for (the shard format says little-endian; x86-64 and AArch64 are).
//
// Thread-safety: a reader or writer belongs to one thread; the functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "mona/status.hpp"

namespace mona {

// ---- writing -------------------------------------------------------------------------------------------------

template <class T>
void put_raw(std::string& out, const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    char bytes[sizeof(T)];
    std::memcpy(bytes, &value, sizeof(T));
    out.append(bytes, sizeof(T));
}

// Unsigned LEB128: 7 bits per byte, low groups first, the high bit set on every byte but the last.
inline void put_varint(std::string& out, uint64_t value) {
    while (value >= 0x80) {
        out.push_back(static_cast<char>((value & 0x7f) | 0x80));
        value >>= 7;
    }
    out.push_back(static_cast<char>(value));
}

// Builds a message for ByteReader's get*() (sizes as u64, then the raw bytes).
class ByteWriter {
   public:
    template <class T>
    void put(const T& value) {
        put_raw(out_, value);
    }
    void put_string(const std::string& text) {
        put<uint64_t>(text.size());
        out_ += text;
    }
    template <class T>
    void put_vector(const std::vector<T>& values) {
        static_assert(std::is_trivially_copyable_v<T>);
        put<uint64_t>(values.size());
        if (!values.empty()) out_.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
    }
    std::string& bytes() { return out_; }

   private:
    std::string out_;
};

// ---- reading -------------------------------------------------------------------------------------------------

// Reads a byte range [begin, end) it does not own (the bytes must outlive the reader).
class ByteReader {
   public:
    ByteReader(const char* begin, const char* end) : pos_(begin), end_(end) {}
    explicit ByteReader(const std::string& bytes) : ByteReader(bytes.data(), bytes.data() + bytes.size()) {}

    // -- bounded reads of untrusted bytes: false (and nothing consumed that matters) instead of reading past the end

    template <class T>
    bool raw(T& value) {
        static_assert(std::is_trivially_copyable_v<T>);
        if (remaining() < sizeof(T)) return false;
        std::memcpy(&value, pos_, sizeof(T));
        pos_ += sizeof(T);
        return true;
    }

    // An unsigned LEB128 varint of at most 64 bits (a 10th byte may carry only bit 63).
    bool varint(uint64_t& value) {
        // Fast paths for the 1- and 2-byte values that make up most of a stored vector (decoding dominates a read).
        if (end_ - pos_ >= 2) {
            const uint8_t b0 = static_cast<uint8_t>(pos_[0]);
            if (b0 < 0x80) {
                value = b0;
                pos_ += 1;
                return true;
            }
            const uint8_t b1 = static_cast<uint8_t>(pos_[1]);
            if (b1 < 0x80) {
                value = (b0 & 0x7fu) | (uint64_t{b1} << 7);
                pos_ += 2;
                return true;
            }
        }
        return varint_slow(value);
    }

    // Points `data` at the next n bytes and skips them.
    bool bytes(size_t n, const char*& data) {
        if (remaining() < n) return false;
        data = pos_;
        pos_ += n;
        return true;
    }

    size_t remaining() const { return static_cast<size_t>(end_ - pos_); }
    bool done() const { return pos_ == end_; }

    // -- trusted reads of what a ByteWriter wrote (messages between ranks): past the end is a bug, asserted

    template <class T>
    T get() {
        T value;
        take(&value, sizeof(T));
        return value;
    }
    std::string get_string() {
        const uint64_t n = get<uint64_t>();
        std::string text(n, '\0');
        take(text.data(), n);
        return text;
    }
    template <class T>
    std::vector<T> get_vector() {
        const uint64_t n = get<uint64_t>();
        MONA_ASSERT(n <= remaining() / sizeof(T), "ByteReader: read past the end of a message between ranks");
        std::vector<T> values(n);
        take(values.data(), n * sizeof(T));
        return values;
    }

   private:
    bool varint_slow(uint64_t& value) {
        value = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos_ == end_) return false;
            const uint8_t byte = static_cast<uint8_t>(*pos_++);
            const uint64_t bits = byte & 0x7f;
            if (shift == 63 && bits > 1) return false;  // would overflow 64 bits
            value |= bits << shift;
            if ((byte & 0x80) == 0) return true;
        }
        return false;
    }
    void take(void* dst, uint64_t n) {
        MONA_ASSERT(n <= remaining(), "ByteReader: read past the end of a message between ranks");
        if (n > 0) std::memcpy(dst, pos_, n);
        pos_ += n;
    }

    const char* pos_;
    const char* end_;
};

// ---- CRC-32 --------------------------------------------------------------------------------------------------

// CRC-32 with zlib's polynomial (the checksum of store shards and SAE checkpoints), of one buffer.
uint32_t crc32_of(const void* data, size_t n);

// The same CRC-32 over data fed in pieces: Crc32 c; c.update(a); c.update(b); c.value() == crc32_of(a + b).
class Crc32 {
   public:
    void update(const void* data, size_t n);
    uint32_t value() const { return crc_; }

   private:
    uint32_t crc_ = 0;  // zlib's crc32 of no bytes
};

}  // namespace mona
