// SAE encode + TopK + pooling: today's CPU encoder (SaeModel::encode per sample + Pooler, OpenBLAS sgemm on one
// thread) against the ggml graph (embed/sae_graph.hpp) on ggml's CPU backend, in the same run, on the same rows.
// Prints tokens/s of each and the ratio graph / encoder (> 1: the graph is faster). Not a test: no assertion.
//
//   mona_sae_graph_ratio [--sae DIR | --d-in N --d-sae N --k N] [--tokens N] [--sample-tokens N] [--threads N]
//                        [--types f32,f16,bf16]
// Without --sae a random TopK SAE of the given shape (default 4096 x 131,072, k 192: the paper's SAE).
// The encoder runs one BLAS thread by design (sae.cpp: bytes independent of the core count); --threads sets the
// graph's CPU threads (default 1, the like-for-like comparison).
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "embed/sae_graph.hpp"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "pool/pool.hpp"
#include "sae/sae.hpp"

using namespace mona;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    std::string sae_dir;
    int64_t d_in = 4096;
    int64_t d_sae = 131072;
    int32_t k = 192;
    int64_t tokens = 256;
    int64_t sample_tokens = 128;
    int threads = 1;
    std::string types = "f32,f16,bf16";
    int repeat = 3;  // each side's best of `repeat` runs (the machine is shared: the best run is the least disturbed)
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        const char* value = argv[i + 1];
        if (flag == "--sae")
            sae_dir = value;
        else if (flag == "--d-in")
            d_in = std::atoll(value);
        else if (flag == "--d-sae")
            d_sae = std::atoll(value);
        else if (flag == "--k")
            k = std::atoi(value);
        else if (flag == "--tokens")
            tokens = std::atoll(value);
        else if (flag == "--sample-tokens")
            sample_tokens = std::atoll(value);
        else if (flag == "--threads")
            threads = std::atoi(value);
        else if (flag == "--types")
            types = value;
        else if (flag == "--repeat")
            repeat = std::max(1, std::atoi(value));
        else {
            std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
            return 2;
        }
    }
    std::mt19937 rng(42);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    SaeModel sae = [&]() {
        if (!sae_dir.empty()) {
            auto opened = SaeModel::open(SaeOpenOptions{sae_dir});
            if (!opened.ok()) {
                std::fprintf(stderr, "%s\n", opened.status().message().c_str());
                std::exit(1);
            }
            return std::move(*opened);
        }
        SaeInfo info;
        info.format = "sparsify";
        info.architecture = "topk";
        info.activation = SaeActivation::kTopK;
        info.d_in = d_in;
        info.d_sae = d_sae;
        info.k = k;
        std::vector<float> w(static_cast<size_t>(d_in * d_sae));
        for (float& v : w) v = normal(rng) * 0.02f;
        std::vector<float> b_enc(static_cast<size_t>(d_sae), 0.0f);
        std::vector<float> b_dec(static_cast<size_t>(d_in), 0.0f);
        auto made = SaeModel::from_params(info, std::move(w), std::move(b_enc), std::move(b_dec), {});
        if (!made.ok()) std::exit(1);
        return std::move(*made);
    }();
    d_in = sae.info().d_in;
    d_sae = sae.info().d_sae;
    std::vector<float> rows(static_cast<size_t>(tokens * d_in));
    for (float& v : rows) v = normal(rng);
    std::vector<PooledSpan> spans;
    std::vector<int64_t> lengths;
    for (int64_t row0 = 0; row0 < tokens; row0 += sample_tokens) {
        const int64_t n = std::min(sample_tokens, tokens - row0);
        lengths.push_back(n);
        spans.push_back({row0 + 1, row0 + n});
    }
    fmt::print("SAE {} x {} (k {}), {} tokens in samples of {}, graph threads {}, best of {}\n", d_in, d_sae,
               sae.info().k, tokens, sample_tokens, threads, repeat);

    // Today's encoder: one encode call per sample, then the pooler.
    Pooler pooler(d_sae);
    size_t nnz_ref = 0;
    double t_ref = 1e300;
    for (int rep = 0; rep < repeat; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        int64_t row0 = 0;
        nnz_ref = 0;
        for (size_t s = 0; s < lengths.size(); ++s) {
            SparseCodes codes;
            sae.encode(rows.data() + row0 * d_in, lengths[s], codes);
            nnz_ref += pooler.pool(codes, spans[s].row_begin - row0, spans[s].row_end - row0, PoolingMode::kMean).nnz();
            row0 += lengths[s];
        }
        t_ref = std::min(t_ref, seconds_since(t0));
    }
    fmt::print("cpu encoder (OpenBLAS, 1 thread)  {:10.1f} tokens/s   ({:.2f} s, pooled nnz {})\n", tokens / t_ref,
               t_ref, nnz_ref);

    ggml_backend_t backend = ggml_backend_cpu_init();
    std::stringstream type_list(types);
    std::string type_name;
    while (std::getline(type_list, type_name, ',')) {
        auto type = parse_sae_weight_type(type_name);
        if (!type.ok()) return 2;
        SaeGraphOptions options;
        options.weight_type = *type;
        options.n_threads = threads;
        auto t_up = std::chrono::steady_clock::now();
        auto graph = SaeGraph::create(sae, backend, options);
        if (!graph.ok()) {
            std::fprintf(stderr, "%s\n", graph.status().message().c_str());
            return 1;
        }
        const double upload = seconds_since(t_up);
        std::vector<SparseVec> out;
        double t_graph = 1e300;
        for (int rep = 0; rep < repeat; ++rep) {
            const auto t0 = std::chrono::steady_clock::now();
            const Status st = (*graph)->encode_pool(rows.data(), tokens, spans, PoolingMode::kMean, out);
            t_graph = std::min(t_graph, seconds_since(t0));
            if (!st.ok()) {
                std::fprintf(stderr, "%s\n", st.message().c_str());
                return 1;
            }
        }
        size_t nnz = 0;
        for (const SparseVec& v : out) nnz += v.nnz();
        fmt::print(
            "ggml graph {:<4} (CPU backend)     {:10.1f} tokens/s   ({:.2f} s, pooled nnz {})  ratio vs encoder "
            "{:.2f}x  [upload {:.1f} s, rows/chunk {}, resident {} MiB, compute buffer {} MiB]\n",
            type_name, tokens / t_graph, t_graph, nnz, t_ref / t_graph, upload, (*graph)->rows_per_chunk(),
            (*graph)->resident_bytes() >> 20, (*graph)->compute_bytes() >> 20);
    }
    ggml_backend_free(backend);
    return 0;
}
