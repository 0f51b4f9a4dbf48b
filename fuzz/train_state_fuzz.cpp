// Fuzzes the resume check of `mona train-sae` (check_train_state in sae/train.hpp): train_state.json against
// the current run's config.
#include <cstdint>
#include <string>

#include "fuzz_util.hpp"
#include "sae/train.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const nlohmann::json config =
        nlohmann::json::parse(R"({"model":"m.gguf","layer":3,"latents":64,"k":8,"inputs":["a.jsonl"],"doc_tokens":256,)"
                              R"("batch_size":32,"seed":0,"template":"model"})");
    auto state = mona::check_train_state(std::string(mona::fuzz::as_view(data, size)), config, "train_state.json");
    // An accepted state has an integer epochs_done >= 0 that reads without throwing.
    if (state.ok() && state.value().at("epochs_done").get<int64_t>() < 0) __builtin_trap();
    return 0;
}
