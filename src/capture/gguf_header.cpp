#include "capture/gguf_header.hpp"

#include <fmt/format.h>

#include <cstdint>

#include "ggml.h"
#include "gguf.h"

namespace mona {

Result<GgufTensorTable> read_gguf_tensor_table(const std::string& path) {
    gguf_init_params params{/*no_alloc=*/true, /*ctx=*/nullptr};
    gguf_context* gguf = gguf_init_from_file(path.c_str(), params);
    if (gguf == nullptr) return invalid_input(fmt::format("{}: not a GGUF file llama.cpp can read", path));
    GgufTensorTable table;
    table.n_tensors = gguf_get_n_tensors(gguf);
    Status status;
    for (int64_t tensor_idx = 0; tensor_idx < table.n_tensors && status.ok(); ++tensor_idx) {
        const int64_t* ne = gguf_get_tensor_ne(gguf, tensor_idx);
        // ggml_new_tensor_impl's rule, which llama.cpp applies to every tensor it creates from this table (dims
        // of 0 or 1 are skipped, so the running product is checked, not the true count).
        int64_t running = ne[0];
        bool fits = true;
        bool has_zero = false;
        for (int dim = 0; dim < GGML_MAX_DIMS; ++dim) {
            if (ne[dim] < 0) fits = false;  // gguf.cpp refuses these already
            if (ne[dim] == 0) has_zero = true;
            if (dim == 0 || ne[dim] <= 1 || !fits) continue;
            if (INT64_MAX / ne[dim] > running) {
                running *= ne[dim];
            } else {
                fits = false;
            }
        }
        if (!fits) {
            status =
                invalid_input(fmt::format("{}: tensor '{}' has shape [{}, {}, {}, {}], whose element count does "
                                          "not fit in int64",
                                          path, gguf_get_tensor_name(gguf, tensor_idx), ne[0], ne[1], ne[2], ne[3]));
            break;
        }
        const int64_t n_elements = has_zero ? 0 : running;
        table.n_params += static_cast<uint64_t>(n_elements);
        table.size_bytes += gguf_get_tensor_size(gguf, tensor_idx);
    }
    gguf_free(gguf);
    if (!status.ok()) return status;
    return table;
}

}  // namespace mona
