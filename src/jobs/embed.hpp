// jobs/embed.hpp: the `mona embed` job (a pool into a feature store), also the pool pass of `mona select`.
#pragma once

#include <cstdint>

#include "jobs/config.hpp"
#include "mona/feature_store.hpp"
#include "mona/status.hpp"
#include "util/comm.hpp"

namespace mona {

// `mona embed`: one model pass over the pool into a feature store (store/feature_store.hpp) at config.out_dir.
// The store's params record everything that changes the vectors (model and SAE sha256, layer, k, token mode,
// pooling, template, format, max_tokens, pool sha256); running the same command again resumes an interrupted
// store (records up to the last completed shard are skipped without touching the model) and refuses, naming the
// parameter, if anything differs. Only records with record_idx % n_slices == slice_idx are embedded.
// `mona embed --values`' default (docs/store.md has the measurement that chose it). The job's own default below
// stays f32 (exact), so `mona select`'s pool store and the library API are unchanged unless asked.
inline constexpr ValueEncoding kEmbedCliValues = ValueEncoding::kQ12;

struct EmbedStoreOptions {
    uint32_t keep = 0;  // latents kept per sample (largest first; exact L1 still stored); 0 = all
    ValueEncoding values = ValueEncoding::kF32;  // how the store writes values (store/value_codec.hpp)
    uint64_t shard_rows = 0;                     // samples per shard file; 0 = the store's default
    uint32_t slice_idx = 0;
    uint32_t n_slices = 1;
    // Where the pass runs (embed/device_backend.hpp): "cpu" = the CPU reference backend (OpenBLAS SAE encoder,
    // the vectors every other job computes); a ggml device name ("CUDA0", "RPC0", "CPU" for ggml's CPU device)
    // = the device backend there; "auto" = the first GPU device of this build, else "cpu". `mona embed --device`
    // defaults to auto; the library (and `mona select`, which embeds through here too) to cpu.
    std::string device = "cpu";
    int32_t gpu_layers = -1;        // --gpu-layers with a GPU device: -1 = all (ignored, 0, on the CPU)
    std::string sae_dtype = "f16";  // the device backend's SAE encoder weights: f32 | f16 | bf16
    // A store records its backend (parameter "backend"; absent = cpu); resuming it on another one is refused
    // unless this is set (the store then keeps its first backend's name).
    bool allow_mixed_backends = false;
};
struct EmbedSummary {
    int64_t n_embedded = 0;   // samples added by this run
    int64_t n_resumed = 0;    // samples already in the store when the run started
    int64_t n_skipped = 0;    // bad records of the whole slice (a resumed run re-reads the stored ones)
    int64_t n_truncated = 0;  // samples of the whole slice cut at max_tokens
    uint64_t store_size = 0;
    uint64_t bytes_on_disk = 0;
};
//
// Under mpirun (comm.size() = N > 1; see util/comm.hpp) rank r embeds slice r/N into <out>/.mpi-slices/r-of-N
// (resumable like any slice store), then rank 0 merges the slices into <out> (merge_stores(): the store
// `mona embed --shard r/N` on N machines plus `mona merge` would give) and removes them. options.n_slices must
// then be 1. If <out> already holds a store and no .mpi-slices, rank 0 alone resumes it as without MPI. The
// summary is rank 0's (counts over all ranks); every rank returns the same status.
Result<EmbedSummary> run_embed(const SelectConfig& config, const EmbedStoreOptions& options,
                               const Comm& comm = Comm::local());

namespace detail {
struct SelectEngine;
// Embeds the records of one slice of config.pool_path that the store at config.out_dir lacks, with an engine
// already open (all of `mona embed` without mpirun, and the model pass of `mona select`).
Result<EmbedSummary> embed_pool(const SelectConfig& config, const EmbedStoreOptions& options, SelectEngine& engine);
}  // namespace detail

}  // namespace mona
