#include "io/safetensors.hpp"

#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <new>
#include <nlohmann/json.hpp>
#include <utility>

namespace mona {

static_assert(std::endian::native == std::endian::little, "safetensors is little-endian; big-endian hosts need swaps");

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024;
// Elements converted per pread when reading half-precision tensors, so a 2 GB tensor needs no 2nd full copy.
constexpr size_t kConvertChunk = size_t{1} << 20;

using json = nlohmann::json;

std::string os_reason(int err) { return std::strerror(err); }

// Bytes per element, 0 for a dtype mona does not know (listed, never read).
uint64_t dtype_size(const std::string& dtype) {
    static const std::pair<const char*, uint64_t> kSizes[] = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},  {"I32", 4},     {"I16", 2},     {"I8", 1},
        {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1},   {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
    };
    for (const auto& [name, size] : kSizes) {
        if (dtype == name) return size;
    }
    return 0;
}

const char* json_type_name(const json& value) {
    if (value.is_number_unsigned() || value.is_number_integer()) return "integer";
    return value.type_name();
}

// Reads exactly `n` bytes at `offset`; `what` (path, tensor) starts the error message.
Status pread_full(int fd, const std::string& what, void* dst, uint64_t n, uint64_t offset) {
    auto* out = static_cast<char*>(dst);
    while (n > 0) {
        const size_t want = static_cast<size_t>(std::min<uint64_t>(n, uint64_t{1} << 30));
        const ssize_t got = ::pread(fd, out, want, static_cast<off_t>(offset));
        if (got < 0) {
            if (errno == EINTR) continue;
            return io_error(what + ": read of " + std::to_string(want) + " bytes at offset " + std::to_string(offset) +
                            " failed: " + os_reason(errno));
        }
        if (got == 0) {
            return invalid_input(what + ": file ended at offset " + std::to_string(offset) + " while " +
                                 std::to_string(n) + " more bytes were expected (truncated file?)");
        }
        out += got;
        n -= static_cast<uint64_t>(got);
        offset += static_cast<uint64_t>(got);
    }
    return Status::ok_status();
}

Status parse_tensor_entry(const std::string& path, const std::string& name, const json& entry, uint64_t buffer_size,
                          TensorInfo& info) {
    const std::string where = path + ": tensor '" + name + "'";
    if (!entry.is_object()) {
        return invalid_input(where + ": expected an object {dtype, shape, data_offsets}, found " +
                             json_type_name(entry));
    }
    auto dtype_it = entry.find("dtype");
    if (dtype_it == entry.end()) return invalid_input(where + ": missing field 'dtype'");
    if (!dtype_it->is_string()) {
        return invalid_input(where + ": field 'dtype': expected string, found " + json_type_name(*dtype_it));
    }
    auto shape_it = entry.find("shape");
    if (shape_it == entry.end()) return invalid_input(where + ": missing field 'shape'");
    if (!shape_it->is_array()) {
        return invalid_input(where + ": field 'shape': expected array, found " + json_type_name(*shape_it));
    }
    auto offsets_it = entry.find("data_offsets");
    if (offsets_it == entry.end()) return invalid_input(where + ": missing field 'data_offsets'");
    if (!offsets_it->is_array() || offsets_it->size() != 2 || !(*offsets_it)[0].is_number_unsigned() ||
        !(*offsets_it)[1].is_number_unsigned()) {
        return invalid_input(where +
                             ": field 'data_offsets': expected [begin, end] as two non-negative integers, found " +
                             offsets_it->dump());
    }

    info.name = name;
    info.dtype = dtype_it->get<std::string>();
    info.shape.clear();
    uint64_t n_elements = 1;
    bool overflow = false;
    for (const json& dim : *shape_it) {
        if (!dim.is_number_unsigned()) {
            return invalid_input(where + ": field 'shape': expected non-negative integers, found " + shape_it->dump());
        }
        const uint64_t d = dim.get<uint64_t>();
        if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) overflow = true;
        if (d != 0 && n_elements > std::numeric_limits<uint64_t>::max() / d) overflow = true;
        n_elements *= d;
        info.shape.push_back(static_cast<int64_t>(d));
    }
    info.begin = (*offsets_it)[0].get<uint64_t>();
    info.end = (*offsets_it)[1].get<uint64_t>();
    if (info.begin > info.end) {
        return invalid_input(where + ": data_offsets [" + std::to_string(info.begin) + ", " + std::to_string(info.end) +
                             "]: begin is after end");
    }
    if (info.end > buffer_size) {
        return invalid_input(where + ": data_offsets [" + std::to_string(info.begin) + ", " + std::to_string(info.end) +
                             "] run past the data buffer of " + std::to_string(buffer_size) + " bytes");
    }
    const uint64_t elem_size = dtype_size(info.dtype);
    if (overflow || n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / 8) {
        return invalid_input(where + ": shape " + shape_string(info.shape) + " is too large");
    }
    if (elem_size != 0) {
        const uint64_t expected = n_elements * elem_size;
        if (info.end - info.begin != expected) {
            return invalid_input(
                where + ": data_offsets [" + std::to_string(info.begin) + ", " + std::to_string(info.end) + "] span " +
                std::to_string(info.end - info.begin) + " bytes, expected " + std::to_string(expected) + " (shape " +
                shape_string(info.shape) + " x " + info.dtype + " " + std::to_string(elem_size) + " bytes)");
        }
    }
    return Status::ok_status();
}

}  // namespace

