#include "integration/run_util.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "integration/tiny_model_util.hpp"

extern char** environ;

namespace mona::fixtures {

std::string shell_quote(const std::string& arg) {
    std::string out = "'";
    for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

RunResult run_binary(const std::string& mona_bin, const std::vector<std::string>& args, const std::string& scratch_dir) {
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

}  // namespace mona::fixtures
