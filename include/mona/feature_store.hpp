// mona/feature_store.hpp (public; src/store/feature_store.hpp forwards here): the on-disk feature store:
// embed a pool once, score many targets later.
//
// Overview. A store is a directory holding the pooled SAE vector of every sample of a source pool (or of one
// deterministic slice of it), written in source order:
//   <dir>/manifest.json        run parameters and the list of completed shards (rewritten atomically)
//   <dir>/shard-00000.bin      samples [0, shard_rows)
//   <dir>/shard-00001.bin      samples [shard_rows, 2·shard_rows)      ...
//   <dir>/.lock                held (flock) by the one writer; empty, ignored by readers
// Shard s always holds the store's samples [s·shard_rows, (s+1)·shard_rows): boundaries are fixed multiples of
// shard_rows, so a resumed run writes exactly the bytes an uninterrupted run writes. Only the last shard of a
// committed store may hold fewer rows.
//
// Usage sketch. The embedder opens a StoreWriter with its run parameters as a JSON object (model, layer, SAE,
// k, token mode, template, tool version, source sha256, ...), skips the first n_done() samples of its slice,
// append()s every further sample in source order and calls commit() at the end. With resume = true a rerun of
// the same command after a crash (kill -9 at any moment) continues where the last completed shard ended, and
// refuses if any parameter differs, naming it. n machines each embed the records with
// belongs_to_slice(record_idx, slice_idx, n) into their own store; StoreSet reads the n stores as one, in
// source record order, and merge_stores() writes them into a single store (byte-identical to the store one
// machine would have written with the same shard_rows). The scorer reads with StoreReader::for_each (or
// StoreSet::for_each), one shard in memory at a time.
//
// Atomicity. A shard is written to "<shard>.tmp.<pid>", fsynced and renamed into place only when complete;
// then manifest.json is rewritten the same way and lists it. A reader trusts only shards the manifest lists, so
// at every instant the directory is a valid store of completed shards. Files a crash leaves behind (temporary
// files, a shard renamed before its manifest update) are ignored by readers and removed or overwritten by the
// next writer. (One exception: resuming a committed store replaces its partial last shard, so a reader opened
// before that reports the shard as changed; reopen it.) Samples appended since the last completed shard are lost on a
// crash and re-embedded on resume.
//
// manifest.json (a JSON object; keys sorted, 2-space indent, no timestamps, so equal stores have equal bytes):
//   "format": "mona-feature-store", "format_version": 1, 2 or 3 (see "Format versions" below),
//   "values": "bf16" | "q8" | "q12" (formats 2 and 3; q12 only 3) how the values are encoded; format 1 = "f32";
//   "params": {...}            the caller's run parameters, verbatim as JSON values;
//   "keep": m                  latents kept per sample (0 = all);
//   "shard_rows": r            samples per shard;
//   "slice": {"index": i, "count": n}   this store holds the records with record_idx % n == i;
//   "n_samples": N, "complete": bool    complete = the writer committed (false while writing or after a crash);
//   "shards": [{"file": "shard-00000.bin", "n_rows", "bytes", "crc32" (8 hex digits), "sha256" (64 hex digits),
//               "first_record_idx", "last_record_idx"}, ...]
//
// Shard file (all integers little-endian; "varint" = unsigned LEB128, 7 bits per byte, low groups first):
//   header, 40 bytes: magic "MONASHRD", u32 format version (the manifest's), u32 zero, u64 shard index,
//                     u64 first row (= index · shard_rows), u64 n_rows
//   n_rows records:   varint record_idx, varint source_pos, varint n_tokens, varint id length, id bytes,
//                     f64 l1, the latent indices, the value block: nnz f32 values (format 1), or the block of
//                     the store's value encoding (formats 2 and 3: bf16 or q8, defined in src/store/value_codec.hpp)
//   latent indices:   formats 1 and 2: varint nnz, nnz varints (first latent index, then each gap to the previous
//                     index minus 1). Format 3: varint (nnz << 1 | b); b = 0: the same gap varints; b = 1 (nnz > 0):
//                     a bitmap, varint n_bytes (= last index / 8 + 1), then n_bytes bytes, bit j % 8 (least
//                     significant first) of byte j / 8 set for each latent j. The writer takes the bitmap exactly
//                     when it is the smaller of the two (dense vectors: src/store/feature_store.cpp).
//   trailer, 4 bytes: u32 CRC-32 (zlib polynomial) of every byte before it.
// The manifest also records each shard's size, CRC-32 and SHA-256, so a replaced or truncated file is caught
// as well as a flipped byte. Every error names the shard file.
//
// Size. Per sample: ~12 bytes of fixed fields + the id + (4 bytes + the gap varint) per stored latent. A gap
// below 128 takes 1 byte, below 16384 2 bytes. Measured with uniformly spread indices in d_sae = 131072
// (tests/unit/store_test.cpp, SizeIsDocumented): nnz = 1500 → ~7.9 KB/sample (vs 12 KB for raw u32+f32 pairs);
// keep = 256 → ~1.5 KB/sample; keep = 64 → ~0.4 KB/sample. Real SAE features cluster less evenly; report the
// store's actual bytes/sample with StoreReader::bytes_on_disk() / size(). In format 3 (bf16, q8) a vector
// denser than about one latent in eight takes its indices as a bitmap of d_sae / 8 bytes at most instead.
//
// Format versions. A store whose values are f32 is written as format 1, byte for byte what mona wrote before
// value encodings existed (so those stores, and every output scored from them, are unchanged); a store with
// values bf16 or q8 is format 3 ("values" in the manifest, version 3 in every shard header; format 2, written by
// mona before the latent bitmap, differs only in the indices). Readers read all three; a resumed store keeps
// writing its own format; slices of different formats read as one pool (each in its own format); `mona merge`
// writes format 3 from format-2 slices (indices rewritten, value bytes copied), which is how an old store is
// converted. Resuming or combining stores refuses a different value encoding by name ('values' differs), and a
// resume asked for another format ('format_version' differs). A newer version is refused as kUnsupported.
// tests/fixtures/store-v1 was written by mona before format 2, store-v2-q8 and store-v2-bf16 before format 3.
//
// Value encodings (ValueEncoding). Every non-zero latent is kept (unless keep says otherwise); only the bytes
// of its value change: f32 (4 bytes, exact), bf16 (2 bytes, relative error <= 2^-8), q8 (1 byte on a per-sample
// logarithmic grid, 8 bytes of grid per sample; relative error <= (ratio − 1)/2, ~1.8 % for values spread
// over 10^4; values must be >= 0). Readers hand out the decoded floats, defined bit for bit by the encoding, so
// scoring a compressed store scores exactly those values; l1 stays the exact f64 norm in every encoding.
//
// Truncation. With keep = m > 0 the writer stores only the m largest values of each vector (ties: lower latent
// index first), in ascending index order; the stored l1 stays the caller's exact L1 norm of the full vector,
// so score/jaccard.hpp's bounds for truncated vectors apply.
//
// Errors: kInvalidInput (malformed samples, parameter mismatch on resume, a second writer, a store where none
// was expected, a corrupted or inconsistent store), kNotFound (missing directory, manifest or shard), kIo (the
// OS refused), kUnsupported (a newer format version). Messages name the directory or file and, for
// corruption, the shard file.
//
// Memory: a writer buffers the shard being filled; a reader holds one shard (shard_rows · bytes/sample, ~8 MB at
// the defaults and nnz = 1500), a StoreSet one per store. A read pass decodes at roughly 0.8 GB/s per thread.
//
// Thread-safety: StoreReader and StoreSet are immutable after open(); their const methods may run on many
// threads at once (each call reads with its own buffers). A StoreWriter is used by one thread, and a store has
// at most one writer at a time (enforced with flock on <dir>/.lock, across processes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mona/status.hpp"
#include "mona/types.hpp"

