// store/feature_store.cpp: the feature store (include/mona/feature_store.hpp).
//
// Why one ~1k-line file: the writer, reader, slice set and merge share the private shard and manifest codecs
// and the file-level invariants (fixed shard boundaries, atomic renames, resume checks) stated once at the top
// of the header; split across files, those private pieces would have to become an internal header of their own
// for no reader's benefit. Sections: records, manifest, params comparison, StoreReader, StoreWriter, StoreSet,
// merge.
#include "store/feature_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <utility>

#include "io/atomic_file.hpp"
#include "sae/topk.hpp"
#include "store/record_codec.hpp"
#include "store/value_codec.hpp"
#include "util/bytes.hpp"
#include "util/sha256.hpp"

namespace mona {

// The shard format is little-endian; values are copied with memcpy, which is only correct on such a host.
static_assert(std::endian::native == std::endian::little, "the feature store format assumes a little-endian host");

namespace {

using Json = nlohmann::json;

constexpr char kShardMagic[8] = {'M', 'O', 'N', 'A', 'S', 'H', 'R', 'D'};
constexpr size_t kHeaderBytes = 40;
constexpr size_t kTrailerBytes = 4;
constexpr const char* kFormatName = "mona-feature-store";
constexpr const char* kManifestName = "manifest.json";
constexpr const char* kLockName = ".lock";

std::string os_reason(int err) { return std::strerror(err); }

std::string join_path(const std::string& dir, const std::string& name) {
    if (!dir.empty() && dir.back() == '/') return dir + name;
    return dir + "/" + name;
}

std::string shard_file_name(size_t shard_idx) {
    char name[32];
    std::snprintf(name, sizeof(name), "shard-%05zu.bin", shard_idx);
    return name;
}

std::string hex32(uint32_t value) {
    char text[16];
    std::snprintf(text, sizeof(text), "%08x", value);
    return text;
}

}  // namespace

// ---- records (the varints and bounded reads of util/bytes.hpp) -------------------------------------------------

namespace store_detail {

// The latent indices of a record. Formats 1 and 2: varint nnz, then nnz varints (the first index, then each gap to
// the previous index minus 1: strictly increasing indices make every gap >= 1, and small gaps fit one byte).
// Format 3: varint (nnz << 1 | bitmap), then either those gaps (bitmap = 0) or, for a dense vector, a bitmap
// (bitmap = 1): varint n_bytes, then n_bytes bytes where bit b (least significant first) of byte j says whether
// latent 8j + b is present; n_bytes = last index / 8 + 1, so the last byte is never zero. The writer takes the
// bitmap exactly when it is smaller than the gaps (a real SAE's pooled vector is often near half dense: 46 % of
// 4,608 latents on the bench, where the bitmap is 576 bytes against ~2,100 for the gaps).
namespace {

size_t varint_bytes(uint64_t value) {
    size_t n = 1;
    while (value >= 0x80) {
        value >>= 7;
        ++n;
    }
    return n;
}

}  // namespace

void encode_indices(std::string& out, const SparseVec& vec, uint32_t version) {
    size_t gap_bytes = 0;
    uint64_t prev = 0;
    for (size_t k = 0; k < vec.idx.size(); ++k) {
        gap_bytes += varint_bytes(k == 0 ? vec.idx[k] : static_cast<uint64_t>(vec.idx[k]) - prev - 1);
        prev = vec.idx[k];
    }
    const uint64_t bitmap_bytes = vec.idx.empty() ? 0 : static_cast<uint64_t>(vec.idx.back()) / 8 + 1;
    const bool bitmap = version >= 3 && !vec.idx.empty() && varint_bytes(bitmap_bytes) + bitmap_bytes < gap_bytes;
    put_varint(out, version >= 3 ? (static_cast<uint64_t>(vec.idx.size()) << 1) | (bitmap ? 1u : 0u) : vec.idx.size());
    if (bitmap) {
        put_varint(out, bitmap_bytes);
        const size_t at = out.size();
        out.append(bitmap_bytes, '\0');
        for (uint32_t index : vec.idx)
            out[at + index / 8] = static_cast<char>(out[at + index / 8] | (1u << (index % 8)));
        return;
    }
    prev = 0;
    for (size_t k = 0; k < vec.idx.size(); ++k) {
        put_varint(out, k == 0 ? vec.idx[k] : static_cast<uint64_t>(vec.idx[k]) - prev - 1);
        prev = vec.idx[k];
    }
}

// The fields before the indices.
void encode_record_head(std::string& out, const StoredSample& sample, double l1) {
    put_varint(out, sample.record_idx);
    put_varint(out, sample.source_pos);
    put_varint(out, sample.n_tokens);
    put_varint(out, sample.id.size());
    out.append(sample.id);
    put_raw<double>(out, l1);
}

void encode_record(std::string& out, const StoredSample& sample, const SparseVec& vec, ValueEncoding values,
                   uint32_t version) {
    encode_record_head(out, sample, vec.l1);
    encode_indices(out, vec, version);
    store_detail::encode_values(out, values, vec.val.data(), vec.val.size());
}

// Decodes one record; returns the name of the field that could not be read, or nullptr on success.
const char* decode_record(ByteReader& in, StoredSample& out, ValueEncoding values, uint32_t version) {
    uint64_t n_tokens = 0;
    uint64_t id_len = 0;
    uint64_t nnz = 0;
    const char* data = nullptr;
    if (!in.varint(out.record_idx)) return "record_idx";
    if (!in.varint(out.source_pos)) return "source_pos";
    if (!in.varint(n_tokens) || n_tokens > UINT32_MAX) return "n_tokens";
    out.n_tokens = static_cast<uint32_t>(n_tokens);
    if (!in.varint(id_len) || !in.bytes(id_len, data)) return "id";
    out.id.assign(data, id_len);
    if (!in.raw<double>(out.vec.l1)) return "l1";
    bool bitmap = false;
    if (!in.varint(nnz)) return "nnz";
    if (version >= 3) {
        bitmap = (nnz & 1u) != 0;
        nnz >>= 1;
        if (bitmap && nnz == 0) return "nnz";
    }
    // Each latent takes at least its value's bytes (and, as gaps, a 1-byte gap), so a larger nnz cannot be genuine;
    // checking first keeps a corrupted count from allocating.
    const size_t min_bytes = store_detail::min_bytes_per_latent(values) - (bitmap ? 1 : 0);
    if (nnz > in.remaining() / min_bytes) return "nnz";
    out.vec.idx.resize(nnz);
    out.vec.val.resize(nnz);
    if (bitmap) {
        uint64_t n_bytes = 0;
        if (!in.varint(n_bytes) || n_bytes == 0 || n_bytes > (uint64_t{UINT32_MAX} + 1) / 8 ||
            !in.bytes(n_bytes, data) || data[n_bytes - 1] == 0) {
            return "latent bitmap";
        }
        uint64_t k = 0;
        for (uint64_t j = 0; j < n_bytes; ++j) {
            unsigned bits = static_cast<uint8_t>(data[j]);
            while (bits != 0) {
                if (k == nnz) return "latent bitmap";
                out.vec.idx[k++] = static_cast<uint32_t>(j * 8 + static_cast<uint64_t>(std::countr_zero(bits)));
                bits &= bits - 1;
            }
        }
        if (k != nnz) return "latent bitmap";
    } else {
        uint64_t prev = 0;
        for (uint64_t k = 0; k < nnz; ++k) {
            uint64_t gap = 0;
            if (!in.varint(gap)) return "latent indices";
            const uint64_t index = k == 0 ? gap : prev + gap + 1;
            if (gap > UINT32_MAX || index > UINT32_MAX) return "latent indices";
            out.vec.idx[k] = static_cast<uint32_t>(index);
            prev = index;
        }
    }
    if (!in.bytes(store_detail::value_block_bytes(values, nnz), data)) return "values";
    store_detail::decode_values(data, values, nnz, out.vec.val.data());
    return nullptr;
}

}  // namespace store_detail

using store_detail::decode_record;
using store_detail::encode_indices;
using store_detail::encode_record;
using store_detail::encode_record_head;

namespace {

// ---- manifest ------------------------------------------------------------------------------------------------

struct ShardEntry {
    std::string file;
    uint64_t n_rows = 0;
    uint64_t bytes = 0;
    uint32_t crc32 = 0;
    std::string sha256;
    uint64_t first_record_idx = 0;
    uint64_t last_record_idx = 0;
};

struct Manifest {
    Json params = Json::object();
    uint32_t keep = 0;
    ValueEncoding values = ValueEncoding::kF32;
    uint32_t version = kStoreFormatVersionF32;  // the format the store's shards are written in
    uint64_t shard_rows = kDefaultShardRows;
    uint32_t slice_idx = 0;
    uint32_t n_slices = 1;
    uint64_t n_samples = 0;
    bool complete = false;
    std::vector<ShardEntry> shards;
};

// The format a new store is written in: 1 for f32 (the bytes of every store written before value encodings), the
// newest for the others. A resumed or merged store keeps its own (Manifest::version).
uint32_t format_version_of(ValueEncoding values) {
    return values == ValueEncoding::kF32 ? kStoreFormatVersionF32 : kStoreFormatVersion;
}

std::string manifest_text(const Manifest& m) {
    Json shards = Json::array();
    for (const ShardEntry& entry : m.shards) {
        shards.push_back({{"file", entry.file},
                          {"n_rows", entry.n_rows},
                          {"bytes", entry.bytes},
                          {"crc32", hex32(entry.crc32)},
                          {"sha256", entry.sha256},
                          {"first_record_idx", entry.first_record_idx},
                          {"last_record_idx", entry.last_record_idx}});
    }
    Json doc = {{"format", kFormatName},      {"format_version", m.version},
                {"params", m.params},         {"keep", m.keep},
                {"shard_rows", m.shard_rows}, {"slice", {{"index", m.slice_idx}, {"count", m.n_slices}}},
                {"n_samples", m.n_samples},   {"complete", m.complete},
                {"shards", std::move(shards)}};
    // Format 1 has no "values": an f32 store keeps the bytes it had before value encodings existed.
    if (m.values != ValueEncoding::kF32) doc["values"] = value_encoding_name(m.values);
    return doc.dump(2) + "\n";
}

// Field getters for the manifest: each failure names the file and the JSON field path.
class ManifestParser {
   public:
    explicit ManifestParser(std::string path) : path_(std::move(path)) {}

