// io/sample_reader.hpp: streams records out of a pool or exemplar file without loading it whole.
//
// Accepted containers: JSONL (one object per line, blank lines skipped), a single top-level JSON array of
// objects (OpenHermes-2.5 and Alpaca ship that way; elements are split by a streaming scanner), and either of
// them gzip-compressed (detected by magic bytes, not by name). Each record comes back as its exact raw bytes
// (for byte-identical output of selected samples) plus its 1-based starting line and 0-based record number.
//
// Thread-safety: one reader per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "mona/status.hpp"

namespace mona {

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

   private:
    struct Impl;
    explicit RecordReader(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace mona