namespace mona {

inline constexpr uint32_t kStoreFormatVersion = 3;     // the newest format this mona reads and writes
inline constexpr uint32_t kStoreFormatVersionF32 = 1;  // what an f32 store is written as (see "Format versions")
inline constexpr uint64_t kDefaultShardRows = 1024;    // "shard_rows = 0": ~8 MB shards at nnz = 1500

struct MergeOptions;

// One pooled sample as stored.
struct StoredSample {
    uint64_t record_idx = 0;  // 0-based index of the record in the whole source pool (all slices counted)
    uint64_t source_pos = 0;  // where the record is in the source: byte offset or line number (the caller says
                              // which in its params); stored as given
    std::string id;           // the record's id; may be empty
    uint32_t n_tokens = 0;    // tokens that were pooled
    SparseVec vec;            // pooled vector (ascending indices); vec.l1 = exact L1 norm of the FULL vector
};

// The deterministic slicing rule for embedding one pool on n machines: record `record_idx` belongs to slice
// `slice_idx` of `n_slices` iff record_idx % n_slices == slice_idx. Slices interleave, so each gets every n-th
// record and the slices' sizes differ by at most one. Requires n_slices >= 1 and slice_idx < n_slices.
bool belongs_to_slice(uint64_t record_idx, uint32_t slice_idx, uint32_t n_slices);

// The top-`keep` entries of `v` by value (ties: lower index first), returned in ascending index order, with
// v.l1 unchanged. keep = 0 or keep >= v.nnz() returns `v` unchanged. O(nnz) average.
SparseVec truncate_top(const SparseVec& v, uint32_t keep);

// How a store writes its values (see "Value encodings" above).
enum class ValueEncoding : uint8_t { kF32 = 0, kBf16 = 1, kQ8 = 2, kQ12 = 3 };
// "f32", "bf16", "q8", "q12": the names in manifest.json and on the command line.
const char* value_encoding_name(ValueEncoding encoding);
// The encoding of a name; kInvalidInput naming the choices otherwise.
Result<ValueEncoding> parse_value_encoding(const std::string& name);

struct StoreOptions {
    uint32_t keep = 0;                           // latents stored per sample, the largest by value; 0 = all
    ValueEncoding values = ValueEncoding::kF32;  // how values are written (f32 = exact, format 1)
    uint64_t shard_rows = 0;                     // samples per shard file; 0 = auto (kDefaultShardRows)
    std::string params_json = "{}";              // run parameters: a JSON object, stored under "params"; "" means {}
    bool resume = false;                         // continue an existing store in `dir` (a missing store starts fresh)
    // The format to write: 0 = the newest for `values` (1 for f32, else 3), or the store's own when resuming.
    // 2 writes bf16/q8 stores as mona did before format 3 (tests; readers of that version).
    uint32_t format_version = 0;
    uint32_t slice_idx = 0;  // this store holds the records with record_idx % n_slices == slice_idx
    uint32_t n_slices = 1;   // number of slices the pool is split into (1 = the whole pool)
};

// Writes one store. Move-only; one thread; one writer per directory (flock on <dir>/.lock).
class StoreWriter {
   public:
    // Creates `dir` if needed and opens it for writing.
    //   resume = false: `dir` must not hold a store (manifest.json) yet; an empty store is written at once.
    //   resume = true:  if `dir` holds a store, its keep, values, shard_rows, slice and params must equal the options
    //                   (else kInvalidInput "cannot resume <dir>: parameter 'layer' differs (store: 20, now:
    //                   21)"; nested keys are named with dots); its last shard is checked (size, CRC-32,
    //                   SHA-256), and appending continues after its n_done() samples. A committed store may be
    //                   resumed too: its last, partial shard is taken back and refilled. Without a store,
    //                   resume starts a fresh one.
    // Errors: kInvalidInput (bad options or params JSON, mismatch, a store exists and resume is false, another
    // writer holds the lock), kNotFound/kIo (file system), plus any StoreReader::open error of the old store.
    static Result<StoreWriter> open(const std::string& dir, const StoreOptions& options);

