// Fuzzes the feature store's manifest.json parser (StoreReader::open): field types, ranges, shard names,
// row counts and their consistency. The shard files it may list exist as empty files, so the size check runs.
#include <cstdint>
#include <filesystem>

#include "fuzz_util.hpp"
#include "store/feature_store.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string dir = mona::fuzz::scratch_dir() + "/store";
    static const bool made = [&] {
        std::filesystem::create_directories(dir);
        mona::fuzz::write_file(dir + "/shard-00000.bin", "");
        mona::fuzz::write_file(dir + "/shard-00001.bin", "");
        return true;
    }();
    (void)made;
    mona::fuzz::write_file(dir + "/manifest.json", mona::fuzz::as_view(data, size));
    auto reader = mona::StoreReader::open(dir);
    if (!reader.ok()) return 0;
    (void)reader.value().verify();
    return 0;
}