std::string shape_string(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t dim_idx = 0; dim_idx < shape.size(); ++dim_idx) {
        if (dim_idx > 0) s += ", ";
        s += std::to_string(shape[dim_idx]);
    }
    return s + "]";
}

int64_t TensorInfo::n_elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

struct SafetensorsFile::Impl {
    std::string path;
    int fd = -1;
    uint64_t data_start = 0;  // file offset of the data buffer
    std::map<std::string, TensorInfo> tensors;
    std::map<std::string, std::string> metadata;

    ~Impl() {
        if (fd >= 0) ::close(fd);
    }
};

SafetensorsFile::SafetensorsFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;
SafetensorsFile::~SafetensorsFile() = default;

const std::string& SafetensorsFile::path() const { return impl_->path; }
const std::map<std::string, TensorInfo>& SafetensorsFile::tensors() const { return impl_->tensors; }
const std::map<std::string, std::string>& SafetensorsFile::metadata() const { return impl_->metadata; }
bool SafetensorsFile::has(const std::string& name) const { return impl_->tensors.count(name) != 0; }

Result<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
    try {
        auto impl = std::make_unique<Impl>();
        impl->path = path;
        impl->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (impl->fd < 0) {
            const int err = errno;
            if (err == ENOENT) return not_found(path + ": no such file");
            return io_error(path + ": cannot open: " + os_reason(err));
        }
        struct stat st {};
        if (::fstat(impl->fd, &st) != 0) return io_error(path + ": cannot stat: " + os_reason(errno));
        if (!S_ISREG(st.st_mode)) return invalid_input(path + ": not a regular file");
        const auto file_size = static_cast<uint64_t>(st.st_size);
        if (file_size < 8) {
            return invalid_input(path + ": file is " + std::to_string(file_size) +
                                 " bytes, too short for the 8-byte safetensors header length");
        }
        unsigned char len_bytes[8];
        MONA_RETURN_IF_ERROR(pread_full(impl->fd, path, len_bytes, 8, 0));
        uint64_t header_len = 0;
        for (int byte_idx = 7; byte_idx >= 0; --byte_idx) header_len = (header_len << 8) | len_bytes[byte_idx];
        if (header_len > kMaxHeaderBytes) {
            return invalid_input(path + ": header length " + std::to_string(header_len) + " bytes exceeds the " +
                                 std::to_string(kMaxHeaderBytes) + "-byte limit (not a safetensors file?)");
        }
        if (header_len > file_size - 8) {
            return invalid_input(path + ": header length " + std::to_string(header_len) +
                                 " bytes runs past the end of the " + std::to_string(file_size) + "-byte file");
        }
        std::string header(static_cast<size_t>(header_len), '\0');
        MONA_RETURN_IF_ERROR(pread_full(impl->fd, path, header.data(), header_len, 8));

        json doc;
        try {
            doc = json::parse(header);
        } catch (const json::exception& e) {
            return invalid_input(path + ": header is not valid JSON: " + e.what());
        }
        if (!doc.is_object()) {
            return invalid_input(path + ": header: expected a JSON object, found " + json_type_name(doc));
        }
        impl->data_start = 8 + header_len;
        const uint64_t buffer_size = file_size - impl->data_start;
        for (auto it = doc.begin(); it != doc.end(); ++it) {
            if (it.key() == "__metadata__") {
                if (!it->is_object()) {
                    return invalid_input(path + ": __metadata__: expected an object of strings, found " +
                                         json_type_name(*it));
                }
                for (auto meta = it->begin(); meta != it->end(); ++meta) {
                    if (!meta->is_string()) {
                        return invalid_input(path + ": __metadata__." + meta.key() + ": expected string, found " +
                                             json_type_name(*meta));
                    }
                    impl->metadata[meta.key()] = meta->get<std::string>();
                }
                continue;
            }
            TensorInfo info;
            MONA_RETURN_IF_ERROR(parse_tensor_entry(path, it.key(), *it, buffer_size, info));
            impl->tensors.emplace(it.key(), std::move(info));
        }
        return SafetensorsFile(std::move(impl));
    } catch (const std::bad_alloc&) {
        return internal_error(path + ": out of memory while reading the safetensors header");
    } catch (const std::exception& e) {
        return internal_error(path + ": unexpected error while reading the safetensors header: " + e.what());
    }
}

