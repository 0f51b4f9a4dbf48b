// io/safetensors.hpp: a reader for the safetensors format.
//
// Layout: 8-byte little-endian header length N, then N bytes of JSON {name: {dtype, shape, data_offsets}}
// (plus an optional "__metadata__" object of strings), then the raw tensor buffer. Offsets are relative to the
// start of the buffer. F32, F16 and BF16 tensors can be read as f32; other dtypes are listed but refused on read.
// Every structural problem (short file, header length past the end, bad JSON, offsets out of range or not
// matching shape x dtype size) is an kInvalidInput error naming the path and the tensor.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mona/status.hpp"

namespace mona {

struct TensorInfo {
    std::string name;
    std::string dtype;           // "F32", "F16", "BF16", "I64", ... as written in the file
    std::vector<int64_t> shape;  // row-major, outermost first
    uint64_t begin = 0;          // byte offset in the data buffer
    uint64_t end = 0;

    int64_t n_elements() const;
};

// "[2, 3]": a shape as written in error messages (also by the SAE loaders).
std::string shape_string(const std::vector<int64_t>& shape);

class SafetensorsFile {
   public:
    static Result<SafetensorsFile> open(const std::string& path);
    SafetensorsFile(SafetensorsFile&&) noexcept;
    SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
    ~SafetensorsFile();

    const std::string& path() const;
    const std::map<std::string, TensorInfo>& tensors() const;
    const std::map<std::string, std::string>& metadata() const;
    bool has(const std::string& name) const;

    // Reads a tensor converted to f32, row-major as stored.
    Result<std::vector<float>> read_f32(const std::string& name) const;

   private:
    struct Impl;
    explicit SafetensorsFile(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// A tensor to write: f32 `data` written as `dtype` ("F32", "F16" or "BF16"), or, for dtype "I32"/"I64",
// `raw` little-endian integers written as they are.
struct TensorToWrite {
    std::string name;
    std::vector<int64_t> shape;
    const float* data = nullptr;
    std::string dtype = "F32";
    const void* raw = nullptr;  // only for I32 / I64
};

// Writes a safetensors file atomically (temporary file + rename). Integer-like tensors are out of scope.
Status write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                         const std::map<std::string, std::string>& metadata = {});

// Half-precision conversions (round-to-nearest-even when narrowing).
float f16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
uint16_t f32_to_bf16(float f);

}  // namespace mona
