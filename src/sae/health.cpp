// sae/health.cpp: the decoder, reconstruction statistics and the verdict of `mona check` (sae/health.hpp).
#include "sae/health.hpp"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/safetensors.hpp"

namespace mona {

namespace {

namespace fs = std::filesystem;

// Reads `name` as [d_sae, d_in] (transposing a stored [d_in, d_sae]; a square matrix is taken as [d_sae, d_in]).
Result<std::vector<float>> read_decoder_matrix(const SafetensorsFile& file, const std::string& name, int64_t d_in,
                                               int64_t d_sae) {
    const std::string expected = fmt::format("[d_sae, d_in] = [{}, {}]", d_sae, d_in);
    auto it = file.tensors().find(name);
    if (it == file.tensors().end()) {
        return invalid_input(fmt::format("{}: missing tensor '{}' (expected shape {}; `mona check` needs the decoder)",
                                         file.path(), name, expected));
    }
    const std::vector<int64_t>& shape = it->second.shape;
    const bool latent_major = shape.size() == 2 && shape[0] == d_sae && shape[1] == d_in;
    const bool input_major = shape.size() == 2 && shape[0] == d_in && shape[1] == d_sae;
    if (!latent_major && !input_major) {
        return invalid_input(fmt::format("{}: tensor '{}': expected shape {} (or its transpose), found {}", file.path(),
                                         name, expected, shape_string(shape)));
    }
    MONA_TRY(std::vector<float> values, file.read_f32(name));
    for (size_t pos = 0; pos < values.size(); ++pos) {
        if (!std::isfinite(values[pos])) {
            return invalid_input(fmt::format("{}: tensor '{}': element {} is not finite; SAE weights must be finite",
                                             file.path(), name, pos));
        }
    }
    if (latent_major) return values;
    std::vector<float> transposed(values.size());
    for (int64_t row = 0; row < d_in; ++row) {
        for (int64_t latent = 0; latent < d_sae; ++latent)
            transposed[latent * d_in + row] = values[row * d_sae + latent];
    }
    return transposed;
}

// sqrt(d_in)/||x|| for constant_norm_rescale (1 for a zero or non-finite norm, as the encoder), else 1.
double input_scale(const float* x, int64_t d_in, SaeNorm norm) {
    if (norm != SaeNorm::kConstantNormRescale) return 1.0;
    double sum_sq = 0.0;
    for (int64_t dim = 0; dim < d_in; ++dim) sum_sq += double{x[dim]} * x[dim];
    const double length = std::sqrt(sum_sq);
    if (!(length > 0.0) || !std::isfinite(length)) return 1.0;
    return std::sqrt(static_cast<double>(d_in)) / length;
}

}  // namespace

Result<SaeDecoder> SaeDecoder::open(const SaeInfo& info) {
    bool transcoder = false;
    if (info.format == "sparsify" && !info.subtract_b_dec) transcoder = true;  // sparsify: transcode -> no b_dec
    if (transcoder) {
        return unsupported(fmt::format(
            "{}: a transcoder (cfg.json transcode: true) reconstructs another tensor than its input; it has no FVU",
            info.path));
    }
    const bool sparsify = info.format == "sparsify";
    if (!sparsify && info.format != "saelens") {
        return unsupported(fmt::format("{}: no decoder loader for SAE format '{}'", info.path, info.format));
    }
    MONA_TRY(SafetensorsFile file, SafetensorsFile::open(info.weights_file));
    SaeDecoder decoder;
    decoder.d_in = info.d_in;
    decoder.d_sae = info.d_sae;
    decoder.norm = info.norm;
    MONA_TRY(decoder.w_dec, read_decoder_matrix(file, "W_dec", info.d_in, info.d_sae));
    auto it = file.tensors().find("b_dec");
    if (it == file.tensors().end()) {
        return invalid_input(
            fmt::format("{}: missing tensor 'b_dec' (expected shape [{}] = [d_in])", file.path(), info.d_in));
    }
    if (it->second.shape.size() != 1 || it->second.shape[0] != info.d_in) {
        return invalid_input(fmt::format("{}: tensor 'b_dec': expected shape [{}] = [d_in], found {}", file.path(),
                                         info.d_in, shape_string(it->second.shape)));
    }
    MONA_TRY(decoder.b_dec, file.read_f32("b_dec"));
    return decoder;
}

void SaeDecoder::reconstruct(const float* x, const SparseCodes& codes, int64_t row0, int64_t n, float* x_hat) const {
    for (int64_t token = 0; token < n; ++token) {
        float* out = x_hat + token * d_in;
        std::copy(b_dec.begin(), b_dec.end(), out);
        const auto row = static_cast<size_t>(row0 + token);
        for (uint64_t pos = codes.offsets[row]; pos < codes.offsets[row + 1]; ++pos) {
            const float value = codes.val[pos];
            const float* direction = w_dec.data() + static_cast<int64_t>(codes.idx[pos]) * d_in;
            for (int64_t dim = 0; dim < d_in; ++dim) out[dim] += value * direction[dim];
        }
        const double scale = input_scale(x + token * d_in, d_in, norm);
        if (scale != 1.0) {
            for (int64_t dim = 0; dim < d_in; ++dim) out[dim] = static_cast<float>(out[dim] / scale);
        }
    }
}

ReconstructionStats::ReconstructionStats(int64_t d_in, int64_t d_sae)
    : d_in_(d_in),
      sum_(static_cast<size_t>(d_in), 0.0),
      sum_sq_(static_cast<size_t>(d_in), 0.0),
      fired_(static_cast<size_t>(d_sae), 0) {}

void ReconstructionStats::add(const float* x, const float* x_hat, const SparseCodes& codes, int64_t row0, int64_t n) {
    for (int64_t token = 0; token < n; ++token) {
        const float* row = x + token * d_in_;
        const float* rec = x_hat + token * d_in_;
        for (int64_t dim = 0; dim < d_in_; ++dim) {
            const double value = row[dim];
            const double diff = value - rec[dim];
            err_ += diff * diff;
            sum_[dim] += value;
            sum_sq_[dim] += value * value;
        }
        const auto code_row = static_cast<size_t>(row0 + token);
        for (uint64_t pos = codes.offsets[code_row]; pos < codes.offsets[code_row + 1]; ++pos) {
            if (codes.val[pos] > 0.0f) {
                ++n_active_;
                fired_[codes.idx[pos]] = 1;
            }
        }
    }
    n_tokens_ += n;
}

double ReconstructionStats::fvu() const {
    if (n_tokens_ == 0) return 0.0;
    double var = 0.0;
    for (int64_t dim = 0; dim < d_in_; ++dim) {
        // sum_t (x_t - mean)^2 = sum x^2 - (sum x)^2 / n, per dimension.
        var += sum_sq_[dim] - sum_[dim] * sum_[dim] / static_cast<double>(n_tokens_);
    }
    if (var > 0.0) return err_ / var;
    return err_ == 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
}

double ReconstructionStats::l0() const {
    return n_tokens_ == 0 ? 0.0 : static_cast<double>(n_active_) / static_cast<double>(n_tokens_);
}

int64_t ReconstructionStats::n_dead() const {
    int64_t dead = 0;
    for (uint8_t fired : fired_) dead += fired == 0;
    return dead;
}

double ReconstructionStats::dead_fraction() const {
    return fired_.empty() ? 0.0 : static_cast<double>(n_dead()) / static_cast<double>(fired_.size());
}

void measure_reconstruction(const SaeModel& sae, const SaeDecoder& decoder, const float* x, int64_t n,
                            ReconstructionStats& stats, int32_t k_override) {
    if (n <= 0) return;
    SparseCodes codes;
    sae.encode(x, n, codes, k_override);
    std::vector<float> x_hat(static_cast<size_t>(n * decoder.d_in));
    decoder.reconstruct(x, codes, 0, n, x_hat.data());
    stats.add(x, x_hat.data(), codes, 0, n);
}

RecordedFvu recorded_fvu(const SaeInfo& info) {
    RecordedFvu out;
    const fs::path folder(info.path);
    const fs::path metrics = folder.parent_path() / "metrics.json";
    const std::string none =
        info.format == "sparsify"
            ? "sparsify's cfg.json records none; `mona train-sae` writes heldout_fvu to metrics.json beside the layer "
              "folder"
            : "SAELens' cfg.json records none";
    std::error_code ec;
    if (!fs::exists(metrics, ec)) {
        out.note = "not recorded (" + none + ")";
        return out;
    }
    std::ifstream in(metrics);
    std::stringstream text;
    text << in.rdbuf();
    const nlohmann::json doc = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object()) {
        out.note = fmt::format("not recorded ({} is not a JSON object)", metrics.string());
        return out;
    }
    auto hook = doc.find("hookpoint");
    if (hook == doc.end() || !hook->is_string() || hook->get<std::string>() != folder.filename().string()) {
        out.note = fmt::format("not recorded ({} describes another SAE folder than {})", metrics.string(),
                               folder.filename().string());
        return out;
    }
    auto fvu = doc.find("heldout_fvu");
    if (fvu == doc.end() || !fvu->is_number()) {
        out.note = fmt::format("not recorded ({} has no heldout_fvu)", metrics.string());
        return out;
    }
    out.fvu = fvu->get<double>();
    out.source = metrics.string();
    return out;
}

