// sae/health.hpp: how well an SAE reconstructs the activations it is given (`mona check`, and the one-batch check
// of select and embed). Model-free: rows in, numbers out, so it is unit-tested against a plain reference.
//
// The decoder: the encoder (sae.hpp) never loads it; this is the one place that does, for each format SaeModel::open
// reads (sparsify `W_dec [num_latents, d_in]` + `b_dec`, SAELens `W_dec [d_sae, d_in]` + `b_dec`; orientation by
// shape, a square matrix taken as [d_sae, d_in]). Its f32 size is d_sae x d_in x 4 bytes, as the encoder's.
//
// Reconstruction of a token x with codes z (the encoder's output, the format's own input scaling s(x)):
//   x^ = (W_dec^T z + b_dec) / s(x)        s = sqrt(d_in)/||x|| for SAELens constant_norm_rescale, else 1
// b_dec is added whether or not the encoder subtracts it (sparsify and SAELens decode the same way either way).
// A transcoder (sparsify transcode: true) reconstructs another tensor than its input, so it has no FVU here.
//
// Statistics over n tokens (ReconstructionStats):
//   FVU  = sum_t ||x_t - x^_t||^2 / sum_t ||x_t - mean_t(x)||^2     (the trainer's fvu(), sae/train.hpp)
//   L0   = mean over tokens of the active latents (codes > 0)
//   dead = latents never active over the tokens, as a share of d_sae
// The variance is accumulated as per-dimension sums of x and x^2 in double, so the tokens can come in batches.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mona/status.hpp"
#include "mona/types.hpp"
#include "sae/sae.hpp"

namespace mona {

struct SaeDecoder {
    int64_t d_in = 0;
    int64_t d_sae = 0;
    std::vector<float> w_dec;  // [d_sae, d_in] row-major
    std::vector<float> b_dec;  // [d_in]
    SaeNorm norm = SaeNorm::kNone;

    // Reads the decoder of the SAE `info` describes (info.weights_file, info.format). Errors: kInvalidInput for a
    // missing tensor or a wrong shape (naming file, tensor, expected and found shape), kUnsupported for a
    // transcoder, kIo.
    static Result<SaeDecoder> open(const SaeInfo& info);
    // Bytes the decoder takes in memory once loaded (f32).
    static uint64_t bytes(const SaeInfo& info) {
        return static_cast<uint64_t>(info.d_sae) * static_cast<uint64_t>(info.d_in) * 4U;
    }

    // x^ of `n` tokens: x [n, d_in] their inputs (for the input scaling), codes rows [row0, row0 + n) their codes,
    // x_hat [n, d_in] written.
    void reconstruct(const float* x, const SparseCodes& codes, int64_t row0, int64_t n, float* x_hat) const;
};

class ReconstructionStats {
   public:
    ReconstructionStats(int64_t d_in, int64_t d_sae);
    // Adds n tokens: inputs x [n, d_in], reconstructions x_hat [n, d_in], codes rows [row0, row0 + n).
    void add(const float* x, const float* x_hat, const SparseCodes& codes, int64_t row0, int64_t n);

    int64_t n_tokens() const { return n_tokens_; }
    // 0 tokens: 0. A zero variance (all tokens equal): 0 when the error is 0 too, else +infinity.
    double fvu() const;
    double l0() const;
    int64_t n_dead() const;
    double dead_fraction() const;

   private:
    int64_t d_in_;
    int64_t n_tokens_ = 0;
    double err_ = 0.0;
    int64_t n_active_ = 0;
    std::vector<double> sum_;     // [d_in]
    std::vector<double> sum_sq_;  // [d_in]
    std::vector<uint8_t> fired_;  // [d_sae]
};

// Encodes, reconstructs and adds `n` token rows x [n, d_in] to `stats` (k_override as SaeModel::encode).
void measure_reconstruction(const SaeModel& sae, const SaeDecoder& decoder, const float* x, int64_t n,
                            ReconstructionStats& stats, int32_t k_override = 0);

// The FVU an SAE's own files record for it, if any. sparsify's and SAELens' cfg.json record none; `mona train-sae`
// writes `heldout_fvu` (on held-out tokens of its training corpus) to metrics.json beside the layer folder, whose
// `hookpoint` names the folder.
struct RecordedFvu {
    std::optional<double> fvu;
    std::string source;  // the file it came from, "" when none
    std::string note;    // why there is none
};
RecordedFvu recorded_fvu(const SaeInfo& info);

// One layer's numbers.
struct LayerHealth {
    int32_t layer = 0;   // HF hidden_states numbering
    std::string tensor;  // llama.cpp tensor name
    int64_t n_tokens = 0;
    double fvu = 0.0;
    double l0 = 0.0;
    int64_t n_dead = 0;
    double dead_fraction = 0.0;
};

// FVU "far above" the recorded value: above kFarAboveFactor x recorded and at least kFarAboveMargin more. A shift
// from the SAE's training text to the user's raises FVU by itself; a wrong layer raises it more. Measured with the
// default SAE (recorded 0.14 on its own corpus; docs/beyond.md): 0.39 at its layer on the bench pool (real text,
// 2.8x), 0.79-0.82 at layers 9-11 (5.6x) and 1.5 at layers 26-27; 4x separates the two kinds.
inline constexpr double kFarAboveFactor = 4.0;
inline constexpr double kFarAboveMargin = 0.05;
bool fvu_far_above(double fvu, double recorded);

struct HealthVerdict {
    int32_t best_layer = -1;            // lowest FVU (ties: the configured layer, then the lower layer); -1: none
    std::vector<std::string> warnings;  // empty when healthy
};
// The verdict over the layers measured: `configured` is the layer the SAE is used at. The FVU rules (above 1, far
// above the recorded value) judge the configured layer, or the best measured one when it was not measured.
HealthVerdict health_verdict(const std::vector<LayerHealth>& layers, int32_t configured, const RecordedFvu& recorded);

}  // namespace mona