    StoreWriter(StoreWriter&&) noexcept;
    StoreWriter& operator=(StoreWriter&&) noexcept;
    StoreWriter(const StoreWriter&) = delete;
    StoreWriter& operator=(const StoreWriter&) = delete;
    // Releases the lock. Does NOT commit: samples after the last completed shard are dropped (as in a crash).
    ~StoreWriter();

    // Appends one sample (truncated to `keep` if set, values encoded as the store says). record_idx must be above
    // the previous sample's and belong to this store's slice; vec.idx strictly increasing, vec.val the same
    // length with finite values (and >= 0 for q8), vec.l1 finite and >= 0. Every shard_rows-th append writes a shard
    // and rewrites the manifest (fsync + rename). Errors: kInvalidInput naming record_idx and id (the store is
    // unchanged), kIo (the writer then refuses further appends; reopen with resume).
    Status append(const StoredSample& sample);

    // Writes the last, partial shard (if any) and marks the manifest complete. Further append() calls are bugs;
    // a second commit() does nothing.
    Status commit();

    // Samples already in the store when open() returned: the number of this slice's samples the caller skips
    // on resume (0 for a fresh store).
    uint64_t n_done() const;
    // The format version its shards are written in (StoreOptions::format_version).
    uint32_t format_version() const;
    // record_idx of the last sample in the store when open() returned, if any (a cross-check for the caller).
    std::optional<uint64_t> last_record_idx() const;
    // Samples in the store including those appended since open().
    uint64_t size() const;
    const std::string& dir() const;

