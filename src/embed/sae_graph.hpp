// embed/sae_graph.hpp: the SAE encoder, TopK and per-sample pooling as a ggml graph on a ggml backend.
//
// The same computation as SaeModel::encode followed by Pooler::pool (include/mona/sae.hpp, src/pool/pool.hpp),
// expressed as ggml ops so that it runs where the model runs (CPU, CUDA, RPC, ...) and only pooled vectors come
// back to the host. Per row chunk of at most `rows_per_chunk` tokens:
//   pre    = mul_mat(W_enc, x - b_dec) + b_enc        W_enc [d_sae, d_in] on the backend in F32, F16 or BF16
//   z      TopK families: top_k(relu(pre), k) -> (latent, value) pairs -> scattered into a zeroed [d_sae, R]
//          jumprelu:      relu(pre) * step(pre - threshold)
//          relu:          relu(pre)
//   pooled[:, s] += z^T-weighted sum of the sample's pooled rows (weight 1/n_pooled for mean, 1 for sum)
// The pooled block [d_sae, n_samples] stays on the backend across chunks and is copied back once per call,
// dense (d_sae floats per sample), then turned into a SparseVec (zeros dropped, indices ascending).
//
// Agreement with the CPU encoder (tests/integration/sae_graph_test.cpp): with F32 weights the same latents
// except where two pre-activations tie exactly at the k-th place (ggml's top_k does not apply mona's tie rule
// of sae/topk.hpp), values within 1e-5 relative (F32 accumulation instead of the CPU path's double pooling).
// F16/BF16 weights round the encoder (and, on ggml's CPU backend, the input rows) to 16 bits: near-ties at the
// k-th place may then swap. The floats are not the CPU path's bytes, which is why a store records its backend.
//
// Memory (the bound): the weights (d_in x d_sae in the chosen type) and the pooled block [d_sae, n_samples] are
// resident; the compute buffer of one chunk holds about four [d_sae, R] F32 blocks (pre-activations, activations,
// the scattered codes and their transpose) plus R x k pairs, so R = rows_per_chunk is chosen from
// `chunk_bytes` (default 64 MiB per [d_sae, R] block: R = 128 rows for 131,072 latents, peak ~256 MiB + weights).
//
// Not supported (kUnsupported, callers keep the CPU encoder): SAELens constant_norm_rescale input normalisation.
// Thread-safety: one SaeGraph per thread; the backend must not run other graphs concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "mona/status.hpp"
#include "mona/types.hpp"
#include "pool/pool.hpp"
#include "sae/sae.hpp"

struct ggml_backend;
struct ggml_tensor;

namespace mona {

enum class SaeWeightType { kF32, kF16, kBf16 };

// Parses "f32" | "f16" | "bf16" (kInvalidInput otherwise).
Result<SaeWeightType> parse_sae_weight_type(const std::string& name);
const char* sae_weight_type_name(SaeWeightType type);

struct SaeGraphOptions {
    SaeWeightType weight_type = SaeWeightType::kF32;
    int32_t k_override = 0;                   // 0 = the SAE's k
    int64_t chunk_bytes = int64_t{64} << 20;  // bytes of one [d_sae, rows] F32 block (sets rows per chunk)
    int32_t n_threads = 1;                    // ggml CPU backend threads (ignored by other backends)
};

// Rows [row_begin, row_end) of the call's rows that one sample pools (may be empty).
struct PooledSpan {
    int64_t row_begin = 0;
    int64_t row_end = 0;
};

// Seconds spent so far: building + computing the graphs (ggml_backend_graph_compute returns once the device is
// done), and copying the pooled block back + building the sparse vectors.
struct SaeGraphTimes {
    double graph_s = 0.0;
    double readback_s = 0.0;
};

class SaeGraph {
   public:
    // Uploads the encoder to `backend` (which must outlive the SaeGraph). Errors: kUnsupported (normalisation,
    // an op the backend lacks), kInternal (allocation).
    static Result<std::unique_ptr<SaeGraph>> create(const SaeModel& sae, ggml_backend* backend,
                                                    SaeGraphOptions options);
    ~SaeGraph();
    SaeGraph(const SaeGraph&) = delete;
    SaeGraph& operator=(const SaeGraph&) = delete;

    // Encodes n_rows rows of x [n_rows, d_in] (host, row-major) and pools each span; out[i] is spans[i]'s vector.
    Status encode_pool(const float* x, int64_t n_rows, std::span<const PooledSpan> spans, PoolingMode mode,
                       std::vector<SparseVec>& out);
    // The same with the rows already on the backend: x is an F32 tensor with ne[0] == d_in and at least n_rows
    // contiguous rows, in a buffer of this SaeGraph's backend (e.g. input_rows()); nothing but the pooled block
    // crosses to the host.
    Status encode_pool_tensor(ggml_tensor* x, int64_t n_rows, std::span<const PooledSpan> spans, PoolingMode mode,
                              std::vector<SparseVec>& out);
    // A resident F32 [d_in, capacity] tensor on the backend (grown on demand, contents kept only until the next
    // call that grows it): where a device backend copies the captured layer (device to device).
    Result<ggml_tensor*> input_rows(int64_t capacity);

    int64_t rows_per_chunk() const;
    // Bytes resident on the backend (weights, biases, the input staging and the pooled block).
    size_t resident_bytes() const;
    size_t compute_bytes() const;  // the compute buffer's size after the last call
    const SaeGraphTimes& times() const;

   private:
    struct Impl;
    explicit SaeGraph(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace mona
