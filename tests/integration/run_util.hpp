// integration/run_util.hpp: running the real `mona` binary (MONA_BIN) from end-to-end tests and reading what it
// wrote back: one shell-quoting rule, one way to capture exit code, stdout and stderr, and the small text helpers
// the e2e tests share.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
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

// A binary started in the background (start_binary), for tests that act on a run while it runs (stop it,
// change its input, start a second run next to it).
struct RunningBinary {
    pid_t pid = -1;  // the binary itself (no shell in between), so signals reach it
    std::string out_file;
    std::string err_file;
};

// Starts `mona_bin args...` like run_binary, with `env` (NAME, VALUE) added to the environment, without waiting.
RunningBinary start_binary(const std::string& mona_bin, const std::vector<std::string>& args,
                           const std::string& scratch_dir,
                           const std::vector<std::pair<std::string, std::string>>& env = {});
// Waits for it to end and collects its exit code and output.
RunResult finish_binary(const RunningBinary& running);

// Removes every MONA_* variable from the environment, so that flags given by variables cannot leak into runs.
void unset_mona_environment();

// `text` cut at every `sep` (n separators give n + 1 pieces).
std::vector<std::string> split(const std::string& text, char sep);
// Lines of a file without their '\n' (the empty piece after a final '\n' is dropped).
std::vector<std::string> file_lines(const std::string& path);
// Every regular file below `dir` (recursively), none when it does not exist.
std::vector<std::string> regular_files_under(const std::string& dir);

}  // namespace mona::fixtures
