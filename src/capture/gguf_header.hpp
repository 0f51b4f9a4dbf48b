// capture/gguf_header.hpp: mona's check of a GGUF's tensor table before llama.cpp loads the file.
//
// The pinned llama.cpp aborts the process (GGML_ASSERT in ggml_new_tensor_impl) on a tensor whose element count
// is exactly at the int64 limit, a shape that ggml's own GGUF parser (gguf.cpp) lets through because its
// overflow check uses `<` where ggml_new_tensor_impl asserts `>`. A crafted .gguf must give an error, not an
// abort, so every model goes through read_gguf_tensor_table() first: it reads the header with ggml's GGUF
// parser without creating tensors (no ggml context, so nothing can assert), applies ggml_new_tensor_impl's rule
// to every shape, and sums the table.
//
// Errors: kInvalidInput naming the path: "not a GGUF file llama.cpp can read" (gguf_init_from_file failed; ggml's
// log says why), or the tensor, its shape and the rule it breaks. Reads only the header (no tensor data).
// Thread-safety: none needed (no shared state).
#pragma once

#include <cstdint>
#include <string>

#include "mona/status.hpp"

namespace mona {

struct GgufTensorTable {
    int64_t n_tensors = 0;
    uint64_t n_params = 0;    // sum of the tensors' element counts
    uint64_t size_bytes = 0;  // sum of the tensors' sizes in bytes as stored (padding excluded)
};

Result<GgufTensorTable> read_gguf_tensor_table(const std::string& path);

}  // namespace mona
