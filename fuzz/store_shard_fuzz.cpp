// Fuzzes the feature store's shard decoder (varint records, ids, latent gaps, values) behind the checksums:
// the harness wraps the input's record bytes in a valid shard header and CRC-32 trailer and writes a manifest
// that lists the shard with its true size, CRC-32 and SHA-256, so every input reaches the record decoder.
// Input: 6 bytes of manifest settings (n_rows, keep and the format, slice count, slice index, first and last
// record_idx), then the records. The format (byte 1 / 4 % 6): f32 format 1, bf16/q8 format 2 (gap indices), or
// bf16/q8/q12 format 3 (gap or bitmap indices); the shard header always carries the manifest's version, so every
// input reaches the record decoder of that format.
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>

#include "fuzz_util.hpp"
#include "store/feature_store.hpp"
#include "util/sha256.hpp"

namespace {

template <class T>
void put(std::string& out, T value) {
    char bytes[sizeof(T)];
    std::memcpy(bytes, &value, sizeof(T));
    out.append(bytes, sizeof(T));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 6) return 0;
    const uint64_t n_rows = 1 + data[0] % 8;
    const uint32_t keep = data[1] % 4;
    struct Format {
        uint32_t version;
        const char* values;  // nullptr: format 1 (f32)
    };
    constexpr Format kFormats[] = {{1, nullptr}, {2, "bf16"}, {2, "q8"}, {3, "bf16"}, {3, "q8"}, {3, "q12"}};
    const Format format = kFormats[(data[1] / 4) % 6];
    const uint32_t n_slices = 1 + data[2] % 3;
    const uint32_t slice_idx = data[3] % n_slices;
    const uint64_t first_record_idx = data[4];
    const uint64_t last_record_idx = data[5];
    if (first_record_idx > last_record_idx) return 0;

    std::string shard("MONASHRD", 8);
    put<uint32_t>(shard, format.version);
    put<uint32_t>(shard, 0);
    put<uint64_t>(shard, 0);  // shard index
    put<uint64_t>(shard, 0);  // first row
    put<uint64_t>(shard, n_rows);
    shard.append(reinterpret_cast<const char*>(data + 6), size - 6);
    const uint32_t crc = static_cast<uint32_t>(
        ::crc32(::crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(shard.data()), static_cast<uInt>(shard.size())));
    put<uint32_t>(shard, crc);
    char crc_hex[9];
    std::snprintf(crc_hex, sizeof(crc_hex), "%08x", crc);

    const std::string manifest =
        "{\"format\": \"mona-feature-store\", \"format_version\": " + std::to_string(format.version) +
        (format.values ? std::string(", \"values\": \"") + format.values + "\"" : std::string()) +
        ", \"params\": {}, \"keep\": " + std::to_string(keep) + ", \"shard_rows\": " + std::to_string(n_rows) +
        ", \"slice\": {\"index\": " + std::to_string(slice_idx) + ", \"count\": " + std::to_string(n_slices) +
        "}, \"n_samples\": " + std::to_string(n_rows) +
        ", \"complete\": true, \"shards\": [{\"file\": \"shard-00000.bin\", \"n_rows\": " + std::to_string(n_rows) +
        ", \"bytes\": " + std::to_string(shard.size()) + ", \"crc32\": \"" + crc_hex + "\", \"sha256\": \"" +
        mona::sha256_hex(shard) + "\", \"first_record_idx\": " + std::to_string(first_record_idx) +
        ", \"last_record_idx\": " + std::to_string(last_record_idx) + "}]}\n";

    const std::string dir = mona::fuzz::scratch_dir() + "/store";
    std::filesystem::create_directories(dir);
    mona::fuzz::write_file(dir + "/shard-00000.bin", shard);
    mona::fuzz::write_file(dir + "/manifest.json", manifest);
    auto reader = mona::StoreReader::open(dir);
    if (!reader.ok()) __builtin_trap();  // the harness wrote a valid manifest: open() must accept it
    uint64_t n_read = 0;
    const mona::Status read = reader.value().for_each([&](const mona::StoredSample& sample) {
        if (sample.vec.idx.size() != sample.vec.val.size()) __builtin_trap();
        ++n_read;
        return mona::Status();
    });
    if (read.ok() && n_read != n_rows) __builtin_trap();  // a clean pass yields exactly the manifest's rows
    (void)reader.value().verify();
    return 0;
}