    Status error(const std::string& field, const std::string& what) const {
        return invalid_input(path_ + ": field " + field + ": " + what);
    }

    Result<const Json*> member(const Json& object, const char* key, const std::string& field) const {
        auto it = object.find(key);
        if (it == object.end()) return error(field, "missing");
        return &*it;
    }

    Result<uint64_t> u64(const Json& object, const char* key, const std::string& prefix) const {
        const std::string field = prefix + key;
        MONA_TRY(const Json* value, member(object, key, field));
        if (!value->is_number_unsigned()) {
            return error(field, std::string("expected an unsigned integer, found ") + value->dump());
        }
        return value->get<uint64_t>();
    }

    Result<uint32_t> u32(const Json& object, const char* key, const std::string& prefix) const {
        MONA_TRY(uint64_t value, u64(object, key, prefix));
        if (value > UINT32_MAX) return error(prefix + key, "value " + std::to_string(value) + " is too large");
        return static_cast<uint32_t>(value);
    }

    Result<std::string> str(const Json& object, const char* key, const std::string& prefix) const {
        const std::string field = prefix + key;
        MONA_TRY(const Json* value, member(object, key, field));
        if (!value->is_string()) return error(field, std::string("expected a string, found ") + value->type_name());
        return value->get<std::string>();
    }

