// The SAE as a ggml graph (embed/sae_graph.hpp) on ggml's CPU backend against today's encoder (SaeModel::encode
// + Pooler::pool): with F32 weights the same latents and values within 1e-5 relative, for every activation
// family, both pooling modes, and chunks that cut through samples; F16/BF16 weights within their rounding.
#include "embed/sae_graph.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "pool/pool.hpp"
#include "sae/sae.hpp"

namespace mona {
namespace {

struct BackendGuard {
    ggml_backend_t backend = ggml_backend_cpu_init();
    ~BackendGuard() { ggml_backend_free(backend); }
};

SaeModel random_sae(SaeActivation activation, int64_t d_in, int64_t d_sae, int32_t k, bool subtract_b_dec,
                    uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    SaeInfo info;
    info.format = "sparsify";
    info.architecture = activation == SaeActivation::kJumpRelu ? "jumprelu" : "topk";
    info.activation = activation;
    info.d_in = d_in;
    info.d_sae = d_sae;
    info.k = k;
    info.subtract_b_dec = subtract_b_dec;
    std::vector<float> w(static_cast<size_t>(d_in * d_sae));
    for (float& v : w) v = normal(rng) / std::sqrt(static_cast<float>(d_in));
    std::vector<float> b_enc(static_cast<size_t>(d_sae));
    for (float& v : b_enc) v = 0.1f * normal(rng);
    std::vector<float> b_dec(subtract_b_dec ? static_cast<size_t>(d_in) : 0);
    for (float& v : b_dec) v = 0.1f * normal(rng);
    std::vector<float> threshold(static_cast<size_t>(d_sae));
    for (float& v : threshold) v = std::fabs(0.3f * normal(rng));
    Result<SaeModel> sae =
        SaeModel::from_params(info, std::move(w), std::move(b_enc), std::move(b_dec),
                              activation == SaeActivation::kJumpRelu ? threshold : std::vector<float>{});
    EXPECT_TRUE(sae.ok()) << sae.status().message();
    return std::move(*sae);
}

// Rows of a few samples back to back, and the spans each pools (all rows but the first, like --token-mode no-bos).
struct Batch {
    std::vector<float> rows;
    std::vector<PooledSpan> spans;
    int64_t n_rows = 0;
};

Batch random_batch(int64_t d_in, const std::vector<int64_t>& lengths, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    Batch batch;
    for (int64_t n : lengths) {
        batch.spans.push_back({batch.n_rows + std::min<int64_t>(1, n), batch.n_rows + n});
        batch.n_rows += n;
    }
    batch.rows.resize(static_cast<size_t>(batch.n_rows * d_in));
    for (float& v : batch.rows) v = normal(rng);
    return batch;
}

// Today's path: one encode call per sample, then the Pooler over the sample's span.
std::vector<SparseVec> reference(const SaeModel& sae, const Batch& batch, const std::vector<int64_t>& lengths,
                                 PoolingMode mode, int32_t k_override) {
    std::vector<SparseVec> out;
    Pooler pooler(sae.info().d_sae);
    int64_t row0 = 0;
    for (size_t s = 0; s < lengths.size(); ++s) {
        SparseCodes codes;
        sae.encode(batch.rows.data() + row0 * sae.info().d_in, lengths[s], codes, k_override);
        out.push_back(pooler.pool(codes, batch.spans[s].row_begin - row0, batch.spans[s].row_end - row0, mode));
        row0 += lengths[s];
    }
    return out;
}

// Values within rel_tol of themselves, or, for the small remainders of a cancellation (a JumpReLU/ReLU
// pre-activation just above zero: the sum of terms ~1 whose float rounding is ~1e-7 of them), within rel_tol / 10
// of the vector's largest value.
void expect_close(const std::vector<SparseVec>& want, const std::vector<SparseVec>& got, double rel_tol) {
    ASSERT_EQ(want.size(), got.size());
    for (size_t s = 0; s < want.size(); ++s) {
        ASSERT_EQ(want[s].idx, got[s].idx) << "sample " << s;
        double largest = 0.0;
        for (float v : want[s].val) largest = std::max(largest, std::fabs(static_cast<double>(v)));
        for (size_t i = 0; i < want[s].val.size(); ++i) {
            const double a = want[s].val[i];
            const double b = got[s].val[i];
            EXPECT_LE(std::fabs(a - b), rel_tol * std::max(std::fabs(a), largest / 10))
                << "sample " << s << " latent " << want[s].idx[i] << ": " << a << " vs " << b;
        }
        EXPECT_NEAR(want[s].l1, got[s].l1, rel_tol * std::max(1.0, want[s].l1)) << "sample " << s;
    }
}

struct Case {
    SaeActivation activation;
    int32_t k;
    bool subtract_b_dec;
    PoolingMode mode;
};

TEST(SaeGraphTest, MatchesTheCpuEncoderInF32) {
    BackendGuard cpu;
    ASSERT_NE(cpu.backend, nullptr);
    const std::vector<int64_t> lengths = {37, 1, 0, 90, 5, 64, 23};
    const std::vector<Case> cases = {
        {SaeActivation::kTopK, 16, true, PoolingMode::kMean},
        {SaeActivation::kTopK, 16, true, PoolingMode::kSum},
        {SaeActivation::kReluTopK, 8, false, PoolingMode::kMean},
        {SaeActivation::kJumpRelu, 0, true, PoolingMode::kMean},
        {SaeActivation::kJumpRelu, 0, false, PoolingMode::kSum},
        {SaeActivation::kRelu, 0, true, PoolingMode::kMean},
    };
    uint32_t seed = 11;
    for (const Case& c : cases) {
        const SaeModel sae = random_sae(c.activation, 48, 384, c.k, c.subtract_b_dec, seed++);
        const Batch batch = random_batch(48, lengths, seed++);
        const std::vector<SparseVec> want = reference(sae, batch, lengths, c.mode, 0);
        // Chunks of 32 rows (cutting through samples) and one chunk holding the whole batch.
        for (int64_t chunk_rows : {int64_t{32}, int64_t{4096}}) {
            SaeGraphOptions options;
            options.chunk_bytes = chunk_rows * 384 * 4;
            options.n_threads = 2;
            auto graph = SaeGraph::create(sae, cpu.backend, options);
            ASSERT_TRUE(graph.ok()) << graph.status().message();
            EXPECT_EQ(std::min<int64_t>(chunk_rows, 4096), (*graph)->rows_per_chunk());
            std::vector<SparseVec> got;
            ASSERT_TRUE((*graph)->encode_pool(batch.rows.data(), batch.n_rows, batch.spans, c.mode, got).ok());
            SCOPED_TRACE(::testing::Message()
                         << "activation " << static_cast<int>(c.activation) << " chunk " << chunk_rows);
            expect_close(want, got, 1e-5);
            // A second call on the same graph (buffers reused) gives the same vectors.
            std::vector<SparseVec> again;
            ASSERT_TRUE((*graph)->encode_pool(batch.rows.data(), batch.n_rows, batch.spans, c.mode, again).ok());
            expect_close(got, again, 0.0);
        }
        EXPECT_TRUE(want[1].idx.empty() && want[2].idx.empty()) << "one-row and empty samples pool nothing";
    }
}

TEST(SaeGraphTest, KOverrideAndKAboveTheWidth) {
    BackendGuard cpu;
    const std::vector<int64_t> lengths = {20, 31};
    const SaeModel sae = random_sae(SaeActivation::kTopK, 32, 64, 8, true, 5);
    const Batch batch = random_batch(32, lengths, 6);
    for (int32_t k : {3, 200}) {
        SaeGraphOptions options;
        options.k_override = k;
        auto graph = SaeGraph::create(sae, cpu.backend, options);
        ASSERT_TRUE(graph.ok()) << graph.status().message();
        std::vector<SparseVec> got;
        ASSERT_TRUE((*graph)->encode_pool(batch.rows.data(), batch.n_rows, batch.spans, PoolingMode::kMean, got).ok());
        expect_close(reference(sae, batch, lengths, PoolingMode::kMean, k), got, 1e-5);
    }
}

// 16-bit weights: the same computation up to the weights' (and, on the CPU backend, the rows') rounding. The
// pooled vectors keep almost all latents (a near-tie at the k-th place may swap) and the values stay close.
TEST(SaeGraphTest, HalfPrecisionWeightsStayClose) {
    BackendGuard cpu;
    const std::vector<int64_t> lengths = {40, 70};
    const SaeModel sae = random_sae(SaeActivation::kTopK, 64, 512, 16, true, 7);
    const Batch batch = random_batch(64, lengths, 8);
    const std::vector<SparseVec> want = reference(sae, batch, lengths, PoolingMode::kMean, 0);
    for (SaeWeightType type : {SaeWeightType::kF16, SaeWeightType::kBf16}) {
        SaeGraphOptions options;
        options.weight_type = type;
        auto graph = SaeGraph::create(sae, cpu.backend, options);
        ASSERT_TRUE(graph.ok()) << graph.status().message();
        std::vector<SparseVec> got;
        ASSERT_TRUE((*graph)->encode_pool(batch.rows.data(), batch.n_rows, batch.spans, PoolingMode::kMean, got).ok());
        ASSERT_EQ(want.size(), got.size());
        const double tol = type == SaeWeightType::kF16 ? 0.02 : 0.1;
        for (size_t s = 0; s < want.size(); ++s) {
            EXPECT_NEAR(want[s].l1, got[s].l1, tol * want[s].l1) << sae_weight_type_name(type);
            std::vector<uint32_t> common;
            std::set_intersection(want[s].idx.begin(), want[s].idx.end(), got[s].idx.begin(), got[s].idx.end(),
                                  std::back_inserter(common));
            EXPECT_GE(common.size(), want[s].idx.size() * 9 / 10) << sae_weight_type_name(type);
        }
    }
}

TEST(SaeGraphTest, ConstantNormRescaleIsRefusedByName) {
    BackendGuard cpu;
    SaeInfo info;
    info.activation = SaeActivation::kRelu;
    info.norm = SaeNorm::kConstantNormRescale;
    info.d_in = 4;
    info.d_sae = 8;
    info.subtract_b_dec = false;
    auto sae = SaeModel::from_params(info, std::vector<float>(32, 0.1f), std::vector<float>(8, 0.0f), {}, {});
    ASSERT_TRUE(sae.ok());
    auto graph = SaeGraph::create(*sae, cpu.backend, SaeGraphOptions{});
    ASSERT_FALSE(graph.ok());
    EXPECT_EQ(StatusCode::kUnsupported, graph.status().code());
    EXPECT_NE(std::string::npos, graph.status().message().find("constant_norm_rescale"));
}

TEST(SaeGraphTest, WeightTypeNames) {
    for (SaeWeightType type : {SaeWeightType::kF32, SaeWeightType::kF16, SaeWeightType::kBf16}) {
        auto parsed = parse_sae_weight_type(sae_weight_type_name(type));
        ASSERT_TRUE(parsed.ok());
        EXPECT_EQ(type, *parsed);
    }
    EXPECT_FALSE(parse_sae_weight_type("q8").ok());
}

}  // namespace
}  // namespace mona
