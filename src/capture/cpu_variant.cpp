#include "capture/cpu_variant.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>

#ifdef GGML_BACKEND_DL
#include <dlfcn.h>
#include <unistd.h>

#include "ggml-backend.h"
#endif

namespace mona {

bool cpu_variant_allowed(const std::string& tag) {
    // The one x86 variant ggml builds with AMX_TILE/AMX_INT8 (ggml/src/CMakeLists.txt, GGML_CPU_ALL_VARIANTS).
    return tag != "sapphirerapids";
}

int pick_cpu_variant(const std::vector<CpuVariantCandidate>& candidates) {
    int best = -1;
    for (size_t i = 0; i < candidates.size(); ++i) {
        const CpuVariantCandidate& c = candidates[i];
        if (c.score <= 0 || !cpu_variant_allowed(c.tag)) continue;
        if (best < 0 || c.score > candidates[static_cast<size_t>(best)].score) best = static_cast<int>(i);
    }
    return best;
}

namespace {

CpuVariantState& mutable_state() {
    static CpuVariantState state;
    return state;
}

#ifdef GGML_BACKEND_DL
std::filesystem::path executable_dir() {
    std::error_code ec;
    std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::filesystem::path(".") : exe.parent_path();
}

// The score a module gives this CPU, read without registering it (as ggml's own loader does).
int score_module(const std::filesystem::path& path, std::string& why) {
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const char* e = dlerror();
        why = e != nullptr ? e : "dlopen failed";
        return 0;
    }
    using score_fn = int (*)();
    auto score = reinterpret_cast<score_fn>(dlsym(handle, "ggml_backend_score"));
    const int s = score != nullptr ? score() : 0;
    if (score == nullptr) why = "no ggml_backend_score";
    dlclose(handle);
    return s;
}
#endif

}  // namespace

const CpuVariantState& cpu_variant_state() { return mutable_state(); }

void load_cpu_variant_once() {
#ifdef GGML_BACKEND_DL
    CpuVariantState& state = mutable_state();
    state.dynamic = true;
    const char* env = std::getenv("MONA_GGML_BACKEND_DIR");
    const std::filesystem::path dir = env != nullptr && *env != '\0' ? std::filesystem::path(env) : executable_dir();
    const std::string prefix = "libggml-cpu-";
    std::vector<CpuVariantCandidate> candidates;
    std::vector<std::filesystem::path> paths;
    std::string failures;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.rfind(prefix, 0) != 0 || it->path().extension() != ".so") continue;
        const std::string tag = name.substr(prefix.size(), name.size() - prefix.size() - 3);
        std::string why;
        const int score = cpu_variant_allowed(tag) ? score_module(it->path(), why) : 0;
        if (!why.empty()) failures += fmt::format("; {}: {}", name, why);
        candidates.push_back({tag, score});
        paths.push_back(it->path());
    }
    const int best = pick_cpu_variant(candidates);
    if (best < 0) {
        state.error = fmt::format(
            "no CPU backend module for this CPU in {} (looked for {}*.so{}{}); set "
            "MONA_GGML_BACKEND_DIR to the folder that holds them",
            dir.string(), prefix, candidates.empty() ? ", found none" : "", failures);
        return;
    }
    const std::filesystem::path& path = paths[static_cast<size_t>(best)];
    if (ggml_backend_load(path.c_str()) == nullptr) {
        state.error = fmt::format("cannot load the CPU backend module {}", path.string());
        return;
    }
    state.tag = candidates[static_cast<size_t>(best)].tag;
    state.path = path.string();
#endif
}

}  // namespace mona
