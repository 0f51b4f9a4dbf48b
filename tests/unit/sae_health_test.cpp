// sae/health: FVU, L0 and dead latents of a small synthetic SAE against a plain reference computed here (dense
// codes, two-pass mean and variance), the decoder loader for both formats, the recorded FVU and the verdict.
#include "sae/health.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "io/safetensors.hpp"

namespace mona {
namespace {

namespace fs = std::filesystem;

std::vector<float> random_values(size_t n, uint64_t seed, float lo, float hi) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> out(n);
    for (float& v : out) v = dist(rng);
    return out;
}

struct Synthetic {
    int64_t d_in = 6;
    int64_t d_sae = 24;
    std::vector<float> w_enc, b_enc, b_dec, w_dec;
};

Synthetic make_synthetic() {
    Synthetic s;
    s.w_enc = random_values(static_cast<size_t>(s.d_in * s.d_sae), 1, -1.0f, 1.0f);
    s.b_enc = random_values(static_cast<size_t>(s.d_sae), 2, -0.3f, 0.1f);
    s.b_dec = random_values(static_cast<size_t>(s.d_in), 3, -0.5f, 0.5f);
    s.w_dec = random_values(static_cast<size_t>(s.d_sae * s.d_in), 4, -0.6f, 0.6f);
    return s;
}

SaeModel make_model(const Synthetic& s, SaeNorm norm) {
    SaeInfo info;
    info.format = "sparsify";
    info.architecture = "topk";
    info.activation = SaeActivation::kTopK;
    info.norm = norm;
    info.d_in = s.d_in;
    info.d_sae = s.d_sae;
    info.k = 3;
    info.subtract_b_dec = true;
    return SaeModel::from_params(info, s.w_enc, s.b_enc, s.b_dec, {}).value();
}

// The plain reference: dense codes, x^ = (W_dec^T z + b_dec) / s(x), FVU with the mean computed first.
struct Reference {
    double fvu = 0, l0 = 0;
    int64_t n_dead = 0;
};
Reference reference(const Synthetic& s, const SaeModel& sae, const std::vector<float>& x, int64_t n, SaeNorm norm) {
    SparseCodes codes;
    sae.encode(x.data(), n, codes);
    std::vector<double> mean(static_cast<size_t>(s.d_in), 0.0);
    for (int64_t t = 0; t < n; ++t) {
        for (int64_t d = 0; d < s.d_in; ++d) mean[d] += x[t * s.d_in + d] / static_cast<double>(n);
    }
    std::vector<int> fired(static_cast<size_t>(s.d_sae), 0);
    double err = 0, var = 0, active = 0;
    for (int64_t t = 0; t < n; ++t) {
        std::vector<double> z(static_cast<size_t>(s.d_sae), 0.0);
        for (uint64_t p = codes.offsets[t]; p < codes.offsets[t + 1]; ++p) z[codes.idx[p]] = codes.val[p];
        double scale = 1.0;
        if (norm == SaeNorm::kConstantNormRescale) {
            double sq = 0;
            for (int64_t d = 0; d < s.d_in; ++d) sq += double{x[t * s.d_in + d]} * x[t * s.d_in + d];
            scale = std::sqrt(static_cast<double>(s.d_in)) / std::sqrt(sq);
        }
        for (int64_t j = 0; j < s.d_sae; ++j) {
            if (z[j] > 0) {
                ++active;
                fired[j] = 1;
            }
        }
        for (int64_t d = 0; d < s.d_in; ++d) {
            double rec = s.b_dec[d];
            for (int64_t j = 0; j < s.d_sae; ++j) rec += z[j] * s.w_dec[j * s.d_in + d];
            rec /= scale;
            const double xv = x[t * s.d_in + d];
            err += (xv - rec) * (xv - rec);
            var += (xv - mean[d]) * (xv - mean[d]);
        }
    }
    Reference r;
    r.fvu = err / var;
    r.l0 = active / static_cast<double>(n);
    for (int f : fired) r.n_dead += f == 0;
    return r;
}

SaeDecoder decoder_of(const Synthetic& s, SaeNorm norm) {
    SaeDecoder decoder;
    decoder.d_in = s.d_in;
    decoder.d_sae = s.d_sae;
    decoder.w_dec = s.w_dec;
    decoder.b_dec = s.b_dec;
    decoder.norm = norm;
    return decoder;
}

TEST(SaeHealth, MatchesThePlainReferenceInBatches) {
    for (SaeNorm norm : {SaeNorm::kNone, SaeNorm::kConstantNormRescale}) {
        const Synthetic s = make_synthetic();
        const SaeModel sae = make_model(s, norm);
        const SaeDecoder decoder = decoder_of(s, norm);
        const int64_t n = 50;
        const std::vector<float> x = random_values(static_cast<size_t>(n * s.d_in), 7, -2.0f, 3.0f);
        const Reference ref = reference(s, sae, x, n, norm);

        ReconstructionStats stats(s.d_in, s.d_sae);
        measure_reconstruction(sae, decoder, x.data(), 17, stats);  // two batches: 17 + 33 tokens
        measure_reconstruction(sae, decoder, x.data() + 17 * s.d_in, n - 17, stats);
        EXPECT_EQ(stats.n_tokens(), n);
        EXPECT_NEAR(stats.fvu(), ref.fvu, 1e-5 * ref.fvu);
        EXPECT_NEAR(stats.l0(), ref.l0, 1e-12);
        EXPECT_EQ(stats.n_dead(), ref.n_dead);
        EXPECT_DOUBLE_EQ(stats.dead_fraction(), static_cast<double>(ref.n_dead) / static_cast<double>(s.d_sae));
        // A non-trivial case: some latents fire, some never do, and the FVU is neither 0 nor huge.
        EXPECT_GT(ref.l0, 0.5);
        EXPECT_GT(ref.fvu, 0.01);
    }
}

TEST(SaeHealth, PerfectReconstructionAndZeroVariance) {
    const int64_t d_in = 3, n = 4;
    const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    SparseCodes codes;
    codes.idx = {0};
    codes.val = {1.0f};
    codes.offsets = {0, 1, 1, 1, 1};
    ReconstructionStats exact(d_in, 2);
    exact.add(x.data(), x.data(), codes, 0, n);
    EXPECT_EQ(exact.fvu(), 0.0);
    EXPECT_DOUBLE_EQ(exact.l0(), 0.25);
    EXPECT_EQ(exact.n_dead(), 1);
    // All tokens equal: no variance; a reconstruction error makes FVU infinite, none makes it 0.
    const std::vector<float> same = {1, 1, 1, 1, 1, 1};
    const std::vector<float> off = {1, 1, 2, 1, 1, 1};
    ReconstructionStats flat(d_in, 2);
    flat.add(same.data(), off.data(), codes, 0, 2);
    EXPECT_TRUE(std::isinf(flat.fvu()));
    // The mean as the reconstruction gives FVU 1 exactly.
    std::vector<float> mean_rows(x.size());
    for (int64_t t = 0; t < n; ++t) {
        for (int64_t d = 0; d < d_in; ++d) mean_rows[t * d_in + d] = static_cast<float>(5.5 + d);
    }
    ReconstructionStats at_mean(d_in, 2);
    at_mean.add(x.data(), mean_rows.data(), codes, 0, n);
    EXPECT_NEAR(at_mean.fvu(), 1.0, 1e-12);
}

class SaeHealthFiles : public ::testing::Test {
   protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / ("mona_sae_health_" + std::to_string(::getpid()));
        fs::create_directories(root_);
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(root_, ec);
    }
    static void write_text(const fs::path& path, const std::string& text) {
        fs::create_directories(path.parent_path());
        std::ofstream(path) << text;
    }
    fs::path root_;
};

