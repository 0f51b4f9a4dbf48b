#include "jobs/run_support.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <utility>

namespace mona {

namespace {

// "45 s", "2 min 38 s", "3 h 05 min".
std::string duration_text(double seconds) {
    const auto s = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
    if (s < 60) return fmt::format("{} s", s);
    if (s < 3600) return fmt::format("{} min {:02} s", s / 60, s % 60);
    return fmt::format("{} h {:02} min", s / 3600, (s % 3600) / 60);
}

}  // namespace

std::string progress_line(const ProgressUpdate& update) {
    const double tokens_per_s = update.seconds > 0 ? static_cast<double>(update.n_tokens) / update.seconds : 0.0;
    if (update.n_total <= 0) {
        return fmt::format("{}: {} samples, {} tokens, {:.0f} tokens/s, {:.0f} s", update.stage, update.n_samples,
                           update.n_tokens, tokens_per_s, update.seconds);
    }
    const int64_t done = std::min(update.n_total, update.n_before + update.n_samples);
    std::string line = fmt::format("{}: {}/{} samples ({:.1f}%), {} tokens, {:.0f} tokens/s, {}", update.stage, done,
                                   update.n_total, 100.0 * static_cast<double>(done) / update.n_total, update.n_tokens,
                                   tokens_per_s, duration_text(update.seconds));
    if (update.n_before > 0) line += fmt::format(", {} resumed", update.n_before);
    if (!update.final && update.n_samples > 0 && update.seconds > 0) {
        const double rate = static_cast<double>(update.n_samples) / update.seconds;
        line += ", ETA " + duration_text(static_cast<double>(update.n_total - done) / rate);
    }
    return line;
}

}  // namespace mona

namespace mona::detail {

std::string tsv_field(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) out += (c == '\t' || c == '\n' || c == '\r') ? ' ' : c;
    return out;
}

std::string skipped_tsv(const std::vector<SkipRow>& skipped) {
    std::string tsv = "file\tline\trecord\terror\n";
    for (const auto& row : skipped) {
        tsv += fmt::format("{}\t{}\t{}\t{}\n", tsv_field(row.path), row.line_no, row.record_idx, tsv_field(row.error));
    }
    return tsv;
}

std::string snippet_of(const Sample& sample) {
    std::string text = sample.text;
    for (const auto& turn : sample.turns) {
        if (turn.role == Role::kUser) {
            text = turn.content;
            break;
        }
    }
    if (text.empty() && !sample.turns.empty()) text = sample.turns.front().content;
    if (text.size() > 200) {
        size_t cut = 200;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
        text = text.substr(0, cut) + "…";
    }
    return text;
}

Result<FileStamp> FileStamp::of(const std::string& path) {
    struct stat info;
    if (::stat(path.c_str(), &info) != 0) {
        const int err = errno;
        return err == ENOENT ? not_found(fmt::format("{}: cannot open input: {}", path, std::strerror(err)))
                             : io_error(fmt::format("{}: cannot stat: {}", path, std::strerror(err)));
    }
    if (S_ISDIR(info.st_mode)) return invalid_input(fmt::format("{}: cannot read records: is a directory", path));
    FileStamp stamp;
    stamp.dev = static_cast<uint64_t>(info.st_dev);
    stamp.ino = static_cast<uint64_t>(info.st_ino);
    stamp.size = static_cast<uint64_t>(info.st_size);
    stamp.mtime_ns = static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
    return stamp;
}

Status check_unchanged(const std::string& path, const FileStamp& before, const std::string& what) {
    Result<FileStamp> now = FileStamp::of(path);
    if (now.ok() && now.value() == before) return Status();
    std::string how = "it is gone";
    if (now.ok()) {
        how = now->ino != before.ino || now->dev != before.dev
                  ? "it was replaced by another file"
                  : fmt::format("size {} -> {} bytes, modification time changed by {:.3f} s", before.size, now->size,
                                static_cast<double>(now->mtime_ns - before.mtime_ns) * 1e-9);
    }
    return invalid_input(
        fmt::format("{} {} changed during the run ({}); the outputs would mix two versions of it, so "
                    "nothing was written: run again once the file no longer changes",
                    what, path, how));
}

namespace {

constexpr const char* kRunLockName = ".mona-run.lock";

}  // namespace

RunFolderLock& RunFolderLock::operator=(RunFolderLock&& other) noexcept {
    if (this != &other) {
        release();
        lock_path_ = std::move(other.lock_path_);
        fd_ = std::exchange(other.fd_, -1);
        created_dirs_ = std::move(other.created_dirs_);
        other.lock_path_.clear();
        other.created_dirs_.clear();
    }
    return *this;
}

