#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace mona {

namespace {

std::string os_reason(int err) { return std::strerror(err); }

std::string parent_dir(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

// Makes the rename itself durable. Some file systems refuse fsync on a directory (EINVAL); the data is
// already synced by then, so that is not treated as a failure.
void sync_dir(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    (void)::fsync(fd);
    ::close(fd);
}

}  // namespace

AtomicFile::AtomicFile(std::string path, std::string temp_path, std::FILE* file)
    : path_(std::move(path)), temp_path_(std::move(temp_path)), file_(file) {}

Result<AtomicFile> AtomicFile::open(const std::string& path) {
    if (path.empty()) return invalid_input("cannot open an output file with an empty path");
    std::string temp_path = path + ".tmp." + std::to_string(::getpid());
    const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        const int err = errno;
        std::string message = temp_path + ": cannot create temporary file for " + path + ": " + os_reason(err);
        return err == ENOENT ? not_found(std::move(message)) : io_error(std::move(message));
    }
    std::FILE* file = ::fdopen(fd, "wb");
    if (file == nullptr) {
        const int err = errno;
        ::close(fd);
        ::unlink(temp_path.c_str());
        return io_error(temp_path + ": cannot open stream: " + os_reason(err));
    }
    return AtomicFile(path, std::move(temp_path), file);
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : path_(std::move(other.path_)),
      temp_path_(std::move(other.temp_path_)),
      file_(std::exchange(other.file_, nullptr)),
      committed_(other.committed_) {}

AtomicFile& AtomicFile::operator=(AtomicFile&& other) noexcept {
    if (this != &other) {
        discard();
        path_ = std::move(other.path_);
        temp_path_ = std::move(other.temp_path_);
        file_ = std::exchange(other.file_, nullptr);
        committed_ = other.committed_;
    }
    return *this;
}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::discard() {
    if (file_ == nullptr) return;
    std::fclose(file_);
    file_ = nullptr;
    ::unlink(temp_path_.c_str());
}

Status AtomicFile::write(std::string_view bytes) {
    MONA_ASSERT(file_ != nullptr, "AtomicFile::write on a closed, committed or moved-from file");
    if (bytes.empty()) return Status();
    if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
        return io_error(temp_path_ + ": write failed: " + os_reason(errno));
    }
    return Status();
}

Status AtomicFile::commit() {
    MONA_ASSERT(file_ != nullptr, "AtomicFile::commit on a closed, committed or moved-from file");
    if (std::fflush(file_) != 0) {
        const int err = errno;
        discard();
        return io_error(temp_path_ + ": flush failed: " + os_reason(err));
    }
    if (::fsync(::fileno(file_)) != 0) {
        const int err = errno;
        discard();
        return io_error(temp_path_ + ": fsync failed: " + os_reason(err));
    }
    const int close_rc = std::fclose(file_);
    file_ = nullptr;
    if (close_rc != 0) {
        const int err = errno;
        ::unlink(temp_path_.c_str());
        return io_error(temp_path_ + ": close failed: " + os_reason(err));
    }
    if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
        const int err = errno;
        ::unlink(temp_path_.c_str());
        return io_error(path_ + ": cannot rename " + temp_path_ + " into place: " + os_reason(err));
    }
    committed_ = true;
    sync_dir(parent_dir(path_));
    return Status();
}

Status write_file_atomic(const std::string& path, std::string_view content) {
    MONA_TRY(AtomicFile file, AtomicFile::open(path));
    MONA_RETURN_IF_ERROR(file.write(content));
    return file.commit();
}

Status ensure_dir(const std::string& path) {
    if (path.empty()) return invalid_input("cannot create a directory with an empty path");
    // Walk the prefixes "a", "a/b", "a/b/c" so every missing parent is created in order.
    size_t pos = 0;
    while (pos != std::string::npos) {
        pos = path.find('/', pos + 1);
        const std::string prefix = path.substr(0, pos);
        if (prefix.empty() || prefix.back() == '/') continue;  // leading "/" or a doubled "//"
        if (::mkdir(prefix.c_str(), 0777) == 0) continue;
        const int err = errno;
        // mkdir may report EACCES or EROFS rather than EEXIST for an existing parent, so ask stat.
        struct stat info;
        if (::stat(prefix.c_str(), &info) == 0) {
            if (S_ISDIR(info.st_mode)) continue;
            return io_error(prefix + ": cannot create directory " + path + ": exists and is not a directory");
        }
        return io_error(prefix + ": cannot create directory " + path + ": " + os_reason(err));
    }
    return Status();
}

}  // namespace mona
