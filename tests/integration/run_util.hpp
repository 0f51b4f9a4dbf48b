// integration/run_util.hpp: running the real `mona` binary (MONA_BIN) from end-to-end tests and reading what it
// wrote back: one shell-quoting rule, one way to capture exit code, stdout and stderr, and the small text helpers
// the e2e tests share.
#pragma once

#include <string>
#include <vector>

namespace mona::fixtures {

struct RunResult {
    int exit_code = -1;  // 128 + signal when the process was killed
    std::string out;
    std::string err;
};

// `arg` in single quotes for /bin/sh.
std::string shell_quote(const std::string& arg);

// Runs `mona_bin args...` with OMP_WAIT_POLICY=passive and stdin from /dev/null; stdout and stderr go through
// numbered files in `scratch_dir` and come back in the result.
RunResult run_binary(const std::string& mona_bin, const std::vector<std::string>& args, const std::string& scratch_dir);

// Removes every MONA_* variable from the environment, so that flags given by variables cannot leak into runs.
void unset_mona_environment();

// `text` cut at every `sep` (n separators give n + 1 pieces).
std::vector<std::string> split(const std::string& text, char sep);
// Lines of a file without their '\n' (the empty piece after a final '\n' is dropped).
std::vector<std::string> file_lines(const std::string& path);
// Every regular file below `dir` (recursively), none when it does not exist.
std::vector<std::string> regular_files_under(const std::string& dir);

}  // namespace mona::fixtures