   private:
    struct Impl;
    friend Status merge_stores(const std::string&, const std::vector<std::string>&, const MergeOptions&);
    // Appends a record already encoded in this store's format (keep and values), for merge_stores.
    Status append_encoded(uint64_t record_idx, std::string_view record);
    explicit StoreWriter(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Called once per sample, in store order. The reference is valid only during the call (buffers are reused).
// A non-ok Status stops the iteration and is returned as is.
using SampleFn = std::function<Status(const StoredSample&)>;

// Reads one store. Move-only; const methods are safe from many threads.
class StoreReader {
   public:
    // Reads and checks manifest.json (format, version, fields, shard names, row counts) and that every listed
    // shard file exists with its recorded size. Contents are checked as they are read (CRC-32), or all at once
    // by verify(). Errors: kNotFound (no directory or manifest), kInvalidInput (malformed or inconsistent
    // manifest, missing or resized shard: the message names the file), kUnsupported (newer format), kIo.
    static Result<StoreReader> open(const std::string& dir);

    StoreReader(StoreReader&&) noexcept;
    StoreReader& operator=(StoreReader&&) noexcept;
    StoreReader(const StoreReader&) = delete;
    StoreReader& operator=(const StoreReader&) = delete;
    ~StoreReader();

    // Streams every sample in store order (ascending record_idx), one shard in memory at a time. Each shard's
    // size, header and CRC-32 are checked before its first sample is passed on, so a corrupted shard yields
    // kInvalidInput naming the file and no sample of it. Records are decoded with bounds checks.
    Status for_each(const SampleFn& fn) const;
    // The same for shard `shard_idx` < n_shards() alone (for scoring shards on several threads).
    Status for_each_in_shard(size_t shard_idx, const SampleFn& fn) const;
    // The same, loading the shard into `scratch` (a caller's buffer reused shard after shard, so a thread scoring
    // many shards allocates and faults in its ~10 MB shard buffer once).
    Status for_each_in_shard(size_t shard_idx, const SampleFn& fn, std::string& scratch) const;

    // Reads every shard and checks size, header, CRC-32, SHA-256 against the manifest and the decoded records
    // (count, record order, slice, index order, keep). Returns the first error, naming the shard file.
    Status verify() const;

    const std::string& dir() const;
    // The caller's run parameters as compact JSON with sorted keys (not byte-for-byte what was passed).
    const std::string& params_json() const;
    uint64_t size() const;  // samples
    uint32_t keep() const;
    ValueEncoding values() const;
    uint32_t format_version() const;  // 1 (f32), 2 or 3 (bf16, q8; 3 since the latent bitmap)
    uint64_t shard_rows() const;
    uint32_t slice_idx() const;
    uint32_t n_slices() const;
    bool complete() const;  // the writer committed
    size_t n_shards() const;
    uint64_t bytes_on_disk() const;  // sum of the shard files' sizes (manifest excluded)

   private:
    struct Impl;
    friend class StoreSet;
    friend class StoreWriter;
    explicit StoreReader(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Several slice stores of one pool, read as one store. Move-only; const methods are safe from many threads.
class StoreSet {
   public:
    // Opens every directory (StoreReader::open) and checks that they form one pool: all complete, equal params,
    // keep and values, equal n_slices = dirs.size(), and slice indices 0..n-1 each exactly once. A single store of
    // the whole pool (n_slices = 1) is a valid set. Errors: kInvalidInput naming the directory and the parameter,
    // the missing or repeated slice, or an incomplete store; StoreReader::open's errors.
    static Result<StoreSet> open(const std::vector<std::string>& dirs);

    StoreSet(StoreSet&&) noexcept;
    StoreSet& operator=(StoreSet&&) noexcept;
    StoreSet(const StoreSet&) = delete;
    StoreSet& operator=(const StoreSet&) = delete;
    ~StoreSet();

    // Streams every sample of every store in ascending record_idx (source order): a k-way merge holding one
    // shard per store in memory. Same checks and errors as StoreReader::for_each; a record_idx found in two
    // stores is kInvalidInput.
    Status for_each(const SampleFn& fn) const;
    Status verify() const;  // StoreReader::verify() of every store

    const std::string& params_json() const;
    uint64_t size() const;
    uint32_t keep() const;
    ValueEncoding values() const;
    size_t n_stores() const;
    const StoreReader& store(size_t store_idx) const;  // in slice order

   private:
    struct Impl;
    friend Status merge_stores(const std::string&, const std::vector<std::string>&, const MergeOptions&);
    // for_each, also passing each sample's encoded record bytes (valid during the call), for merge_stores.
    using RecordFn = std::function<Status(const StoredSample&, std::string_view)>;
    Status for_each_record(const RecordFn& fn) const;
    explicit StoreSet(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

struct MergeOptions {
    uint64_t shard_rows = 0;  // samples per shard of the merged store; 0 = the slice-0 store's shard_rows
    bool resume = false;      // continue an interrupted merge into `out_dir` (as StoreOptions::resume)
};

// Writes the samples of StoreSet::open(dirs) into one store at `out_dir` (slice 0 of 1, the inputs' params,
// keep and values; each record's bytes are copied as stored, so compressed values are never re-encoded; format-2
// inputs get their indices rewritten as format 3, or kept as they are when resuming a format-2 output), in
// source order, through a StoreWriter, so it is atomic and resumable in the same way. With the same
// shard_rows the result is byte-identical to the store a single writer would have produced from the whole pool.
// Errors: those of StoreSet::open, StoreWriter::open/append/commit and the reads.
Status merge_stores(const std::string& out_dir, const std::vector<std::string>& dirs, const MergeOptions& options = {});

}  // namespace mona
