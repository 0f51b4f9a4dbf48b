// Fuzzes text/formats' parse_sample: one record's JSON text in each forced format and with detection.
// The first byte picks the format (so the corpus can hold records meant for each); the rest is the record.
#include <cstdint>

#include "fuzz_util.hpp"
#include "text/formats.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    static constexpr mona::InputFormat kFormats[] = {
        mona::InputFormat::kAuto,   mona::InputFormat::kMessages,         mona::InputFormat::kShareGpt,
        mona::InputFormat::kAlpaca, mona::InputFormat::kPromptCompletion, mona::InputFormat::kText};
    const mona::InputFormat format = kFormats[data[0] % 6];
    const mona::SourceLoc loc{"pool.jsonl", 7, 6};
    auto sample = mona::parse_sample(mona::fuzz::as_view(data + 1, size - 1), format, loc);
    if (sample.ok() && sample.value().format == mona::InputFormat::kAuto) __builtin_trap();  // documented: never kAuto
    return 0;
}
