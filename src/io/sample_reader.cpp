#include "io/sample_reader.hpp"

#include <sys/stat.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

namespace mona {

namespace {

constexpr size_t kChunkBytes = size_t(1) << 18;

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool all_space(std::string_view bytes) {
    for (char c : bytes) {
        if (!is_json_space(c)) return false;
    }
    return true;
}

std::string_view trim_space(std::string_view bytes) {
    while (!bytes.empty() && is_json_space(bytes.front())) bytes.remove_prefix(1);
    while (!bytes.empty() && is_json_space(bytes.back())) bytes.remove_suffix(1);
    return bytes;
}

}  // namespace

struct RecordReader::Impl {
    enum class Mode { kJsonl, kArray };
    // Where the array scanner is: before an element (or the closing ']'), inside an element, or after the ']'.
    enum class ArrayState { kBeforeFirst, kBeforeElement, kInElement, kDone };

    std::string path;
    gzFile gz = nullptr;
    bool gzipped = false;
    Mode mode = Mode::kJsonl;

    // buf[pos, size) is unconsumed input; buf[pos, scan) has already been looked at by the current scan.
    std::string buf;
    size_t pos = 0;
    size_t scan = 0;
    bool eof = false;
    uint64_t line_no = 1;  // JSONL: the line starting at pos; array: the line of buf[scan]
    uint64_t n_records = 0;
    Status failed;  // sticky: once an error is returned, every later next() returns it again

    // Array scanner state.
    ArrayState array_state = ArrayState::kBeforeFirst;
    uint64_t array_line = 0;    // line of the opening '['
    uint64_t element_line = 0;  // line where the current element starts
    int depth = 0;
    bool in_string = false;
    bool escaped = false;

    ~Impl() {
        if (gz != nullptr) gzclose(gz);
    }

    std::string where(uint64_t line) const { return path + ":" + std::to_string(line); }

    // Appends up to one chunk of decompressed input to buf, first dropping the consumed prefix. Sets eof at
    // the end of input. A gzip stream that stops mid-way is an error, not an end.
    Status fill() {
        if (pos > 0 && pos >= buf.size() / 2) {
            buf.erase(0, pos);
            scan -= pos;
            pos = 0;
        }
        const size_t old_size = buf.size();
        try {
            buf.resize(old_size + kChunkBytes);
        } catch (const std::bad_alloc&) {
            return internal_error(where(line_no) + ": out of memory buffering a record of " +
                                  std::to_string(old_size - pos) + " bytes");
        }
        const int n_read = gzread(gz, buf.data() + old_size, unsigned(kChunkBytes));
        buf.resize(old_size + (n_read > 0 ? size_t(n_read) : 0));
        int errnum = Z_OK;
        const char* zmessage = gzerror(gz, &errnum);
        if (errnum == Z_BUF_ERROR) {
            return io_error(where(line_no) + ": truncated gzip stream: the compressed input ends before its trailer (" +
                            zmessage + ")");
        }
        if (n_read < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) {
            const std::string reason = errnum == Z_ERRNO ? std::strerror(errno) : zmessage;
            return io_error(where(line_no) + ": read failed" + (gzipped ? " (gzip)" : "") + ": " + reason);
        }
        if (n_read == 0) eof = true;
        return Status();
    }

    // Reads until a non-space byte is buffered or the input ends; decides JSONL vs array. A UTF-8 byte order
    // mark at the very start is dropped: it is not part of any record.
    Status detect() {
        while (buf.size() < 3 && !eof) MONA_RETURN_IF_ERROR(fill());
        if (buf.compare(0, 3, "\xEF\xBB\xBF") == 0) buf.erase(0, 3);
        while (true) {
            size_t first = 0;
            while (first < buf.size() && is_json_space(buf[first])) ++first;
            if (first < buf.size()) {
                mode = buf[first] == '[' ? Mode::kArray : Mode::kJsonl;
                break;
            }
            if (eof) break;
            MONA_RETURN_IF_ERROR(fill());
        }
        gzipped = gzdirect(gz) == 0;
        return Status();
    }

    Status too_long(uint64_t line) const {
        return invalid_input(where(line) + ": record longer than " + std::to_string(kMaxRecordBytes >> 20) +
                             " MiB, the most mona reads as one record (is this a JSONL file, one record per line?)");
    }

    Result<bool> next_jsonl(RawRecord& out) {
        while (true) {
            const size_t newline = buf.find('\n', scan);
            if ((newline == std::string::npos ? buf.size() : newline) - pos > kMaxRecordBytes) return too_long(line_no);
            if (newline == std::string::npos && !eof) {
                scan = buf.size();
                MONA_RETURN_IF_ERROR(fill());
                continue;
            }
            if (newline == std::string::npos && pos == buf.size()) return false;
            const size_t end = newline == std::string::npos ? buf.size() : newline;
            std::string_view line(buf.data() + pos, end - pos);
            const uint64_t this_line = line_no;
            pos = newline == std::string::npos ? buf.size() : newline + 1;
            scan = pos;
            ++line_no;
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (all_space(line)) continue;
            out.bytes.assign(line);
            out.line_no = this_line;
            out.record_idx = n_records++;
            return true;
        }
    }

    // Advances scan to the next non-space byte, counting lines; returns false at the end of input.
    Result<bool> skip_space() {
        while (true) {
            while (scan < buf.size() && is_json_space(buf[scan])) {
                if (buf[scan] == '\n') ++line_no;
                ++scan;
            }
            pos = scan;
            if (scan < buf.size()) return true;
            if (eof) return false;
            MONA_RETURN_IF_ERROR(fill());
        }
    }

