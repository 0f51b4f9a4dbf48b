#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "io/safetensors.hpp"
#include "sae/sae.hpp"
#include "sae/train.hpp"

namespace mona {
namespace {

namespace fs = std::filesystem;

std::vector<float> gaussian(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(n);
    for (auto& value : v) value = dist(rng);
    return v;
}

SaeTrainer make_trainer(const SaeTrainOptions& options) {
    auto made = SaeTrainer::create(options);
    EXPECT_TRUE(made.ok()) << made.status().message();
    return std::move(made).value();
}

fs::path temp_dir(const std::string& name) {
    fs::path dir = fs::temp_directory_path() / ("mona_sae_train_" + name + "_" + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

// Compares every analytic gradient entry with a central difference of the loss. Entries whose perturbation
// changes a top-k (or AuxK) selection are skipped: the loss is not differentiable across that boundary.
// Passing means |analytic - numeric| <= 1e-2 * max(|analytic|, |numeric|) + 2e-4 (the absolute floor covers
// f32 rounding in the loss, about 1e-7 relative, divided by 2*eps).
void check_gradients(SaeTrainer& trainer, const std::vector<float>& x, int64_t n, const float* aux_residual) {
    const SaeGradients base = trainer.compute_gradients(x.data(), n, aux_residual);
    SaeParams& p = trainer.mutable_params();
    struct Tensor {
        const char* name;
        std::vector<float>* param;
        const std::vector<float>* grad;
    };
    const Tensor tensors[] = {{"w_enc", &p.w_enc, &base.grad.w_enc},
                              {"b_enc", &p.b_enc, &base.grad.b_enc},
                              {"w_dec", &p.w_dec, &base.grad.w_dec},
                              {"b_dec", &p.b_dec, &base.grad.b_dec}};
    constexpr float kEps = 2e-3f;
    for (const Tensor& t : tensors) {
        int64_t n_checked = 0, n_nonzero = 0, n_skipped = 0;
        for (size_t pos = 0; pos < t.param->size(); ++pos) {
            const float original = (*t.param)[pos];
            const float up = original + kEps, down = original - kEps;
            (*t.param)[pos] = up;
            const SaeGradients plus = trainer.compute_gradients(x.data(), n, aux_residual);
            (*t.param)[pos] = down;
            const SaeGradients minus = trainer.compute_gradients(x.data(), n, aux_residual);
            (*t.param)[pos] = original;
            if (plus.active != base.active || minus.active != base.active || plus.aux_active != base.aux_active ||
                minus.aux_active != base.aux_active) {
                ++n_skipped;
                continue;
            }
            const double numeric = (plus.loss - minus.loss) / (static_cast<double>(up) - down);
            const double analytic = (*t.grad)[pos];
            const double tol = 1e-2 * std::max(std::abs(analytic), std::abs(numeric)) + 2e-4;
            EXPECT_NEAR(analytic, numeric, tol) << t.name << "[" << pos << "]";
            ++n_checked;
            n_nonzero += std::abs(analytic) > 1e-3;
        }
        // The check must have bitten: most entries compared, and real (non-zero) gradients among them.
        EXPECT_GE(n_checked, static_cast<int64_t>(t.param->size()) * 8 / 10) << t.name << " skipped " << n_skipped;
        EXPECT_GE(n_nonzero, 3) << t.name;
    }
}

// A tiny SAE whose encoder is no longer the decoder's transpose, with non-zero biases.
SaeTrainer tiny_trainer(const SaeTrainOptions& options) {
    SaeTrainer trainer = make_trainer(options);
    SaeParams& p = trainer.mutable_params();
    const std::vector<float> noise = gaussian(p.w_enc.size(), 11, 0.3f);
    for (size_t pos = 0; pos < p.w_enc.size(); ++pos) p.w_enc[pos] += noise[pos];
    p.b_enc = gaussian(p.b_enc.size(), 12, 0.1f);
    p.b_dec = gaussian(p.b_dec.size(), 13, 0.2f);
    return trainer;
}

TEST(SaeTrain, GradientsMatchFiniteDifferences) {
    SaeTrainOptions options{.d_in = 5, .n_latents = 8, .k = 3};
    options.seed = 3;
    SaeTrainer trainer = tiny_trainer(options);
    const int64_t n = 16;
    const std::vector<float> x = gaussian(static_cast<size_t>(n * 5), 21);
    const SaeGradients g = trainer.compute_gradients(x.data(), n);
    EXPECT_EQ(0, g.n_dead);
    EXPECT_EQ(0.0, g.auxk_loss);
    EXPECT_TRUE(g.aux_active.empty());
    EXPECT_GT(g.fvu, 0.0);
    check_gradients(trainer, x, n, nullptr);
}

TEST(SaeTrain, GradientsWithAuxKMatchFiniteDifferences) {
    SaeTrainOptions options{.d_in = 5, .n_latents = 8, .k = 3};
    options.seed = 4;
    options.dead_after_tokens = 100;
    options.auxk_alpha = 0.5;
    options.k_aux = 2;
    SaeTrainer trainer = tiny_trainer(options);
    for (int64_t latent_idx : {1, 3, 4, 6}) trainer.set_tokens_since_fired(latent_idx, 1000);
    const int64_t n = 16;
    const std::vector<float> x = gaussian(static_cast<size_t>(n * 5), 22);

    // The AuxK target e = x - x^ is a constant for the gradient; hold it fixed for the finite differences.
    std::vector<float> x_hat(x.size());
    trainer.reconstruct(x.data(), n, x_hat.data());
    std::vector<float> e(x.size());
    for (size_t pos = 0; pos < x.size(); ++pos) e[pos] = x[pos] - x_hat[pos];

    const SaeGradients g = trainer.compute_gradients(x.data(), n, e.data());
    EXPECT_EQ(4, g.n_dead);
    EXPECT_EQ(static_cast<size_t>(n * 2), g.aux_active.size());
    EXPECT_GT(g.auxk_loss, 0.0);
    EXPECT_NEAR(g.fvu + g.auxk_loss, g.loss, 1e-12);
    // Without an explicit target the trainer uses the same e.
    const SaeGradients same = trainer.compute_gradients(x.data(), n);
    EXPECT_NEAR(g.loss, same.loss, 1e-6 * g.loss);
    for (size_t pos = 0; pos < g.grad.w_dec.size(); ++pos) EXPECT_NEAR(g.grad.w_dec[pos], same.grad.w_dec[pos], 1e-5);
    // AuxK changes the gradient of dead latents' decoder rows.
    SaeTrainOptions no_aux = options;
    no_aux.auxk_alpha = 0;
    SaeTrainer plain = tiny_trainer(no_aux);
    const SaeGradients g_plain = plain.compute_gradients(x.data(), n);
    EXPECT_EQ(g.fvu, g_plain.fvu);
    EXPECT_NE(g.grad.w_dec, g_plain.grad.w_dec);

    check_gradients(trainer, x, n, e.data());
}

TEST(SaeTrain, FvuHelperMatchesHandComputedValues) {
    // x rows (0,0), (2,0), (4,0): mean (2,0), total variance 8. x_hat off by 1 in one entry: fvu = 1/8.
    const std::vector<float> x = {0, 0, 2, 0, 4, 0};
    const std::vector<float> x_hat = {0, 0, 2, 1, 4, 0};
    EXPECT_DOUBLE_EQ(0.125, fvu(x.data(), x_hat.data(), 3, 2));
    EXPECT_DOUBLE_EQ(0.0, fvu(x.data(), x.data(), 3, 2));
    const std::vector<float> mean_rows = {2, 0, 2, 0, 2, 0};
    EXPECT_DOUBLE_EQ(1.0, fvu(x.data(), mean_rows.data(), 3, 2));
}

TEST(SaeTrain, GeometricMedianOfConvexQuadrilateralIsTheDiagonalCrossing) {
    // For four points in convex position the geometric median is where the diagonals cross.
    // Diagonals A-C and B-D of A(0,0) B(4,0) C(5,3) D(0,2) cross at (20/11, 12/11); the mean is (2.25, 1.25).
    const std::vector<float> pts = {0, 0, 4, 0, 5, 3, 0, 2};
    const std::vector<float> median = geometric_median(pts.data(), 4, 2);
    ASSERT_EQ(2u, median.size());
    EXPECT_NEAR(20.0 / 11.0, median[0], 1e-3);
    EXPECT_NEAR(12.0 / 11.0, median[1], 1e-3);
}

TEST(SaeTrain, GeometricMedianResistsAnOutlierBetterThanTheMean) {
    // Twelve points on a circle of radius 0.5 around c = (1, -2, 3), plus one point far away.
    std::vector<float> pts;
    for (int point_idx = 0; point_idx < 12; ++point_idx) {
        const double angle = 2 * M_PI * point_idx / 12;
        pts.insert(pts.end(), {1.0f + 0.5f * static_cast<float>(std::cos(angle)),
                               -2.0f + 0.5f * static_cast<float>(std::sin(angle)), 3.0f});
    }
    const std::vector<float> symmetric = geometric_median(pts.data(), 12, 3);
    EXPECT_NEAR(1.0, symmetric[0], 1e-4);
    EXPECT_NEAR(-2.0, symmetric[1], 1e-4);
    EXPECT_NEAR(3.0, symmetric[2], 1e-4);

    pts.insert(pts.end(), {1000.0f, 1000.0f, 1000.0f});
    const std::vector<float> median = geometric_median(pts.data(), 13, 3);
    double mean_shift = 0, median_shift = 0;
    const float c[3] = {1, -2, 3};
    for (int col = 0; col < 3; ++col) {
        double mean = 0;
        for (int point_idx = 0; point_idx < 13; ++point_idx) mean += pts[point_idx * 3 + col];
        mean /= 13;
        mean_shift += (mean - c[col]) * (mean - c[col]);
        median_shift += (median[col] - c[col]) * (median[col] - c[col]);
    }
    EXPECT_GT(std::sqrt(mean_shift), 100.0);
    // One outlier among 13 can move the median by at most a fraction of the circle's radius.
    EXPECT_LT(std::sqrt(median_shift), 0.1);
}

TEST(SaeTrain, InitBDecUsesTheGeometricMedianAndRejectsBadInput) {
    SaeTrainer trainer = make_trainer({.d_in = 2, .n_latents = 4, .k = 1});
    const std::vector<float> pts = {0, 0, 4, 0, 5, 3, 0, 2};
    ASSERT_TRUE(trainer.init_b_dec(pts.data(), 4).ok());
    EXPECT_NEAR(20.0 / 11.0, trainer.params().b_dec[0], 1e-3);
    EXPECT_EQ(StatusCode::kInvalidInput, trainer.init_b_dec(pts.data(), 0).code());
    const std::vector<float> with_nan = {0, 0, 1, NAN};
    const Status s = trainer.init_b_dec(with_nan.data(), 2);
    EXPECT_EQ(StatusCode::kInvalidInput, s.code());
    EXPECT_NE(std::string::npos, s.message().find("row 1, column 1")) << s.message();
}

TEST(SaeTrain, InitialisationFollowsTheRecipe) {
    SaeTrainer trainer = make_trainer({.d_in = 6, .n_latents = 20, .k = 2, .seed = 9});
    const SaeParams& p = trainer.params();
    EXPECT_EQ(p.w_enc, p.w_dec);
    EXPECT_EQ(std::vector<float>(20, 0.0f), p.b_enc);
    EXPECT_EQ(std::vector<float>(6, 0.0f), p.b_dec);
    for (int64_t latent_idx = 0; latent_idx < 20; ++latent_idx) {
        double norm2 = 0;
        for (int64_t col = 0; col < 6; ++col) norm2 += p.w_dec[latent_idx * 6 + col] * p.w_dec[latent_idx * 6 + col];
        EXPECT_NEAR(1.0, norm2, 1e-6);
    }
    EXPECT_NEAR(2e-4 / std::sqrt(20.0 / 16384.0), trainer.lr(), 1e-12);
    EXPECT_EQ(3, trainer.k_aux());
    // Same seed, same init; another seed, another init.
    EXPECT_EQ(p.w_dec, make_trainer({.d_in = 6, .n_latents = 20, .k = 2, .seed = 9}).params().w_dec);
    EXPECT_NE(p.w_dec, make_trainer({.d_in = 6, .n_latents = 20, .k = 2, .seed = 10}).params().w_dec);
}

TEST(SaeTrain, RejectsBadOptionsNamingTheField) {
    struct Case {
        SaeTrainOptions options;
        const char* field;
    };
    const Case cases[] = {
        {{.d_in = 0, .n_latents = 8, .k = 1}, "d_in"},
        {{.d_in = 4, .n_latents = 0, .k = 1}, "n_latents"},
        {{.d_in = 4, .n_latents = 8, .k = 0}, "k must"},
        {{.d_in = 4, .n_latents = 8, .k = 9}, "k must"},
        {{.d_in = 4, .n_latents = 8, .k = 2, .lr = -1}, "lr"},
        {{.d_in = 4, .n_latents = 8, .k = 2, .dead_after_tokens = 0}, "dead_after_tokens"},
        {{.d_in = 4, .n_latents = 8, .k = 2, .k_aux = -1}, "k_aux"},
    };
    for (const Case& c : cases) {
        const auto made = SaeTrainer::create(c.options);
        ASSERT_FALSE(made.ok()) << c.field;
        EXPECT_EQ(StatusCode::kInvalidInput, made.status().code()) << c.field;
        EXPECT_NE(std::string::npos, made.status().message().find(c.field)) << made.status().message();
    }
}

// Synthetic sparse data: each token is a positive combination of 3 of 32 random unit directions in R^24, plus
// noise. (In R^16 the 32 directions interfere so much that a linear encoder + TopK, trained or given the true
// directions, plateaus near FVU 0.07; at 24 dimensions training reaches about 0.03 while the dictionary is
// still overcomplete.)
constexpr int64_t kDim = 24;
constexpr int64_t kTrueDirs = 32;

struct SparseData {
    std::vector<float> dirs;  // [kTrueDirs, kDim]
    std::mt19937 rng;
    explicit SparseData(uint32_t seed) : dirs(gaussian(kTrueDirs * kDim, seed)), rng(seed + 1) {
        for (int64_t dir_idx = 0; dir_idx < kTrueDirs; ++dir_idx) {
            float* dir = dirs.data() + dir_idx * kDim;
            double norm2 = 0;
            for (int64_t col = 0; col < kDim; ++col) norm2 += dir[col] * dir[col];
            for (int64_t col = 0; col < kDim; ++col) dir[col] /= static_cast<float>(std::sqrt(norm2));
        }
    }
    std::vector<float> batch(int64_t n) {
        std::uniform_int_distribution<int> pick(0, kTrueDirs - 1);
        std::uniform_real_distribution<float> coef(0.5f, 2.0f);
        std::normal_distribution<float> noise(0.0f, 0.01f);
        std::vector<float> x(static_cast<size_t>(n * kDim));
        for (int64_t token_idx = 0; token_idx < n; ++token_idx) {
            float* row = x.data() + token_idx * kDim;
            int chosen[3];
            for (int slot = 0; slot < 3; ++slot) {
                do chosen[slot] = pick(rng);
                while (std::find(chosen, chosen + slot, chosen[slot]) != chosen + slot);
                const float c = coef(rng);
                for (int64_t col = 0; col < kDim; ++col) row[col] += c * dirs[chosen[slot] * kDim + col];
            }
            for (int64_t col = 0; col < kDim; ++col) row[col] += noise(rng);
        }
        return x;
    }
};

TEST(SaeTrain, RecoversPlantedSparseDirections) {
    SparseData data(5);
    SaeTrainOptions options{.d_in = kDim, .n_latents = 64, .k = 4};
    options.batch_size = 256;
    options.warmup_steps = 50;  // lr stays at the recipe's default, 2e-4 / sqrt(64 / 2^14) = 3.2e-3
    options.dead_after_tokens = 256 * 20;
    options.seed = 1;
    options.n_threads = 1;
    SaeTrainer trainer = make_trainer(options);
    std::vector<float> x = data.batch(256);
    ASSERT_TRUE(trainer.init_b_dec(x.data(), 256).ok());
    SaeTrainStats stats;
    for (int step_idx = 0; step_idx < 1200; ++step_idx) {
        x = data.batch(256);
        stats = trainer.step(x.data(), 256);
    }
    EXPECT_EQ(1200, stats.step);
    EXPECT_EQ(1200 * 256, stats.tokens_seen);
    EXPECT_LE(stats.l0, 4.0);
    EXPECT_GT(stats.l0, 3.0);
    EXPECT_LT(stats.fvu, 0.05);

    const std::vector<float> held_out = data.batch(1024);
    std::vector<float> x_hat(held_out.size());
    trainer.reconstruct(held_out.data(), 1024, x_hat.data());
    const double held_out_fvu = fvu(held_out.data(), x_hat.data(), 1024, kDim);
    EXPECT_LT(held_out_fvu, 0.05);

    const SaeParams& p = trainer.params();
    int n_recovered = 0;
    for (int64_t dir_idx = 0; dir_idx < kTrueDirs; ++dir_idx) {
        double best = -1;
        for (int64_t latent_idx = 0; latent_idx < 64; ++latent_idx) {
            double cos = 0;
            for (int64_t col = 0; col < kDim; ++col) {
                cos += data.dirs[dir_idx * kDim + col] * p.w_dec[latent_idx * kDim + col];
            }
            best = std::max(best, cos);
        }
        n_recovered += best > 0.9;
    }
    EXPECT_GE(n_recovered, 26) << "of 32 planted directions (>= 80%); held-out fvu " << held_out_fvu;
}

TEST(SaeTrain, DecoderRowsStayUnitNormAndLossFalls) {
    SaeTrainOptions options{.d_in = 12, .n_latents = 48, .k = 3};
    options.lr = 5e-2;
    options.warmup_steps = 2;
    options.seed = 2;
    SaeTrainer trainer = make_trainer(options);
    const std::vector<float> x = gaussian(64 * 12, 31);
    ASSERT_TRUE(trainer.init_b_dec(x.data(), 64).ok());
    const double first = trainer.step(x.data(), 64).loss;
    double last = first;
    for (int step_idx = 0; step_idx < 20; ++step_idx) last = trainer.step(x.data(), 64).loss;
    EXPECT_LT(last, first);
    const SaeParams& p = trainer.params();
    for (int64_t latent_idx = 0; latent_idx < 48; ++latent_idx) {
        double norm2 = 0;
        for (int64_t col = 0; col < 12; ++col) norm2 += p.w_dec[latent_idx * 12 + col] * p.w_dec[latent_idx * 12 + col];
        EXPECT_NEAR(1.0, std::sqrt(norm2), 1e-5) << "row " << latent_idx;
    }
    EXPECT_NE(p.w_enc, p.w_dec);  // the encoder trains freely
}

SaeTrainOptions small_options() {
    SaeTrainOptions options{.d_in = 8, .n_latents = 64, .k = 2};
    options.lr = 1e-2;
    options.warmup_steps = 3;
    options.dead_after_tokens = 32;  // latents die within a step or two, so AuxK and the counters matter
    options.k_aux = 3;
    options.seed = 77;
    return options;
}

constexpr int64_t kSmallBatch = 32;

std::vector<std::vector<float>> small_batches() {
    std::vector<std::vector<float>> batches;
    for (uint32_t batch_idx = 0; batch_idx < 10; ++batch_idx)
        batches.push_back(gaussian(kSmallBatch * 8, 100 + batch_idx));
    return batches;
}

void expect_same_state(const SaeTrainer& a, const SaeTrainer& b) {
    EXPECT_EQ(a.params().w_enc, b.params().w_enc);
    EXPECT_EQ(a.params().b_enc, b.params().b_enc);
    EXPECT_EQ(a.params().w_dec, b.params().w_dec);
    EXPECT_EQ(a.params().b_dec, b.params().b_dec);
    EXPECT_EQ(a.tokens_since_fired(), b.tokens_since_fired());
    EXPECT_EQ(a.step_count(), b.step_count());
    EXPECT_EQ(a.tokens_seen(), b.tokens_seen());
}

TEST(SaeTrain, CheckpointResumeMatchesUninterruptedTraining) {
    const auto batches = small_batches();
    const fs::path dir = temp_dir("ckpt");
    const std::string path = (dir / "trainer.ckpt").string();

    SaeTrainer straight = make_trainer(small_options());
    ASSERT_TRUE(straight.init_b_dec(batches[0].data(), kSmallBatch).ok());
    double auxk_seen = 0;
    for (const auto& batch : batches) auxk_seen += straight.step(batch.data(), kSmallBatch).auxk_loss;
    EXPECT_GT(auxk_seen, 0.0);  // the AuxK path ran

    {
        SaeTrainer first = make_trainer(small_options());
        ASSERT_TRUE(first.init_b_dec(batches[0].data(), kSmallBatch).ok());
        for (int step_idx = 0; step_idx < 5; ++step_idx) first.step(batches[step_idx].data(), kSmallBatch);
        ASSERT_TRUE(first.save_checkpoint(path, "{\"epochs_done\": 3}").ok());
    }
    EXPECT_FALSE(fs::exists(path + ".tmp." + std::to_string(getpid())));
    std::string run_state = "stale";
    auto loaded = SaeTrainer::load_checkpoint(path, &run_state);
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    EXPECT_EQ("{\"epochs_done\": 3}", run_state);
    SaeTrainer resumed = std::move(loaded).value();
    EXPECT_EQ(5, resumed.step_count());
    EXPECT_EQ(small_options().dead_after_tokens, resumed.options().dead_after_tokens);
    for (int step_idx = 5; step_idx < 10; ++step_idx) resumed.step(batches[step_idx].data(), kSmallBatch);
    expect_same_state(straight, resumed);
    fs::remove_all(dir);
}

TEST(SaeTrain, ResultsDoNotDependOnTheThreadCount) {
    const auto batches = small_batches();
    SaeTrainOptions one = small_options();
    one.n_threads = 1;
    SaeTrainOptions four = small_options();
    four.n_threads = 4;
    SaeTrainer a = make_trainer(one), b = make_trainer(four);
    ASSERT_TRUE(a.init_b_dec(batches[0].data(), kSmallBatch).ok());
    ASSERT_TRUE(b.init_b_dec(batches[0].data(), kSmallBatch).ok());
    for (const auto& batch : batches) {
        const SaeTrainStats sa = a.step(batch.data(), kSmallBatch), sb = b.step(batch.data(), kSmallBatch);
        EXPECT_EQ(sa.loss, sb.loss);
        EXPECT_EQ(sa.dead_fraction, sb.dead_fraction);
    }
    expect_same_state(a, b);
}

// A version 1 checkpoint (no run state) still loads, with an empty run state.
TEST(SaeTrain, LoadsVersionOneCheckpoints) {
    const auto batches = small_batches();
    const fs::path dir = temp_dir("ckpt_v1");
    const std::string path = (dir / "trainer.ckpt").string();
    SaeTrainer trainer = make_trainer(small_options());
    ASSERT_TRUE(trainer.init_b_dec(batches[0].data(), kSmallBatch).ok());
    for (int step_idx = 0; step_idx < 3; ++step_idx) trainer.step(batches[step_idx].data(), kSmallBatch);
    ASSERT_TRUE(trainer.save_checkpoint(path).ok());
    std::string bytes;
    {
        std::ifstream in(path, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    // Version 2 with an empty state ends in u64 0 + CRC; version 1 ends after the counters.
    std::string v1 = bytes.substr(0, bytes.size() - 12);
    const uint32_t version = 1;
    std::memcpy(v1.data() + 8, &version, sizeof(version));
    const auto crc =
        static_cast<uint32_t>(crc32_z(crc32_z(0, nullptr, 0), reinterpret_cast<const Bytef*>(v1.data()), v1.size()));
    v1.append(reinterpret_cast<const char*>(&crc), sizeof(crc));
    const std::string v1_path = (dir / "v1.ckpt").string();
    std::ofstream(v1_path, std::ios::binary) << v1;
    std::string run_state = "stale";
    auto loaded = SaeTrainer::load_checkpoint(v1_path, &run_state);
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    EXPECT_EQ("", run_state);
    expect_same_state(trainer, loaded.value());
    fs::remove_all(dir);
}

TEST(SaeTrain, LoadCheckpointRejectsDamagedFiles) {
    const fs::path dir = temp_dir("bad_ckpt");
    const std::string path = (dir / "trainer.ckpt").string();
    SaeTrainer trainer = make_trainer(small_options());
    ASSERT_TRUE(trainer.save_checkpoint(path).ok());
    std::string bytes;
    {
        std::ifstream in(path, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    auto write = [&](const std::string& name, const std::string& content) {
        const std::string p = (dir / name).string();
        std::ofstream(p, std::ios::binary) << content;
        return p;
    };
    const auto missing = SaeTrainer::load_checkpoint((dir / "nope.ckpt").string());
    EXPECT_EQ(StatusCode::kNotFound, missing.status().code());

    const std::string truncated = write("truncated.ckpt", bytes.substr(0, bytes.size() - 100));
    auto r = SaeTrainer::load_checkpoint(truncated);
    EXPECT_EQ(StatusCode::kInvalidInput, r.status().code());
    EXPECT_NE(std::string::npos, r.status().message().find(truncated)) << r.status().message();

    std::string flipped = bytes;
    flipped[bytes.size() / 2] ^= 0x10;
    r = SaeTrainer::load_checkpoint(write("flipped.ckpt", flipped));
    EXPECT_EQ(StatusCode::kInvalidInput, r.status().code());
    EXPECT_NE(std::string::npos, r.status().message().find("checksum")) << r.status().message();

    std::string magic = bytes;
    magic[0] = 'X';
    r = SaeTrainer::load_checkpoint(write("magic.ckpt", magic));
    EXPECT_EQ(StatusCode::kInvalidInput, r.status().code());

    r = SaeTrainer::load_checkpoint(write("tiny.ckpt", "MONA"));
    EXPECT_EQ(StatusCode::kInvalidInput, r.status().code());
    fs::remove_all(dir);
}

TEST(SaeTrain, TrainStateIsCheckedWithoutThrowing) {
    // Regression (issue 9, fuzzing): `mona train-sae --resume` read train_state.json with nlohmann's value(),
    // which throws type_error when "config" is not an object or epochs_done is not a number, so a damaged state
    // file ended the process with an uncaught exception instead of an error naming the file.
    const nlohmann::json config = nlohmann::json::parse(R"({"layer": 3, "k": 8, "inputs": ["a.jsonl"]})");
    const std::string path = "run/train_state.json";
    auto good =
        check_train_state(R"({"config": {"layer": 3, "k": 8, "inputs": ["a.jsonl"]}, "epochs_done": 2})", config, path);
    ASSERT_TRUE(good.ok()) << good.status().message();
    EXPECT_EQ(2, good.value().at("epochs_done").get<int64_t>());

    struct Case {
        std::string state;
        std::string message_part;
    };
    const std::vector<Case> cases = {
        {R"({"config": [1, 2], "epochs_done": 1})", "field 'config': expected an object, found array"},
        {R"({"config": "x"})", "field 'config': expected an object, found string"},
        {R"([{"config": {}}])", "expected a JSON object, found array"},
        {R"({"config": {"layer": 3, "k": 8)", "not valid JSON"},
        {"", "not valid JSON"},
        {R"({"config": {"layer": 3, "k": 8, "inputs": ["a.jsonl"]}})", "field 'epochs_done': expected an integer"},
        {R"({"config": {"layer": 3, "k": 8, "inputs": ["a.jsonl"]}, "epochs_done": 1, "documents": "x"})",
         "field 'documents'"},
        {R"({"config": {"layer": 3, "k": 8, "inputs": ["a.jsonl"]}, "epochs_done": "2"})", "epochs_done"},
        {R"({"config": {"layer": 3, "k": 8, "inputs": ["a.jsonl"]}, "epochs_done": -1})", "epochs_done"},
        {R"({"config": {"layer": 3, "k": 8, "inputs": ["a.jsonl"]}, "epochs_done": 1.5})", "epochs_done"},
        {R"({"config": {"layer": 4, "k": 8, "inputs": ["a.jsonl"]}})",
         "layer differs from the checkpointed run (3 vs 4"},
        {R"({"config": {"layer": 3, "inputs": ["a.jsonl"]}})", "k differs from the checkpointed run (8 vs null"},
    };
    for (const Case& c : cases) {
        auto result = check_train_state(c.state, config, path);
        ASSERT_FALSE(result.ok()) << c.state;
        EXPECT_EQ(StatusCode::kInvalidInput, result.status().code()) << c.state;
        EXPECT_NE(std::string::npos, result.status().message().find(path)) << result.status().message();
        EXPECT_NE(std::string::npos, result.status().message().find(c.message_part)) << result.status().message();
    }
}

TEST(SaeTrain, SavesSparsifyLayoutThatTheLoaderReads) {
    const auto batches = small_batches();
    SaeTrainer trainer = make_trainer(small_options());
    ASSERT_TRUE(trainer.init_b_dec(batches[0].data(), kSmallBatch).ok());
    for (int step_idx = 0; step_idx < 3; ++step_idx) trainer.step(batches[step_idx].data(), kSmallBatch);

    const fs::path root = temp_dir("sparsify");
    const fs::path dir = root / "layers.3";
    const Status saved = trainer.save_sparsify(dir.string(), "layers.3");
    ASSERT_TRUE(saved.ok()) << saved.message();

    std::ifstream cfg_in(dir / "cfg.json");
    const auto cfg = nlohmann::json::parse(cfg_in);
    EXPECT_EQ(8, cfg["expansion_factor"]);
    EXPECT_EQ(true, cfg["normalize_decoder"]);
    EXPECT_EQ(64, cfg["num_latents"]);
    EXPECT_EQ(2, cfg["k"]);
    EXPECT_EQ(8, cfg["d_in"]);
    EXPECT_EQ("topk", cfg["activation"]);
    EXPECT_EQ(false, cfg["signed"]);

    auto file = SafetensorsFile::open((dir / "sae.safetensors").string());
    ASSERT_TRUE(file.ok()) << file.status().message();
    const SaeParams& p = trainer.params();
    const struct {
        const char* name;
        std::vector<int64_t> shape;
        const std::vector<float>* values;
    } expected[] = {{"encoder.weight", {64, 8}, &p.w_enc},
                    {"encoder.bias", {64}, &p.b_enc},
                    {"W_dec", {64, 8}, &p.w_dec},
                    {"b_dec", {8}, &p.b_dec}};
    for (const auto& e : expected) {
        ASSERT_TRUE(file->has(e.name)) << e.name;
        EXPECT_EQ("F32", file->tensors().at(e.name).dtype);
        EXPECT_EQ(e.shape, file->tensors().at(e.name).shape) << e.name;
        auto values = file->read_f32(e.name);
        ASSERT_TRUE(values.ok()) << values.status().message();
        EXPECT_EQ(*e.values, values.value()) << e.name;
    }
    EXPECT_EQ("layers.3", file->metadata().at("hookpoint"));

    // The SAE loader reads it back and encodes like the trainer: same kept latents per token.
    auto model = SaeModel::open({.path = dir.string()});
    ASSERT_TRUE(model.ok()) << model.status().message();
    EXPECT_EQ("sparsify", model->info().format);
    EXPECT_EQ(64, model->info().d_sae);
    EXPECT_EQ(2, model->info().k);
    SparseCodes codes;
    model->encode(batches[5].data(), kSmallBatch, codes);
    const SaeGradients g = trainer.compute_gradients(batches[5].data(), kSmallBatch);
    ASSERT_EQ(kSmallBatch, codes.n_rows());
    for (int64_t token_idx = 0; token_idx < kSmallBatch; ++token_idx) {
        std::vector<uint32_t> ours;
        for (int slot = 0; slot < 2; ++slot) {
            const int32_t latent_idx = g.active[token_idx * 2 + slot];
            if (latent_idx >= 0) ours.push_back(static_cast<uint32_t>(latent_idx));
        }
        std::sort(ours.begin(), ours.end());
        const std::vector<uint32_t> theirs(codes.idx.begin() + static_cast<int64_t>(codes.offsets[token_idx]),
                                           codes.idx.begin() + static_cast<int64_t>(codes.offsets[token_idx + 1]));
        EXPECT_EQ(ours, theirs) << "token " << token_idx;
    }
    fs::remove_all(root);
}

}  // namespace
}  // namespace mona
