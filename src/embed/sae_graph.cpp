// embed/sae_graph.cpp: the SAE encoder + TopK + pooling as ggml graphs (embed/sae_graph.hpp).
#include "embed/sae_graph.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <new>

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"

namespace mona {

Result<SaeWeightType> parse_sae_weight_type(const std::string& name) {
    if (name == "f32") return SaeWeightType::kF32;
    if (name == "f16") return SaeWeightType::kF16;
    if (name == "bf16") return SaeWeightType::kBf16;
    return invalid_input(fmt::format("SAE weight type '{}': expected f32, f16 or bf16", name));
}

const char* sae_weight_type_name(SaeWeightType type) {
    switch (type) {
        case SaeWeightType::kF32: return "f32";
        case SaeWeightType::kF16: return "f16";
        case SaeWeightType::kBf16: return "bf16";
    }
    return "f32";
}

namespace {

ggml_type to_ggml(SaeWeightType type) {
    switch (type) {
        case SaeWeightType::kF32: return GGML_TYPE_F32;
        case SaeWeightType::kF16: return GGML_TYPE_F16;
        case SaeWeightType::kBf16: return GGML_TYPE_BF16;
    }
    return GGML_TYPE_F32;
}

// One ggml context + the backend buffer holding its tensors.
struct Resident {
    ggml_context* ctx = nullptr;
    ggml_backend_buffer_t buffer = nullptr;
    void reset() {
        if (buffer != nullptr) ggml_backend_buffer_free(buffer);
        if (ctx != nullptr) ggml_free(ctx);
        buffer = nullptr;
        ctx = nullptr;
    }
    ~Resident() { reset(); }
};

ggml_context* new_meta_context(size_t n_tensors) {
    ggml_init_params params{};
    params.mem_size = ggml_tensor_overhead() * n_tensors + ggml_graph_overhead();
    params.mem_buffer = nullptr;
    params.no_alloc = true;
    return ggml_init(params);
}

}  // namespace

struct SaeGraph::Impl {
    ggml_backend_t backend = nullptr;
    SaeInfo info;
    SaeGraphOptions options;
    int64_t k = 0;
    int64_t rows_per_chunk = 1;

    Resident weights;
    ggml_tensor* w_enc = nullptr;  // [d_in, d_sae] in ggml order (one latent per row)
    ggml_tensor* b_enc = nullptr;
    ggml_tensor* b_dec = nullptr;
    ggml_tensor* threshold = nullptr;

    Resident staging;  // input rows uploaded from the host
    ggml_tensor* rows = nullptr;
    Resident pooled_block;  // [d_sae, capacity] pooled sums
    ggml_tensor* pooled = nullptr;

    ggml_gallocr_t galloc = nullptr;
    std::vector<float> pool_weights;
    std::vector<float> host_pooled;
    SaeGraphTimes times;

    ~Impl() {
        if (galloc != nullptr) ggml_gallocr_free(galloc);
    }