Result<std::vector<float>> SafetensorsFile::read_f32(const std::string& name) const {
    const Impl& impl = *impl_;
    auto it = impl.tensors.find(name);
    if (it == impl.tensors.end()) return not_found(impl.path + ": no tensor named '" + name + "'");
    const TensorInfo& info = it->second;
    const std::string where = impl.path + ": tensor '" + name + "'";
    const bool is_f32 = info.dtype == "F32";
    const bool is_f16 = info.dtype == "F16";
    const bool is_bf16 = info.dtype == "BF16";
    if (!is_f32 && !is_f16 && !is_bf16) {
        return unsupported(where + ": dtype " + info.dtype + " cannot be read as f32 (supported: F32, F16, BF16)");
    }
    try {
        const auto n = static_cast<size_t>(info.n_elements());
        std::vector<float> out(n);
        const uint64_t file_offset = impl.data_start + info.begin;
        if (is_f32) {
            MONA_RETURN_IF_ERROR(pread_full(impl.fd, where, out.data(), uint64_t{n} * 4, file_offset));
            return out;
        }
        std::vector<uint16_t> chunk(std::min(n, kConvertChunk));
        for (size_t done = 0; done < n;) {
            const size_t count = std::min(n - done, kConvertChunk);
            MONA_RETURN_IF_ERROR(
                pread_full(impl.fd, where, chunk.data(), uint64_t{count} * 2, file_offset + uint64_t{done} * 2));
            if (is_f16) {
                for (size_t elem_idx = 0; elem_idx < count; ++elem_idx)
                    out[done + elem_idx] = f16_to_f32(chunk[elem_idx]);
            } else {
                for (size_t elem_idx = 0; elem_idx < count; ++elem_idx)
                    out[done + elem_idx] = bf16_to_f32(chunk[elem_idx]);
            }
            done += count;
        }
        return out;
    } catch (const std::bad_alloc&) {
        return internal_error(where + ": out of memory reading shape " + shape_string(info.shape) + " as f32");
    }
}

