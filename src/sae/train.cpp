// sae/train.cpp: the TopK SAE trainer (sae/train.hpp).
//
// Why one ~900-line file: the forward pass, the hand-written backward pass (checked against finite differences
// in tests/unit/sae_train_test.cpp), Adam, the dead-latent bookkeeping and the checkpoint codec all touch the
// same private parameter and scratch layout; keeping them together keeps that layout in one place.
#include "sae/train.hpp"

#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <new>
#include <nlohmann/json.hpp>
#include <thread>

#include "io/atomic_file.hpp"
#include "io/safetensors.hpp"
#include "sae/topk.hpp"
#include "util/bytes.hpp"
#include "util/random.hpp"

namespace mona {

namespace {

static_assert(std::endian::native == std::endian::little, "the checkpoint format is little-endian");

constexpr char kCheckpointMagic[8] = {'M', 'O', 'N', 'A', 'S', 'A', 'E', 'T'};
constexpr uint32_t kCheckpointVersion = 2;  // 2 added the caller's run state; 1 still loads
constexpr int64_t kCheckpointHeaderBytes = 120;
constexpr float kAdamBeta1 = 0.9f;
constexpr float kAdamBeta2 = 0.999f;
constexpr float kAdamEps = 1e-8f;

// Splits [0, n_items) into at most n_threads contiguous ranges of at least min_items each. Every output
// element is owned by one range, so results never depend on the thread count.
void parallel_for(int32_t n_threads, int64_t n_items, int64_t min_items,
                  const std::function<void(int64_t, int64_t)>& fn) {
    if (n_items <= 0) return;
    const int64_t n_workers = std::min<int64_t>(n_threads, (n_items + min_items - 1) / min_items);
    if (n_workers <= 1) {
        fn(0, n_items);
        return;
    }
    std::vector<std::thread> workers;
    workers.reserve(static_cast<size_t>(n_workers - 1));
    for (int64_t worker_idx = 1; worker_idx < n_workers; ++worker_idx) {
        workers.emplace_back(fn, n_items * worker_idx / n_workers, n_items * (worker_idx + 1) / n_workers);
    }
    fn(0, n_items / n_workers);
    for (auto& worker : workers) worker.join();
}

// Eight independent accumulators let the compiler vectorise without -ffast-math; the summation order is fixed.
float dot(const float* a, const float* b, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t pos = 0;
    for (; pos + 8 <= n; pos += 8) {
        for (int lane = 0; lane < 8; ++lane) acc[lane] += a[pos + lane] * b[pos + lane];
    }
    float tail = 0;
    for (; pos < n; ++pos) tail += a[pos] * b[pos];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}

void axpy(float alpha, const float* x, float* y, int64_t n) {
    for (int64_t pos = 0; pos < n; ++pos) y[pos] += alpha * x[pos];
}

// Touches every cache line of a row that is about to be read from a random place in a large array.
void prefetch_row(const float* row, int64_t n) {
    for (int64_t pos = 0; pos < n; pos += 16) __builtin_prefetch(row + pos);
}

double sum_sq(const float* a, int64_t n) {
    double s = 0;
    for (int64_t pos = 0; pos < n; ++pos) s += static_cast<double>(a[pos]) * a[pos];
    return s;
}

// Writes the n_keep best of ReLU(row[l] + bias[l]), l = latent_of(c), over candidates c = 0..n_cand-1
// (ascending latents) to out_idx/out_val, best first (ties: lower latent, sae/topk.hpp). Non-positive values
// enter as 0, so a row with fewer than n_keep positive values is filled with zeros at the lowest latents.
template <class LatentOf>
void relu_topk(const float* row, const float* bias, int64_t n_cand, LatentOf latent_of, int32_t n_keep, LatentTopK& top,
               int32_t* out_idx, float* out_val) {
    top.reset(static_cast<size_t>(n_keep));
    for (int64_t cand = 0; cand < n_cand; ++cand) {
        const int32_t latent_idx = latent_of(cand);
        top.offer(std::max(row[latent_idx] + bias[latent_idx], 0.0f), static_cast<uint32_t>(latent_idx));
    }
    int32_t slot = 0;
    for (const LatentValue& kept : top.sort_by_rank()) {
        out_idx[slot] = static_cast<int32_t>(kept.latent_idx);
        out_val[slot] = kept.value;
        ++slot;
    }
}

int32_t default_threads() {
    const unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : static_cast<int32_t>(hw);
}

Status validate(const SaeTrainOptions& o) {
    auto bad = [](const std::string& what) { return invalid_input("sae train options: " + what); };
    if (o.d_in <= 0 || o.d_in > std::numeric_limits<int32_t>::max()) {
        return bad("d_in must be in [1, 2^31), got " + std::to_string(o.d_in));
    }
    if (o.n_latents <= 0 || o.n_latents > std::numeric_limits<int32_t>::max()) {
        return bad("n_latents must be in [1, 2^31), got " + std::to_string(o.n_latents));
    }
    if (o.n_latents > (int64_t{1} << 40) / o.d_in) {
        return bad("n_latents * d_in = " + std::to_string(o.n_latents) + " * " + std::to_string(o.d_in) +
                   " is too large");
    }
    if (o.k < 1 || o.k > o.n_latents) {
        return bad("k must be in [1, n_latents=" + std::to_string(o.n_latents) + "], got " + std::to_string(o.k));
    }
    if (o.batch_size <= 0) return bad("batch_size must be > 0, got " + std::to_string(o.batch_size));
    if (!std::isfinite(o.lr) || o.lr < 0) return bad("lr must be finite and >= 0, got " + std::to_string(o.lr));
    if (o.warmup_steps < 0) return bad("warmup_steps must be >= 0, got " + std::to_string(o.warmup_steps));
    if (!std::isfinite(o.grad_clip) || o.grad_clip < 0) {
        return bad("grad_clip must be finite and >= 0, got " + std::to_string(o.grad_clip));
    }
    if (o.dead_after_tokens <= 0) {
        return bad("dead_after_tokens must be > 0, got " + std::to_string(o.dead_after_tokens));
    }
    if (!std::isfinite(o.auxk_alpha) || o.auxk_alpha < 0) {
        return bad("auxk_alpha must be finite and >= 0, got " + std::to_string(o.auxk_alpha));
    }
    if (o.k_aux < 0) return bad("k_aux must be >= 0, got " + std::to_string(o.k_aux));
    if (o.n_threads < 0) return bad("n_threads must be >= 0, got " + std::to_string(o.n_threads));
    return Status();
}

// Byte sink/source that keeps a running CRC-32 of everything passed through; the first error sticks.
class CrcWriter {
   public:
    explicit CrcWriter(AtomicFile& out) : out_(out) {}
    void bytes(const void* data, size_t n) {
        if (!status_.ok() || n == 0) return;
        status_ = out_.write(std::string_view(static_cast<const char*>(data), n));
        crc_.update(data, n);
    }
    template <class T>
    void pod(const T& value) {
        bytes(&value, sizeof(T));
    }
    void floats(const std::vector<float>& v) { bytes(v.data(), v.size() * sizeof(float)); }
    const Status& status() const { return status_; }
    uint32_t crc() const { return crc_.value(); }