bool fvu_far_above(double fvu, double recorded) {
    return fvu > kFarAboveFactor * recorded && fvu - recorded >= kFarAboveMargin;
}

HealthVerdict health_verdict(const std::vector<LayerHealth>& layers, int32_t configured, const RecordedFvu& recorded) {
    HealthVerdict verdict;
    const LayerHealth* best = nullptr;
    const LayerHealth* at_configured = nullptr;
    for (const LayerHealth& layer : layers) {
        if (layer.layer == configured) at_configured = &layer;
        if (best == nullptr || layer.fvu < best->fvu ||
            (layer.fvu == best->fvu && best->layer != configured &&
             (layer.layer == configured || layer.layer < best->layer))) {
            best = &layer;
        }
    }
    if (best == nullptr) return verdict;
    verdict.best_layer = best->layer;
    // The FVU rules judge the configured layer; when the check was centred elsewhere (--layer), the best layer seen.
    const LayerHealth* judged = at_configured != nullptr ? at_configured : best;
    if (at_configured == nullptr) {
        verdict.warnings.push_back(fmt::format(
            "the configured layer {} is not among the layers checked; the FVU rules judge the best of them, {}",
            configured, best->layer));
    } else if (best->layer != configured) {
        verdict.warnings.push_back(
            fmt::format("the SAE reconstructs layer {} better (FVU {:.4f}) than its configured layer {} (FVU {:.4f}): "
                        "a wrong or off-by-one layer?",
                        best->layer, best->fvu, configured, at_configured->fvu));
    }
    if (!(judged->fvu <= 1.0)) {
        verdict.warnings.push_back(
            fmt::format("FVU {:.4f} at layer {} is above 1: the SAE reconstructs these activations worse than their "
                        "mean does (a wrong model, layer or SAE?)",
                        judged->fvu, judged->layer));
    } else if (recorded.fvu && fvu_far_above(judged->fvu, *recorded.fvu)) {
        verdict.warnings.push_back(fmt::format(
            "FVU {:.4f} at layer {} is far above the SAE's recorded {:.4f} ({}): these samples are far from what it "
            "was trained on, or the model or layer differs",
            judged->fvu, judged->layer, *recorded.fvu, recorded.source));
    }
    return verdict;
}

}  // namespace mona