TEST_F(SaeHealthFiles, DecoderOfEitherFormatInEitherOrientation) {
    const Synthetic s = make_synthetic();
    // sparsify: W_dec [d_sae, d_in] as stored.
    const fs::path sparsify = root_ / "run" / "layers.3";
    write_text(sparsify / "cfg.json", R"({"d_in": 6, "num_latents": 24, "k": 3})");
    ASSERT_TRUE(write_safetensors((sparsify / "sae.safetensors").string(),
                                  {{"encoder.weight", {s.d_sae, s.d_in}, s.w_enc.data()},
                                   {"encoder.bias", {s.d_sae}, s.b_enc.data()},
                                   {"W_dec", {s.d_sae, s.d_in}, s.w_dec.data()},
                                   {"b_dec", {s.d_in}, s.b_dec.data()}},
                                  {})
                    .ok());
    const SaeModel a = SaeModel::open({sparsify.string()}).value();
    const SaeDecoder da = SaeDecoder::open(a.info()).value();
    EXPECT_EQ(da.w_dec, s.w_dec);
    EXPECT_EQ(da.b_dec, s.b_dec);

    // SAELens with W_dec stored transposed [d_in, d_sae]: read back as [d_sae, d_in].
    std::vector<float> transposed(s.w_dec.size());
    for (int64_t j = 0; j < s.d_sae; ++j) {
        for (int64_t d = 0; d < s.d_in; ++d) transposed[d * s.d_sae + j] = s.w_dec[j * s.d_in + d];
    }
    const fs::path saelens = root_ / "lens";
    write_text(saelens / "cfg.json",
               R"({"d_in": 6, "d_sae": 24, "architecture": "topk", "k": 3, "normalize_activations": "none"})");
    ASSERT_TRUE(write_safetensors((saelens / "sae_weights.safetensors").string(),
                                  {{"W_enc", {s.d_sae, s.d_in}, s.w_enc.data()},
                                   {"b_enc", {s.d_sae}, s.b_enc.data()},
                                   {"W_dec", {s.d_in, s.d_sae}, transposed.data()},
                                   {"b_dec", {s.d_in}, s.b_dec.data()}},
                                  {})
                    .ok());
    const SaeModel b = SaeModel::open({saelens.string()}).value();
    const SaeDecoder db = SaeDecoder::open(b.info()).value();
    EXPECT_EQ(db.w_dec, s.w_dec);

    // A folder without W_dec: the error names the file and the tensor.
    const fs::path no_dec = root_ / "nodec";
    write_text(no_dec / "cfg.json", R"({"d_in": 6, "num_latents": 24, "k": 3})");
    ASSERT_TRUE(write_safetensors((no_dec / "sae.safetensors").string(),
                                  {{"encoder.weight", {s.d_sae, s.d_in}, s.w_enc.data()},
                                   {"encoder.bias", {s.d_sae}, s.b_enc.data()},
                                   {"b_dec", {s.d_in}, s.b_dec.data()}},
                                  {})
                    .ok());
    const Result<SaeDecoder> missing = SaeDecoder::open(SaeModel::open({no_dec.string()}).value().info());
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.status().message().find("'W_dec'"), std::string::npos) << missing.status().message();
    EXPECT_NE(missing.status().message().find("sae.safetensors"), std::string::npos);

    // The recorded FVU: `mona train-sae`'s metrics.json beside the layer folder, only for the folder it names.
    EXPECT_FALSE(recorded_fvu(a.info()).fvu.has_value());
    EXPECT_NE(recorded_fvu(a.info()).note.find("not recorded"), std::string::npos);
    write_text(root_ / "run" / "metrics.json", R"({"hookpoint": "layers.3", "heldout_fvu": 0.125})");
    const RecordedFvu recorded = recorded_fvu(a.info());
    ASSERT_TRUE(recorded.fvu.has_value());
    EXPECT_DOUBLE_EQ(*recorded.fvu, 0.125);
    write_text(root_ / "run" / "metrics.json", R"({"hookpoint": "layers.4", "heldout_fvu": 0.125})");
    EXPECT_FALSE(recorded_fvu(a.info()).fvu.has_value());
}