    Result<Manifest> parse(const std::string& text) const {
        Json doc;
        try {
            doc = Json::parse(text);
        } catch (const Json::exception& e) {
            return invalid_input(path_ + ": not valid JSON: " + e.what());
        }
        if (!doc.is_object()) return invalid_input(path_ + ": expected a JSON object, found " + doc.type_name());
        MONA_TRY(std::string format, str(doc, "format", ""));
        if (format != kFormatName)
            return error("format", "expected \"" + std::string(kFormatName) + "\", found \"" + format + "\"");
        MONA_TRY(uint32_t version, u32(doc, "format_version", ""));
        if (version > kStoreFormatVersion || version == 0) {
            return unsupported(path_ + ": store format version " + std::to_string(version) +
                               ", this mona reads versions 1 to " + std::to_string(kStoreFormatVersion));
        }
        Manifest m;
        m.version = version;
        if (version == kStoreFormatVersionF32) {
            if (doc.contains("values")) return error("values", "not part of store format 1 (its values are f32)");
        } else {
            MONA_TRY(std::string values, str(doc, "values", ""));
            Result<ValueEncoding> encoding = parse_value_encoding(values);
            if (!encoding.ok()) return error("values", encoding.status().message());
            if (*encoding == ValueEncoding::kF32) return error("values", "f32 stores are format 1");
            if (*encoding == ValueEncoding::kQ12 && version < 3) return error("values", "q12 needs store format 3");
            m.values = *encoding;
        }
        MONA_TRY(const Json* params, member(doc, "params", "params"));
        if (!params->is_object())
            return error("params", std::string("expected an object, found ") + params->type_name());
        m.params = *params;
        MONA_TRY(m.keep, u32(doc, "keep", ""));
        MONA_TRY(m.shard_rows, u64(doc, "shard_rows", ""));
        if (m.shard_rows == 0) return error("shard_rows", "must be at least 1");
        MONA_TRY(const Json* slice, member(doc, "slice", "slice"));
        if (!slice->is_object()) return error("slice", std::string("expected an object, found ") + slice->type_name());
        MONA_TRY(m.slice_idx, u32(*slice, "index", "slice."));
        MONA_TRY(m.n_slices, u32(*slice, "count", "slice."));
        if (m.n_slices == 0 || m.slice_idx >= m.n_slices) {
            return error("slice",
                         "index " + std::to_string(m.slice_idx) + " is not below count " + std::to_string(m.n_slices));
        }
        MONA_TRY(m.n_samples, u64(doc, "n_samples", ""));
        MONA_TRY(const Json* complete, member(doc, "complete", "complete"));
        if (!complete->is_boolean())
            return error("complete", std::string("expected a boolean, found ") + complete->type_name());
        m.complete = complete->get<bool>();
        MONA_TRY(const Json* shards, member(doc, "shards", "shards"));
        if (!shards->is_array()) return error("shards", std::string("expected an array, found ") + shards->type_name());

        uint64_t n_rows_total = 0;
        for (size_t shard_idx = 0; shard_idx < shards->size(); ++shard_idx) {
            const Json& item = (*shards)[shard_idx];
            const std::string prefix = "shards[" + std::to_string(shard_idx) + "].";
            if (!item.is_object()) return error(prefix.substr(0, prefix.size() - 1), "expected an object");
            ShardEntry entry;
            MONA_TRY(entry.file, str(item, "file", prefix));
            // The name is fixed by position; checking it also keeps a crafted manifest from naming paths outside.
            if (entry.file != shard_file_name(shard_idx)) {
                return error(prefix + "file",
                             "expected \"" + shard_file_name(shard_idx) + "\", found \"" + entry.file + "\"");
            }
            MONA_TRY(entry.n_rows, u64(item, "n_rows", prefix));
            MONA_TRY(entry.bytes, u64(item, "bytes", prefix));
            MONA_TRY(std::string crc, str(item, "crc32", prefix));
            char* crc_end = nullptr;
            const unsigned long crc_value = std::strtoul(crc.c_str(), &crc_end, 16);
            if (crc.size() != 8 || *crc_end != '\0')
                return error(prefix + "crc32", "expected 8 hex digits, found \"" + crc + "\"");
            entry.crc32 = static_cast<uint32_t>(crc_value);
            MONA_TRY(entry.sha256, str(item, "sha256", prefix));
            if (entry.sha256.size() != 64) return error(prefix + "sha256", "expected 64 hex digits");
            MONA_TRY(entry.first_record_idx, u64(item, "first_record_idx", prefix));
            MONA_TRY(entry.last_record_idx, u64(item, "last_record_idx", prefix));

            const bool is_last = shard_idx + 1 == shards->size();
            // Only a committed store's last shard may be partial (see the header's layout rule).
            const bool may_be_partial = is_last && m.complete;
            if (entry.n_rows == 0 || entry.n_rows > m.shard_rows || (!may_be_partial && entry.n_rows != m.shard_rows)) {
                return error(prefix + "n_rows",
                             std::to_string(entry.n_rows) + " rows where shard_rows is " +
                                 std::to_string(m.shard_rows) +
                                 (may_be_partial ? "" : " (only a committed store's last shard may be partial)"));
            }
            if (entry.bytes < kHeaderBytes + kTrailerBytes) return error(prefix + "bytes", "too small for a shard");
            if (entry.first_record_idx > entry.last_record_idx) {
                return error(prefix + "first_record_idx", "is after last_record_idx");
            }
            if (shard_idx > 0 && entry.first_record_idx <= m.shards.back().last_record_idx) {
                return error(prefix + "first_record_idx", "not after the previous shard's last_record_idx");
            }
            n_rows_total += entry.n_rows;
            m.shards.push_back(std::move(entry));
        }
        if (n_rows_total != m.n_samples) {
            return error("n_samples", std::to_string(m.n_samples) + ", but the shards hold " +
                                          std::to_string(n_rows_total) + " rows");
        }
        return m;
    }

   private:
    std::string path_;
};

Result<std::string> read_text_file(const std::string& path) {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) {
        const int err = errno;
        std::string message = path + ": cannot open: " + os_reason(err);
        return err == ENOENT ? not_found(std::move(message)) : io_error(std::move(message));
    }
    std::string text;
    char chunk[1 << 16];
    size_t n = 0;
    while ((n = std::fread(chunk, 1, sizeof(chunk), file)) > 0) text.append(chunk, n);
    const bool failed = std::ferror(file) != 0;
    std::fclose(file);
    if (failed) return io_error(path + ": read failed");
    return text;
}

// Reads a shard file into `bytes` and checks everything that does not need decoding: the size recorded in the
// manifest, the header, the trailer CRC-32 against the contents and against the manifest, and optionally the
// SHA-256. Errors name the file.
Status load_shard(const std::string& dir, const Manifest& m, size_t shard_idx, bool check_sha256, std::string& bytes) {
    const ShardEntry& entry = m.shards[shard_idx];
    const std::string path = join_path(dir, entry.file);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        if (err == ENOENT) return invalid_input(path + ": shard file is missing (listed in manifest.json)");
        return io_error(path + ": cannot open: " + os_reason(err));
    }
    struct stat info;
    if (::fstat(fd, &info) != 0) {
        const int err = errno;
        ::close(fd);
        return io_error(path + ": cannot stat: " + os_reason(err));
    }
    if (static_cast<uint64_t>(info.st_size) != entry.bytes) {
        ::close(fd);
        return invalid_input(path + ": corrupted shard: " + std::to_string(info.st_size) +
                             " bytes, manifest.json says " + std::to_string(entry.bytes) + " (truncated or replaced)");
    }
    bytes.resize(entry.bytes);
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t got = ::read(fd, bytes.data() + done, bytes.size() - done);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            const int err = got < 0 ? errno : 0;
            ::close(fd);
            return io_error(path +
                            ": read failed: " + (got < 0 ? os_reason(err) : std::string("unexpected end of file")));
        }
        done += static_cast<size_t>(got);
    }
    ::close(fd);

    const size_t body_end = bytes.size() - kTrailerBytes;
    const uint32_t crc = crc32_of(bytes.data(), body_end);
    uint32_t trailer = 0;
    std::memcpy(&trailer, bytes.data() + body_end, sizeof(trailer));
    if (crc != trailer || crc != entry.crc32) {
        return invalid_input(path + ": corrupted shard: CRC-32 of the contents is " + hex32(crc) +
                             ", the file's trailer says " + hex32(trailer) + " and manifest.json says " +
                             hex32(entry.crc32));
    }
    if (check_sha256) {
        const std::string sha = sha256_hex(bytes.data(), bytes.size());
        if (sha != entry.sha256) {
            return invalid_input(path + ": corrupted shard: SHA-256 is " + sha + ", manifest.json says " +
                                 entry.sha256);
        }
    }
    ByteReader header(bytes.data(), bytes.data() + kHeaderBytes);
    const char* magic = nullptr;
    uint32_t version = 0;
    uint32_t reserved = 0;
    uint64_t file_shard_idx = 0;
    uint64_t first_row = 0;
    uint64_t n_rows = 0;
    header.bytes(sizeof(kShardMagic), magic);
    header.raw(version);
    header.raw(reserved);
    header.raw(file_shard_idx);
    header.raw(first_row);
    header.raw(n_rows);
    if (std::memcmp(magic, kShardMagic, sizeof(kShardMagic)) != 0)
        return invalid_input(path + ": not a mona shard (bad magic)");
    if (version != m.version) {
        return invalid_input(path + ": shard format version " + std::to_string(version) + ", manifest.json says " +
                             std::to_string(m.version));
    }
    if (file_shard_idx != shard_idx || first_row != shard_idx * m.shard_rows || n_rows != entry.n_rows) {
        return invalid_input(path + ": header says shard " + std::to_string(file_shard_idx) + ", first row " +
                             std::to_string(first_row) + ", " + std::to_string(n_rows) +
                             " rows; manifest.json expects shard " + std::to_string(shard_idx) + ", first row " +
                             std::to_string(shard_idx * m.shard_rows) + ", " + std::to_string(entry.n_rows) + " rows");
    }
    return Status();
}

