// Fuzzes io/sample_reader (JSONL, one JSON array, gzip of either) and, on every record it yields,
// text/formats' parse_sample with format detection: the path every pool and target file takes.
#include <cstdint>

#include "fuzz_util.hpp"
#include "io/sample_reader.hpp"
#include "text/formats.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = mona::fuzz::scratch_dir() + "/pool.jsonl";
    mona::fuzz::write_file(path, mona::fuzz::as_view(data, size));
    auto reader = mona::RecordReader::open(path);
    if (!reader.ok()) return 0;
    mona::RawRecord record;
    for (int n_records = 0; n_records < 4096; ++n_records) {
        auto more = reader.value().next(record);
        if (!more.ok() || !more.value()) break;
        const mona::SourceLoc loc{path, record.line_no, record.record_idx};
        (void)mona::parse_sample(record.bytes, mona::InputFormat::kAuto, loc);
    }
    return 0;
}