   private:
    AtomicFile& out_;
    Crc32 crc_;
    Status status_;
};

class CrcReader {
   public:
    explicit CrcReader(FILE* f) : f_(f) {}
    void bytes(void* data, size_t n) {
        if (!ok_ || n == 0) return;
        ok_ = std::fread(data, 1, n, f_) == n;
        if (ok_) crc_.update(data, n);
    }
    template <class T>
    T pod() {
        T value{};
        bytes(&value, sizeof(T));
        return value;
    }
    void floats(std::vector<float>& v) { bytes(v.data(), v.size() * sizeof(float)); }
    bool ok() const { return ok_; }
    uint32_t crc() const { return crc_.value(); }

   private:
    FILE* f_;
    Crc32 crc_;
    bool ok_ = true;
};

void allocate(SaeParams& p, int64_t n_latents, int64_t d_in) {
    p.w_enc.assign(static_cast<size_t>(n_latents * d_in), 0.0f);
    p.b_enc.assign(static_cast<size_t>(n_latents), 0.0f);
    p.w_dec.assign(static_cast<size_t>(n_latents * d_in), 0.0f);
    p.b_dec.assign(static_cast<size_t>(d_in), 0.0f);
}

// Standard normal by Box-Muller on a portable generator, so the initialisation is the same everywhere.
double normal(uint64_t& state) {
    const double u1 = (static_cast<double>(splitmix64_next(state) >> 11) + 1.0) * 0x1.0p-53;
    const double u2 = static_cast<double>(splitmix64_next(state) >> 11) * 0x1.0p-53;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

void normalise_rows(std::vector<float>& w, int64_t n_rows, int64_t d, int32_t n_threads) {
    parallel_for(n_threads, n_rows, 64, [&](int64_t begin, int64_t end) {
        for (int64_t row_idx = begin; row_idx < end; ++row_idx) {
            float* row = w.data() + row_idx * d;
            const double norm = std::sqrt(sum_sq(row, d));
            if (norm > 0) {
                const float inv = static_cast<float>(1.0 / norm);
                for (int64_t col = 0; col < d; ++col) row[col] *= inv;
            }
        }
    });
}

}  // namespace

double fvu(const float* x, const float* x_hat, int64_t n_tokens, int64_t d) {
    if (n_tokens <= 0 || d <= 0) return 0.0;
    std::vector<double> mean(static_cast<size_t>(d), 0.0);
    for (int64_t token_idx = 0; token_idx < n_tokens; ++token_idx) {
        for (int64_t col = 0; col < d; ++col) mean[col] += x[token_idx * d + col];
    }
    for (auto& m : mean) m /= static_cast<double>(n_tokens);
    double err = 0, var = 0;
    for (int64_t token_idx = 0; token_idx < n_tokens; ++token_idx) {
        for (int64_t col = 0; col < d; ++col) {
            const double xv = x[token_idx * d + col];
            const double diff = xv - x_hat[token_idx * d + col];
            err += diff * diff;
            var += (xv - mean[col]) * (xv - mean[col]);
        }
    }
    if (var > 0) return err / var;
    return err == 0 ? 0.0 : std::numeric_limits<double>::infinity();
}

std::vector<float> geometric_median(const float* x, int64_t n, int64_t d, int32_t max_iter, double tol) {
    MONA_ASSERT(n > 0 && d > 0, "geometric_median needs at least one row of positive width");
    constexpr int64_t kBlockRows = 256;
    const int64_t n_blocks = (n + kBlockRows - 1) / kBlockRows;
    const int32_t n_threads = default_threads();
    std::vector<double> guess(static_cast<size_t>(d), 0.0);
    for (int64_t row_idx = 0; row_idx < n; ++row_idx) {
        for (int64_t col = 0; col < d; ++col) guess[col] += x[row_idx * d + col];
    }
    for (auto& g : guess) g /= static_cast<double>(n);
    // Weighted sums per block of rows, reduced in block order: the result does not depend on the thread count.
    std::vector<double> block_sums(static_cast<size_t>(n_blocks * (d + 1)));
    std::vector<double> next(static_cast<size_t>(d));
    for (int32_t iter = 0; iter < max_iter; ++iter) {
        parallel_for(n_threads, n_blocks, 1, [&](int64_t begin, int64_t end) {
            for (int64_t block_idx = begin; block_idx < end; ++block_idx) {
                double* acc = block_sums.data() + block_idx * (d + 1);
                std::fill(acc, acc + d + 1, 0.0);
                const int64_t row_end = std::min(n, (block_idx + 1) * kBlockRows);
                for (int64_t row_idx = block_idx * kBlockRows; row_idx < row_end; ++row_idx) {
                    const float* row = x + row_idx * d;
                    double dist2 = 0;
                    for (int64_t col = 0; col < d; ++col) dist2 += (row[col] - guess[col]) * (row[col] - guess[col]);
                    // A floor on the distance keeps the weight finite when the estimate sits on a data point.
                    const double weight = 1.0 / std::max(std::sqrt(dist2), 1e-12);
                    for (int64_t col = 0; col < d; ++col) acc[col] += weight * row[col];
                    acc[d] += weight;
                }
            }
        });
        std::fill(next.begin(), next.end(), 0.0);
        double weight_sum = 0;
        for (int64_t block_idx = 0; block_idx < n_blocks; ++block_idx) {
            const double* acc = block_sums.data() + block_idx * (d + 1);
            for (int64_t col = 0; col < d; ++col) next[col] += acc[col];
            weight_sum += acc[d];
        }
        double move2 = 0;
        for (int64_t col = 0; col < d; ++col) {
            next[col] /= weight_sum;
            move2 += (next[col] - guess[col]) * (next[col] - guess[col]);
        }
        guess.swap(next);
        if (std::sqrt(move2) < tol) break;
    }
    return std::vector<float>(guess.begin(), guess.end());
}

struct SaeTrainer::Impl {
    SaeTrainOptions opts;
    int64_t d = 0;
    int64_t n_latents = 0;
    int32_t k = 0;
    double lr = 0;
    int32_t k_aux = 0;
    int32_t n_threads = 1;