// ---- params comparison ---------------------------------------------------------------------------------------

struct Difference {
    std::string key;  // dotted path
    std::string a;    // dumped value or "absent"
    std::string b;
};

// The first key (in sorted order, depth first) whose value differs between two JSON objects.
std::optional<Difference> first_difference(const Json& a, const Json& b, const std::string& prefix) {
    std::vector<std::string> keys;
    for (auto it = a.begin(); it != a.end(); ++it) keys.push_back(it.key());
    for (auto it = b.begin(); it != b.end(); ++it) keys.push_back(it.key());
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    for (const std::string& key : keys) {
        const auto in_a = a.find(key);
        const auto in_b = b.find(key);
        const std::string path = prefix + key;
        if (in_a == a.end() || in_b == b.end()) {
            return Difference{path, in_a == a.end() ? "absent" : in_a->dump(),
                              in_b == b.end() ? "absent" : in_b->dump()};
        }
        if (in_a->is_object() && in_b->is_object()) {
            if (auto diff = first_difference(*in_a, *in_b, path + ".")) return diff;
        } else if (*in_a != *in_b) {
            return Difference{path, in_a->dump(), in_b->dump()};
        }
    }
    return std::nullopt;
}

Result<Json> parse_params(const std::string& text) {
    if (text.empty()) return Json::object();
    Json params;
    try {
        params = Json::parse(text);
    } catch (const Json::exception& e) {
        return invalid_input(std::string("store params_json: not valid JSON: ") + e.what());
    }
    if (!params.is_object())
        return invalid_input(std::string("store params_json: expected a JSON object, found ") + params.type_name());
    return params;
}

}  // namespace

// ---- free functions ------------------------------------------------------------------------------------------

bool belongs_to_slice(uint64_t record_idx, uint32_t slice_idx, uint32_t n_slices) {
    MONA_ASSERT(n_slices >= 1 && slice_idx < n_slices, "belongs_to_slice: slice_idx must be below n_slices");
    return record_idx % n_slices == slice_idx;
}

SparseVec truncate_top(const SparseVec& v, uint32_t keep) {
    MONA_ASSERT(v.idx.size() == v.val.size(), "truncate_top: idx and val differ in length");
    if (keep == 0 || v.nnz() <= keep) return v;
    // The one top-k routine and its tie rule (sae/topk.hpp): indices ascend, so ties keep the lower latent.
    LatentTopK top(keep);
    for (size_t pos = 0; pos < v.nnz(); ++pos) top.offer(v.val[pos], v.idx[pos]);
    SparseVec out;
    out.idx.reserve(keep);
    out.val.reserve(keep);
    for (const LatentValue& kept : top.sort_by_latent()) {
        out.idx.push_back(kept.latent_idx);
        out.val.push_back(kept.value);
    }
    out.l1 = v.l1;
    return out;
}

// ---- StoreReader ---------------------------------------------------------------------------------------------

struct StoreReader::Impl {
    std::string dir;
    Manifest manifest;
    std::string params_dump;
    uint64_t bytes_on_disk = 0;
};

namespace {

// Pulls samples one at a time from shards [shard_pos, shard_end) of one store, loading one shard at a time.
// Decoding checks that records are well-formed and consistent with the manifest (order, slice, keep, counts).
class StoreCursor {
   public:
    // `scratch`, if given, holds the loaded shard instead of a buffer of the cursor's own (reused across cursors).
    StoreCursor(const std::string& dir, const Manifest& m, size_t shard_begin, size_t shard_end, bool check_sha256,
                std::string* scratch = nullptr)
        : dir_(&dir),
          m_(&m),
          shard_pos_(shard_begin),
          shard_end_(shard_end),
          check_sha256_(check_sha256),
          bytes_(scratch != nullptr ? scratch : &own_bytes_) {}
    StoreCursor(StoreCursor&& other) noexcept { *this = std::move(other); }
    StoreCursor& operator=(StoreCursor&& other) noexcept {
        dir_ = other.dir_;
        m_ = other.m_;
        shard_pos_ = other.shard_pos_;
        shard_end_ = other.shard_end_;
        check_sha256_ = other.check_sha256_;
        const bool own = other.bytes_ == &other.own_bytes_;
        own_bytes_ = std::move(other.own_bytes_);
        bytes_ = own ? &own_bytes_ : other.bytes_;
        reader_ = other.reader_;
        loaded_ = other.loaded_;
        rows_left_ = other.rows_left_;
        row_in_shard_ = other.row_in_shard_;
        have_prev_ = other.have_prev_;
        prev_record_idx_ = other.prev_record_idx_;
        record_bytes_ = other.record_bytes_;
        return *this;
    }