LayerHealth layer_with(int32_t layer, double fvu) {
    LayerHealth h;
    h.layer = layer;
    h.fvu = fvu;
    return h;
}

TEST(SaeHealth, Verdict) {
    RecordedFvu none;
    RecordedFvu recorded;
    recorded.fvu = 0.1;
    recorded.source = "metrics.json";

    HealthVerdict healthy = health_verdict({layer_with(4, 0.3), layer_with(5, 0.12), layer_with(6, 0.4)}, 5, recorded);
    EXPECT_EQ(healthy.best_layer, 5);
    EXPECT_TRUE(healthy.warnings.empty());

    // Another layer reconstructs better: named, with a warning.
    HealthVerdict shifted = health_verdict({layer_with(4, 0.3), layer_with(5, 0.5), layer_with(6, 0.14)}, 5, none);
    EXPECT_EQ(shifted.best_layer, 6);
    ASSERT_EQ(shifted.warnings.size(), 1u);
    EXPECT_NE(shifted.warnings[0].find("layer 6"), std::string::npos);

    // Far above the recorded value (and more than the margin), or above 1 (worse than the mean).
    HealthVerdict far = health_verdict({layer_with(5, 0.45)}, 5, recorded);
    ASSERT_EQ(far.warnings.size(), 1u);
    EXPECT_NE(far.warnings[0].find("recorded 0.1000"), std::string::npos);
    EXPECT_TRUE(health_verdict({layer_with(5, 0.39)}, 5, recorded).warnings.empty());
    HealthVerdict worse = health_verdict({layer_with(5, 1.7)}, 5, none);
    ASSERT_EQ(worse.warnings.size(), 1u);
    EXPECT_NE(worse.warnings[0].find("above 1"), std::string::npos);

    EXPECT_TRUE(fvu_far_above(0.41, 0.1));
    EXPECT_FALSE(fvu_far_above(0.39, 0.1));
    EXPECT_FALSE(fvu_far_above(0.05, 0.01));  // 5x, but within the absolute margin
    // Centred away from the configured layer (--layer): said so, and the best measured layer is judged.
    HealthVerdict away = health_verdict({layer_with(9, 0.8), layer_with(10, 0.82)}, 20, recorded);
    EXPECT_EQ(away.best_layer, 9);
    ASSERT_EQ(away.warnings.size(), 2u);
    EXPECT_NE(away.warnings[0].find("configured layer 20 is not among"), std::string::npos);
    EXPECT_NE(away.warnings[1].find("FVU 0.8000 at layer 9 is far above"), std::string::npos);
    // Ties go to the configured layer.
    EXPECT_EQ(health_verdict({layer_with(4, 0.2), layer_with(5, 0.2)}, 5, none).best_layer, 5);
}

}  // namespace
}  // namespace mona