    Status upload_weights(const SaeModel& sae);
    Status ensure_pooled(int64_t n_samples);
    Status run_chunk(ggml_tensor* x, int64_t row0, int64_t n_rows, int64_t sample_lo, int64_t sample_hi,
                     std::span<const PooledSpan> spans, PoolingMode mode);
};

Status SaeGraph::Impl::upload_weights(const SaeModel& sae) {
    const int64_t d_in = info.d_in;
    const int64_t d_sae = info.d_sae;
    const SaeModel::EncoderView view = sae.encoder_view();
    weights.ctx = new_meta_context(8);
    if (weights.ctx == nullptr) return internal_error("SAE graph: ggml_init failed");
    w_enc = ggml_new_tensor_2d(weights.ctx, to_ggml(options.weight_type), d_in, d_sae);
    b_enc = ggml_new_tensor_1d(weights.ctx, GGML_TYPE_F32, d_sae);
    if (view.b_dec != nullptr) b_dec = ggml_new_tensor_1d(weights.ctx, GGML_TYPE_F32, d_in);
    if (view.threshold != nullptr) threshold = ggml_new_tensor_1d(weights.ctx, GGML_TYPE_F32, d_sae);
    weights.buffer = ggml_backend_alloc_ctx_tensors(weights.ctx, backend);
    if (weights.buffer == nullptr) {
        return internal_error(fmt::format("SAE graph: cannot allocate {} MiB of encoder weights on {}",
                                          ggml_nbytes(w_enc) >> 20, ggml_backend_name(backend)));
    }
    // The encoder goes up one block of latents at a time, transposed to latent-major and converted to the
    // chosen type on the way, so the host never holds a second full copy.
    constexpr int64_t kBlock = 256;
    std::vector<float> block_f32(static_cast<size_t>(kBlock * d_in));
    std::vector<uint8_t> block_out(static_cast<size_t>(kBlock * d_in) * ggml_type_size(w_enc->type));
    for (int64_t latent0 = 0; latent0 < d_sae; latent0 += kBlock) {
        const int64_t n = std::min(kBlock, d_sae - latent0);
        if (view.latent_major) {
            std::memcpy(block_f32.data(), view.w_enc + latent0 * d_in, sizeof(float) * n * d_in);
        } else {
            for (int64_t dim = 0; dim < d_in; ++dim) {
                const float* src = view.w_enc + dim * d_sae + latent0;
                for (int64_t l = 0; l < n; ++l) block_f32[l * d_in + dim] = src[l];
            }
        }
        const void* data = block_f32.data();
        if (w_enc->type == GGML_TYPE_F16) {
            ggml_fp32_to_fp16_row(block_f32.data(), reinterpret_cast<ggml_fp16_t*>(block_out.data()), n * d_in);
            data = block_out.data();
        } else if (w_enc->type == GGML_TYPE_BF16) {
            ggml_fp32_to_bf16_row(block_f32.data(), reinterpret_cast<ggml_bf16_t*>(block_out.data()), n * d_in);
            data = block_out.data();
        }
        ggml_backend_tensor_set(w_enc, data, static_cast<size_t>(latent0) * w_enc->nb[1],
                                static_cast<size_t>(n) * w_enc->nb[1]);
    }
    ggml_backend_tensor_set(b_enc, view.b_enc, 0, ggml_nbytes(b_enc));
    if (b_dec != nullptr) ggml_backend_tensor_set(b_dec, view.b_dec, 0, ggml_nbytes(b_dec));
    if (threshold != nullptr) ggml_backend_tensor_set(threshold, view.threshold, 0, ggml_nbytes(threshold));
    return Status();
}

Status SaeGraph::Impl::ensure_pooled(int64_t n_samples) {
    n_samples = std::max<int64_t>(n_samples, 1);
    if (pooled == nullptr || pooled->ne[1] < n_samples) {
        pooled_block.reset();
        pooled_block.ctx = new_meta_context(2);
        if (pooled_block.ctx == nullptr) return internal_error("SAE graph: ggml_init failed");
        pooled = ggml_new_tensor_2d(pooled_block.ctx, GGML_TYPE_F32, info.d_sae, std::max<int64_t>(n_samples, 16));
        pooled_block.buffer = ggml_backend_alloc_ctx_tensors(pooled_block.ctx, backend);
        if (pooled_block.buffer == nullptr) return internal_error("SAE graph: cannot allocate the pooled block");
    }
    ggml_backend_buffer_clear(pooled_block.buffer, 0);
    return Status();
}

Status SaeGraph::Impl::run_chunk(ggml_tensor* x, int64_t row0, int64_t n_rows, int64_t sample_lo, int64_t sample_hi,
                                 std::span<const PooledSpan> spans, PoolingMode mode) {
    const int64_t d_in = info.d_in;
    const int64_t d_sae = info.d_sae;
    const int64_t n_samples = sample_hi - sample_lo;
    ggml_context* ctx = new_meta_context(64);
    if (ctx == nullptr) return internal_error("SAE graph: ggml_init failed");
    struct CtxGuard {
        ggml_context* ctx;
        ~CtxGuard() { ggml_free(ctx); }
    } guard{ctx};

    ggml_tensor* input = ggml_view_2d(ctx, x, d_in, n_rows, x->nb[1], static_cast<size_t>(row0) * x->nb[1]);
    if (b_dec != nullptr) input = ggml_sub(ctx, input, b_dec);
    ggml_tensor* pre = ggml_add(ctx, ggml_mul_mat(ctx, w_enc, input), b_enc);  // [d_sae, n_rows]
    ggml_tensor* z = nullptr;
    if (k > 0) {
        // Only positive values survive the ReLU on either side of TopK (sae.hpp), so TopK over relu(pre) gives
        // both TopK(ReLU) and ReLU(TopK); chosen zeros add nothing to the pool.
        ggml_tensor* act = ggml_relu(ctx, pre);
        ggml_tensor* idx = ggml_top_k(ctx, act, static_cast<int>(k));  // [k, n_rows] I32, unordered
        if (!ggml_backend_supports_op(backend, idx)) idx = ggml_argsort_top_k(ctx, act, static_cast<int>(k));
        ggml_tensor* act3 = ggml_reshape_3d(ctx, act, 1, d_sae, n_rows);
        ggml_tensor* vals = ggml_get_rows(ctx, act3, idx);  // [1, k, n_rows]
        ggml_tensor* zeros = ggml_fill(ctx, act3, 0.0f);
        z = ggml_reshape_2d(ctx, ggml_set_rows(ctx, zeros, vals, idx), d_sae, n_rows);
    } else if (threshold != nullptr) {
        z = ggml_mul(ctx, ggml_relu(ctx, pre), ggml_step(ctx, ggml_sub(ctx, pre, threshold)));
    } else {
        z = ggml_relu(ctx, pre);
    }
    ggml_tensor* zt = ggml_cont(ctx, ggml_transpose(ctx, z));  // [n_rows, d_sae]
    ggml_tensor* weights_in = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, n_rows, n_samples);
    ggml_set_input(weights_in);
    ggml_tensor* part = ggml_mul_mat(ctx, zt, weights_in);  // [d_sae, n_samples]
    ggml_tensor* acc =
        ggml_view_2d(ctx, pooled, d_sae, n_samples, pooled->nb[1], static_cast<size_t>(sample_lo) * pooled->nb[1]);
    ggml_tensor* out = ggml_cpy(ctx, ggml_add(ctx, acc, part), acc);
    ggml_cgraph* graph = ggml_new_graph(ctx);
    ggml_build_forward_expand(graph, out);
    if (!ggml_gallocr_alloc_graph(galloc, graph)) {
        return internal_error(fmt::format("SAE graph: cannot allocate the compute buffer of a {}-row chunk on {}",
                                          n_rows, ggml_backend_name(backend)));
    }
    // The pooling weights: column s holds 1/n (mean) or 1 (sum) on the sample's pooled rows inside the chunk.
    pool_weights.assign(static_cast<size_t>(n_rows * n_samples), 0.0f);
    for (int64_t s = sample_lo; s < sample_hi; ++s) {
        const PooledSpan& span = spans[s];
        const int64_t n = span.row_end - span.row_begin;
        if (n <= 0) continue;
        const float weight = mode == PoolingMode::kMean ? static_cast<float>(1.0 / static_cast<double>(n)) : 1.0f;
        const int64_t begin = std::max(span.row_begin, row0);
        const int64_t end = std::min(span.row_end, row0 + n_rows);
        for (int64_t row = begin; row < end; ++row) pool_weights[(s - sample_lo) * n_rows + (row - row0)] = weight;
    }
    ggml_backend_tensor_set(weights_in, pool_weights.data(), 0, ggml_nbytes(weights_in));
    if (ggml_backend_graph_compute(backend, graph) != GGML_STATUS_SUCCESS) {
        return internal_error(fmt::format("SAE graph: compute failed on {}", ggml_backend_name(backend)));
    }
    return Status();
}

