// Fuzzes io/safetensors: open() (header length, JSON header, offsets against shape x dtype) and read_f32() of
// every tensor it lists.
#include <cstdint>

#include "fuzz_util.hpp"
#include "io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = mona::fuzz::scratch_dir() + "/t.safetensors";
    mona::fuzz::write_file(path, mona::fuzz::as_view(data, size));
    auto file = mona::SafetensorsFile::open(path);
    if (!file.ok()) return 0;
    for (const auto& [name, info] : file.value().tensors()) {
        (void)info.n_elements();
        (void)mona::shape_string(info.shape);
        (void)file.value().read_f32(name);
    }
    return 0;
}
