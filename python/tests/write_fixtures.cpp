// mona_py_fixtures DIR: writes the tiny fixtures the pytest suite runs on, with the integration tests' own writers
// (tests/integration/tiny_model_util.hpp), so Python and C++ tests share one definition of them:
//   DIR/tiny.gguf                 random-weight llama GGUF (3 layers, n_embd 64, ChatML template)
//   DIR/sae/layers.1/             sparsify TopK SAE (d_in 64, d_sae 256, k 8; records HF layer 2)
//   DIR/pool.jsonl                40 labelled chat samples (math, cooking, code, geography interleaved)
//   DIR/target_math.jsonl, DIR/target_cooking.jsonl   5 exemplars each
// Nothing is committed as a binary: the suite runs this at session start (python/tests/conftest.py).
#include <cstdio>
#include <string>

#include "integration/tiny_model_util.hpp"

int main(int argc, char** argv) {
    using namespace mona;
    if (argc != 2) {
        std::fprintf(stderr, "usage: mona_py_fixtures DIR\n");
        return 2;
    }
    const std::string dir = argv[1];
    fixtures::TinyModelSpec spec;
    spec.n_layer = 3;
    spec.n_head_kv = 2;
    Status status = fixtures::write_tiny_llama_gguf(dir + "/tiny.gguf", spec);
    if (!status.ok()) {
        std::fprintf(stderr, "mona_py_fixtures: %s\n", status.message().c_str());
        return 1;
    }
    Result<fixtures::TinySae> sae = fixtures::write_tiny_sparsify_sae(dir + "/sae", 64, 256, 8, 7, "layers.1");
    if (!sae.ok()) {
        std::fprintf(stderr, "mona_py_fixtures: %s\n", sae.status().message().c_str());
        return 1;
    }
    status = fixtures::write_jsonl(dir + "/pool.jsonl", fixtures::make_labelled_pool(10)).status();
    if (status.ok()) {
        status = fixtures::write_jsonl(dir + "/target_math.jsonl", fixtures::make_target_exemplars("math", 5)).status();
    }
    if (status.ok()) {
        status = fixtures::write_jsonl(dir + "/target_cooking.jsonl", fixtures::make_target_exemplars("cooking", 5))
                     .status();
    }
    if (!status.ok()) {
        std::fprintf(stderr, "mona_py_fixtures: %s\n", status.message().c_str());
        return 1;
    }
    return 0;
}
