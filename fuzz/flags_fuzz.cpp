// Fuzzes the command-line parser (tools/mona/cli/flags.hpp): the input is split at NUL or newline bytes into
// argv[1..]; argv[0] is "mona". Values a parse accepted are read back as their kinds, as the commands do.
#include <cstdint>
#include <string>
#include <vector>

#include "cli/flags.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<std::string> args{"mona"};
    std::string current;
    for (size_t pos = 0; pos < size && args.size() < 64; ++pos) {
        const char c = static_cast<char>(data[pos]);
        if (c == '\0' || c == '\n') {
            args.push_back(current);
            current.clear();
        } else {
            current.push_back(c);
        }
    }
    if (!current.empty()) args.push_back(current);
    std::vector<const char*> argv;
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    argv.push_back(nullptr);
    auto parsed = mona::cli::parse_args(static_cast<int>(args.size()), argv.data());
    if (!parsed.ok()) return 0;
    for (const mona::cli::FlagSpec& flag : mona::cli::flag_table()) {
        if (!parsed.value().has(flag.name)) continue;
        (void)parsed.value().all(flag.name);
        if (flag.kind == mona::cli::ValueKind::kInt) (void)parsed.value().get_int(flag.name);
        if (flag.kind == mona::cli::ValueKind::kFloat) (void)parsed.value().get_float(flag.name);
    }
    if (!parsed.value().verb.empty()) (void)mona::cli::verb_help(parsed.value().verb);
    return 0;
}
