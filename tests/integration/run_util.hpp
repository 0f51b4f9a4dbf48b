// integration/run_util.hpp: running the real `mona` binary (MONA_BIN) from end-to-end tests and reading what it
// wrote back: one shell-quoting rule, one way to capture exit code, stdout and stderr, and the small text helpers
// the e2e tests share, and the kill harness of the fault tests (kill -9 at chosen points of a run).
#pragma once

#include <sys/types.h>
#include <cstdint>
#include <functional>
#include <random>

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

// ---- fault tests -------------------------------------------------------------------------------------------
//
// A kill point is a state of the run's files (a shard, checkpoint or staging folder appears), which the harness
// polls for, then a delay after it. A state cannot be missed on a slow or loaded machine, as a bare delay can: the
// delay only moves the point on from the state, so that points also fall between states.

// One state of a run, in the order runs reach them.
struct RunState {
    std::string label;              // for messages: "shard-00003.bin stored"
    std::function<bool()> reached;  // polled (about every 0.2 ms) while the process runs
};

struct KillPoint {
    size_t state_idx = 0;  // into the test's list of states
    int64_t delay_us = 0;  // SIGKILL this long after the state is reached
};

// The seed of the kill points: $MONA_TEST_FAULT_SEED when set (to replay a failure), else a fixed default.
// Read once, before any test clears MONA_* variables.
uint64_t fault_seed();

// n_points kill points spread over n_states states in run order (point i falls in the i-th of n_points equal
// parts of the state list), each, every other time, with a delay drawn from [0, max_delay_us].
std::vector<KillPoint> draw_kill_points(std::mt19937_64& rng, size_t n_states, int n_points, int64_t max_delay_us);

// Starts `mona_bin args...` (OMP_WAIT_POLICY=passive, stdin, stdout and stderr on /dev/null), waits until
// `state` is reached, then `delay_us` more, and sends SIGKILL. Returns true when the process died of the kill,
// false when it exited first (the point fell after the run's end).
bool run_and_kill(const std::string& mona_bin, const std::vector<std::string>& args, const RunState& state,
                  int64_t delay_us);

// One fault test: a command, the states its runs pass through, and what to do after each kill.
struct FaultCase {
    int n_points = 12;                                                     // interrupted runs wanted
    int64_t max_delay_us = 0;                                              // longest delay after a state
    std::function<std::string(int attempt_idx)> run_dir;                   // a fresh run folder per attempt
    std::function<std::vector<std::string>(const std::string& dir)> args;  // the command, writing into dir
    std::function<std::vector<RunState>(const std::string& dir)> states;   // in run order; same count per dir
    // Called after each kill with a description of the point: checks what the killed run left, reruns the
    // command until it completes and compares its outputs with an uninterrupted run's.
    std::function<void(const std::string& dir, const std::string& where)> after_kill;
};

struct FaultTally {
    int n_killed = 0;                // runs the harness killed (after_kill was called for each)
    int n_finished_first = 0;        // points the run outran; each was replaced by an earlier one
    std::vector<std::string> where;  // the points of the kills, as passed to after_kill
};

// Draws case.n_points kill points from `seed` (draw_kill_points) and kills one fresh run at each. A run that ends
// before its point is not counted; the point is replaced by one without delay, then by one at a random earlier
// state, so that n_killed reaches n_points unless the runs outrun 3 * n_points attempts.
FaultTally run_fault_points(const std::string& mona_bin, uint64_t seed, const FaultCase& fault_case);

// Paths (relative to `dir`, sorted) of the regular files below `dir` that no hidden entry (a name starting with
// '.') contains or names: what a run shows as its outputs.
std::vector<std::string> visible_files_under(const std::string& dir);

}  // namespace mona::fixtures
