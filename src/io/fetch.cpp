#include "io/fetch.hpp"

#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "io/atomic_file.hpp"
#include "util/home.hpp"
#include "util/sha256.hpp"

extern char** environ;

namespace mona {

bool is_url(const std::string& source) {
    return source.rfind("http://", 0) == 0 || source.rfind("https://", 0) == 0 || source.rfind("file://", 0) == 0;
}

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

Status check_sha(const std::string& path, const std::string& want, const std::string& source) {
    if (want.empty()) return Status();
    MONA_TRY(std::string got, sha256_file(path));
    if (got != lower(want)) {
        return invalid_input(
            fmt::format("sha256 mismatch for {} (from {}): expected {}, found {}", path, source, lower(want), got));
    }
    return Status();
}

Status run_curl(const std::string& url, const std::string& part) {
    std::vector<std::string> args = {"curl",          "--fail", "--location", "--silent", "--show-error",
                                     "--continue-at", "-",      "--output",   part,       url};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawnp(&pid, "curl", nullptr, nullptr, argv.data(), environ) != 0) {
        return unsupported(fmt::format("downloading {} needs the `curl` program, which was not found", url));
    }
    int status = 0;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return io_error(fmt::format("download of {} failed (curl exit {}); run again to resume from {}", url,
                                    WIFEXITED(status) ? WEXITSTATUS(status) : -1, part));
    }
    return Status();
}

}  // namespace

Result<std::string> resolve_model_source(const std::string& source, const std::string& sha256,
                                         const std::string& cache_dir) {
    if (!sha256.empty() &&
        (sha256.size() != 64 || sha256.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)) {
        return invalid_input(fmt::format("--model-sha256 '{}' is not 64 hex digits", sha256));
    }
    if (!is_url(source)) {
        if (!sha256.empty()) MONA_RETURN_IF_ERROR(check_sha(source, sha256, source));
        return source;  // existence and format are checked by the model loader, which names the path
    }
    std::string name = source.substr(source.find_last_of('/') + 1);
    name = name.substr(0, name.find_first_of("?#"));
    if (name.empty()) return invalid_input(fmt::format("model URL {} does not end in a file name", source));
    const std::string dir = cache_dir.empty() ? mona_home() + "/models" : cache_dir;
    MONA_RETURN_IF_ERROR(ensure_dir(dir));
    const std::string path = dir + "/" + name;
    if (std::filesystem::exists(path)) {
        MONA_RETURN_IF_ERROR(check_sha(path, sha256, source));
        return path;
    }
    const std::string part = path + ".part";
    MONA_RETURN_IF_ERROR(run_curl(source, part));
    Status ok = check_sha(part, sha256, source);
    if (!ok.ok()) {
        std::error_code ec;
        std::filesystem::remove(part, ec);
        return ok;
    }
    std::error_code ec;
    std::filesystem::rename(part, path, ec);
    if (ec) return io_error(fmt::format("cannot move {} into place at {}: {}", part, path, ec.message()));
    return path;
}

}  // namespace mona
