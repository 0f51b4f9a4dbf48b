// Fuzzes the resume check of `mona train-sae` (check_train_state in sae/train.hpp): train_state.json against
// the current run's config.
#include <cstdint>
#include <string>

#include "fuzz_util.hpp"
#include "sae/train.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string config =
        R"({"model":"m.gguf","layer":3,"latents":64,"k":8,"inputs":["a.jsonl"],"doc_tokens":256,)"
        R"("batch_size":32,"seed":0,"template":"model"})";
    auto epochs = mona::check_train_state(std::string(mona::fuzz::as_view(data, size)), config, "train_state.json");
    if (epochs.ok() && epochs.value() < 0) __builtin_trap();
    return 0;
}
