// Which build of llama.cpp's CPU backend runs: in a portable build (-DMONA_CPU_ALL_VARIANTS=ON) ggml's CPU backend
// is one module per instruction-set level (libggml-cpu-x64.so ... libggml-cpu-zen4.so) next to the binaries, and
// mona loads, once per process, the best one the running CPU supports. It never loads the AMX one
// (sapphirerapids): ggml's AMX kernels crash on many AMX machines (upstream llama.cpp #20824), and an AMX CPU runs
// the AVX-512 VNNI/BF16 variants. In a normal build the CPU backend is linked in and none of this applies.
#pragma once

#include <string>
#include <vector>

namespace mona {

// A CPU backend module found on disk: its tag (the * in libggml-cpu-*.so) and the score its ggml_backend_score()
// gave for this CPU (0: the CPU lacks an instruction the module was built for).
struct CpuVariantCandidate {
    std::string tag;
    int score = 0;
};

// Whether mona may load the variant named `tag` (false for the AMX one).
bool cpu_variant_allowed(const std::string& tag);

// The index of the candidate to load: the highest score among the allowed ones with score > 0, first on ties;
// -1 when there is none.
int pick_cpu_variant(const std::vector<CpuVariantCandidate>& candidates);

// What init_llama_once loaded: the tag ("" in a build without variants) and, when no module could be loaded, why
// (the model loader reports it instead of llama.cpp's "no backends").
struct CpuVariantState {
    bool dynamic = false;  // built with GGML_BACKEND_DL
    std::string tag;
    std::string path;
    std::string error;
};
const CpuVariantState& cpu_variant_state();

// Called once by init_llama_once before llama_backend_init; a no-op unless built with GGML_BACKEND_DL.
// Searches $MONA_GGML_BACKEND_DIR if set, else the executable's folder.
void load_cpu_variant_once();

}  // namespace mona
