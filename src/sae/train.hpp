// sae/train.hpp: a CPU trainer for TopK sparse autoencoders (Gao et al. 2024).
//
// The recipe is the one EleutherAI sparsify and dictionary_learning implement (spec sae-formats.md §5.8).
// Activations arrive as f32 row blocks x [n_tokens, d_in]; nothing here depends on llama.cpp.
//
// Model (W_enc, W_dec both [n_latents, d_in] row-major, the sparsify layout):
//   pre = ReLU(W_enc (x - b_dec) + b_enc)                     [n_latents]
//   z   = TopK_k(pre)             (ties keep the lower latent index; zero entries stay zero)
//   x^  = W_dec^T z + b_dec                                     rows of W_dec have unit L2 norm
//
// Loss per batch (sparsify's normalisation, so the main term is the batch FVU):
//   V    = sum_t ||x_t - mean(x)||^2                           total variance of the batch
//   fvu  = sum_t ||x_t - x^_t||^2 / V
//   AuxK (only when some latents are dead, i.e. went dead_after_tokens tokens without firing):
//     e_t  = x_t - x^_t                                         (a constant: no gradient flows through it)
//     e^_t = W_dec^T TopK_{k_aux'}(pre_t restricted to dead latents),   k_aux' = min(k_aux, n_dead), no b_dec
//     aux  = auxk_alpha * min(n_dead / k_aux, 1) * sum_t ||e_t - e^_t||^2 / sum_t ||e_t - mean(e)||^2
//   loss = fvu + aux
// When a batch has zero variance (e.g. one token) its denominator falls back to 1; a zero residual variance
// drops the AuxK term (dictionary_learning's nan_to_num).
//
// One step(): analytic gradients (backprop through the kept top-k entries only; decoder gradients are sparse
// in latents), then, in this order: remove from each decoder row's gradient its component parallel to the row,
// clip all gradients by their global L2 norm (grad_clip), Adam (beta 0.9/0.999, eps 1e-8, bias-corrected) at
// lr * min(1, step / warmup_steps), renormalise decoder rows to unit norm, update the per-latent counters of
// tokens since last firing (a latent fires on a token when it is kept with a value > 0).
//
// Initialisation: decoder rows are seeded random unit vectors, W_enc = W_dec (the encoder is the decoder's
// transpose in the x -> pre orientation), b_enc = 0, b_dec = 0 until init_b_dec() sets it to the geometric
// median of a first batch (Weiszfeld, <= 100 iterations, tolerance 1e-5), as the recipe asks.
//
// Usage sketch:
//   MONA_TRY(auto trainer, SaeTrainer::create({.d_in = 576, .n_latents = 4608, .k = 32}));
//   MONA_RETURN_IF_ERROR(trainer.init_b_dec(first.data(), 4096));
//   while (buffer.pop_batch(4096, batch)) {            // see sae/shuffle_buffer.hpp
//       SaeTrainStats s = trainer.step(batch.data(), 4096);
//       if (s.step % 1000 == 0) MONA_RETURN_IF_ERROR(trainer.save_checkpoint("run/ckpt.bin"));
//   }
//   MONA_RETURN_IF_ERROR(trainer.save_sparsify("run/layers.15", "layers.15"));   // readable by sae/sae.hpp
//
// Cost per step: one sgemm for the pre-activations (2 * n * n_latents * d_in flops, the bulk of the time);
// the decoder and all gradients touch only the kept (token, latent) pairs, O(n * (k + k_aux') * d_in), grouped
// by latent so each gradient row has one writer. While >= k_aux latents are dead, AuxK adds k_aux pairs per
// token and dominates the step (d_in = 576: 288 aux pairs against 32 kept ones).
// Work outside BLAS is split over n_threads with a fixed partition and fixed reduction order, so results are
// bit-identical for a fixed seed, data order and BLAS thread count, and independent of n_threads.
// A checkpoint holds the options, parameters, Adam moments, step, token count and per-latent counters, so
// load_checkpoint() + step() continues exactly as if training had never stopped, and the caller's own run state
// (where its data stream stands), committed in the same atomic rename.
//
// Thread-safety: a SaeTrainer is not safe for concurrent use (even const methods use scratch buffers).
// Movable, not copyable.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mona/status.hpp"

