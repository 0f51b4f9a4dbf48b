#include "jobs/check.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>

#include "embed/embedder.hpp"
#include "jobs/engine.hpp"
#include "jobs/run_support.hpp"

namespace mona {

namespace {

// A non-finite FVU (zero variance) as JSON null.
nlohmann::ordered_json number_or_null(double value) {
    return std::isfinite(value) ? nlohmann::ordered_json(value) : nlohmann::ordered_json(nullptr);
}

}  // namespace

nlohmann::ordered_json CheckReport::to_json() const {
    nlohmann::ordered_json out;
    out["model"] = model_path;
    out["sae"] = sae_path;
    out["configured_layer"] = configured_layer;
    out["samples"] = n_samples;
    out["skipped"] = n_skipped;
    out["recorded_fvu"] = recorded.fvu ? nlohmann::ordered_json(*recorded.fvu) : nlohmann::ordered_json(nullptr);
    out["recorded_fvu_source"] = recorded.fvu ? recorded.source : recorded.note;
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (const LayerHealth& layer : layers) {
        rows.push_back({{"layer", layer.layer},
                        {"tensor", layer.tensor},
                        {"tokens", layer.n_tokens},
                        {"fvu", number_or_null(layer.fvu)},
                        {"l0", layer.l0},
                        {"dead_latents", layer.n_dead},
                        {"dead_fraction", layer.dead_fraction}});
    }
    out["layers"] = rows;
    out["best_layer"] = verdict.best_layer;
    out["warnings"] = verdict.warnings;
    out["notes"] = notes;
    return out;
}

std::string CheckReport::table() const {
    std::string text = fmt::format("SAE   {}\nmodel {}\n{} samples ({} skipped), tokens as pooled\n\n", sae_path,
                                   model_path, n_samples, n_skipped);
    text += fmt::format("{:>5}  {:<10}  {:>8}  {:>8}  {:>8}  {:>14}\n", "layer", "tensor", "tokens", "FVU", "L0",
                        "dead latents");
    for (const LayerHealth& layer : layers) {
        text += fmt::format("{:>5}  {:<10}  {:>8}  {:>8.4f}  {:>8.2f}  {:>7} ({:>4.1f}%){}\n", layer.layer,
                            layer.tensor, layer.n_tokens, layer.fvu, layer.l0, layer.n_dead,
                            100.0 * layer.dead_fraction, layer.layer == configured_layer ? "  <- configured" : "");
    }
    text += "\nrecorded FVU: ";
    text += recorded.fvu ? fmt::format("{:.4f} ({})", *recorded.fvu, recorded.source) : recorded.note;
    text += "\n";
    for (const std::string& note : notes) text += "note: " + note + "\n";
    const bool healthy = verdict.warnings.empty() && verdict.best_layer == configured_layer;
    text +=
        fmt::format("verdict: best layer {}{}\n", verdict.best_layer, healthy ? " (the configured one); healthy" : "");
    for (const std::string& warning : verdict.warnings) text += "warning: " + warning + "\n";
    return text;
}

Result<CheckReport> run_check(const CheckConfig& config) {
    const SelectConfig& base = config.base;
    if (config.n_samples < 1) return invalid_input(fmt::format("--samples {}: expected >= 1", config.n_samples));
    MONA_TRY(SaeModel sae, SaeModel::open({base.sae_path}));
    MONA_TRY(SaeDecoder decoder, SaeDecoder::open(sae.info()));
    MONA_TRY(Session session, Session::open(session_options(base)));
    const ModelInfo& mi = session.info();
    // The layer select uses this SAE at; an explicit --layer moves the checked layers, without the error select
    // gives when it contradicts the SAE's own layer (checking another layer is the point here).
    MONA_TRY(const int32_t configured, resolve_layer(sae.info().layer ? -1 : base.layer, mi, sae.info()));
    const int32_t center = base.layer >= 0 ? base.layer : configured;
    MONA_TRY(const std::string center_tensor, layer_tensor_name(center, mi.n_layer, mi.path));

    CheckReport report;
    report.model_path = mi.path;
    report.sae_path = sae.info().path;
    report.configured_layer = configured;
    report.center_layer = center;
    report.recorded = recorded_fvu(sae.info());
    if (sae.info().layer && base.layer >= 0 && base.layer != *sae.info().layer) {
        report.notes.push_back(fmt::format("--layer {} differs from the SAE's own layer {} (hook '{}')", base.layer,
                                           *sae.info().layer, sae.info().hook));
    }

    // Layers in order; the center's rows come as the Embedder's rows, the neighbours' as extra tensors.
    std::vector<int32_t> layers;
    EmbedOptions eopts;
    eopts.layer = center;
    eopts.token_mode = base.token_mode;
    eopts.keep_rows = true;
    std::vector<int32_t> extra_layers;
    for (int32_t layer : {center - 1, center, center + 1}) {
        if (layer == center) {
            layers.push_back(layer);
            continue;
        }
        Result<std::string> tensor = layer_tensor_name(layer, mi.n_layer, mi.path);
        if (!tensor.ok()) {
            report.notes.push_back(
                fmt::format("layer {} is not available in this model (layers 0..{})", layer, mi.n_layer - 1));
            continue;
        }
        layers.push_back(layer);
        extra_layers.push_back(layer);
        eopts.extra_tensors.push_back(tensor.value());
    }
    std::vector<ReconstructionStats> stats(layers.size(), ReconstructionStats(sae.info().d_in, sae.info().d_sae));
    const auto stats_of = [&](int32_t layer) -> ReconstructionStats& {
        return stats[static_cast<size_t>(std::find(layers.begin(), layers.end(), layer) - layers.begin())];
    };

    const int64_t d_in = sae.info().d_in;
    Embedder embedder(make_cpu_backend(session, nullptr, eopts), [&](EmbeddedSample& item) -> Status {
        auto [begin, end] = pooled_rows(item.tokens, base.token_mode);
        const int64_t n = end - begin;
        measure_reconstruction(sae, decoder, item.rows.data() + begin * d_in, n, stats_of(center), base.k);
        for (size_t extra_idx = 0; extra_idx < extra_layers.size(); ++extra_idx) {
            if (item.extra_width[extra_idx] != d_in) {
                return internal_error(fmt::format("captured {} has width {}, expected {}",
                                                  eopts.extra_tensors[extra_idx], item.extra_width[extra_idx], d_in));
            }
            measure_reconstruction(sae, decoder, item.extra[extra_idx].data() + begin * d_in, n,
                                   stats_of(extra_layers[extra_idx]), base.k);
        }
        return Status();
    });
    std::vector<detail::SkipRow> skipped;
    int64_t n_taken = 0;
    detail::Progress progress(base.progress, "check");
    // The pass stops reading the pool once n_samples are taken (through the cancel poll, which reads the next
    // record only when it says go on).
    SelectConfig reading = base;
    reading.cancelled = [&]() { return n_taken >= config.n_samples || (base.cancelled && base.cancelled()); };
    Status streamed = detail::stream_samples(
        base.pool_path, reading, session, skipped,
        [&](const Sample&, TokenizedSample tokens) -> Status {
            MONA_RETURN_IF_ERROR(embedder.add(static_cast<uint64_t>(n_taken), std::move(tokens)));
            ++n_taken;
            progress.update(n_taken, embedder.n_tokens_run());
            return Status();
        },
        [](uint64_t) { return true; });
    if (streamed.code() == StatusCode::kCancelled && n_taken >= config.n_samples) streamed = Status();
    MONA_RETURN_IF_ERROR(streamed);
    MONA_RETURN_IF_ERROR(embedder.flush());
    progress.update(n_taken, embedder.n_tokens_run(), true);
    if (n_taken == 0) return invalid_input(fmt::format("{}: no samples to check", base.pool_path));
    report.n_samples = n_taken;
    report.n_skipped = static_cast<int64_t>(skipped.size());

    for (size_t layer_idx = 0; layer_idx < layers.size(); ++layer_idx) {
        const ReconstructionStats& s = stats[layer_idx];
        LayerHealth health;
        health.layer = layers[layer_idx];
        MONA_TRY(health.tensor, layer_tensor_name(health.layer, mi.n_layer, mi.path));
        health.n_tokens = s.n_tokens();
        health.fvu = s.fvu();
        health.l0 = s.l0();
        health.n_dead = s.n_dead();
        health.dead_fraction = s.dead_fraction();
        report.layers.push_back(health);
    }
    if (stats_of(center).n_tokens() == 0) {
        return invalid_input(fmt::format("{}: the {} samples checked have no tokens to pool (--tokens {})",
                                         base.pool_path, n_taken, token_mode_name(base.token_mode)));
    }
    report.verdict = health_verdict(report.layers, configured, report.recorded);
    return report;
}

EmbedOptions::BatchProbe make_first_batch_probe(const SaeModel& sae, TokenMode token_mode, int32_t k_override,
                                                LogFn log) {
    if (!log || SaeDecoder::bytes(sae.info()) > kProbeMaxDecoderBytes) return nullptr;
    return [&sae, token_mode, k_override, log = std::move(log)](std::span<const EmbeddedSample> batch,
                                                                const float* rows, const SparseCodes& codes) {
        Result<SaeDecoder> decoder = SaeDecoder::open(sae.info());
        if (!decoder.ok()) {
            log(fmt::format("note: SAE check skipped (its decoder cannot be read: {})", decoder.status().message()));
            return;
        }
        const int64_t d_in = sae.info().d_in;
        ReconstructionStats stats(d_in, sae.info().d_sae);
        std::vector<float> x_hat;
        int64_t row0 = 0;
        for (const EmbeddedSample& item : batch) {
            auto [begin, end] = pooled_rows(item.tokens, token_mode);
            const int64_t n = end - begin;
            x_hat.resize(static_cast<size_t>(n * d_in));
            decoder->reconstruct(rows + (row0 + begin) * d_in, codes, row0 + begin, n, x_hat.data());
            stats.add(rows + (row0 + begin) * d_in, x_hat.data(), codes, row0 + begin, n);
            row0 += static_cast<int64_t>(item.tokens.tokens.size());
        }
        if (stats.n_tokens() == 0) return;
        const double fvu = stats.fvu();
        const RecordedFvu recorded = recorded_fvu(sae.info());
        const std::string k_note = k_override > 0 ? fmt::format(", with --k {}", k_override) : "";
        if (!(fvu <= 1.0)) {
            log(
                fmt::format("warning: SAE check on the first batch ({} tokens{}): FVU {:.4f} is above 1, the SAE "
                            "reconstructs these activations worse than their mean does (a wrong model, layer or SAE?); "
                            "`mona check` compares the neighbouring layers",
                            stats.n_tokens(), k_note, fvu));
        } else if (recorded.fvu && fvu_far_above(fvu, *recorded.fvu)) {
            log(
                fmt::format("warning: SAE check on the first batch ({} tokens{}): FVU {:.4f} is far above the SAE's "
                            "recorded {:.4f} ({}); `mona check` compares the neighbouring layers",
                            stats.n_tokens(), k_note, fvu, *recorded.fvu, recorded.source));
        }
    };
}

}  // namespace mona