    // Fills `out` with the next sample and returns true, or returns false at the end.
    Result<bool> next(StoredSample& out) {
        while (rows_left_ == 0) {
            if (loaded_) {
                MONA_RETURN_IF_ERROR(finish_shard());
                loaded_ = false;
                ++shard_pos_;
            }
            if (shard_pos_ >= shard_end_) return false;
            MONA_RETURN_IF_ERROR(load_shard(*dir_, *m_, shard_pos_, check_sha256_, *bytes_));
            loaded_ = true;
            reader_ = ByteReader(bytes_->data() + kHeaderBytes, bytes_->data() + bytes_->size() - kTrailerBytes);
            rows_left_ = m_->shards[shard_pos_].n_rows;
            row_in_shard_ = 0;
        }
        const ShardEntry& entry = m_->shards[shard_pos_];
        const size_t remaining_before = reader_.remaining();
        if (const char* field = decode_record(reader_, out, m_->values, m_->version))
            return record_error(std::string("cannot decode ") + field);
        const char* body_end = bytes_->data() + bytes_->size() - kTrailerBytes;
        record_bytes_ = std::string_view(body_end - remaining_before, remaining_before - reader_.remaining());
        if (row_in_shard_ == 0 && out.record_idx != entry.first_record_idx) {
            return record_error("record_idx " + std::to_string(out.record_idx) +
                                ", manifest.json says the shard starts at " + std::to_string(entry.first_record_idx));
        }
        if (have_prev_ && out.record_idx <= prev_record_idx_) {
            return record_error("record_idx " + std::to_string(out.record_idx) + " is not after the previous record " +
                                std::to_string(prev_record_idx_));
        }
        if (out.record_idx % m_->n_slices != m_->slice_idx) {
            return record_error("record_idx " + std::to_string(out.record_idx) + " does not belong to slice " +
                                std::to_string(m_->slice_idx) + "/" + std::to_string(m_->n_slices));
        }
        if (m_->keep > 0 && out.vec.nnz() > m_->keep) {
            return record_error(std::to_string(out.vec.nnz()) + " latents stored, keep is " + std::to_string(m_->keep));
        }
        have_prev_ = true;
        prev_record_idx_ = out.record_idx;
        --rows_left_;
        ++row_in_shard_;
        return true;
    }

    // The encoded bytes of the sample next() returned last (valid until the next call).
    std::string_view record_bytes() const { return record_bytes_; }

   private:
    Status finish_shard() {
        const ShardEntry& entry = m_->shards[shard_pos_];
        if (reader_.remaining() != 0) {
            return record_error(std::to_string(reader_.remaining()) + " bytes after the last record");
        }
        if (prev_record_idx_ != entry.last_record_idx) {
            return record_error("last record_idx " + std::to_string(prev_record_idx_) + ", manifest.json says " +
                                std::to_string(entry.last_record_idx));
        }
        return Status();
    }

    Status record_error(const std::string& what) const {
        return invalid_input(join_path(*dir_, m_->shards[shard_pos_].file) + ": row " + std::to_string(row_in_shard_) +
                             ": " + what);
    }

    const std::string* dir_;
    const Manifest* m_;
    size_t shard_pos_;
    size_t shard_end_;
    bool check_sha256_;
    std::string own_bytes_;
    std::string* bytes_;  // own_bytes_ or the caller's scratch buffer
    ByteReader reader_{nullptr, nullptr};
    bool loaded_ = false;
    uint64_t rows_left_ = 0;
    uint64_t row_in_shard_ = 0;
    bool have_prev_ = false;
    uint64_t prev_record_idx_ = 0;
    std::string_view record_bytes_;
};

Status run_cursor(StoreCursor& cursor, const SampleFn& fn) {
    StoredSample sample;
    while (true) {
        MONA_TRY(bool more, cursor.next(sample));
        if (!more) return Status();
        MONA_RETURN_IF_ERROR(fn(sample));
    }
}

}  // namespace

StoreReader::StoreReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StoreReader::StoreReader(StoreReader&&) noexcept = default;
StoreReader& StoreReader::operator=(StoreReader&&) noexcept = default;
StoreReader::~StoreReader() = default;

Result<StoreReader> StoreReader::open(const std::string& dir) {
    struct stat info;
    if (::stat(dir.c_str(), &info) != 0) return not_found(dir + ": no such store directory");
    if (!S_ISDIR(info.st_mode)) return invalid_input(dir + ": not a directory");
    const std::string manifest_path = join_path(dir, kManifestName);
    MONA_TRY(std::string text, read_text_file(manifest_path));
    auto impl = std::make_unique<Impl>();
    impl->dir = dir;
    MONA_TRY(impl->manifest, ManifestParser(manifest_path).parse(text));
    impl->params_dump = impl->manifest.params.dump();
    for (const ShardEntry& entry : impl->manifest.shards) {
        const std::string path = join_path(dir, entry.file);
        struct stat shard_info;
        if (::stat(path.c_str(), &shard_info) != 0) {
            return invalid_input(path + ": shard file is missing (listed in manifest.json)");
        }
        if (static_cast<uint64_t>(shard_info.st_size) != entry.bytes) {
            return invalid_input(path + ": corrupted shard: " + std::to_string(shard_info.st_size) +
                                 " bytes, manifest.json says " + std::to_string(entry.bytes) +
                                 " (truncated or replaced)");
        }
        impl->bytes_on_disk += entry.bytes;
    }
    return StoreReader(std::move(impl));
}

Status StoreReader::for_each(const SampleFn& fn) const {
    StoreCursor cursor(impl_->dir, impl_->manifest, 0, impl_->manifest.shards.size(), false);
    return run_cursor(cursor, fn);
}

Status StoreReader::for_each_in_shard(size_t shard_idx, const SampleFn& fn) const {
    std::string scratch;
    return for_each_in_shard(shard_idx, fn, scratch);
}

Status StoreReader::for_each_in_shard(size_t shard_idx, const SampleFn& fn, std::string& scratch) const {
    MONA_ASSERT(shard_idx < impl_->manifest.shards.size(), "for_each_in_shard: shard_idx out of range");
    StoreCursor cursor(impl_->dir, impl_->manifest, shard_idx, shard_idx + 1, false, &scratch);
    return run_cursor(cursor, fn);
}

Status StoreReader::verify() const {
    StoreCursor cursor(impl_->dir, impl_->manifest, 0, impl_->manifest.shards.size(), true);
    return run_cursor(cursor, [](const StoredSample&) { return Status(); });
}

const std::string& StoreReader::dir() const { return impl_->dir; }
const std::string& StoreReader::params_json() const { return impl_->params_dump; }
uint64_t StoreReader::size() const { return impl_->manifest.n_samples; }
uint32_t StoreReader::keep() const { return impl_->manifest.keep; }
ValueEncoding StoreReader::values() const { return impl_->manifest.values; }
uint32_t StoreReader::format_version() const { return impl_->manifest.version; }
uint64_t StoreReader::shard_rows() const { return impl_->manifest.shard_rows; }
uint32_t StoreReader::slice_idx() const { return impl_->manifest.slice_idx; }
uint32_t StoreReader::n_slices() const { return impl_->manifest.n_slices; }
bool StoreReader::complete() const { return impl_->manifest.complete; }
size_t StoreReader::n_shards() const { return impl_->manifest.shards.size(); }
uint64_t StoreReader::bytes_on_disk() const { return impl_->bytes_on_disk; }

// ---- StoreWriter ---------------------------------------------------------------------------------------------

struct StoreWriter::Impl {
    std::string dir;
    Manifest manifest;  // the durable state: what manifest.json says now (or will, once rewritten)
    int lock_fd = -1;

    std::string pending;  // encoded records of the shard being filled
    uint64_t pending_rows = 0;
    uint64_t pending_first_record_idx = 0;
    std::optional<uint64_t> last_record_idx;  // last sample accepted (stored or pending)

