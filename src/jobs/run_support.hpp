// jobs/run_support.hpp: pieces shared by the jobs that stream samples through the model (select, embed,
// score, eval): the record stream with skip-bad handling, the skipped-records table, progress reports
// (jobs/progress.hpp), and staged outputs that appear in --out only when the whole run succeeded.
#pragma once

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "capture/session.hpp"
#include "io/atomic_file.hpp"
#include "io/sample_reader.hpp"
#include "jobs/config.hpp"
#include "jobs/progress.hpp"
#include "mona/status.hpp"
#include "text/formats.hpp"

namespace mona::detail {

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// A field for a TSV cell: tabs and newlines become spaces.
std::string tsv_field(std::string_view text);

// The first user turn (or the text), cut to about 200 bytes at a UTF-8 boundary, for reports.
std::string snippet_of(const Sample& sample);

struct SkipRow {
    std::string path;
    uint64_t line_no;
    uint64_t record_idx;
    std::string error;
};

// skipped.tsv (select, score, eval) and a store's skipped-<i>-of-<n>.tsv (embed): a header, then one row per
// skipped record: file, line, record, error. The one writer of that table.
std::string skipped_tsv(const std::vector<SkipRow>& skipped);

// Parses and tokenises one record of `path` into `sample`; the error names path:line and the field.
inline Result<TokenizedSample> prepare_record(const RawRecord& record, const std::string& path,
                                              const SelectConfig& config, Session& session, Result<Sample>& sample) {
    SourceLoc loc{path, record.line_no, record.record_idx};
    sample = parse_sample(record.bytes, config.format, loc);
    Result<TokenizedSample> tokens = sample.ok() ? session.tokenize(sample.value()) : sample.status();
    if (sample.ok() && !tokens.ok()) {
        tokens = tokens.status().with_context(fmt::format("{}:{}", path, record.line_no));
    }
    if (tokens.ok() && tokens->tokens.empty()) {
        tokens = invalid_input(fmt::format("{}:{}: sample renders to no tokens", path, record.line_no));
    }
    return tokens;
}

// Reads, parses and tokenises every record of `path`; hands tokenised samples to `on_sample`.
// A bad record is an error (naming path:line and the field), or a counted skip with skip_bad.
template <class OnSample, class Wanted = bool (*)(uint64_t)>
Status stream_samples(
    const std::string& path, const SelectConfig& config, Session& session, std::vector<SkipRow>& skipped,
    OnSample&& on_sample, Wanted wanted = [](uint64_t) { return true; }) {
    MONA_TRY(RecordReader reader, RecordReader::open(path));
    RawRecord record;
    Result<Sample> sample = Sample();
    while (true) {
        if (config.cancelled && config.cancelled()) return Status(StatusCode::kCancelled, "cancelled");
        MONA_TRY(bool more, reader.next(record));
        if (!more) break;
        if (!wanted(record.record_idx)) continue;
        Result<TokenizedSample> tokens = prepare_record(record, path, config, session, sample);
        if (!tokens.ok()) {
            if (!config.skip_bad) {
                return Status(tokens.status().code(),
                              tokens.status().message() + " (use --skip-bad to count and skip such records)");
            }
            skipped.push_back({path, record.line_no, record.record_idx, tokens.status().message()});
            continue;
        }
        MONA_RETURN_IF_ERROR(on_sample(sample.value(), std::move(tokens.value())));
    }
    return Status();
}

// After a rerun into the same --out, so that the folder holds what the new run lists and nothing else of mona's:
// removes each sub-folder not named in `current` that holds one of `marker_files` (a target folder of an earlier
// run), and each of `unwritten_files` (top-level outputs this run did not write). Hidden entries and other files
// stay. Errors name the path.
Status remove_stale_outputs(const std::string& out_dir, const std::vector<std::string>& current,
                            const std::vector<std::string>& marker_files,
                            const std::vector<std::string>& unwritten_files);

// The identity of an input file (device, inode, size, modification time in ns), taken when a run starts and
// compared before its outputs are committed: a pool rewritten, appended to or replaced during the run would give
// outputs that mix two versions of it.
struct FileStamp {
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtime_ns = 0;
    // Errors: kNotFound for a missing file, kInvalidInput for a directory, kIo when stat fails.
    static Result<FileStamp> of(const std::string& path);
    bool operator==(const FileStamp&) const = default;
};

// kInvalidInput "<what> <path> changed during the run ..." when `path` no longer matches `before` (or is gone).
Status check_unchanged(const std::string& path, const FileStamp& before, const std::string& what);

// Holds <out>/.mona-run.lock (an flock, with the holder's pid in the file) for the whole of one run that writes a
// run folder (select, score, eval, demo), so that a second run into the same --out refuses at once instead of
// interleaving its store and outputs with the first. The lock is released when the process ends in any way
// (kill -9 included: the kernel drops the flock; the next run takes the stale file over). acquire() creates
// --out (and missing parents) when needed; the destructor removes the lock file and every folder acquire()
// created that is still empty, so a failed run into a new --out leaves no folder behind.
// Errors: kInvalidInput naming the other run's pid when the lock is held; kIo when --out cannot be created or
// the lock file cannot be created or locked (an unwritable or full --out).
class RunFolderLock {
   public:
    static Result<RunFolderLock> acquire(const std::string& out_dir);
    RunFolderLock() = default;
    RunFolderLock(RunFolderLock&& other) noexcept { *this = std::move(other); }
    RunFolderLock& operator=(RunFolderLock&& other) noexcept;
    RunFolderLock(const RunFolderLock&) = delete;
    RunFolderLock& operator=(const RunFolderLock&) = delete;
    ~RunFolderLock() { release(); }
    void release();