    SaeParams p, adam_m, adam_v;
    int64_t step = 0;
    int64_t tokens_seen = 0;
    std::vector<int64_t> since_fired;  // [n_latents]

    // Scratch reused across calls (sized for the largest batch seen).
    SaeParams grad;
    std::vector<float> xc;                      // [n, d]: x - b_dec
    std::vector<float> pre;                     // [chunk, n_latents]
    std::vector<int32_t> top_idx;               // [n, k]
    std::vector<float> top_val;                 // [n, k]
    std::vector<int32_t> aux_idx;               // [n, n_aux]
    std::vector<float> aux_val;                 // [n, n_aux]
    std::vector<float> resid;                   // [n, d]: x^ - x, then d loss / d x^
    std::vector<float> aux_diff;                // [n, d]: e^ - e, then d loss / d e^
    std::vector<double> tok_a, tok_b, tok_var;  // [n] per-token partial sums
    std::vector<int32_t> dead;                  // dead latent indices, ascending
    struct Entry {
        int32_t token_idx;
        int32_t is_aux;
        float value;
    };
    std::vector<int64_t> col_start;   // [n_latents + 1]
    std::vector<Entry> entries;       // (token, latent) pairs grouped by latent, in token order
    std::vector<double> row_partial;  // [n_latents]

    struct Losses {
        double fvu = 0, auxk = 0;
        int64_t n_dead = 0;
        int32_t n_aux = 0;  // aux slots per token; 0 when AuxK did not run
    };

    static Result<std::unique_ptr<Impl>> make(const SaeTrainOptions& options) {
        MONA_RETURN_IF_ERROR(validate(options));
        auto impl = std::make_unique<Impl>();
        impl->opts = options;
        impl->d = options.d_in;
        impl->n_latents = options.n_latents;
        impl->k = options.k;
        impl->lr = options.lr > 0 ? options.lr : 2e-4 / std::sqrt(static_cast<double>(options.n_latents) / 16384.0);
        impl->k_aux = options.k_aux > 0 ? options.k_aux : static_cast<int32_t>(std::max<int64_t>(1, options.d_in / 2));
        impl->n_threads = options.n_threads > 0 ? options.n_threads : default_threads();
        try {
            allocate(impl->p, impl->n_latents, impl->d);
            allocate(impl->adam_m, impl->n_latents, impl->d);
            allocate(impl->adam_v, impl->n_latents, impl->d);
            allocate(impl->grad, impl->n_latents, impl->d);
            impl->since_fired.assign(static_cast<size_t>(impl->n_latents), 0);
            impl->row_partial.assign(static_cast<size_t>(impl->n_latents), 0.0);
            impl->col_start.assign(static_cast<size_t>(impl->n_latents + 1), 0);
        } catch (const std::bad_alloc&) {
            return internal_error("sae trainer: cannot allocate parameters for n_latents=" +
                                  std::to_string(options.n_latents) + ", d_in=" + std::to_string(options.d_in));
        }
        return impl;
    }

    void init_params() {
        uint64_t state = opts.seed;
        for (auto& w : p.w_dec) w = static_cast<float>(normal(state));
        normalise_rows(p.w_dec, n_latents, d, n_threads);
        p.w_enc = p.w_dec;
    }

    void size_scratch(int64_t n, int32_t n_aux) {
        const auto nd = static_cast<size_t>(n * d);
        if (xc.size() < nd) {
            xc.resize(nd);
            resid.resize(nd);
            tok_a.resize(static_cast<size_t>(n));
            tok_b.resize(static_cast<size_t>(n));
            tok_var.resize(static_cast<size_t>(n));
        }
        if (top_idx.size() < static_cast<size_t>(n * k)) {
            top_idx.resize(static_cast<size_t>(n * k));
            top_val.resize(static_cast<size_t>(n * k));
        }
        if (n_aux > 0) {
            if (aux_diff.size() < nd) aux_diff.resize(nd);
            if (aux_idx.size() < static_cast<size_t>(n * n_aux)) {
                aux_idx.resize(static_cast<size_t>(n * n_aux));
                aux_val.resize(static_cast<size_t>(n * n_aux));
            }
        }
    }

    // sgemm rows per pre-activation chunk: about 8 MB of scratch whatever n_latents is.
    int64_t chunk_rows(int64_t n) const {
        return std::min<int64_t>(n, std::max<int64_t>(64, (int64_t{1} << 21) / n_latents));
    }

