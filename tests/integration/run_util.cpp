#include "integration/run_util.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "integration/tiny_model_util.hpp"

extern char** environ;

namespace mona::fixtures {

std::string shell_quote(const std::string& arg) {
    std::string out = "'";
    for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

RunResult run_binary(const std::string& mona_bin, const std::vector<std::string>& args,
                     const std::string& scratch_dir) {
    static std::atomic<int> n_runs{0};
    const int run_idx = ++n_runs;
    const std::string out_file = scratch_dir + "/run-" + std::to_string(run_idx) + ".stdout";
    const std::string err_file = scratch_dir + "/run-" + std::to_string(run_idx) + ".stderr";
    std::string cmd = "OMP_WAIT_POLICY=passive " + shell_quote(mona_bin);
    for (const auto& arg : args) cmd += ' ' + shell_quote(arg);
    cmd += " >" + shell_quote(out_file) + " 2>" + shell_quote(err_file) + " </dev/null";
    const int status = std::system(cmd.c_str());
    RunResult result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    result.out = read_file(out_file);
    result.err = read_file(err_file);
    return result;
}

RunningBinary start_binary(const std::string& mona_bin, const std::vector<std::string>& args,
                           const std::string& scratch_dir,
                           const std::vector<std::pair<std::string, std::string>>& env) {
    static std::atomic<int> n_started{0};
    const int run_idx = ++n_started;
    RunningBinary running;
    running.out_file = scratch_dir + "/spawn-" + std::to_string(run_idx) + ".stdout";
    running.err_file = scratch_dir + "/spawn-" + std::to_string(run_idx) + ".stderr";
    std::vector<std::string> env_strings;
    for (char** var = environ; *var != nullptr; ++var) {
        const std::string entry(*var);
        bool replaced = entry.rfind("OMP_WAIT_POLICY=", 0) == 0;
        for (const auto& [name, value] : env) replaced = replaced || entry.rfind(name + "=", 0) == 0;
        if (!replaced) env_strings.push_back(entry);
    }
    env_strings.push_back("OMP_WAIT_POLICY=passive");
    for (const auto& [name, value] : env) env_strings.push_back(name + "=" + value);
    std::vector<std::string> argv_strings = {mona_bin};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv_ptrs, env_ptrs;
    for (auto& arg : argv_strings) argv_ptrs.push_back(arg.data());
    argv_ptrs.push_back(nullptr);
    for (auto& var : env_strings) env_ptrs.push_back(var.data());
    env_ptrs.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, running.out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, running.err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = -1;
    if (posix_spawn(&pid, mona_bin.c_str(), &actions, nullptr, argv_ptrs.data(), env_ptrs.data()) == 0) {
        running.pid = pid;
    }
    posix_spawn_file_actions_destroy(&actions);
    return running;
}

RunResult finish_binary(const RunningBinary& running) {
    RunResult result;
    if (running.pid <= 0) return result;
    int status = 0;
    while (::waitpid(running.pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    result.out = read_file(running.out_file);
    result.err = read_file(running.err_file);
    return result;
}

void unset_mona_environment() {
    std::vector<std::string> names;
    for (char** env = environ; *env != nullptr; ++env) {
        const std::string var(*env);
        if (var.rfind("MONA_", 0) == 0) names.push_back(var.substr(0, var.find('=')));
    }
    for (const auto& name : names) ::unsetenv(name.c_str());
}

std::vector<std::string> split(const std::string& text, char sep) {
    std::vector<std::string> parts(1);
    for (char c : text) {
        if (c == sep) {
            parts.emplace_back();
        } else {
            parts.back() += c;
        }
    }
    return parts;
}

std::vector<std::string> file_lines(const std::string& path) {
    std::vector<std::string> lines = split(read_file(path), '\n');
    if (!lines.empty() && lines.back().empty()) lines.pop_back();
    return lines;
}

std::vector<std::string> regular_files_under(const std::string& dir) {
    namespace fs = std::filesystem;
    std::vector<std::string> files;
    std::error_code ec;
    if (!fs::exists(dir, ec)) return files;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        if (it->is_regular_file()) files.push_back(it->path().string());
    }
    return files;
}

uint64_t fault_seed() {
    static const uint64_t seed = [] {
        const char* text = std::getenv("MONA_TEST_FAULT_SEED");
        return text != nullptr && *text != '\0' ? std::strtoull(text, nullptr, 10) : uint64_t{20260509};
    }();
    return seed;
}

std::vector<KillPoint> draw_kill_points(std::mt19937_64& rng, size_t n_states, int n_points, int64_t max_delay_us) {
    std::vector<KillPoint> points;
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    std::uniform_int_distribution<int64_t> delay(0, max_delay_us);
    for (int point_idx = 0; point_idx < n_points; ++point_idx) {
        KillPoint point;
        const double at = (point_idx + unit(rng)) / n_points;
        point.state_idx = std::min(n_states - 1, static_cast<size_t>(at * static_cast<double>(n_states)));
        point.delay_us = point_idx % 2 == 1 ? delay(rng) : 0;
        points.push_back(point);
    }
    return points;
}

bool run_and_kill(const std::string& mona_bin, const std::vector<std::string>& args, const RunState& state,
                  int64_t delay_us) {
    std::vector<std::string> argv_text = {mona_bin};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& arg : argv_text) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {
        const int null_fd = ::open("/dev/null", O_RDWR);
        if (null_fd >= 0) {
            ::dup2(null_fd, 0);
            ::dup2(null_fd, 1);
            ::dup2(null_fd, 2);
        }
        ::setenv("OMP_WAIT_POLICY", "passive", 1);
        ::execv(mona_bin.c_str(), argv.data());
        _exit(127);
    }
    int status = 0;
    const auto exited = [&] { return ::waitpid(pid, &status, WNOHANG) == pid; };
    const auto pause = [] { std::this_thread::sleep_for(std::chrono::microseconds(200)); };
    while (!state.reached()) {
        if (exited()) return false;
        pause();
    }
    const auto kill_at = std::chrono::steady_clock::now() + std::chrono::microseconds(delay_us);
    while (std::chrono::steady_clock::now() < kill_at) {
        if (exited()) return false;
        pause();
    }
    ::kill(pid, SIGKILL);
    return ::waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

FaultTally run_fault_points(const std::string& mona_bin, uint64_t seed, const FaultCase& fault_case) {
    std::mt19937_64 rng(seed);
    const size_t n_states = fault_case.states(fault_case.run_dir(-1)).size();
    std::vector<KillPoint> points = draw_kill_points(rng, n_states, fault_case.n_points, fault_case.max_delay_us);
    FaultTally tally;
    for (size_t attempt_idx = 0; attempt_idx < points.size() && tally.n_killed < fault_case.n_points; ++attempt_idx) {
        const KillPoint point = points[attempt_idx];
        const std::string dir = fault_case.run_dir(static_cast<int>(attempt_idx));
        const std::vector<RunState> states = fault_case.states(dir);
        const std::string where = "kill point " + std::to_string(attempt_idx) + ": " + states[point.state_idx].label +
                                  " + " + std::to_string(point.delay_us) + " us (seed " + std::to_string(seed) + ")";
        if (run_and_kill(mona_bin, fault_case.args(dir), states[point.state_idx], point.delay_us)) {
            ++tally.n_killed;
            tally.where.push_back(where);
            fault_case.after_kill(dir, where);
            continue;
        }
        ++tally.n_finished_first;
        if (points.size() >= static_cast<size_t>(3 * fault_case.n_points)) continue;
        KillPoint earlier{point.state_idx, 0};
        if (point.delay_us == 0) earlier.state_idx = point.state_idx == 0 ? 0 : rng() % point.state_idx;
        points.push_back(earlier);
    }
    return tally;
}

std::vector<std::string> visible_files_under(const std::string& dir) {
    namespace fs = std::filesystem;
    std::vector<std::string> files;
    std::error_code ec;
    if (!fs::exists(dir, ec)) return files;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        if (it->path().filename().string().front() == '.') {
            if (it->is_directory()) it.disable_recursion_pending();
            continue;
        }
        if (it->is_regular_file()) files.push_back(fs::relative(it->path(), dir).string());
    }
    std::sort(files.begin(), files.end());
    return files;
}

}  // namespace mona::fixtures