    uint64_t n_done = 0;
    std::optional<uint64_t> done_last_record_idx;
    uint64_t n_appended = 0;

    // Set when a committed store was reopened: the first append rewrites the manifest as incomplete, and takes
    // the partial last shard (if any, already loaded into `pending`) off its list.
    bool reopened_complete = false;
    bool partial_listed = false;

    Status failed;  // first I/O failure; the writer refuses to go on after it
    bool committed = false;

    ~Impl() {
        if (lock_fd >= 0) ::close(lock_fd);  // closing the descriptor releases the flock
    }

    Status write_manifest() { return write_file_atomic(join_path(dir, kManifestName), manifest_text(manifest)); }

    // Adds one record (encode appends its bytes to `pending`) and writes the shard when it is full.
    template <class Encode>
    Status add_record(uint64_t record_idx, const Encode& encode);

    Status flush_shard() {
        const size_t shard_idx = manifest.shards.size();
        std::string bytes;
        bytes.reserve(kHeaderBytes + pending.size() + kTrailerBytes);
        bytes.append(kShardMagic, sizeof(kShardMagic));
        put_raw<uint32_t>(bytes, manifest.version);
        put_raw<uint32_t>(bytes, 0);
        put_raw<uint64_t>(bytes, shard_idx);
        put_raw<uint64_t>(bytes, shard_idx * manifest.shard_rows);
        put_raw<uint64_t>(bytes, pending_rows);
        bytes.append(pending);
        const uint32_t crc = crc32_of(bytes.data(), bytes.size());
        put_raw<uint32_t>(bytes, crc);

        ShardEntry entry;
        entry.file = shard_file_name(shard_idx);
        entry.n_rows = pending_rows;
        entry.bytes = bytes.size();
        entry.crc32 = crc;
        entry.sha256 = sha256_hex(bytes.data(), bytes.size());
        entry.first_record_idx = pending_first_record_idx;
        entry.last_record_idx = *last_record_idx;
        // Shard first, manifest second: a crash in between leaves an unlisted file that readers ignore.
        MONA_RETURN_IF_ERROR(write_file_atomic(join_path(dir, entry.file), bytes));
        manifest.shards.push_back(std::move(entry));
        manifest.n_samples += pending_rows;
        pending.clear();
        pending_rows = 0;
        return write_manifest();
    }

    Status reopen_for_append() {
        if (!reopened_complete) return Status();
        manifest.complete = false;
        if (partial_listed) {
            manifest.n_samples -= manifest.shards.back().n_rows;
            manifest.shards.pop_back();
        }
        MONA_RETURN_IF_ERROR(write_manifest());
        reopened_complete = false;
        partial_listed = false;
        return Status();
    }

    // Removes what a crashed writer may have left: temporary files and shard files the manifest does not list.
    void remove_leftovers() {
        std::error_code ec;
        for (const auto& item : std::filesystem::directory_iterator(dir, ec)) {
            const std::string name = item.path().filename().string();
            bool remove = false;
            if (name.rfind(std::string(kManifestName) + ".tmp.", 0) == 0) {
                remove = true;
            } else if (name.rfind("shard-", 0) == 0) {
                const size_t bin = name.find(".bin");
                const std::string digits = name.substr(6, bin == std::string::npos ? 0 : bin - 6);
                const bool numbered = !digits.empty() && std::all_of(digits.begin(), digits.end(),
                                                                     [](char c) { return c >= '0' && c <= '9'; });
                if (numbered && name.compare(bin, std::string::npos, ".bin") != 0) {
                    remove = name.compare(bin, 9, ".bin.tmp.") == 0;
                } else if (numbered) {
                    remove = std::stoull(digits) >= manifest.shards.size();
                }
            }
            if (remove) std::filesystem::remove(item.path(), ec);
        }
    }
};

StoreWriter::StoreWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StoreWriter::StoreWriter(StoreWriter&&) noexcept = default;
StoreWriter& StoreWriter::operator=(StoreWriter&&) noexcept = default;
StoreWriter::~StoreWriter() = default;