namespace mona {

struct SaeTrainOptions {
    int64_t d_in = 0;                        // width of an activation row; > 0
    int64_t n_latents = 0;                   // dictionary size; > 0
    int32_t k = 0;                           // latents kept per token; 1..n_latents
    int64_t batch_size = 4096;               // tokens per step the caller intends to pass (step() takes any n)
    double lr = 0;                           // Adam learning rate; 0 = 2e-4 / sqrt(n_latents / 2^14)
    int64_t warmup_steps = 1000;             // linear warm-up length in steps; 0 = none
    double grad_clip = 1.0;                  // max global gradient L2 norm; 0 = no clipping
    int64_t dead_after_tokens = 10'000'000;  // a latent is dead after this many tokens without firing; > 0
    double auxk_alpha = 1.0 / 32;            // weight of the AuxK loss; 0 = no AuxK
    int32_t k_aux = 0;                       // dead latents used by AuxK per token; 0 = d_in / 2 (at least 1)
    uint64_t seed = 0;                       // seeds the decoder initialisation
    int32_t n_threads = 0;                   // threads for the non-BLAS loops; 0 = hardware concurrency
};

struct SaeTrainStats {
    int64_t step = 0;          // steps taken so far, this one included
    double loss = 0;           // fvu + auxk_loss, before this step's update
    double fvu = 0;            // fraction of variance unexplained on this batch
    double l0 = 0;             // mean number of latents with value > 0 per token
    double dead_fraction = 0;  // fraction of latents dead after this step's counter update
    double auxk_loss = 0;      // the weighted AuxK term included in loss (0 when nothing is dead)
    int64_t tokens_seen = 0;   // tokens trained on so far, this batch included
};

// The trainable parameters (also used to hold their gradients).
struct SaeParams {
    std::vector<float> w_enc;  // [n_latents, d_in]
    std::vector<float> b_enc;  // [n_latents]
    std::vector<float> w_dec;  // [n_latents, d_in]; rows unit-norm after init and after every step
    std::vector<float> b_dec;  // [d_in]
};

// Loss and gradients at the current parameters (see SaeTrainer::compute_gradients).
struct SaeGradients {
    SaeParams grad;   // d loss / d params, before the parallel-component removal and clipping
    double loss = 0;  // fvu + auxk_loss
    double fvu = 0;
    double auxk_loss = 0;
    int64_t n_dead = 0;               // dead latents at the time of the call
    std::vector<int32_t> active;      // [n, k]: kept latent per slot, best first; -1 where the value is 0
    std::vector<int32_t> aux_active;  // [n, min(k_aux, n_dead)] when AuxK ran, else empty; -1 for zero values
};

// Fraction of variance unexplained: sum_t ||x_t - x^_t||^2 / sum_t ||x_t - mean(x)||^2 over x, x_hat
// [n_tokens, d] (accumulated in double). A zero denominator gives 0 when the error is 0 and +inf otherwise.
double fvu(const float* x, const float* x_hat, int64_t n_tokens, int64_t d);

// Geometric median of the rows of x [n, d] by Weiszfeld's iteration (in double) started at the mean; stops
// after max_iter iterations or when the estimate moves less than tol (L2). Requires n > 0 and d > 0.
std::vector<float> geometric_median(const float* x, int64_t n, int64_t d, int32_t max_iter = 100, double tol = 1e-5);

// The resume check of `mona train-sae`: `state_text` is a training state (train_state.json, or the copy inside a
// version 2 checkpoint: {"config": {...}, "epochs_done": n, "epoch1_documents": ..., "documents": ..., "step": ...})
// and `config` the current run's config (a JSON object). Returns the parsed state. kInvalidInput naming `where` and
// the field when the text is not a JSON object with an object "config", when epochs_done (required) or the
// optional counters are not integers in range, or when a key of `config` differs from the state's ("--resume:
// layer differs from the checkpointed run (4 vs 3 in PATH, field 'config.layer')"). Never throws.
Result<nlohmann::json> check_train_state(const std::string& state_text, const nlohmann::json& config,
                                         const std::string& where);

class SaeTrainer {
   public:
    // kInvalidInput naming the field when an option is out of range; kInternal when allocation fails.
    static Result<SaeTrainer> create(const SaeTrainOptions& options);