void RunFolderLock::release() {
    if (fd_ >= 0) {
        ::unlink(lock_path_.c_str());  // while still holding the lock: see acquire()
        ::close(fd_);
        fd_ = -1;
    }
    for (auto it = created_dirs_.rbegin(); it != created_dirs_.rend(); ++it) {
        if (::rmdir(it->c_str()) != 0) break;  // not empty: the run wrote into it (or another process did)
    }
    created_dirs_.clear();
}

Result<RunFolderLock> RunFolderLock::acquire(const std::string& out_dir) {
    if (out_dir.empty()) return invalid_input("--out is empty");
    RunFolderLock lock;
    // mkdir -p, remembering what this run created.
    size_t pos = 0;
    while (pos != std::string::npos) {
        pos = out_dir.find('/', pos + 1);
        const std::string prefix = out_dir.substr(0, pos);
        if (prefix.empty() || prefix.back() == '/') continue;
        if (::mkdir(prefix.c_str(), 0777) == 0) {
            lock.created_dirs_.push_back(prefix);
            continue;
        }
        const int err = errno;
        struct stat info;
        if (::stat(prefix.c_str(), &info) == 0) {
            if (S_ISDIR(info.st_mode)) continue;
            return io_error(fmt::format("--out {}: {} exists and is not a directory", out_dir, prefix));
        }
        return io_error(fmt::format("--out {}: cannot create directory {}: {}", out_dir, prefix, std::strerror(err)));
    }
    lock.lock_path_ = out_dir + "/" + kRunLockName;
    // The holder unlinks the file when it ends; a run that opened the old file just before that could lock an
    // unlinked inode, so a lock counts only when the path still names the locked file.
    for (int attempt = 0; attempt < 100; ++attempt) {
        const int fd = ::open(lock.lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) {
            return io_error(fmt::format("--out {}: cannot create the lock file {}: {}", out_dir, lock.lock_path_,
                                        std::strerror(errno)));
        }
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            const int err = errno;
            char buf[32] = {0};
            const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
            ::close(fd);
            if (err != EWOULDBLOCK) {
                return io_error(fmt::format("{}: cannot lock: {}", lock.lock_path_, std::strerror(err)));
            }
            std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
            while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
            return invalid_input(
                fmt::format("--out {}: another mona run{} is writing into this folder ({} is locked); "
                            "wait for it to end, or choose another --out",
                            out_dir, pid.empty() ? "" : " (pid " + pid + ")", lock.lock_path_));
        }
        struct stat held, named;
        if (::fstat(fd, &held) == 0 && ::stat(lock.lock_path_.c_str(), &named) == 0 && held.st_ino == named.st_ino &&
            held.st_dev == named.st_dev) {
            lock.fd_ = fd;
            const std::string pid = std::to_string(::getpid()) + "\n";
            if (::ftruncate(fd, 0) != 0 ||
                ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
                const int err = errno;
                return io_error(fmt::format("{}: cannot write: {}", lock.lock_path_, std::strerror(err)));
            }
            return lock;
        }
        ::close(fd);
    }
    return io_error(fmt::format("{}: cannot take the lock (the file keeps being replaced)", lock.lock_path_));
}

Status remove_stale_outputs(const std::string& out_dir, const std::vector<std::string>& current,
                            const std::vector<std::string>& marker_files,
                            const std::vector<std::string>& unwritten_files) {
    namespace fs = std::filesystem;
    std::vector<fs::path> stale;
    std::error_code ec;
    for (auto it = fs::directory_iterator(out_dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.empty() || name[0] == '.' || !it->is_directory()) continue;
        if (std::find(current.begin(), current.end(), name) != current.end()) continue;
        for (const std::string& marker : marker_files) {
            if (fs::exists(it->path() / marker)) {
                stale.push_back(it->path());
                break;
            }
        }
    }
    if (ec) return io_error(fmt::format("cannot list {}: {}", out_dir, ec.message()));
    for (const std::string& file : unwritten_files) {
        if (fs::is_regular_file(fs::path(out_dir) / file)) stale.push_back(fs::path(out_dir) / file);
    }
    for (const auto& path : stale) {
        fs::remove_all(path, ec);
        if (ec) return io_error(fmt::format("cannot remove the earlier run's {}: {}", path.string(), ec.message()));
    }
    return Status();
}

}  // namespace mona::detail