Result<StoreWriter> StoreWriter::open(const std::string& dir, const StoreOptions& options) {
    if (dir.empty()) return invalid_input("store directory: empty path");
    if (options.n_slices == 0 || options.slice_idx >= options.n_slices) {
        return invalid_input("store slice " + std::to_string(options.slice_idx) + "/" +
                             std::to_string(options.n_slices) +
                             ": the index must be below the count, and the count at least 1");
    }
    MONA_TRY(Json params, parse_params(options.params_json));
    MONA_RETURN_IF_ERROR(ensure_dir(dir));

    auto impl = std::make_unique<Impl>();
    impl->dir = dir;
    const std::string lock_path = join_path(dir, kLockName);
    impl->lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (impl->lock_fd < 0) return io_error(lock_path + ": cannot create lock file: " + os_reason(errno));
    if (::flock(impl->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        if (err == EWOULDBLOCK)
            return invalid_input(dir + ": another writer is writing this store (" + lock_path + " is locked)");
        return io_error(lock_path + ": cannot lock: " + os_reason(err));
    }

    Manifest& m = impl->manifest;
    m.params = std::move(params);
    m.keep = options.keep;
    m.values = options.values;
    m.version = options.format_version == 0 ? format_version_of(options.values) : options.format_version;
    if ((m.values == ValueEncoding::kF32) != (m.version == kStoreFormatVersionF32) || m.version > kStoreFormatVersion ||
        (m.values == ValueEncoding::kQ12 && m.version < 3)) {
        return invalid_input(dir + ": store format " + std::to_string(m.version) + " cannot hold " +
                             value_encoding_name(m.values) + " values");
    }
    m.shard_rows = options.shard_rows == 0 ? kDefaultShardRows : options.shard_rows;
    m.slice_idx = options.slice_idx;
    m.n_slices = options.n_slices;

    struct stat info;
    const bool have_store = ::stat(join_path(dir, kManifestName).c_str(), &info) == 0;
    if (have_store && !options.resume) {
        return invalid_input(dir +
                             ": a store already exists here (manifest.json); resume it or choose another directory");
    }
    if (have_store) {
        MONA_TRY(StoreReader old, StoreReader::open(dir));
        const Manifest& stored = old.impl_->manifest;
        auto differs = [&dir](const std::string& what, const std::string& key, const std::string& a,
                              const std::string& b) {
            return invalid_input("cannot resume " + dir + ": " + what + " '" + key + "' differs (store: " + a +
                                 ", now: " + b + ")");
        };
        if (stored.keep != m.keep)
            return differs("store option", "keep", std::to_string(stored.keep), std::to_string(m.keep));
        if (stored.values != m.values) {
            return differs("store option", "values", value_encoding_name(stored.values), value_encoding_name(m.values));
        }
        // A resumed store continues in its own format (an older one stays readable and writable) unless the caller
        // asked for a particular one.
        if (options.format_version != 0 && stored.version != m.version) {
            return differs("store option", "format_version", std::to_string(stored.version), std::to_string(m.version));
        }
        if (stored.shard_rows != m.shard_rows) {
            return differs("store option", "shard_rows", std::to_string(stored.shard_rows),
                           std::to_string(m.shard_rows));
        }
        if (stored.slice_idx != m.slice_idx || stored.n_slices != m.n_slices) {
            return differs("store option", "slice",
                           std::to_string(stored.slice_idx) + "/" + std::to_string(stored.n_slices),
                           std::to_string(m.slice_idx) + "/" + std::to_string(m.n_slices));
        }
        if (auto diff = first_difference(stored.params, m.params, ""))
            return differs("parameter", diff->key, diff->a, diff->b);
        impl->manifest = stored;
        impl->n_done = stored.n_samples;
        if (!stored.shards.empty()) {
            const ShardEntry& last = stored.shards.back();
            impl->done_last_record_idx = last.last_record_idx;
            impl->last_record_idx = last.last_record_idx;
            std::string bytes;
            MONA_RETURN_IF_ERROR(load_shard(dir, stored, stored.shards.size() - 1, true, bytes));
            if (last.n_rows < stored.shard_rows) {
                // The partial shard of a committed run: refill it, so boundaries stay multiples of shard_rows.
                impl->pending.assign(bytes, kHeaderBytes, bytes.size() - kHeaderBytes - kTrailerBytes);
                impl->pending_rows = last.n_rows;
                impl->pending_first_record_idx = last.first_record_idx;
                impl->partial_listed = true;
            }
        }
        impl->reopened_complete = stored.complete;
        impl->remove_leftovers();
    } else {
        impl->remove_leftovers();
        MONA_RETURN_IF_ERROR(impl->write_manifest());
    }
    return StoreWriter(std::move(impl));
}

template <class Encode>
Status StoreWriter::Impl::add_record(uint64_t record_idx, const Encode& encode) {
    Status status = reopen_for_append();
    if (!status.ok()) {
        failed = status;
        return status;
    }
    if (pending_rows == 0) pending_first_record_idx = record_idx;
    encode(pending);
    ++pending_rows;
    ++n_appended;
    last_record_idx = record_idx;
    if (pending_rows == manifest.shard_rows) {
        status = flush_shard();
        if (!status.ok()) failed = status;
    }
    return status;
}

Status StoreWriter::append(const StoredSample& sample) {
    Impl& w = *impl_;
    MONA_ASSERT(!w.committed, "StoreWriter::append after commit");
    if (!w.failed.ok()) return w.failed;
    const SparseVec& vec = sample.vec;
    auto bad = [&](const std::string& what) {
        return invalid_input(w.dir + ": record " + std::to_string(sample.record_idx) + " (id \"" + sample.id +
                             "\"): " + what);
    };
    if (w.last_record_idx && sample.record_idx <= *w.last_record_idx) {
        return bad("record_idx is not after the previous sample's " + std::to_string(*w.last_record_idx) +
                   " (append in source order; after resume skip n_done() samples)");
    }
    if (sample.record_idx % w.manifest.n_slices != w.manifest.slice_idx) {
        return bad("does not belong to slice " + std::to_string(w.manifest.slice_idx) + "/" +
                   std::to_string(w.manifest.n_slices));
    }
    if (vec.idx.size() != vec.val.size()) {
        return bad(std::to_string(vec.idx.size()) + " indices but " + std::to_string(vec.val.size()) + " values");
    }
    for (size_t k = 0; k < vec.idx.size(); ++k) {
        if (k > 0 && vec.idx[k] <= vec.idx[k - 1])
            return bad("latent indices are not strictly increasing at position " + std::to_string(k));
        if (!std::isfinite(vec.val[k])) return bad("value at latent " + std::to_string(vec.idx[k]) + " is not finite");
    }
    if (!std::isfinite(vec.l1) || vec.l1 < 0) return bad("l1 must be finite and >= 0");
    if (w.manifest.values == ValueEncoding::kQ8 || w.manifest.values == ValueEncoding::kQ12) {
        for (size_t k = 0; k < vec.val.size(); ++k) {
            if (vec.val[k] < 0.0f) {  // -0.0 is zero: it decodes as +0.0
                return bad("value at latent " + std::to_string(vec.idx[k]) + " is negative: values " +
                           value_encoding_name(w.manifest.values) + " stores only values >= 0 (use f32 or bf16)");
            }
        }
    }

    return w.add_record(sample.record_idx, [&](std::string& out) {
        if (w.manifest.keep > 0 && vec.nnz() > w.manifest.keep) {
            encode_record(out, sample, truncate_top(vec, w.manifest.keep), w.manifest.values, w.manifest.version);
        } else {
            encode_record(out, sample, vec, w.manifest.values, w.manifest.version);
        }
    });
}

uint32_t StoreWriter::format_version() const { return impl_->manifest.version; }

Status StoreWriter::append_encoded(uint64_t record_idx, std::string_view record) {
    Impl& w = *impl_;
    MONA_ASSERT(!w.committed, "StoreWriter::append_encoded after commit");
    if (!w.failed.ok()) return w.failed;
    if (w.last_record_idx && record_idx <= *w.last_record_idx) {
        return invalid_input(w.dir + ": record " + std::to_string(record_idx) + " is not after the previous sample's " +
                             std::to_string(*w.last_record_idx));
    }
    return w.add_record(record_idx, [&](std::string& out) { out.append(record); });
}

Status StoreWriter::commit() {
    Impl& w = *impl_;
    if (w.committed) return Status();
    if (!w.failed.ok()) return w.failed;
    Status status;
    if (w.reopened_complete) {
        // Nothing appended since a committed store was reopened: manifest.json is already right.
        w.committed = true;
        return Status();
    }
    if (w.pending_rows > 0) status = w.flush_shard();
    if (status.ok()) {
        w.manifest.complete = true;
        status = w.write_manifest();
    }
    if (!status.ok()) {
        w.failed = status;
        return status;
    }
    w.committed = true;
    return Status();
}

uint64_t StoreWriter::n_done() const { return impl_->n_done; }
std::optional<uint64_t> StoreWriter::last_record_idx() const { return impl_->done_last_record_idx; }
uint64_t StoreWriter::size() const { return impl_->n_done + impl_->n_appended; }
const std::string& StoreWriter::dir() const { return impl_->dir; }

// ---- StoreSet ------------------------------------------------------------------------------------------------

struct StoreSet::Impl {
    std::vector<StoreReader> stores;  // in slice order
    uint64_t n_samples = 0;
};

StoreSet::StoreSet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StoreSet::StoreSet(StoreSet&&) noexcept = default;
StoreSet& StoreSet::operator=(StoreSet&&) noexcept = default;
StoreSet::~StoreSet() = default;

Result<StoreSet> StoreSet::open(const std::vector<std::string>& dirs) {
    if (dirs.empty()) return invalid_input("store set: no store directories given");
    std::vector<std::optional<StoreReader>> by_slice(dirs.size());
    const StoreReader* first = nullptr;
    uint64_t n_samples = 0;
    for (const std::string& dir : dirs) {
        MONA_TRY(StoreReader store, StoreReader::open(dir));
        if (!store.complete()) {
            return invalid_input(dir + ": the store is incomplete (its writer did not commit); resume it to finish it");
        }
        if (store.n_slices() != dirs.size()) {
            return invalid_input(dir + ": the store is slice " + std::to_string(store.slice_idx()) + "/" +
                                 std::to_string(store.n_slices()) + ", but " + std::to_string(dirs.size()) +
                                 " stores were given (one per slice is needed)");
        }
        std::optional<StoreReader>& slot = by_slice[store.slice_idx()];
        if (slot) {
            return invalid_input(dir + ": slice " + std::to_string(store.slice_idx()) + " is also in " + slot->dir());
        }
        n_samples += store.size();
        slot = std::move(store);
        if (first == nullptr) first = &*slot;
        const StoreReader& added = *slot;
        if (added.values() != first->values()) {
            return invalid_input(std::string("cannot combine stores: 'values' differs between ") + first->dir() + " (" +
                                 value_encoding_name(first->values()) + ") and " + dir + " (" +
                                 value_encoding_name(added.values()) + ")");
        }
        if (added.keep() != first->keep()) {
            return invalid_input("cannot combine stores: 'keep' differs between " + first->dir() + " (" +
                                 std::to_string(first->keep()) + ") and " + dir + " (" + std::to_string(added.keep()) +
                                 ")");
        }
        if (auto diff = first_difference(first->impl_->manifest.params, added.impl_->manifest.params, "")) {
            return invalid_input("cannot combine stores: parameter '" + diff->key + "' differs between " +
                                 first->dir() + " (" + diff->a + ") and " + dir + " (" + diff->b + ")");
        }
    }
    // n stores with distinct slice indices below n cover every slice; nothing can be missing here.
    auto impl = std::make_unique<Impl>();
    for (std::optional<StoreReader>& store : by_slice) impl->stores.push_back(std::move(*store));
    impl->n_samples = n_samples;
    return StoreSet(std::move(impl));
}

Status StoreSet::for_each(const SampleFn& fn) const {
    return for_each_record([&fn](const StoredSample& sample, std::string_view) { return fn(sample); });
}

Status StoreSet::for_each_record(const RecordFn& fn) const {
    const size_t n_stores = impl_->stores.size();
    std::vector<StoreCursor> cursors;
    cursors.reserve(n_stores);
    for (const StoreReader& store : impl_->stores) {
        cursors.emplace_back(store.impl_->dir, store.impl_->manifest, 0, store.impl_->manifest.shards.size(), false);
    }
    std::vector<StoredSample> heads(n_stores);
    std::vector<bool> live(n_stores, false);
    for (size_t store_idx = 0; store_idx < n_stores; ++store_idx) {
        MONA_TRY(live[store_idx], cursors[store_idx].next(heads[store_idx]));
    }
    // A linear scan of the heads: n is the number of machines, small.
    while (true) {
        size_t best = n_stores;
        for (size_t store_idx = 0; store_idx < n_stores; ++store_idx) {
            if (!live[store_idx]) continue;
            if (best < n_stores && heads[store_idx].record_idx == heads[best].record_idx) {
                return invalid_input("record " + std::to_string(heads[best].record_idx) + " is in both " +
                                     impl_->stores[best].dir() + " and " + impl_->stores[store_idx].dir());
            }
            if (best == n_stores || heads[store_idx].record_idx < heads[best].record_idx) best = store_idx;
        }
        if (best == n_stores) return Status();
        MONA_RETURN_IF_ERROR(fn(heads[best], cursors[best].record_bytes()));
        MONA_TRY(live[best], cursors[best].next(heads[best]));
    }
}

Status StoreSet::verify() const {
    for (const StoreReader& store : impl_->stores) MONA_RETURN_IF_ERROR(store.verify());
    return Status();
}

const std::string& StoreSet::params_json() const { return impl_->stores.front().params_json(); }
uint64_t StoreSet::size() const { return impl_->n_samples; }
uint32_t StoreSet::keep() const { return impl_->stores.front().keep(); }
ValueEncoding StoreSet::values() const { return impl_->stores.front().values(); }
size_t StoreSet::n_stores() const { return impl_->stores.size(); }
const StoreReader& StoreSet::store(size_t store_idx) const {
    MONA_ASSERT(store_idx < impl_->stores.size(), "StoreSet::store: index out of range");
    return impl_->stores[store_idx];
}

// ---- merge ---------------------------------------------------------------------------------------------------

Status merge_stores(const std::string& out_dir, const std::vector<std::string>& dirs, const MergeOptions& options) {
    for (const std::string& dir : dirs) {
        std::error_code ec;
        if (dir == out_dir || std::filesystem::equivalent(dir, out_dir, ec)) {
            return invalid_input("cannot merge " + dir + " into itself");
        }
    }
    MONA_TRY(StoreSet set, StoreSet::open(dirs));
    StoreOptions store_options;
    store_options.keep = set.keep();
    store_options.shard_rows = options.shard_rows == 0 ? set.store(0).shard_rows() : options.shard_rows;
    store_options.params_json = set.params_json();
    store_options.resume = options.resume;
    store_options.values = set.values();
    MONA_TRY(StoreWriter writer, StoreWriter::open(out_dir, store_options));
    uint64_t n_skip = writer.n_done();
    // Records are copied as stored (decoded and checked on the way): a compressed value is never re-encoded, and
    // an f32 record's bytes are what append() would write. When a slice's format differs from the merged store's
    // (format-2 slices, or a mix of 2 and 3, going into a new format-3 store), every record gets its latent indices
    // written again, losslessly (the encoder is deterministic, so a record already in that format comes out as it
    // was); the value bytes are still copied.
    const uint32_t out_version = writer.format_version();
    bool convert = false;
    for (size_t store_idx = 0; store_idx < set.n_stores(); ++store_idx) {
        convert = convert || set.store(store_idx).format_version() != out_version;
    }
    std::string converted;
    MONA_RETURN_IF_ERROR(set.for_each_record([&](const StoredSample& sample, std::string_view record) -> Status {
        if (n_skip > 0) {
            --n_skip;
            return Status();
        }
        if (!convert) return writer.append_encoded(sample.record_idx, record);
        const size_t value_bytes = store_detail::value_block_bytes(set.values(), sample.vec.idx.size());
        converted.clear();
        encode_record_head(converted, sample, sample.vec.l1);
        encode_indices(converted, sample.vec, out_version);
        converted.append(record.substr(record.size() - value_bytes));
        return writer.append_encoded(sample.record_idx, converted);
    }));
    return writer.commit();
}

}  // namespace mona