    // Forward pass on x [n, d]; with `grad` also the backward pass. with_aux = false skips AuxK entirely.
    Losses run(const float* x, int64_t n, const float* aux_residual, bool with_aux, SaeParams* g) {
        Losses out;
        dead.clear();
        for (int64_t latent_idx = 0; latent_idx < n_latents; ++latent_idx) {
            if (since_fired[latent_idx] >= opts.dead_after_tokens) dead.push_back(static_cast<int32_t>(latent_idx));
        }
        out.n_dead = static_cast<int64_t>(dead.size());
        int32_t n_aux = 0;
        if (with_aux && opts.auxk_alpha > 0 && out.n_dead > 0) {
            n_aux = static_cast<int32_t>(std::min<int64_t>(k_aux, out.n_dead));
        }
        size_scratch(n, n_aux);

        parallel_for(n_threads, n, 64, [&](int64_t begin, int64_t end) {
            for (int64_t token_idx = begin; token_idx < end; ++token_idx) {
                for (int64_t col = 0; col < d; ++col) xc[token_idx * d + col] = x[token_idx * d + col] - p.b_dec[col];
            }
        });

        const int64_t chunk = chunk_rows(n);
        if (pre.size() < static_cast<size_t>(chunk * n_latents)) pre.resize(static_cast<size_t>(chunk * n_latents));
        for (int64_t chunk_begin = 0; chunk_begin < n; chunk_begin += chunk) {
            const int64_t n_rows = std::min(chunk, n - chunk_begin);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n_rows), static_cast<int>(n_latents),
                        static_cast<int>(d), 1.0f, xc.data() + chunk_begin * d, static_cast<int>(d), p.w_enc.data(),
                        static_cast<int>(d), 0.0f, pre.data(), static_cast<int>(n_latents));
            parallel_for(n_threads, n_rows, 8, [&](int64_t begin, int64_t end) {
                LatentTopK top(static_cast<size_t>(std::max(k, n_aux)));
                for (int64_t row_idx = begin; row_idx < end; ++row_idx) {
                    const float* row = pre.data() + row_idx * n_latents;
                    const int64_t token_idx = chunk_begin + row_idx;
                    relu_topk(
                        row, p.b_enc.data(), n_latents, [](int64_t c) { return static_cast<int32_t>(c); }, k, top,
                        top_idx.data() + token_idx * k, top_val.data() + token_idx * k);
                    if (n_aux > 0) {
                        relu_topk(
                            row, p.b_enc.data(), out.n_dead, [&](int64_t c) { return dead[c]; }, n_aux, top,
                            aux_idx.data() + token_idx * n_aux, aux_val.data() + token_idx * n_aux);
                    }
                }
            });
        }

        // resid = x^ - x, decoded sparsely from the kept latents.
        parallel_for(n_threads, n, 16, [&](int64_t begin, int64_t end) {
            for (int64_t token_idx = begin; token_idx < end; ++token_idx) {
                float* r = resid.data() + token_idx * d;
                std::copy(p.b_dec.begin(), p.b_dec.end(), r);
                for (int32_t slot = 0; slot < k; ++slot) {
                    if (slot + 1 < k) prefetch_row(p.w_dec.data() + int64_t{top_idx[token_idx * k + slot + 1]} * d, d);
                    const float value = top_val[token_idx * k + slot];
                    if (value > 0) axpy(value, p.w_dec.data() + int64_t{top_idx[token_idx * k + slot]} * d, r, d);
                }
                for (int64_t col = 0; col < d; ++col) r[col] -= x[token_idx * d + col];
                tok_a[token_idx] = sum_sq(r, d);
            }
        });
        double err = 0;
        for (int64_t token_idx = 0; token_idx < n; ++token_idx) err += tok_a[token_idx];
        const double var = variance_of(x, n);
        const double denom = var > 0 ? var : 1.0;
        out.fvu = err / denom;

        double aux_weight = 0, aux_denom = 0;
        if (n_aux > 0) {
            // e = x - x^ = -resid unless the caller fixes it; aux_diff = e^ - e.
            parallel_for(n_threads, n, 16, [&](int64_t begin, int64_t end) {
                for (int64_t token_idx = begin; token_idx < end; ++token_idx) {
                    float* a = aux_diff.data() + token_idx * d;
                    const float* e = aux_residual != nullptr ? aux_residual + token_idx * d : nullptr;
                    for (int64_t col = 0; col < d; ++col) a[col] = e != nullptr ? -e[col] : resid[token_idx * d + col];
                    for (int32_t slot = 0; slot < n_aux; ++slot) {
                        const float value = aux_val[token_idx * n_aux + slot];
                        if (value > 0)
                            axpy(value, p.w_dec.data() + int64_t{aux_idx[token_idx * n_aux + slot]} * d, a, d);
                    }
                    tok_b[token_idx] = sum_sq(a, d);
                }
            });
            // Var(e) = Var(-resid).
            aux_denom = variance_of(aux_residual != nullptr ? aux_residual : resid.data(), n);
            if (aux_denom > 0) {
                double aux_err = 0;
                for (int64_t token_idx = 0; token_idx < n; ++token_idx) aux_err += tok_b[token_idx];
                // sparsify: fewer dead latents than k_aux weaken the term proportionally.
                aux_weight = opts.auxk_alpha * std::min(static_cast<double>(out.n_dead) / k_aux, 1.0);
                out.auxk = aux_weight * aux_err / aux_denom;
                out.n_aux = n_aux;
            }
        }
        if (g == nullptr) return out;
        backward(n, static_cast<float>(2.0 / denom),
                 out.n_aux > 0 ? static_cast<float>(2.0 * aux_weight / aux_denom) : 0.0f, out.n_aux, *g);
        return out;
    }

