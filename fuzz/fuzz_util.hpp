// fuzz/fuzz_util.hpp: helpers shared by the libFuzzer harnesses.
//
// Most of mona's parsers read files, so a harness writes its input into one per-process scratch folder (made
// once under $TMPDIR, removed at exit) and hands the path to the parser. Writing a small file costs a few
// microseconds, far below the parsers' own cost, and keeps the harness on the exact code path `mona` runs.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

namespace mona::fuzz {

// The process's scratch folder (created on first use, removed when the process exits normally).
inline const std::string& scratch_dir() {
    // Never destroyed: the exit handler that removes the folder may run after static destructors.
    static const std::string* const dir = [] {
        const char* tmp = std::getenv("TMPDIR");
        auto* made = new std::string(std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/mona-fuzz-XXXXXX");
        if (::mkdtemp(made->data()) == nullptr) {
            std::perror("mona fuzz: mkdtemp");
            std::abort();
        }
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(scratch_dir(), ec);
        });
        return made;
    }();
    return *dir;
}

// Writes `bytes` to `path` (truncating); aborts on failure, which would be a broken machine, not a finding.
inline void write_file(const std::string& path, std::string_view bytes) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr || (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) ||
        std::fclose(f) != 0) {
        std::perror(("mona fuzz: write " + path).c_str());
        std::abort();
    }
}

// Splits `data` at the first occurrence of `separator`: {before, after}; no separator -> {data, ""}.
inline std::pair<std::string_view, std::string_view> split_once(std::string_view data, std::string_view separator) {
    const size_t at = data.find(separator);
    if (at == std::string_view::npos) return {data, std::string_view()};
    return {data.substr(0, at), data.substr(at + separator.size())};
}

inline std::string_view as_view(const uint8_t* data, size_t size) {
    return std::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace mona::fuzz