    Status unterminated() const {
        if (array_state == ArrayState::kInElement) {
            return invalid_input(where(element_line) + ": unterminated JSON array: input ended inside the element " +
                                 "that starts here (array opened at line " + std::to_string(array_line) + ")");
        }
        return invalid_input(where(line_no) + ": unterminated JSON array: input ended before the closing ']' " +
                             "(array opened at line " + std::to_string(array_line) + ")");
    }

    Result<bool> next_array(RawRecord& out) {
        while (true) {
            switch (array_state) {
                case ArrayState::kBeforeFirst: {
                    MONA_TRY(bool more, skip_space());
                    MONA_ASSERT(more && buf[scan] == '[', "array mode chosen without a leading '['");
                    array_line = line_no;
                    ++scan;
                    MONA_TRY(bool has_next, skip_space());
                    if (!has_next) return unterminated();
                    if (buf[scan] == ']') {
                        ++scan;
                        array_state = ArrayState::kDone;
                        continue;
                    }
                    array_state = ArrayState::kBeforeElement;
                    continue;
                }
                case ArrayState::kBeforeElement: {
                    MONA_TRY(bool more, skip_space());
                    if (!more) return unterminated();
                    if (buf[scan] == ',' || buf[scan] == ']') {
                        return invalid_input(where(line_no) + ": malformed JSON array: expected an element, found '" +
                                             std::string(1, buf[scan]) + "'");
                    }
                    element_line = line_no;
                    depth = 0;
                    in_string = false;
                    escaped = false;
                    array_state = ArrayState::kInElement;
                    continue;
                }
                case ArrayState::kInElement: {
                    MONA_TRY(bool done, scan_element(out));
                    if (done) return true;
                    continue;
                }
                case ArrayState::kDone: {
                    MONA_TRY(bool trailing, skip_space());
                    if (trailing) {
                        return invalid_input(where(line_no) +
                                             ": unexpected content after the top-level JSON array (a file whose first "
                                             "byte is '[' is read as one JSON array, not as JSONL)");
                    }
                    return false;
                }
            }
        }
    }

    // Scans the element starting at pos. Returns true when it ended at a top-level ',' or ']' (out is filled),
    // false when more input was buffered and scanning should resume.
    Result<bool> scan_element(RawRecord& out) {
        const char* data = buf.data();
        const size_t size = buf.size();
        while (scan < size) {
            const char c = data[scan];
            if (c == '\n') ++line_no;
            if (in_string) {
                if (escaped) {
                    escaped = false;
                } else if (c == '\\') {
                    escaped = true;
                } else if (c == '"') {
                    in_string = false;
                }
            } else if (c == '"') {
                in_string = true;
            } else if (c == '{' || c == '[') {
                ++depth;
            } else if (c == '}' || c == ']') {
                if (depth > 0) {
                    --depth;
                } else if (c == '}') {
                    return invalid_input(where(line_no) + ": malformed JSON array: unbalanced '}'");
                }
            }
            if (!in_string && depth == 0 && (c == ',' || c == ']')) {
                std::string_view element = trim_space(std::string_view(data + pos, scan - pos));
                out.bytes.assign(element);
                out.line_no = element_line;
                out.record_idx = n_records++;
                array_state = c == ',' ? ArrayState::kBeforeElement : ArrayState::kDone;
                ++scan;
                pos = scan;
                return true;
            }
            ++scan;
        }
        if (scan - pos > kMaxRecordBytes) return too_long(element_line);
        if (eof) return unterminated();
        MONA_RETURN_IF_ERROR(fill());
        return false;
    }
};

RecordReader::RecordReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RecordReader::RecordReader(RecordReader&&) noexcept = default;
RecordReader& RecordReader::operator=(RecordReader&&) noexcept = default;
RecordReader::~RecordReader() = default;

Result<RecordReader> RecordReader::open(const std::string& path) {
    struct stat info;
    if (::stat(path.c_str(), &info) != 0) {
        const int err = errno;
        std::string message = path + ": cannot open input: " + std::strerror(err);
        return err == ENOENT || err == ENOTDIR ? not_found(std::move(message)) : io_error(std::move(message));
    }
    if (S_ISDIR(info.st_mode)) return invalid_input(path + ": cannot read records: is a directory");

    std::unique_ptr<Impl> impl;
    try {
        impl = std::make_unique<Impl>();
        impl->path = path;
    } catch (const std::bad_alloc&) {
        return internal_error(path + ": out of memory opening input");
    }
    errno = 0;
    impl->gz = gzopen(path.c_str(), "rb");
    if (impl->gz == nullptr) {
        const int err = errno;
        return io_error(path + ": cannot open input: " + (err != 0 ? std::strerror(err) : "zlib could not allocate"));
    }
    gzbuffer(impl->gz, unsigned(kChunkBytes));
    MONA_RETURN_IF_ERROR(impl->detect());
    return RecordReader(std::move(impl));
}

Result<bool> RecordReader::next(RawRecord& out) {
    MONA_ASSERT(impl_ != nullptr, "RecordReader::next on a moved-from reader");
    Impl& impl = *impl_;
    if (!impl.failed.ok()) return impl.failed;
    Result<bool> result = impl.mode == Impl::Mode::kJsonl ? impl.next_jsonl(out) : impl.next_array(out);
    if (!result.ok()) impl.failed = result.status();
    return result;
}

const std::string& RecordReader::path() const {
    MONA_ASSERT(impl_ != nullptr, "RecordReader::path on a moved-from reader");
    return impl_->path;
}

bool RecordReader::gzipped() const {
    MONA_ASSERT(impl_ != nullptr, "RecordReader::gzipped on a moved-from reader");
    return impl_->gzipped;
}

bool RecordReader::json_array() const {
    MONA_ASSERT(impl_ != nullptr, "RecordReader::json_array on a moved-from reader");
    return impl_->mode == Impl::Mode::kArray;
}

}  // namespace mona