    // sum_t ||v_t - mean(v)||^2 for v [n, d], in double.
    double variance_of(const float* v, int64_t n) {
        std::vector<double> mean(static_cast<size_t>(d), 0.0);
        for (int64_t token_idx = 0; token_idx < n; ++token_idx) {
            for (int64_t col = 0; col < d; ++col) mean[col] += v[token_idx * d + col];
        }
        for (auto& m : mean) m /= static_cast<double>(n);
        parallel_for(n_threads, n, 64, [&](int64_t begin, int64_t end) {
            for (int64_t token_idx = begin; token_idx < end; ++token_idx) {
                double s = 0;
                for (int64_t col = 0; col < d; ++col) {
                    const double diff = v[token_idx * d + col] - mean[col];
                    s += diff * diff;
                }
                tok_var[token_idx] = s;
            }
        });
        double total = 0;
        for (int64_t token_idx = 0; token_idx < n; ++token_idx) total += tok_var[token_idx];
        return total;
    }

    void backward(int64_t n, float main_scale, float aux_scale, int32_t n_aux, SaeParams& g) {
        // resid becomes d loss / d x^, aux_diff d loss / d e^.
        parallel_for(n_threads, n, 64, [&](int64_t begin, int64_t end) {
            for (int64_t pos = begin * d; pos < end * d; ++pos) resid[pos] *= main_scale;
            if (n_aux == 0) return;
            for (int64_t pos = begin * d; pos < end * d; ++pos) aux_diff[pos] *= aux_scale;
        });

        // Group the kept pairs by latent (counting sort, token order kept) so each gradient row has one writer
        // and the latent's decoder row stays in cache for all of its d loss / d pre dot products.
        std::fill(col_start.begin(), col_start.end(), 0);
        for (int64_t pos = 0; pos < n * k; ++pos) {
            if (top_val[pos] > 0) ++col_start[top_idx[pos] + 1];
        }
        for (int64_t pos = 0; pos < n * n_aux; ++pos) {
            if (aux_val[pos] > 0) ++col_start[aux_idx[pos] + 1];
        }
        for (int64_t latent_idx = 0; latent_idx < n_latents; ++latent_idx) {
            col_start[latent_idx + 1] += col_start[latent_idx];
        }
        entries.resize(static_cast<size_t>(col_start[n_latents]));
        {
            std::vector<int64_t> cursor(col_start.begin(), col_start.end() - 1);
            for (int64_t token_idx = 0; token_idx < n; ++token_idx) {
                for (int32_t slot = 0; slot < k; ++slot) {
                    const int64_t pos = token_idx * k + slot;
                    if (top_val[pos] > 0)
                        entries[cursor[top_idx[pos]]++] = {static_cast<int32_t>(token_idx), 0, top_val[pos]};
                }
                for (int32_t slot = 0; slot < n_aux; ++slot) {
                    const int64_t pos = token_idx * n_aux + slot;
                    if (aux_val[pos] > 0)
                        entries[cursor[aux_idx[pos]]++] = {static_cast<int32_t>(token_idx), 1, aux_val[pos]};
                }
            }
        }

        // Only kept pairs with value > 0 carry gradient (ReLU'(pre) = 1 exactly there).
        parallel_for(n_threads, n_latents, 16, [&](int64_t begin, int64_t end) {
            for (int64_t latent_idx = begin; latent_idx < end; ++latent_idx) {
                const float* w_dec = p.w_dec.data() + latent_idx * d;
                float* g_enc = g.w_enc.data() + latent_idx * d;
                float* g_dec = g.w_dec.data() + latent_idx * d;
                std::fill(g_enc, g_enc + d, 0.0f);
                std::fill(g_dec, g_dec + d, 0.0f);
                double g_bias = 0;
                const int64_t end_pos = col_start[latent_idx + 1];
                for (int64_t pos = col_start[latent_idx]; pos < end_pos; ++pos) {
                    const Entry& e = entries[pos];
                    // The rows of a later pair live at random places in [n, d] arrays: fetch them while this one
                    // computes.
                    if (pos + 2 < end_pos) {
                        const Entry& next = entries[pos + 2];
                        prefetch_row((next.is_aux ? aux_diff.data() : resid.data()) + int64_t{next.token_idx} * d, d);
                        prefetch_row(xc.data() + int64_t{next.token_idx} * d, d);
                    }
                    const float* upstream = (e.is_aux ? aux_diff.data() : resid.data()) + int64_t{e.token_idx} * d;
                    const float dpre = dot(w_dec, upstream, d);
                    axpy(e.value, upstream, g_dec, d);
                    axpy(dpre, xc.data() + int64_t{e.token_idx} * d, g_enc, d);
                    g_bias += dpre;
                }
                g.b_enc[latent_idx] = static_cast<float>(g_bias);
            }
        });

        // b_dec enters x^ directly and the encoder input as -b_dec: sum_t dL/dx^_t - W_enc^T (dL/db_enc).
        parallel_for(n_threads, d, 16, [&](int64_t begin, int64_t end) {
            std::vector<double> acc(static_cast<size_t>(end - begin), 0.0);
            for (int64_t token_idx = 0; token_idx < n; ++token_idx) {
                const float* gx = resid.data() + token_idx * d;
                for (int64_t col = begin; col < end; ++col) acc[col - begin] += gx[col];
            }
            for (int64_t latent_idx = 0; latent_idx < n_latents; ++latent_idx) {
                const double gb = g.b_enc[latent_idx];
                if (gb == 0) continue;
                const float* w = p.w_enc.data() + latent_idx * d;
                for (int64_t col = begin; col < end; ++col) acc[col - begin] -= gb * w[col];
            }
            for (int64_t col = begin; col < end; ++col) g.b_dec[col] = static_cast<float>(acc[col - begin]);
        });
    }

