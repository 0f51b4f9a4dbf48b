// io/atomic_file.hpp: write a file so that readers see either the old contents or the complete new ones.
//
// AtomicFile::open(path) creates "<path>.tmp.<pid>" next to the target (same directory, hence same file
// system, so the final rename is atomic). write() appends to the temporary file; commit() flushes it, fsyncs
// it, renames it over `path` and fsyncs the directory. If the object is destroyed (or moved-from and
// destroyed) without a successful commit(), the temporary file is removed and `path` is left untouched: an
// interrupted or failed run never leaves a half-written output in place.
//
// Usage:
//   MONA_TRY(AtomicFile out, AtomicFile::open("selected.jsonl"));
//   MONA_RETURN_IF_ERROR(out.write(line));
//   MONA_RETURN_IF_ERROR(out.commit());
//
// Also here: write_file_atomic() for a whole buffer, and ensure_dir() (mkdir -p).
// Errors are kNotFound (a missing parent directory) or kIo, with a message naming the path and the OS reason
// (strerror). Thread-safety: one AtomicFile per thread; distinct objects are independent.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

#include "mona/status.hpp"

namespace mona {

class AtomicFile {
   public:
    // Creates (truncating) the temporary file "<path>.tmp.<pid>". The parent directory must exist.
    static Result<AtomicFile> open(const std::string& path);

    AtomicFile(AtomicFile&& other) noexcept;
    AtomicFile& operator=(AtomicFile&& other) noexcept;
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;
    // Removes the temporary file unless commit() succeeded.
    ~AtomicFile();

    // Appends `bytes` to the temporary file (buffered). Errors: kIo naming the temporary path.
    Status write(std::string_view bytes);

    // fflush + fsync + close + rename into place + fsync of the directory. After a failed commit the
    // temporary file is removed and the object is closed; further write()/commit() calls are bugs.
    Status commit();

    // Closes and removes the temporary file without touching `path`. Safe to call more than once.
    void discard();

    const std::string& path() const { return path_; }            // the final destination
    const std::string& temp_path() const { return temp_path_; }  // "<path>.tmp.<pid>"
    bool committed() const { return committed_; }

   private:
    AtomicFile(std::string path, std::string temp_path, std::FILE* file);

    std::string path_;
    std::string temp_path_;
    std::FILE* file_ = nullptr;
    bool committed_ = false;
};

// Writes `content` to `path` through an AtomicFile (the whole file is replaced or nothing changes).
Status write_file_atomic(const std::string& path, std::string_view content);

// Creates directory `path` and any missing parents (mkdir -p, mode 0777 before umask). An existing directory
// is fine. Errors: kInvalidInput for an empty path; kIo naming the component that could not be created or
// that exists but is not a directory.
Status ensure_dir(const std::string& path);

}  // namespace mona
