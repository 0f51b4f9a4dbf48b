// io/sample_reader.hpp: streams records out of a pool or exemplar file without loading it whole.
//
// Accepted containers: JSONL (one object per line, blank lines skipped), a single top-level JSON array of
// objects (OpenHermes-2.5 and Alpaca ship that way; elements are split by a streaming scanner), and either of
// them gzip-compressed (detected by magic bytes, not by name). Each record comes back as its exact raw bytes
// (for byte-identical output of selected samples) plus its 1-based starting line and 0-based record number.
//
// What "exact raw bytes" means:
//   JSONL   the line without its trailing "\n" and without one trailing "\r" (CRLF files); lines that are empty
//           or only spaces/tabs/CR are skipped but still counted for line numbers.
//   array   the element's text from its first to its last non-space byte, cut at the top-level ',' or ']' found
//           by a scanner that tracks strings, escapes and nesting depth (elements are not parsed here).
// A UTF-8 byte order mark at the start of the (decompressed) input is dropped. The input is read through zlib in
// 256 KiB chunks; the buffer grows to hold the longest record, never the whole file.
//
// Usage:
//   MONA_TRY(RecordReader reader, RecordReader::open(path));
//   RawRecord record;
//   while (true) {
//       MONA_TRY(bool more, reader.next(record));
//       if (!more) break;
//       ... parse_sample(record.bytes, ...) ...
//   }
//
// Record size: a record (a JSONL line, an array element) may hold at most kMaxRecordBytes (64 MiB) of
// (decompressed) bytes; a longer one is an error naming its line, found after buffering just over the limit, so
// a file without line breaks (a binary, or a 100 GB single line) costs at most that much memory.
//
// Errors: open() gives kNotFound for a missing file, kInvalidInput for a directory, kIo when the file cannot be
// opened or read. next() gives kIo for a read failure or a truncated gzip stream, and kInvalidInput for an
// unterminated or malformed top-level array or content after it, or a record over kMaxRecordBytes, each as
// "<path>:<line>: ...". After an error every later next() returns the same error.
//
// Thread-safety: one reader per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "mona/status.hpp"

namespace mona {

// The longest record RecordReader accepts, in bytes (see "Record size" above).
inline constexpr uint64_t kMaxRecordBytes = uint64_t(64) << 20;

struct RawRecord {
    std::string bytes;        // the record exactly as it appears in the (decompressed) input
    uint64_t line_no = 0;     // 1-based line where the record starts
    uint64_t record_idx = 0;  // 0-based record number
};

class RecordReader {
   public:
    static Result<RecordReader> open(const std::string& path);
    RecordReader(RecordReader&&) noexcept;
    RecordReader& operator=(RecordReader&&) noexcept;
    ~RecordReader();

    // Fills `out` with the next record. Returns true on success, false at a clean end of input, or an error
    // (i/o failure, a truncated gzip stream, an unterminated JSON array) that names the path and line.
    Result<bool> next(RawRecord& out);

    const std::string& path() const;
    bool gzipped() const;     // the input was gzip-compressed (decided by its magic bytes)
    bool json_array() const;  // the input is one top-level JSON array (its first non-space byte is '[')

   private:
    struct Impl;
    explicit RecordReader(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace mona