   private:
    std::string lock_path_;
    int fd_ = -1;
    std::vector<std::string> created_dirs_;  // outermost first
};

// Stages output files in <out>/.mona-staging-<pid>/ and renames them into place at commit().
class OutputStage {
   public:
    // Creates <out_dir>/.mona-staging-<host>-<pid>/. Staging folders that a killed run of this host left behind
    // (their pid is no longer alive) are removed first; those of other hosts sharing the folder are left alone.
    static Result<OutputStage> create(const std::string& out_dir) {
        OutputStage stage;
        stage.out_dir_ = out_dir;
        const std::string prefix = fmt::format(".mona-staging-{}-", host_name());
        remove_stale_stages(out_dir, prefix);
        stage.stage_dir_ = fmt::format("{}/{}{}", out_dir, prefix, ::getpid());
        MONA_RETURN_IF_ERROR(ensure_dir(stage.stage_dir_));
        return stage;
    }

    static std::string host_name() {
        char buf[256] = {0};
        if (::gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == 0) return "localhost";
        std::string name(buf);
        for (char& c : name) {
            if (c == '/' || c == '-') c = '_';
        }
        return name;
    }

    static void remove_stale_stages(const std::string& out_dir, const std::string& prefix) {
        std::error_code ec;
        for (auto it = std::filesystem::directory_iterator(out_dir, ec);
             !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
            const std::string name = it->path().filename().string();
            if (name.rfind(prefix, 0) != 0) continue;
            char* end = nullptr;
            const long pid = std::strtol(name.c_str() + prefix.size(), &end, 10);
            if (end == name.c_str() + prefix.size() || *end != '\0' || pid <= 0) continue;
            if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to judge)
            std::error_code remove_ec;
            std::filesystem::remove_all(it->path(), remove_ec);
        }
    }
    OutputStage() = default;
    OutputStage(OutputStage&& other) noexcept { *this = std::move(other); }
    OutputStage& operator=(OutputStage&& other) noexcept {
        out_dir_ = std::move(other.out_dir_);
        stage_dir_ = std::move(other.stage_dir_);
        files_ = std::move(other.files_);
        other.stage_dir_.clear();
        return *this;
    }
    ~OutputStage() {
        if (!stage_dir_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(stage_dir_, ec);
        }
    }