    SaeTrainStats train_step(const float* x, int64_t n) {
        const Losses losses = run(x, n, nullptr, true, &grad);

        // Decoder rows are constrained to the unit sphere: keep only the tangential part of their gradient.
        parallel_for(n_threads, n_latents, 64, [&](int64_t begin, int64_t end) {
            for (int64_t latent_idx = begin; latent_idx < end; ++latent_idx) {
                const float* w = p.w_dec.data() + latent_idx * d;
                float* gw = grad.w_dec.data() + latent_idx * d;
                const float w2 = dot(w, w, d);
                if (w2 > 0) axpy(-dot(gw, w, d) / w2, w, gw, d);
                row_partial[latent_idx] = sum_sq(gw, d) + sum_sq(grad.w_enc.data() + latent_idx * d, d) +
                                          static_cast<double>(grad.b_enc[latent_idx]) * grad.b_enc[latent_idx];
            }
        });
        double norm2 = sum_sq(grad.b_dec.data(), d);
        for (int64_t latent_idx = 0; latent_idx < n_latents; ++latent_idx) norm2 += row_partial[latent_idx];
        const double norm = std::sqrt(norm2);
        // torch.nn.utils.clip_grad_norm_: coefficient max_norm / (norm + 1e-6), applied only when below 1.
        float clip = 1.0f;
        if (opts.grad_clip > 0) {
            const double coef = opts.grad_clip / (norm + 1e-6);
            if (coef < 1.0) clip = static_cast<float>(coef);
        }

        ++step;
        const double warm = opts.warmup_steps > 0
                                ? std::min(1.0, static_cast<double>(step) / static_cast<double>(opts.warmup_steps))
                                : 1.0;
        const float lr_t = static_cast<float>(lr * warm);
        const float bc1 =
            static_cast<float>(1.0 - std::pow(static_cast<double>(kAdamBeta1), static_cast<double>(step)));
        const float bc2 =
            static_cast<float>(1.0 - std::pow(static_cast<double>(kAdamBeta2), static_cast<double>(step)));
        const float bc2_sqrt = std::sqrt(bc2);
        const float step_size = lr_t / bc1;
        auto adam = [&](float* param, float* m, float* v, const float* g, int64_t count) {
            for (int64_t pos = 0; pos < count; ++pos) {
                const float gv = g[pos] * clip;
                m[pos] = kAdamBeta1 * m[pos] + (1.0f - kAdamBeta1) * gv;
                v[pos] = kAdamBeta2 * v[pos] + (1.0f - kAdamBeta2) * gv * gv;
                param[pos] -= step_size * m[pos] / (std::sqrt(v[pos]) / bc2_sqrt + kAdamEps);
            }
        };
        parallel_for(n_threads, n_latents, 64, [&](int64_t begin, int64_t end) {
            const int64_t off = begin * d, count = (end - begin) * d;
            adam(p.w_enc.data() + off, adam_m.w_enc.data() + off, adam_v.w_enc.data() + off, grad.w_enc.data() + off,
                 count);
            adam(p.w_dec.data() + off, adam_m.w_dec.data() + off, adam_v.w_dec.data() + off, grad.w_dec.data() + off,
                 count);
            adam(p.b_enc.data() + begin, adam_m.b_enc.data() + begin, adam_v.b_enc.data() + begin,
                 grad.b_enc.data() + begin, end - begin);
        });
        adam(p.b_dec.data(), adam_m.b_dec.data(), adam_v.b_dec.data(), grad.b_dec.data(), d);
        normalise_rows(p.w_dec, n_latents, d, n_threads);

        int64_t n_active = 0;
        for (auto& count : since_fired) count += n;
        for (int64_t pos = 0; pos < n * k; ++pos) {
            if (top_val[pos] > 0) {
                since_fired[top_idx[pos]] = 0;
                ++n_active;
            }
        }
        tokens_seen += n;
        int64_t n_dead_after = 0;
        for (const auto count : since_fired) n_dead_after += count >= opts.dead_after_tokens;

        SaeTrainStats stats;
        stats.step = step;
        stats.fvu = losses.fvu;
        stats.auxk_loss = losses.auxk;
        stats.loss = losses.fvu + losses.auxk;
        stats.l0 = static_cast<double>(n_active) / static_cast<double>(n);
        stats.dead_fraction = static_cast<double>(n_dead_after) / static_cast<double>(n_latents);
        stats.tokens_seen = tokens_seen;
        return stats;
    }
};

SaeTrainer::SaeTrainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SaeTrainer::SaeTrainer(SaeTrainer&&) noexcept = default;
SaeTrainer& SaeTrainer::operator=(SaeTrainer&&) noexcept = default;
SaeTrainer::~SaeTrainer() = default;

Result<SaeTrainer> SaeTrainer::create(const SaeTrainOptions& options) {
    MONA_TRY(auto impl, Impl::make(options));
    impl->init_params();
    return SaeTrainer(std::move(impl));
}

const SaeTrainOptions& SaeTrainer::options() const { return impl_->opts; }
double SaeTrainer::lr() const { return impl_->lr; }
int32_t SaeTrainer::k_aux() const { return impl_->k_aux; }
int64_t SaeTrainer::step_count() const { return impl_->step; }
int64_t SaeTrainer::tokens_seen() const { return impl_->tokens_seen; }
const SaeParams& SaeTrainer::params() const { return impl_->p; }
SaeParams& SaeTrainer::mutable_params() { return impl_->p; }
const std::vector<int64_t>& SaeTrainer::tokens_since_fired() const { return impl_->since_fired; }

void SaeTrainer::set_tokens_since_fired(int64_t latent_idx, int64_t n_tokens) {
    MONA_ASSERT(latent_idx >= 0 && latent_idx < impl_->n_latents, "set_tokens_since_fired: latent out of range");
    impl_->since_fired[latent_idx] = n_tokens;
}

Status SaeTrainer::init_b_dec(const float* x, int64_t n) {
    if (n <= 0) return invalid_input("init_b_dec: need at least one row, got " + std::to_string(n));
    const int64_t d = impl_->d;
    for (int64_t pos = 0; pos < n * d; ++pos) {
        if (!std::isfinite(x[pos])) {
            return invalid_input("init_b_dec: non-finite value at row " + std::to_string(pos / d) + ", column " +
                                 std::to_string(pos % d));
        }
    }
    impl_->p.b_dec = geometric_median(x, n, d);
    return Status();
}