Status write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                         const std::map<std::string, std::string>& metadata) {
    try {
        // Validate first so that nothing is created for a bad request.
        std::map<std::string, const TensorToWrite*> by_name;
        for (const TensorToWrite& tensor : tensors) {
            const std::string where = path + ": tensor '" + tensor.name + "'";
            if (tensor.name.empty()) return invalid_input(path + ": a tensor to write has an empty name");
            if (tensor.name == "__metadata__") return invalid_input(where + ": name is reserved");
            if (!by_name.emplace(tensor.name, &tensor).second) return invalid_input(where + ": name given twice");
            const bool integer = tensor.dtype == "I32" || tensor.dtype == "I64";
            if (tensor.dtype != "F32" && tensor.dtype != "F16" && tensor.dtype != "BF16" && !integer) {
                return invalid_input(where + ": dtype " + tensor.dtype +
                                     " cannot be written (supported: F32, F16, BF16, I32, I64)");
            }
            for (int64_t d : tensor.shape) {
                if (d < 0) return invalid_input(where + ": negative dimension in shape " + shape_string(tensor.shape));
            }
            int64_t n = 1;
            for (int64_t d : tensor.shape) n *= d;
            if (n > 0 && (integer ? tensor.raw == nullptr : tensor.data == nullptr)) {
                return invalid_input(where + ": data is null");
            }
        }

        // Data is laid out in name order, the same order as the (sorted) header keys.
        json header = json::object();
        uint64_t offset = 0;
        for (const auto& [name, tensor] : by_name) {
            int64_t n = 1;
            for (int64_t d : tensor->shape) n *= d;
            const uint64_t bytes = static_cast<uint64_t>(n) * dtype_size(tensor->dtype);
            header[name] = {
                {"dtype", tensor->dtype}, {"shape", tensor->shape}, {"data_offsets", {offset, offset + bytes}}};
            offset += bytes;
        }
        if (!metadata.empty()) {
            json meta = json::object();
            for (const auto& [key, value] : metadata) meta[key] = value;
            header["__metadata__"] = std::move(meta);
        }
        std::string header_text = header.dump();
        header_text.append((8 - header_text.size() % 8) % 8, ' ');

        MONA_TRY(AtomicFile file, AtomicFile::open(path));
        auto write_all = [&](const void* data, size_t n) {
            return file.write(std::string_view(static_cast<const char*>(data), n));
        };

        unsigned char len_bytes[8];
        uint64_t header_len = header_text.size();
        for (unsigned char& b : len_bytes) {
            b = static_cast<unsigned char>(header_len & 0xff);
            header_len >>= 8;
        }
        MONA_RETURN_IF_ERROR(write_all(len_bytes, 8));
        MONA_RETURN_IF_ERROR(write_all(header_text.data(), header_text.size()));

        std::vector<uint16_t> half;
        for (const auto& [name, tensor] : by_name) {
            int64_t n = 1;
            for (int64_t d : tensor->shape) n *= d;
            const auto count = static_cast<size_t>(n);
            if (tensor->dtype == "F32") {
                if (count > 0) MONA_RETURN_IF_ERROR(write_all(tensor->data, count * 4));
                continue;
            }
            if (tensor->dtype == "I32" || tensor->dtype == "I64") {
                if (count > 0) MONA_RETURN_IF_ERROR(write_all(tensor->raw, count * dtype_size(tensor->dtype)));
                continue;
            }
            for (size_t done = 0; done < count;) {
                const size_t chunk = std::min(count - done, kConvertChunk);
                half.resize(chunk);
                for (size_t elem_idx = 0; elem_idx < chunk; ++elem_idx) {
                    const float v = tensor->data[done + elem_idx];
                    half[elem_idx] = tensor->dtype == "F16" ? f32_to_f16(v) : f32_to_bf16(v);
                }
                MONA_RETURN_IF_ERROR(write_all(half.data(), chunk * 2));
                done += chunk;
            }
        }
        MONA_RETURN_IF_ERROR(file.commit());
        return Status::ok_status();
    } catch (const std::bad_alloc&) {
        return internal_error(path + ": out of memory while writing safetensors");
    } catch (const std::exception& e) {
        return internal_error(path + ": unexpected error while writing safetensors: " + e.what());
    }
}

float f16_to_f32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);  // inf, or NaN keeping its payload
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {
        // Subnormal: value = mant * 2^-24; shift the leading one into the implicit position.
        uint32_t e = 113;
        while ((mant & 0x400u) == 0) {
            mant <<= 1;
            --e;
        }
        bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
    }
    return std::bit_cast<float>(bits);
}

float bf16_to_f32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

uint16_t f32_to_bf16(float f) {
    const uint32_t bits = std::bit_cast<uint32_t>(f);
    if ((bits & 0x7fffffffu) > 0x7f800000u) {
        return static_cast<uint16_t>((bits >> 16) | 0x40u);  // NaN stays NaN (quiet bit set, payload truncated)
    }
    const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
    return static_cast<uint16_t>((bits + rounding) >> 16);
}

uint16_t f32_to_f16(float f) {
    const uint32_t bits = std::bit_cast<uint32_t>(f);
    const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
    const uint32_t abs = bits & 0x7fffffffu;
    if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));  // NaN
    if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to inf (or is inf)
    if (abs < 0x38800000u) {
        // Result is a half subnormal (or zero): units of 2^-24. 2^-25 exactly is a tie and goes to even (zero).
        if (abs <= 0x33000000u) return sign;
        const uint32_t exp = abs >> 23;
        const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
        const uint32_t shift = 126 - exp;  // 14..24
        uint32_t result = mant >> shift;
        const uint32_t rem = mant & ((1u << shift) - 1);
        const uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (result & 1u))) ++result;
        return static_cast<uint16_t>(sign | result);
    }
    uint32_t result = ((abs >> 23) - 112) << 10 | ((abs >> 13) & 0x3ffu);
    const uint32_t rem = abs & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (result & 1u))) ++result;  // a carry moves into the exponent correctly
    return static_cast<uint16_t>(sign | result);
}

}  // namespace mona