    // Path inside the staging folder for the final relative path `rel`.
    Result<std::string> path_for(const std::string& rel) {
        std::filesystem::path staged = std::filesystem::path(stage_dir_) / rel;
        MONA_RETURN_IF_ERROR(ensure_dir(staged.parent_path().string()));
        files_.push_back(rel);
        return staged.string();
    }

    Status write(const std::string& rel, std::string_view content) {
        MONA_TRY(std::string path, path_for(rel));
        return write_file_atomic(path, content);
    }

    // Renames the staged files into place in the order they were staged. The last one is the run's completion
    // mark (select's manifest.json, staged last): an old copy of it is removed first, so that a kill in the middle
    // of the renames leaves no mark beside a mix of new and old files, and a folder holding the mark holds the
    // whole run.
    Status commit() {
        if (!files_.empty()) {
            const std::filesystem::path mark = std::filesystem::path(out_dir_) / files_.back();
            std::error_code ec;
            if (std::filesystem::remove(mark, ec); ec) {
                return io_error(fmt::format("cannot replace {}: {}", mark.string(), ec.message()));
            }
        }
        for (const auto& rel : files_) {
            std::filesystem::path dst = std::filesystem::path(out_dir_) / rel;
            MONA_RETURN_IF_ERROR(ensure_dir(dst.parent_path().string()));
            std::error_code ec;
            std::filesystem::rename(std::filesystem::path(stage_dir_) / rel, dst, ec);
            if (ec) return io_error(fmt::format("cannot move output into place at {}: {}", dst.string(), ec.message()));
        }
        return Status();
    }

   private:
    std::string out_dir_;
    std::string stage_dir_;
    std::vector<std::string> files_;
};

// An output file that grows with the pool (scores.tsv), written into the stage piece by piece instead of built
// in memory first. close() must succeed before the stage is committed.
class StagedWriter {
   public:
    static Result<StagedWriter> open(OutputStage& stage, const std::string& rel) {
        StagedWriter writer;
        MONA_TRY(writer.path_, stage.path_for(rel));
        writer.file_ = std::fopen(writer.path_.c_str(), "wb");
        if (writer.file_ == nullptr) return io_error(fmt::format("cannot create {}", writer.path_));
        return writer;
    }
    StagedWriter() = default;
    StagedWriter(StagedWriter&& other) noexcept : path_(std::move(other.path_)), file_(other.file_) {
        other.file_ = nullptr;
    }
    StagedWriter& operator=(StagedWriter&&) = delete;
    ~StagedWriter() {
        if (file_ != nullptr) std::fclose(file_);
    }

    // Appends `text`; the buffer goes to the file when it passes 1 MiB.
    Status write(std::string_view text) {
        buffer_ += text;
        return buffer_.size() >= (1u << 20) ? drain() : Status();
    }
    Status close() {
        MONA_RETURN_IF_ERROR(drain());
        const bool ok = std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0;
        const bool closed = std::fclose(file_) == 0;
        file_ = nullptr;
        if (!ok || !closed) return io_error(fmt::format("cannot write {}", path_));
        return Status();
    }

   private:
    Status drain() {
        if (!buffer_.empty() && std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size()) {
            return io_error(fmt::format("cannot write {}", path_));
        }
        buffer_.clear();
        return Status();
    }
    std::string path_;
    std::FILE* file_ = nullptr;
    std::string buffer_;
};

inline Status write_text(OutputStage& stage, const std::string& rel, std::string_view content) {
    MONA_TRY(std::string path, stage.path_for(rel));
    return write_file_atomic(path, content);
}

}  // namespace mona::detail