SaeTrainStats SaeTrainer::step(const float* x, int64_t n) {
    MONA_ASSERT(n > 0 && n <= std::numeric_limits<int32_t>::max(), "SaeTrainer::step: n out of [1, 2^31)");
    return impl_->train_step(x, n);
}

void SaeTrainer::reconstruct(const float* x, int64_t n, float* x_hat) const {
    if (n <= 0) return;
    MONA_ASSERT(n <= std::numeric_limits<int32_t>::max(), "SaeTrainer::reconstruct: n out of [1, 2^31)");
    impl_->run(x, n, nullptr, false, nullptr);
    const int64_t count = n * impl_->d;
    for (int64_t pos = 0; pos < count; ++pos) x_hat[pos] = impl_->resid[pos] + x[pos];
}

SaeGradients SaeTrainer::compute_gradients(const float* x, int64_t n, const float* aux_residual) const {
    MONA_ASSERT(n > 0 && n <= std::numeric_limits<int32_t>::max(), "SaeTrainer::compute_gradients: n out of [1, 2^31)");
    Impl& im = *impl_;
    SaeGradients out;
    allocate(out.grad, im.n_latents, im.d);
    const Impl::Losses losses = im.run(x, n, aux_residual, true, &out.grad);
    out.fvu = losses.fvu;
    out.auxk_loss = losses.auxk;
    out.loss = losses.fvu + losses.auxk;
    out.n_dead = losses.n_dead;
    out.active.resize(static_cast<size_t>(n * im.k));
    for (int64_t pos = 0; pos < n * im.k; ++pos) out.active[pos] = im.top_val[pos] > 0 ? im.top_idx[pos] : -1;
    out.aux_active.resize(static_cast<size_t>(n * losses.n_aux));
    for (int64_t pos = 0; pos < n * losses.n_aux; ++pos) {
        out.aux_active[pos] = im.aux_val[pos] > 0 ? im.aux_idx[pos] : -1;
    }
    return out;
}

Status SaeTrainer::save_checkpoint(const std::string& path, std::string_view run_state) const {
    const Impl& im = *impl_;
    const SaeTrainOptions& o = im.opts;
    MONA_TRY(AtomicFile file, AtomicFile::open(path));
    {
        CrcWriter w(file);
        w.bytes(kCheckpointMagic, sizeof(kCheckpointMagic));
        w.pod(kCheckpointVersion);
        w.pod(uint32_t{0});
        w.pod(o.d_in);
        w.pod(o.n_latents);
        w.pod(o.k);
        w.pod(o.k_aux);
        w.pod(o.batch_size);
        w.pod(o.lr);
        w.pod(o.warmup_steps);
        w.pod(o.grad_clip);
        w.pod(o.dead_after_tokens);
        w.pod(o.auxk_alpha);
        w.pod(o.seed);
        w.pod(o.n_threads);
        w.pod(int32_t{0});
        w.pod(im.step);
        w.pod(im.tokens_seen);
        for (const SaeParams* s : {&im.p, &im.adam_m, &im.adam_v}) {
            w.floats(s->w_enc);
            w.floats(s->b_enc);
            w.floats(s->w_dec);
            w.floats(s->b_dec);
        }
        w.bytes(im.since_fired.data(), im.since_fired.size() * sizeof(int64_t));
        w.pod(static_cast<uint64_t>(run_state.size()));
        w.bytes(run_state.data(), run_state.size());
        const uint32_t crc = w.crc();
        w.pod(crc);
        MONA_RETURN_IF_ERROR(w.status());
    }
    return file.commit();
}