    // Reads a file written by save_checkpoint(); `run_state`, when given, receives the run state saved with it
    // ("" for a version 1 file). kNotFound / kIo for a missing or unreadable file; kInvalidInput naming the path
    // for a wrong magic, version, size, option value or checksum.
    static Result<SaeTrainer> load_checkpoint(const std::string& path, std::string* run_state = nullptr);

    SaeTrainer(SaeTrainer&&) noexcept;
    SaeTrainer& operator=(SaeTrainer&&) noexcept;
    SaeTrainer(const SaeTrainer&) = delete;
    SaeTrainer& operator=(const SaeTrainer&) = delete;
    ~SaeTrainer();

    const SaeTrainOptions& options() const;  // as given (0 = auto fields unresolved)
    double lr() const;                       // resolved peak learning rate
    int32_t k_aux() const;                   // resolved k_aux
    int64_t step_count() const;
    int64_t tokens_seen() const;

    // Sets b_dec to the geometric median of x [n, d_in]. kInvalidInput when n <= 0 or x holds a non-finite
    // value. Call it once, on the first batch, before the first step().
    Status init_b_dec(const float* x, int64_t n);

    // One training step on x [n, d_in], 0 < n < 2^31 (asserts otherwise: the caller owns the batch size).
    // Statistics are measured before the update. Non-finite input shows up as a non-finite loss.
    SaeTrainStats step(const float* x, int64_t n);

    // x_hat [n, d_in] = the SAE's reconstruction of x [n, d_in] with the current parameters.
    void reconstruct(const float* x, int64_t n, float* x_hat) const;

    // Loss and analytic gradients on x [n, d_in] without changing any state (for tests and diagnostics).
    // aux_residual, when given ([n, d_in]), replaces e = x - x^ as the AuxK target, so a finite-difference
    // check can hold it fixed as the gradient does.
    SaeGradients compute_gradients(const float* x, int64_t n, const float* aux_residual = nullptr) const;

    const SaeParams& params() const;
    SaeParams& mutable_params();  // tests only: shapes must not change

    // Tokens since each latent last fired, [n_latents]. The setter exists so tests can force latents dead.
    const std::vector<int64_t>& tokens_since_fired() const;
    void set_tokens_since_fired(int64_t latent_idx, int64_t n_tokens);

    // Writes everything needed to resume to `path` atomically (io/atomic_file.hpp: temporary file, fsync,
    // rename), with `run_state`: opaque bytes of the caller's (e.g. epochs done, as JSON) that must change in the
    // same commit as the weights, so that no crash can leave one ahead of the other. Format: magic "MONASAET",
    // version 2, the options, step, tokens seen, then f32 W_enc, b_enc, W_dec, b_dec, the Adam first moments and
    // second moments in the same order, i64 tokens-since-fired [n_latents], u64 run-state length and its bytes,
    // and a CRC-32 of everything before it; little-endian (version 1 ended after the counters).
    // kNotFound when the folder is missing, kIo otherwise.
    Status save_checkpoint(const std::string& path, std::string_view run_state = {}) const;

    // Writes the SAE in EleutherAI sparsify layout (spec sae-formats.md §5.2): <dir>/sae.safetensors with F32
    // encoder.weight [n_latents, d_in], encoder.bias [n_latents], W_dec [n_latents, d_in], b_dec [d_in]
    // (metadata "hookpoint"), then <dir>/cfg.json {expansion_factor, normalize_decoder: true, num_latents, k,
    // d_in, activation: "topk", signed: false}. Both files are written atomically, cfg.json last. sparsify
    // names the folder after the hookpoint (e.g. dir = "out/layers.15"), which is where sae/sae.hpp reads the
    // layer from. Creates dir if needed; kIo on failure.
    Status save_sparsify(const std::string& dir, const std::string& hookpoint) const;

   private:
    struct Impl;
    explicit SaeTrainer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace mona