SaeGraph::SaeGraph(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SaeGraph::~SaeGraph() = default;

Result<std::unique_ptr<SaeGraph>> SaeGraph::create(const SaeModel& sae, ggml_backend* backend,
                                                   SaeGraphOptions options) {
    const SaeInfo& info = sae.info();
    if (info.norm != SaeNorm::kNone) {
        return unsupported("SAE graph: constant_norm_rescale input normalisation runs on the CPU encoder only");
    }
    try {
        auto impl = std::make_unique<Impl>();
        impl->backend = backend;
        impl->info = info;
        impl->options = options;
        const bool topk = info.activation == SaeActivation::kTopK || info.activation == SaeActivation::kReluTopK;
        impl->k = topk ? std::min<int64_t>(options.k_override > 0 ? options.k_override : info.k, info.d_sae) : 0;
        impl->rows_per_chunk =
            std::clamp<int64_t>(options.chunk_bytes / (static_cast<int64_t>(sizeof(float)) * info.d_sae), 1, 4096);
        if (ggml_backend_is_cpu(backend)) ggml_backend_cpu_set_n_threads(backend, std::max(1, options.n_threads));
        MONA_RETURN_IF_ERROR(impl->upload_weights(sae));
        impl->galloc = ggml_gallocr_new(ggml_backend_get_default_buffer_type(backend));
        if (impl->galloc == nullptr) return internal_error("SAE graph: ggml_gallocr_new failed");
        return std::unique_ptr<SaeGraph>(new SaeGraph(std::move(impl)));
    } catch (const std::bad_alloc&) {
        return internal_error("SAE graph: out of memory");
    }
}

Result<ggml_tensor*> SaeGraph::input_rows(int64_t capacity) {
    Impl& impl = *impl_;
    if (impl.rows == nullptr || impl.rows->ne[1] < capacity) {
        impl.staging.reset();
        impl.rows = nullptr;
        impl.staging.ctx = new_meta_context(2);
        if (impl.staging.ctx == nullptr) return internal_error("SAE graph: ggml_init failed");
        impl.rows =
            ggml_new_tensor_2d(impl.staging.ctx, GGML_TYPE_F32, impl.info.d_in, std::max<int64_t>(capacity, 512));
        impl.staging.buffer = ggml_backend_alloc_ctx_tensors(impl.staging.ctx, impl.backend);
        if (impl.staging.buffer == nullptr) {
            impl.rows = nullptr;
            return internal_error(fmt::format("SAE graph: cannot allocate {} input rows", capacity));
        }
    }
    return impl.rows;
}

Status SaeGraph::encode_pool(const float* x, int64_t n_rows, std::span<const PooledSpan> spans, PoolingMode mode,
                             std::vector<SparseVec>& out) {
    MONA_TRY(ggml_tensor * rows, input_rows(n_rows));
    if (n_rows > 0) {
        ggml_backend_tensor_set(rows, x, 0, static_cast<size_t>(n_rows) * rows->nb[1]);
    }
    return encode_pool_tensor(rows, n_rows, spans, mode, out);
}

Status SaeGraph::encode_pool_tensor(ggml_tensor* x, int64_t n_rows, std::span<const PooledSpan> spans, PoolingMode mode,
                                    std::vector<SparseVec>& out) {
    Impl& impl = *impl_;
    const int64_t d_sae = impl.info.d_sae;
    if (x->type != GGML_TYPE_F32 || x->ne[0] != impl.info.d_in || x->ne[1] < n_rows) {
        return internal_error(fmt::format("SAE graph: input tensor [{}, {}] type {} does not hold {} rows of {}",
                                          x->ne[0], x->ne[1], ggml_type_name(x->type), n_rows, impl.info.d_in));
    }
    const auto n_samples = static_cast<int64_t>(spans.size());
    for (const PooledSpan& span : spans) {
        if (span.row_begin < 0 || span.row_end > n_rows || span.row_begin > span.row_end) {
            return internal_error(fmt::format("SAE graph: pooled rows [{}, {}) outside the call's {} rows",
                                              span.row_begin, span.row_end, n_rows));
        }
    }
    const auto t_start = std::chrono::steady_clock::now();
    MONA_RETURN_IF_ERROR(impl.ensure_pooled(n_samples));
    // Chunks of rows; a chunk only needs the samples whose pooled rows it touches, and a chunk that no sample
    // pools from is skipped (spans are in row order, as the Embedder lays samples out).
    int64_t first_sample = 0;
    for (int64_t row0 = 0; row0 < n_rows; row0 += impl.rows_per_chunk) {
        const int64_t rows_here = std::min(impl.rows_per_chunk, n_rows - row0);
        int64_t lo = -1;
        int64_t hi = -1;
        for (int64_t s = first_sample; s < n_samples; ++s) {
            const PooledSpan& span = spans[s];
            if (span.row_end <= span.row_begin) continue;
            if (span.row_begin >= row0 + rows_here) break;
            if (span.row_end <= row0) {
                if (lo < 0) first_sample = s + 1;
                continue;
            }
            if (lo < 0) lo = s;
            hi = s + 1;
        }
        if (lo < 0) continue;
        MONA_RETURN_IF_ERROR(impl.run_chunk(x, row0, rows_here, lo, hi, spans, mode));
    }
    const auto t_graph = std::chrono::steady_clock::now();
    impl.times.graph_s += std::chrono::duration<double>(t_graph - t_start).count();
    impl.host_pooled.resize(static_cast<size_t>(std::max<int64_t>(n_samples, 1) * d_sae));
    if (n_samples > 0) {
        ggml_backend_tensor_get(impl.pooled, impl.host_pooled.data(), 0,
                                static_cast<size_t>(n_samples) * impl.pooled->nb[1]);
    }
    out.assign(static_cast<size_t>(n_samples), SparseVec{});
    for (int64_t s = 0; s < n_samples; ++s) {
        const float* row = impl.host_pooled.data() + s * d_sae;
        SparseVec& vec = out[static_cast<size_t>(s)];
        for (int64_t latent = 0; latent < d_sae; ++latent) {
            if (row[latent] != 0.0f) {
                vec.idx.push_back(static_cast<uint32_t>(latent));
                vec.val.push_back(row[latent]);
                vec.l1 += std::fabs(static_cast<double>(row[latent]));
            }
        }
    }
    impl.times.readback_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t_graph).count();
    return Status();
}

const SaeGraphTimes& SaeGraph::times() const { return impl_->times; }

int64_t SaeGraph::rows_per_chunk() const { return impl_->rows_per_chunk; }

size_t SaeGraph::resident_bytes() const {
    size_t bytes = 0;
    for (const Resident* r : {&impl_->weights, &impl_->staging, &impl_->pooled_block}) {
        if (r->buffer != nullptr) bytes += ggml_backend_buffer_get_size(r->buffer);
    }
    return bytes;
}

size_t SaeGraph::compute_bytes() const { return impl_->galloc ? ggml_gallocr_get_buffer_size(impl_->galloc, 0) : 0; }

}  // namespace mona