Result<SaeTrainer> SaeTrainer::load_checkpoint(const std::string& path, std::string* run_state) {
    if (run_state != nullptr) run_state->clear();
    std::error_code ec;
    const auto file_size = std::filesystem::file_size(path, ec);
    if (ec) {
        if (ec == std::errc::no_such_file_or_directory) return not_found("checkpoint " + path + " does not exist");
        return io_error("cannot stat checkpoint " + path + ": " + ec.message());
    }
    FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return io_error("cannot open checkpoint " + path + ": " + std::strerror(errno));
    std::unique_ptr<FILE, int (*)(FILE*)> closer(f, &std::fclose);
    auto bad = [&](const std::string& what) { return invalid_input(path + ": " + what); };
    if (file_size < static_cast<uintmax_t>(kCheckpointHeaderBytes)) {
        return bad("file has " + std::to_string(file_size) + " bytes, shorter than the checkpoint header");
    }

    CrcReader r(f);
    char magic[8];
    r.bytes(magic, sizeof(magic));
    if (std::memcmp(magic, kCheckpointMagic, sizeof(magic)) != 0) return bad("not a mona SAE trainer checkpoint");
    const auto version = r.pod<uint32_t>();
    if (version != 1 && version != kCheckpointVersion) {
        return bad("checkpoint version " + std::to_string(version) + ", expected 1 or " +
                   std::to_string(kCheckpointVersion));
    }
    r.pod<uint32_t>();
    SaeTrainOptions o;
    o.d_in = r.pod<int64_t>();
    o.n_latents = r.pod<int64_t>();
    o.k = r.pod<int32_t>();
    o.k_aux = r.pod<int32_t>();
    o.batch_size = r.pod<int64_t>();
    o.lr = r.pod<double>();
    o.warmup_steps = r.pod<int64_t>();
    o.grad_clip = r.pod<double>();
    o.dead_after_tokens = r.pod<int64_t>();
    o.auxk_alpha = r.pod<double>();
    o.seed = r.pod<uint64_t>();
    o.n_threads = r.pod<int32_t>();
    r.pod<int32_t>();
    const auto step = r.pod<int64_t>();
    const auto tokens_seen = r.pod<int64_t>();
    if (!r.ok()) return io_error("cannot read checkpoint header of " + path);
    if (Status s = validate(o); !s.ok()) return s.with_context(path);
    if (step < 0 || tokens_seen < 0) return bad("negative step or token count");

    const uint64_t n_floats = 3 * static_cast<uint64_t>(2 * o.n_latents * o.d_in + o.n_latents + o.d_in);
    // Version 2 follows the counters with a u64 length and the caller's run state of that many bytes.
    const uint64_t fixed = kCheckpointHeaderBytes + 4 * n_floats + 8 * static_cast<uint64_t>(o.n_latents) + 4;
    const uint64_t expected = version == 1 ? fixed : fixed + 8;
    if (file_size < expected || (version == 1 && file_size != expected)) {
        return bad("file has " + std::to_string(file_size) + " bytes, expected " + std::to_string(expected) +
                   " for d_in=" + std::to_string(o.d_in) + ", n_latents=" + std::to_string(o.n_latents));
    }

    MONA_TRY(auto impl, Impl::make(o));
    impl->step = step;
    impl->tokens_seen = tokens_seen;
    for (SaeParams* s : {&impl->p, &impl->adam_m, &impl->adam_v}) {
        r.floats(s->w_enc);
        r.floats(s->b_enc);
        r.floats(s->w_dec);
        r.floats(s->b_dec);
    }
    r.bytes(impl->since_fired.data(), impl->since_fired.size() * sizeof(int64_t));
    std::string state;
    if (version >= 2) {
        const auto n_state = r.pod<uint64_t>();
        if (!r.ok()) return io_error("cannot read checkpoint " + path);
        if (n_state != file_size - expected) {
            return bad("file has " + std::to_string(file_size) + " bytes, expected " +
                       std::to_string(expected + n_state) + " for d_in=" + std::to_string(o.d_in) + ", n_latents=" +
                       std::to_string(o.n_latents) + " and " + std::to_string(n_state) + " bytes of run state");
        }
        state.resize(static_cast<size_t>(n_state));
        r.bytes(state.data(), state.size());
    }
    const uint32_t computed = r.crc();
    const auto stored = r.pod<uint32_t>();
    if (!r.ok()) return io_error("cannot read checkpoint " + path);
    if (stored != computed) return bad("checksum mismatch (the file is corrupt)");
    for (const auto count : impl->since_fired) {
        if (count < 0) return bad("negative tokens-since-fired counter");
    }
    if (run_state != nullptr) *run_state = std::move(state);
    return SaeTrainer(std::move(impl));
}

Status SaeTrainer::save_sparsify(const std::string& dir, const std::string& hookpoint) const {
    namespace fs = std::filesystem;
    const Impl& im = *impl_;
    MONA_RETURN_IF_ERROR(ensure_dir(dir));
    const std::vector<TensorToWrite> tensors = {
        {"encoder.weight", {im.n_latents, im.d}, im.p.w_enc.data()},
        {"encoder.bias", {im.n_latents}, im.p.b_enc.data()},
        {"W_dec", {im.n_latents, im.d}, im.p.w_dec.data()},
        {"b_dec", {im.d}, im.p.b_dec.data()},
    };
    MONA_RETURN_IF_ERROR(
        write_safetensors((fs::path(dir) / "sae.safetensors").string(), tensors, {{"hookpoint", hookpoint}}));
    nlohmann::ordered_json cfg;
    cfg["expansion_factor"] = std::max<int64_t>(1, im.n_latents / im.d);
    cfg["normalize_decoder"] = true;
    cfg["num_latents"] = im.n_latents;
    cfg["k"] = im.k;
    cfg["d_in"] = im.d;
    cfg["activation"] = "topk";
    cfg["signed"] = false;
    const std::string text = cfg.dump(2) + "\n";
    return write_file_atomic((fs::path(dir) / "cfg.json").string(), text);
}

Result<nlohmann::json> check_train_state(const std::string& state_text, const nlohmann::json& config,
                                         const std::string& where) {
    nlohmann::json state = nlohmann::json::parse(state_text, nullptr, /*allow_exceptions=*/false);
    if (state.is_discarded()) return invalid_input(where + ": not valid JSON");
    if (!state.is_object())
        return invalid_input(fmt::format("{}: expected a JSON object, found {}", where, state.type_name()));
    const auto field = [&](const char* key) -> const nlohmann::json* {
        auto it = state.find(key);
        return it == state.end() ? nullptr : &*it;
    };
    const nlohmann::json* saved = field("config");
    if (saved == nullptr || !saved->is_object()) {
        return invalid_input(fmt::format("{}: field 'config': expected an object, found {}", where,
                                         saved == nullptr ? "nothing" : saved->type_name()));
    }
    if (config.is_object()) {
        for (const auto& [key, value] : config.items()) {
            auto it = saved->find(key);
            const nlohmann::json found = it == saved->end() ? nlohmann::json() : *it;
            if (found != value) {
                return invalid_input(
                    fmt::format("--resume: {} differs from the checkpointed run ({} vs {} in {}, "
                                "field 'config.{}')",
                                key, value.dump(), found.dump(), where, key));
            }
        }
    }
    // epochs_done is required; the others are absent from version 1 states. epoch1_documents is -1 for "all".
    for (const char* key : {"epochs_done", "epoch1_documents", "documents", "step"}) {
        const nlohmann::json* value = field(key);
        const bool required = std::string(key) == "epochs_done";
        if (value == nullptr && !required) continue;
        const int64_t floor = std::string(key) == "epoch1_documents" ? -1 : 0;
        const bool ok = value != nullptr && value->is_number_integer() &&
                        !(value->is_number_unsigned() && value->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) &&
                        value->get<int64_t>() >= floor;
        if (!ok) {
            return invalid_input(fmt::format("{}: field '{}': expected an integer >= {}, found {}", where, key, floor,
                                             value == nullptr ? "nothing" : value->dump()));
        }
    }
    return state;
}

}  // namespace mona
