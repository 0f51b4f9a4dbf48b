// Fuzzes the GGUF header path of `read_model_info` and of every model load (capture/session.cpp): first mona's
// check of the tensor table (capture/gguf_header.hpp), then, for a file it accepts, what llama.cpp's loader
// does next: the pinned ggml's gguf_init_from_file with no_alloc and a ggml context (tensors are created),
// every key/value read by type, the tensor table walked. llama.cpp's own hyperparameter and vocabulary
// loading, which follows, is not linked here (it needs the whole llama library); the sanitized integration
// tests cover it with real GGUFs.
#include <cstdint>

#include "capture/gguf_header.hpp"
#include "fuzz_util.hpp"
#include "ggml.h"
#include "gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const bool quiet = [] {
        ggml_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
        return true;
    }();
    (void)quiet;
    const std::string path = mona::fuzz::scratch_dir() + "/model.gguf";
    mona::fuzz::write_file(path, mona::fuzz::as_view(data, size));
    auto table = mona::read_gguf_tensor_table(path);
    if (!table.ok()) return 0;
    ggml_context* meta = nullptr;
    gguf_init_params params{/*no_alloc=*/true, /*ctx=*/&meta};
    gguf_context* gguf = gguf_init_from_file(path.c_str(), params);
    if (gguf == nullptr) return 0;
    uint64_t sink = 0;
    for (int64_t key_idx = 0; key_idx < gguf_get_n_kv(gguf); ++key_idx) {
        sink += std::string(gguf_get_key(gguf, key_idx)).size();
        switch (gguf_get_kv_type(gguf, key_idx)) {
            case GGUF_TYPE_STRING: sink += std::string(gguf_get_val_str(gguf, key_idx)).size(); break;
            case GGUF_TYPE_UINT32: sink += gguf_get_val_u32(gguf, key_idx); break;
            case GGUF_TYPE_ARRAY: {
                const size_t n = gguf_get_arr_n(gguf, key_idx);
                if (gguf_get_arr_type(gguf, key_idx) == GGUF_TYPE_STRING) {
                    for (size_t item = 0; item < n; ++item)
                        sink += std::string(gguf_get_arr_str(gguf, key_idx, item)).size();
                } else if (n > 0) {
                    sink += reinterpret_cast<uintptr_t>(gguf_get_arr_data(gguf, key_idx)) != 0;
                }
                break;
            }
            default: break;
        }
    }
    for (int64_t tensor_idx = 0; tensor_idx < gguf_get_n_tensors(gguf); ++tensor_idx) {
        const ggml_tensor* tensor = ggml_get_tensor(meta, gguf_get_tensor_name(gguf, tensor_idx));
        if (tensor != nullptr) sink += static_cast<uint64_t>(ggml_nelements(tensor));
        sink += gguf_get_tensor_size(gguf, tensor_idx) + gguf_get_tensor_offset(gguf, tensor_idx);
    }
    ggml_free(meta);
    gguf_free(gguf);
    return sink == 42 ? 0 : 0;
}
