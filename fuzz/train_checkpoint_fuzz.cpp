// Fuzzes SaeTrainer::load_checkpoint (sae/train.hpp): header fields, option validation, the size rule.
// The harness rewrites the CRC-32 trailer (the input's last 4 bytes) to match, so mutations reach the checks
// after the checksum; a checkpoint that loads takes one training step on a small batch.
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "sae/train.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string bytes(reinterpret_cast<const char*>(data), size);
    if (bytes.size() >= 4) {
        const uint32_t crc = static_cast<uint32_t>(
            crc32_z(crc32_z(0, nullptr, 0), reinterpret_cast<const Bytef*>(bytes.data()), bytes.size() - 4));
        std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
    }
    const std::string path = mona::fuzz::scratch_dir() + "/checkpoint.bin";
    mona::fuzz::write_file(path, bytes);
    auto trainer = mona::SaeTrainer::load_checkpoint(path);
    if (!trainer.ok()) return 0;
    const int64_t d_in = trainer.value().options().d_in;
    std::vector<float> x(static_cast<size_t>(2 * d_in));
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) - 3.0f;
    (void)trainer.value().step(x.data(), 2);
    return 0;
}
