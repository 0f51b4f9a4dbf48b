// Fuzzes the SAE loaders (sae/sae.hpp): cfg.json of both families and the weights file together.
// Input: byte 0 picks the family (even: sparsify, odd: SAELens), then cfg.json text, then, after the line
// "--weights--", the safetensors bytes. A model that loads is run on one token, so shapes the loader accepted
// are exercised by encode() too.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "fuzz_util.hpp"
#include "mona/types.hpp"
#include "sae/sae.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const bool saelens = data[0] % 2 == 1;
    const auto [cfg, weights] = mona::fuzz::split_once(mona::fuzz::as_view(data + 1, size - 1), "\n--weights--\n");
    // layers.3 exercises the folder-name layer rule; the two families' weight files are told apart by name.
    const std::string dir = mona::fuzz::scratch_dir() + "/layers.3";
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    std::filesystem::create_directories(dir);
    mona::fuzz::write_file(dir + "/cfg.json", cfg);
    mona::fuzz::write_file(dir + (saelens ? "/sae_weights.safetensors" : "/sae.safetensors"), weights);
    auto sae = mona::SaeModel::open({dir});
    if (!sae.ok()) return 0;
    const mona::SaeInfo& info = sae.value().info();
    if (info.d_in > 4096) return 0;  // keep one encode cheap
    std::vector<float> x(static_cast<size_t>(info.d_in), 0.5f);
    mona::SparseCodes codes;
    sae.value().encode(x.data(), 1, codes);
    return 0;
}
