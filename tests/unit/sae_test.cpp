#include "sae/sae.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "io/safetensors.hpp"
#include "reference/sae_reference.hpp"

namespace mona {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Codes = std::vector<std::pair<uint32_t, float>>;

// ---- the tiny hand-computed SAE: d_in = 3, d_sae = 5, integer weights so every result is exact.
//
// x_a = [2, 3, 1]: pre with b_dec subtracted = [1, 4, 4, -1, -4]; without = [3, 3, 6, -1, -3]
// x_b = [0, 0, 0]: pre with b_dec subtracted = [-2, 2, -3, 0, 1]; without = b_enc = [0, 1, -1, 0, 2]
constexpr int64_t kTinyDIn = 3;
constexpr int64_t kTinyDSae = 5;
const std::vector<float> kTinyWEnc = {1, 0,  2, -1, 0,   // [d_in, d_sae]
                                      0, 1,  1, 0,  -2,  //
                                      1, -1, 0, 1,  1};  //
const std::vector<float> kTinyBEnc = {0, 1, -1, 0, 2};
const std::vector<float> kTinyBDec = {1, 0, 1};
const std::vector<float> kTinyThreshold = {0.5f, 5, 3, -2, 0};
const std::vector<float> kTokenA = {2, 3, 1};
const std::vector<float> kTokenB = {0, 0, 0};

std::vector<float> transpose(const std::vector<float>& m, int64_t rows, int64_t cols) {
    std::vector<float> t(m.size());
    for (int64_t row_idx = 0; row_idx < rows; ++row_idx) {
        for (int64_t col_idx = 0; col_idx < cols; ++col_idx) t[col_idx * rows + row_idx] = m[row_idx * cols + col_idx];
    }
    return t;
}

SaeInfo tiny_info(SaeActivation activation, int32_t k, bool subtract_b_dec = true, SaeNorm norm = SaeNorm::kNone) {
    SaeInfo info;
    info.format = "test";
    info.activation = activation;
    info.norm = norm;
    info.d_in = kTinyDIn;
    info.d_sae = kTinyDSae;
    info.k = k;
    info.subtract_b_dec = subtract_b_dec;
    return info;
}

SaeModel tiny_model(const SaeInfo& info) {
    auto model = SaeModel::from_params(info, kTinyWEnc, kTinyBEnc,
                                       info.subtract_b_dec ? kTinyBDec : std::vector<float>{}, kTinyThreshold);
    EXPECT_TRUE(model.ok()) << model.status().message();
    return std::move(model).value();
}

Codes row_codes(const SparseCodes& codes, int64_t row_idx) {
    Codes out;
    for (uint64_t pos = codes.offsets[row_idx]; pos < codes.offsets[row_idx + 1]; ++pos) {
        out.emplace_back(codes.idx[pos], codes.val[pos]);
    }
    return out;
}

Codes encode_one(const SaeModel& model, const std::vector<float>& x, int32_t k_override = 0) {
    SparseCodes codes;
    model.encode(x.data(), 1, codes, k_override);
    EXPECT_EQ(1, codes.n_rows());
    return row_codes(codes, 0);
}

TEST(Sae, EncodesEveryFamilyOnHandComputedVectors) {
    struct Case {
        const char* label;
        SaeInfo info;
        std::vector<float> x;
        Codes expected;
    };
    const Case cases[] = {
        {"relu a", tiny_info(SaeActivation::kRelu, 0), kTokenA, {{0, 1}, {1, 4}, {2, 4}}},
        {"relu b", tiny_info(SaeActivation::kRelu, 0), kTokenB, {{1, 2}, {4, 1}}},
        {"jumprelu a", tiny_info(SaeActivation::kJumpRelu, 0), kTokenA, {{0, 1}, {2, 4}}},
        // latent 3: pre 0 > threshold -2 but ReLU makes it 0, so it is not emitted.
        {"jumprelu b", tiny_info(SaeActivation::kJumpRelu, 0), kTokenB, {{4, 1}}},
        {"sparsify topk k=1 tie keeps lower index", tiny_info(SaeActivation::kTopK, 1), kTokenA, {{1, 4}}},
        {"sparsify topk k=2", tiny_info(SaeActivation::kTopK, 2), kTokenA, {{1, 4}, {2, 4}}},
        {"sparsify topk k=3", tiny_info(SaeActivation::kTopK, 3), kTokenA, {{0, 1}, {1, 4}, {2, 4}}},
        {"sparsify topk k=4 drops zeros", tiny_info(SaeActivation::kTopK, 4), kTokenA, {{0, 1}, {1, 4}, {2, 4}}},
        {"sparsify topk k=9 > d_sae", tiny_info(SaeActivation::kTopK, 9), kTokenA, {{0, 1}, {1, 4}, {2, 4}}},
        {"sparsify topk b k=1", tiny_info(SaeActivation::kTopK, 1), kTokenB, {{1, 2}}},
        {"saelens topk k=1", tiny_info(SaeActivation::kReluTopK, 1), kTokenA, {{1, 4}}},
        {"saelens topk k=4", tiny_info(SaeActivation::kReluTopK, 4), kTokenA, {{0, 1}, {1, 4}, {2, 4}}},
        {"saelens topk b k=2", tiny_info(SaeActivation::kReluTopK, 2), kTokenB, {{1, 2}, {4, 1}}},
        {"no b_dec (transcode) topk k=2 tie", tiny_info(SaeActivation::kTopK, 2, false), kTokenA, {{0, 3}, {2, 6}}},
        {"no b_dec relu", tiny_info(SaeActivation::kRelu, 0, false), kTokenA, {{0, 3}, {1, 3}, {2, 6}}},
        {"no b_dec relu zero input", tiny_info(SaeActivation::kRelu, 0, false), kTokenB, {{1, 1}, {4, 2}}},
        // ||x|| = 0 is left unscaled by constant_norm_rescale.
        {"norm zero input",
         tiny_info(SaeActivation::kRelu, 0, false, SaeNorm::kConstantNormRescale),
         kTokenB,
         {{1, 1}, {4, 2}}},
    };
    for (const Case& c : cases) {
        const SaeModel model = tiny_model(c.info);
        EXPECT_EQ(c.expected, encode_one(model, c.x)) << c.label;
    }
}

TEST(Sae, ConstantNormRescaleScalesToSqrtDIn) {
    // x = [2, 2, 2] has norm 2*sqrt(3); x' = x * sqrt(3) / ||x|| = [1, 1, 1]; pre = [2, 1, 2, 0, 1].
    const SaeModel model = tiny_model(tiny_info(SaeActivation::kRelu, 0, false, SaeNorm::kConstantNormRescale));
    const Codes got = encode_one(model, {2, 2, 2});
    const Codes expected = {{0, 2}, {1, 1}, {2, 2}, {4, 1}};
    ASSERT_EQ(expected.size(), got.size());
    for (size_t pos = 0; pos < expected.size(); ++pos) {
        EXPECT_EQ(expected[pos].first, got[pos].first);
        EXPECT_NEAR(expected[pos].second, got[pos].second, 1e-5);
    }
    // The scale is per token: doubling x changes nothing.
    const Codes doubled = encode_one(model, {4, 4, 4});
    ASSERT_EQ(got.size(), doubled.size());
    for (size_t pos = 0; pos < got.size(); ++pos) EXPECT_NEAR(got[pos].second, doubled[pos].second, 1e-5);
}

TEST(Sae, KOverrideAppliesToTopKFamiliesOnly) {
    const SaeModel topk = tiny_model(tiny_info(SaeActivation::kTopK, 1));
    EXPECT_EQ((Codes{{1, 4}}), encode_one(topk, kTokenA));
    EXPECT_EQ((Codes{{0, 1}, {1, 4}, {2, 4}}), encode_one(topk, kTokenA, 3));
    const SaeModel relu = tiny_model(tiny_info(SaeActivation::kRelu, 0));
    EXPECT_EQ((Codes{{0, 1}, {1, 4}, {2, 4}}), encode_one(relu, kTokenA, 1));
}

TEST(Sae, EncodeAppendsRowsAndHandlesZeroTokens) {
    const SaeModel model = tiny_model(tiny_info(SaeActivation::kTopK, 2));
    SparseCodes together;
    const std::vector<float> both = {2, 3, 1, 0, 0, 0};
    model.encode(both.data(), 2, together);
    SparseCodes apart;
    model.encode(kTokenA.data(), 1, apart);
    model.encode(nullptr, 0, apart);
    model.encode(kTokenB.data(), 1, apart);
    EXPECT_EQ(2, together.n_rows());
    EXPECT_EQ(together.offsets, apart.offsets);
    EXPECT_EQ(together.idx, apart.idx);
    EXPECT_EQ(together.val, apart.val);
    EXPECT_EQ((Codes{{1, 2}, {4, 1}}), row_codes(together, 1));
}

TEST(Sae, FromParamsRejectsInconsistentSizes) {
    auto bad_w =
        SaeModel::from_params(tiny_info(SaeActivation::kRelu, 0), std::vector<float>(14), kTinyBEnc, kTinyBDec, {});
    EXPECT_EQ(StatusCode::kInvalidInput, bad_w.status().code());
    EXPECT_NE(std::string::npos, bad_w.status().message().find("W_enc")) << bad_w.status().message();
    auto no_threshold =
        SaeModel::from_params(tiny_info(SaeActivation::kJumpRelu, 0), kTinyWEnc, kTinyBEnc, kTinyBDec, {});
    EXPECT_EQ(StatusCode::kInvalidInput, no_threshold.status().code());
    EXPECT_NE(std::string::npos, no_threshold.status().message().find("threshold"));
    auto no_b_dec = SaeModel::from_params(tiny_info(SaeActivation::kRelu, 0), kTinyWEnc, kTinyBEnc, {}, {});
    EXPECT_EQ(StatusCode::kInvalidInput, no_b_dec.status().code());
    EXPECT_NE(std::string::npos, no_b_dec.status().message().find("b_dec"));
    auto zero_k = SaeModel::from_params(tiny_info(SaeActivation::kTopK, 0), kTinyWEnc, kTinyBEnc, kTinyBDec, {});
    EXPECT_EQ(StatusCode::kInvalidInput, zero_k.status().code());
    EXPECT_NE(std::string::npos, zero_k.status().message().find("k = 0"));
}

// ---- against the naive reference

struct RandomSae {
    reference::SaeReferenceParams params;
    SaeModel model;
};

RandomSae random_sae(SaeInfo info, std::mt19937& rng, bool integer_valued) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_int_distribution<int> small(-3, 3);
    auto draw = [&](float scale) { return integer_valued ? static_cast<float>(small(rng)) : normal(rng) * scale; };
    reference::SaeReferenceParams params;
    params.info = info;
    const float w_scale = 1.0f / std::sqrt(static_cast<float>(info.d_in));
    params.w_enc.resize(info.d_in * info.d_sae);
    for (float& w : params.w_enc) w = draw(w_scale);
    params.b_enc.resize(info.d_sae);
    for (float& b : params.b_enc) b = draw(0.2f);
    if (info.subtract_b_dec) {
        params.b_dec.resize(info.d_in);
        for (float& b : params.b_dec) b = draw(0.5f);
    }
    if (info.activation == SaeActivation::kJumpRelu) {
        params.threshold.resize(info.d_sae);
        for (float& t : params.threshold) t = integer_valued ? small(rng) + 0.5f : std::fabs(normal(rng)) * 0.3f;
    }
    auto model = SaeModel::from_params(info, params.w_enc, params.b_enc, params.b_dec, params.threshold);
    EXPECT_TRUE(model.ok()) << model.status().message();
    return RandomSae{std::move(params), std::move(model).value()};
}

// Compares one encoded row with the reference. Values must agree to 1e-4 relative (to the row's largest
// |pre|); a latent may be present in only one of the two when its pre-activation lies within that tolerance of
// a decision boundary (0, its threshold, or the k-th largest value), where float rounding can flip it.
void expect_row_matches(const reference::SaeReferenceParams& params, const float* x, const Codes& got,
                        int32_t k_override, bool exact, const std::string& context) {
    const auto expected = reference::sae_encode_reference(params, x, k_override);
    if (exact) {
        Codes expected_f;
        for (const auto& [latent_idx, value] : expected) expected_f.emplace_back(latent_idx, static_cast<float>(value));
        EXPECT_EQ(expected_f, got) << context;
        return;
    }
    const std::vector<double> pre = reference::sae_pre_reference(params, x);
    double scale = 1e-6;
    for (double v : pre) scale = std::max(scale, std::fabs(v));
    const double tol = 1e-4 * scale;
    double kth = -INFINITY;
    const int64_t k = k_override > 0 ? k_override : params.info.k;
    const bool topk =
        params.info.activation == SaeActivation::kTopK || params.info.activation == SaeActivation::kReluTopK;
    if (topk && k <= static_cast<int64_t>(pre.size())) {
        std::vector<double> sorted = pre;
        std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<>());
        kth = sorted[k - 1];
    }
    auto near_boundary = [&](uint32_t latent_idx) {
        const double v = pre[latent_idx];
        if (std::fabs(v) <= tol) return true;
        if (params.info.activation == SaeActivation::kJumpRelu && std::fabs(v - params.threshold[latent_idx]) <= tol) {
            return true;
        }
        return topk && std::fabs(v - kth) <= tol;
    };
    size_t exp_pos = 0;
    size_t got_pos = 0;
    while (exp_pos < expected.size() || got_pos < got.size()) {
        const uint32_t exp_idx = exp_pos < expected.size() ? expected[exp_pos].first : UINT32_MAX;
        const uint32_t got_idx = got_pos < got.size() ? got[got_pos].first : UINT32_MAX;
        if (exp_idx == got_idx) {
            EXPECT_NEAR(expected[exp_pos].second, got[got_pos].second, tol) << context << " latent " << exp_idx;
            ++exp_pos;
            ++got_pos;
        } else if (exp_idx < got_idx) {
            EXPECT_TRUE(near_boundary(exp_idx))
                << context << ": latent " << exp_idx << " (pre " << pre[exp_idx] << ") missing from mona's output";
            ++exp_pos;
        } else {
            EXPECT_TRUE(near_boundary(got_idx)) << context << ": latent " << got_idx << " (pre " << pre[got_idx]
                                                << ") emitted by mona but not by the reference";
            ++got_pos;
        }
    }
}

struct FamilyCase {
    const char* label;
    SaeActivation activation;
    int32_t k;
    bool subtract_b_dec;
    SaeNorm norm;
};

const FamilyCase kFamilies[] = {
    {"sparsify topk", SaeActivation::kTopK, 32, true, SaeNorm::kNone},
    {"sparsify transcoder topk", SaeActivation::kTopK, 7, false, SaeNorm::kNone},
    {"saelens topk", SaeActivation::kReluTopK, 32, true, SaeNorm::kNone},
    {"saelens topk normalised", SaeActivation::kReluTopK, 50, true, SaeNorm::kConstantNormRescale},
    {"jumprelu", SaeActivation::kJumpRelu, 0, true, SaeNorm::kNone},
    {"jumprelu no b_dec", SaeActivation::kJumpRelu, 0, false, SaeNorm::kNone},
    {"standard relu", SaeActivation::kRelu, 0, true, SaeNorm::kNone},
    {"standard relu normalised", SaeActivation::kRelu, 0, false, SaeNorm::kConstantNormRescale},
};

void compare_with_reference(bool integer_valued) {
    std::mt19937 rng(integer_valued ? 11 : 5);
    for (const int64_t d_in : {int64_t{7}, int64_t{64}}) {
        for (const FamilyCase& family : kFamilies) {
            if (integer_valued && family.norm != SaeNorm::kNone) continue;  // the rescale is not exact
            SaeInfo info;
            info.activation = family.activation;
            info.norm = family.norm;
            info.d_in = d_in;
            info.d_sae = 1000;
            info.k = family.k;
            info.subtract_b_dec = family.subtract_b_dec;
            const RandomSae sae = random_sae(info, rng, integer_valued);

            const int64_t n_tokens = 260;  // more than one 256-row chunk
            std::vector<float> x(n_tokens * d_in);
            std::normal_distribution<float> normal(0.0f, 1.0f);
            std::uniform_int_distribution<int> small(-4, 4);
            for (float& v : x) v = integer_valued ? static_cast<float>(small(rng)) : normal(rng);
            for (const int32_t k_override : {0, 3}) {
                if (k_override != 0 && (info.k == 0 || d_in != 7)) continue;
                SparseCodes codes;
                sae.model.encode(x.data(), n_tokens, codes, k_override);
                ASSERT_EQ(n_tokens, codes.n_rows());
                for (int64_t token_idx = 0; token_idx < n_tokens; ++token_idx) {
                    const std::string context = std::string(family.label) + " d_in=" + std::to_string(d_in) +
                                                " k_override=" + std::to_string(k_override) +
                                                " token=" + std::to_string(token_idx);
                    expect_row_matches(sae.params, x.data() + token_idx * d_in, row_codes(codes, token_idx), k_override,
                                       integer_valued, context);
                    if (::testing::Test::HasFailure()) return;
                }
            }
        }
    }
}

TEST(Sae, MatchesNaiveReferenceOnRandomFloats) { compare_with_reference(false); }

TEST(Sae, MatchesNaiveReferenceExactlyOnIntegerValuedData) {
    // Integer inputs make every pre-activation an exact integer, so ties are frequent and their order is tested.
    compare_with_reference(true);
}

TEST(Sae, WideSaeChunksRowsAndMatchesReference) {
    std::mt19937 rng(3);
    SaeInfo info;
    info.activation = SaeActivation::kTopK;
    info.d_in = 4;
    info.d_sae = 131072;  // 64-row chunks
    info.k = 4;
    const RandomSae sae = random_sae(info, rng, true);
    const int64_t n_tokens = 70;
    std::vector<float> x(n_tokens * info.d_in);
    std::uniform_int_distribution<int> small(-4, 4);
    for (float& v : x) v = static_cast<float>(small(rng));
    SparseCodes codes;
    sae.model.encode(x.data(), n_tokens, codes);
    ASSERT_EQ(n_tokens, codes.n_rows());
    for (const int64_t token_idx : {0, 63, 64, 65, 69}) {
        expect_row_matches(sae.params, x.data() + token_idx * info.d_in, row_codes(codes, token_idx), 0, true,
                           "token " + std::to_string(token_idx));
    }
}

TEST(Sae, ConcurrentEncodesAgree) {
    std::mt19937 rng(9);
    SaeInfo info;
    info.activation = SaeActivation::kTopK;
    info.d_in = 16;
    info.d_sae = 500;
    info.k = 10;
    const RandomSae sae = random_sae(info, rng, false);
    std::vector<float> x(40 * info.d_in);
    std::normal_distribution<float> normal;
    for (float& v : x) v = normal(rng);
    SparseCodes serial;
    sae.model.encode(x.data(), 40, serial);
    std::vector<SparseCodes> results(4);
    std::vector<std::thread> threads;
    for (auto& result : results) {
        threads.emplace_back([&] { sae.model.encode(x.data(), 40, result); });
    }
    for (auto& thread : threads) thread.join();
    for (const auto& result : results) {
        EXPECT_EQ(serial.offsets, result.offsets);
        EXPECT_EQ(serial.idx, result.idx);
        EXPECT_EQ(serial.val, result.val);
    }
}

// ---- loading from disk

class SaeFilesTest : public ::testing::Test {
   protected:
    void SetUp() override {
        static int counter = 0;
        root_ = fs::temp_directory_path() /
                ("mona_sae_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::create_directories(root_);
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(root_, ec);
    }

    static void write_text(const fs::path& path, const std::string& text) {
        std::ofstream out(path, std::ios::binary);
        out << text;
    }

    // A sparsify folder for the tiny SAE; `tensors` overrides the default tensor set when non-empty.
    fs::path make_sparsify(const std::string& name, const json& cfg, const std::string& dtype = "F32",
                           bool transposed = false) {
        const fs::path folder = root_ / name;
        fs::create_directories(folder);
        write_text(folder / "cfg.json", cfg.dump());
        enc_ = transposed ? kTinyWEnc : transpose(kTinyWEnc, kTinyDIn, kTinyDSae);
        const std::vector<int64_t> enc_shape =
            transposed ? std::vector<int64_t>{kTinyDIn, kTinyDSae} : std::vector<int64_t>{kTinyDSae, kTinyDIn};
        const Status status = write_safetensors((folder / "sae.safetensors").string(),
                                                {{"encoder.weight", enc_shape, enc_.data(), dtype},
                                                 {"encoder.bias", {kTinyDSae}, kTinyBEnc.data(), dtype},
                                                 {"W_dec", {kTinyDSae, kTinyDIn}, enc_.data(), dtype},
                                                 {"b_dec", {kTinyDIn}, kTinyBDec.data(), dtype}});
        EXPECT_TRUE(status.ok()) << status.message();
        return folder;
    }

    fs::path make_saelens(const std::string& name, const json& cfg, const std::string& dtype = "F32",
                          bool transposed = false) {
        const fs::path folder = root_ / name;
        fs::create_directories(folder);
        write_text(folder / "cfg.json", cfg.dump());
        enc_ = transposed ? transpose(kTinyWEnc, kTinyDIn, kTinyDSae) : kTinyWEnc;
        const std::vector<int64_t> enc_shape =
            transposed ? std::vector<int64_t>{kTinyDSae, kTinyDIn} : std::vector<int64_t>{kTinyDIn, kTinyDSae};
        const Status status = write_safetensors((folder / "sae_weights.safetensors").string(),
                                                {{"W_enc", enc_shape, enc_.data(), dtype},
                                                 {"b_enc", {kTinyDSae}, kTinyBEnc.data(), dtype},
                                                 {"W_dec", {kTinyDSae, kTinyDIn}, enc_.data(), dtype},
                                                 {"b_dec", {kTinyDIn}, kTinyBDec.data(), dtype},
                                                 {"threshold", {kTinyDSae}, kTinyThreshold.data(), dtype}});
        EXPECT_TRUE(status.ok()) << status.message();
        return folder;
    }

    static json sparsify_cfg() {
        return {{"expansion_factor", 32}, {"normalize_decoder", true},
                {"num_latents", 5},       {"k", 2},
                {"signed", false},        {"d_in", 3}};
    }

    static json saelens_v6_cfg(const std::string& architecture) {
        return {{"architecture", architecture},
                {"d_in", 3},
                {"d_sae", 5},
                {"dtype", "float32"},
                {"device", "cpu"},
                {"apply_b_dec_to_input", true},
                {"normalize_activations", "none"},
                {"reshape_activations", "none"},
                {"metadata", {{"hook_name", "blocks.4.hook_resid_post"}, {"sae_lens_version", "6.5.0"}}}};
    }

    static Result<SaeModel> open(const fs::path& path) { return SaeModel::open(SaeOpenOptions{path.string()}); }

    static void expect_error(const Result<SaeModel>& result, StatusCode code, const std::vector<std::string>& parts,
                             const std::string& label) {
        ASSERT_FALSE(result.ok()) << label;
        EXPECT_EQ(code, result.status().code()) << label << ": " << result.status().message();
        for (const std::string& part : parts) {
            EXPECT_NE(std::string::npos, result.status().message().find(part))
                << label << ": expected '" << part << "' in: " << result.status().message();
        }
    }

    fs::path root_;
    std::vector<float> enc_;
};

TEST_F(SaeFilesTest, LoadsSparsifyInEveryDtype) {
    for (const std::string dtype : {"F32", "F16", "BF16"}) {
        for (const bool transposed : {false, true}) {
            const fs::path folder =
                make_sparsify(dtype + (transposed ? "_t" : "") + "/layers.5", sparsify_cfg(), dtype, transposed);
            auto model = open(folder);
            ASSERT_TRUE(model.ok()) << model.status().message();
            const SaeInfo& info = model->info();
            EXPECT_EQ("sparsify", info.format);
            EXPECT_EQ("topk", info.architecture);
            EXPECT_EQ(SaeActivation::kTopK, info.activation);
            EXPECT_EQ(3, info.d_in);
            EXPECT_EQ(5, info.d_sae);  // num_latents wins over d_in * expansion_factor
            EXPECT_EQ(2, info.k);
            EXPECT_TRUE(info.subtract_b_dec);
            EXPECT_EQ(dtype, info.dtype);
            EXPECT_EQ((folder / "sae.safetensors").string(), info.weights_file);
            EXPECT_EQ(std::optional<int32_t>(6), info.layer);
            EXPECT_EQ("layers.5", info.hook);
            EXPECT_EQ((Codes{{1, 4}, {2, 4}}), encode_one(model.value(), kTokenA)) << dtype << transposed;
            EXPECT_EQ((Codes{{1, 2}, {4, 1}}), encode_one(model.value(), kTokenB)) << dtype << transposed;
        }
    }
}

TEST_F(SaeFilesTest, LoadsSaelensInEveryDtype) {
    for (const std::string dtype : {"F32", "F16", "BF16"}) {
        for (const bool transposed : {false, true}) {
            const fs::path folder =
                make_saelens(dtype + (transposed ? "_t" : ""), saelens_v6_cfg("jumprelu"), dtype, transposed);
            auto model = open(folder);
            ASSERT_TRUE(model.ok()) << model.status().message();
            const SaeInfo& info = model->info();
            EXPECT_EQ("saelens", info.format);
            EXPECT_EQ("jumprelu", info.architecture);
            EXPECT_EQ(SaeActivation::kJumpRelu, info.activation);
            EXPECT_EQ(0, info.k);
            EXPECT_EQ(dtype, info.dtype);
            EXPECT_EQ(std::optional<int32_t>(5), info.layer);
            EXPECT_EQ("blocks.4.hook_resid_post", info.hook);
            EXPECT_EQ((Codes{{0, 1}, {2, 4}}), encode_one(model.value(), kTokenA)) << dtype << transposed;
            EXPECT_EQ((Codes{{4, 1}}), encode_one(model.value(), kTokenB)) << dtype << transposed;
        }
    }
}

TEST_F(SaeFilesTest, SaelensArchitecturesAndOptions) {
    {
        auto model = open(make_saelens("standard", saelens_v6_cfg("standard")));
        ASSERT_TRUE(model.ok()) << model.status().message();
        EXPECT_EQ(SaeActivation::kRelu, model->info().activation);
        EXPECT_EQ((Codes{{0, 1}, {1, 4}, {2, 4}}), encode_one(model.value(), kTokenA));
    }
    {
        json cfg = saelens_v6_cfg("topk");
        cfg["k"] = 1;
        auto model = open(make_saelens("topk", cfg));
        ASSERT_TRUE(model.ok()) << model.status().message();
        EXPECT_EQ(SaeActivation::kReluTopK, model->info().activation);
        EXPECT_EQ(1, model->info().k);
        EXPECT_EQ((Codes{{1, 4}}), encode_one(model.value(), kTokenA));
    }
    {
        auto model = open(make_saelens("topk_default_k", saelens_v6_cfg("topk")));
        ASSERT_TRUE(model.ok()) << model.status().message();
        EXPECT_EQ(100, model->info().k);  // SAELens TopKSAEConfig default
    }
    {
        json cfg = saelens_v6_cfg("standard");
        cfg["apply_b_dec_to_input"] = false;
        cfg["metadata"]["hook_name"] = "model.layers.28";
        auto model = open(make_saelens("no_b_dec", cfg));
        ASSERT_TRUE(model.ok()) << model.status().message();
        EXPECT_FALSE(model->info().subtract_b_dec);
        EXPECT_EQ(std::optional<int32_t>(29), model->info().layer);
        EXPECT_EQ((Codes{{0, 3}, {1, 3}, {2, 6}}), encode_one(model.value(), kTokenA));
    }
    {
        json cfg = saelens_v6_cfg("standard");
        cfg["normalize_activations"] = "constant_norm_rescale";
        cfg["metadata"]["hook_name"] = "blocks.3.hook_mlp_out";
        auto model = open(make_saelens("norm", cfg));
        ASSERT_TRUE(model.ok()) << model.status().message();
        EXPECT_EQ(SaeNorm::kConstantNormRescale, model->info().norm);
        EXPECT_FALSE(model->info().layer.has_value());
        EXPECT_EQ("blocks.3.hook_mlp_out", model->info().hook);
    }
}

TEST_F(SaeFilesTest, SaelensPre6Configs) {
    // Pre-6: flat keys, activation_fn_str + activation_fn_kwargs, hook_point/hook_layer, bool normalisation.
    json topk = {{"architecture", "standard"},
                 {"activation_fn_str", "topk"},
                 {"activation_fn_kwargs", {{"k", 2}}},
                 {"hook_point", "blocks.4.hook_resid_post"},
                 {"hook_layer", 4},
                 {"hook_point_head_index", nullptr},
                 {"d_in", 3},
                 {"d_sae", 5},
                 {"normalize_activations", false},
                 {"sae_lens_training_version", "eleuther"},
                 {"finetuning_scaling_factor", false}};
    auto model = open(make_saelens("pre6_topk", topk));
    ASSERT_TRUE(model.ok()) << model.status().message();
    EXPECT_EQ(SaeActivation::kReluTopK, model->info().activation);
    EXPECT_EQ("topk", model->info().architecture);
    EXPECT_EQ(2, model->info().k);
    EXPECT_EQ(std::optional<int32_t>(5), model->info().layer);
    EXPECT_EQ((Codes{{1, 4}, {2, 4}}), encode_one(model.value(), kTokenA));

    json relu = {{"activation_fn_str", "relu"},
                 {"hook_name", "blocks.6.hook_resid_pre"},
                 {"hook_layer", 6},
                 {"d_in", 3},
                 {"d_sae", 5}};
    auto relu_model = open(make_saelens("pre6_relu", relu));
    ASSERT_TRUE(relu_model.ok()) << relu_model.status().message();
    EXPECT_EQ(SaeActivation::kRelu, relu_model->info().activation);
    EXPECT_TRUE(relu_model->info().subtract_b_dec);  // apply_b_dec_to_input defaults to true
    EXPECT_EQ(std::optional<int32_t>(6), relu_model->info().layer);

    json no_k = topk;
    no_k.erase("activation_fn_kwargs");
    expect_error(open(make_saelens("pre6_no_k", no_k)), StatusCode::kInvalidInput,
                 {"cfg.json", "activation_fn_kwargs.k"}, "pre-6 topk without k");
}

TEST_F(SaeFilesTest, SquareEncoderUsesEachFormatsDocumentedOrientation) {
    // M = [[1, 2], [3, 4]], x = [1, 10], no biases.
    const std::vector<float> m = {1, 2, 3, 4};
    const std::vector<float> zeros = {0, 0};
    const std::vector<float> x = {1, 10};
    const fs::path sparsify = root_ / "sq_sparsify";
    fs::create_directories(sparsify);
    write_text(sparsify / "cfg.json", R"({"d_in": 2, "num_latents": 2, "k": 2, "transcode": true})");
    ASSERT_TRUE(write_safetensors((sparsify / "sae.safetensors").string(),
                                  {{"encoder.weight", {2, 2}, m.data()}, {"encoder.bias", {2}, zeros.data()}})
                    .ok());
    auto sparsify_model = open(sparsify);
    ASSERT_TRUE(sparsify_model.ok()) << sparsify_model.status().message();
    EXPECT_EQ((Codes{{0, 21}, {1, 43}}), encode_one(sparsify_model.value(), x));  // rows are latents

    const fs::path saelens = root_ / "sq_saelens";
    fs::create_directories(saelens);
    write_text(saelens / "cfg.json", R"({"architecture": "standard", "d_in": 2, "d_sae": 2,
                                         "apply_b_dec_to_input": false})");
    ASSERT_TRUE(write_safetensors((saelens / "sae_weights.safetensors").string(),
                                  {{"W_enc", {2, 2}, m.data()}, {"b_enc", {2}, zeros.data()}})
                    .ok());
    auto saelens_model = open(saelens);
    ASSERT_TRUE(saelens_model.ok()) << saelens_model.status().message();
    EXPECT_EQ((Codes{{0, 31}, {1, 42}}), encode_one(saelens_model.value(), x));  // columns are latents
}

TEST_F(SaeFilesTest, SparsifyConfigRules) {
    {
        json cfg = sparsify_cfg();
        cfg["transcode"] = true;
        auto model = open(make_sparsify("layer_7", cfg));
        ASSERT_TRUE(model.ok()) << model.status().message();
        EXPECT_FALSE(model->info().subtract_b_dec);
        EXPECT_EQ(std::optional<int32_t>(8), model->info().layer);
        EXPECT_EQ((Codes{{0, 3}, {2, 6}}), encode_one(model.value(), kTokenA));
    }
    {
        // num_latents 0 -> d_in * expansion_factor; the folder name is no layer.
        const fs::path folder = root_ / "embed_tokens";
        fs::create_directories(folder);
        write_text(folder / "cfg.json", R"({"d_in": 3, "expansion_factor": 2, "num_latents": 0, "k": 1})");
        const std::vector<float> w(18, 1.0f);
        const std::vector<float> b(6, 0.0f);
        const std::vector<float> b_dec(3, 0.0f);
        ASSERT_TRUE(write_safetensors((folder / "sae.safetensors").string(), {{"encoder.weight", {6, 3}, w.data()},
                                                                              {"encoder.bias", {6}, b.data()},
                                                                              {"b_dec", {3}, b_dec.data()}})
                        .ok());
        auto model = open(folder / "cfg.json");  // a path to the cfg.json works too
        ASSERT_TRUE(model.ok()) << model.status().message();
        EXPECT_EQ(6, model->info().d_sae);
        EXPECT_FALSE(model->info().layer.has_value());
        EXPECT_EQ("embed_tokens", model->info().hook);
    }
}

TEST_F(SaeFilesTest, ParentFolderWithOneLayerFolderIsUsed) {
    make_sparsify("one/layers.12", sparsify_cfg());
    fs::create_directories(root_ / "one" / "notes");
    auto model = open(root_ / "one");
    ASSERT_TRUE(model.ok()) << model.status().message();
    EXPECT_EQ(std::optional<int32_t>(13), model->info().layer);
    EXPECT_EQ((root_ / "one" / "layers.12").string(), model->info().path);

    make_sparsify("many/layers.10", sparsify_cfg());
    make_sparsify("many/layers.2", sparsify_cfg());
    make_sparsify("many/layer_3", sparsify_cfg());
    auto many = open(root_ / "many");
    expect_error(many, StatusCode::kInvalidInput, {(root_ / "many").string(), "layers.2", "layers.10", "layer_3"},
                 "several layer folders");
    const std::string& message = many.status().message();
    EXPECT_LT(message.find("layers.2"), message.find("layers.10")) << "natural order: " << message;
}

TEST_F(SaeFilesTest, MissingFilesAreNotFoundNamingFolderAndFiles) {
    expect_error(open(root_ / "does_not_exist"), StatusCode::kNotFound, {"does_not_exist"}, "missing folder");

    fs::create_directories(root_ / "empty");
    expect_error(open(root_ / "empty"), StatusCode::kNotFound,
                 {(root_ / "empty").string(), "cfg.json", "sae.safetensors", "sae_weights.safetensors"},
                 "empty folder");

    const fs::path no_cfg = make_sparsify("no_cfg", sparsify_cfg());
    fs::remove(no_cfg / "cfg.json");
    expect_error(open(no_cfg), StatusCode::kNotFound, {no_cfg.string(), "missing cfg.json"}, "missing cfg");

    const fs::path no_weights = make_saelens("no_weights", saelens_v6_cfg("standard"));
    fs::remove(no_weights / "sae_weights.safetensors");
    expect_error(open(no_weights), StatusCode::kNotFound, {no_weights.string(), "sae_weights.safetensors"},
                 "missing weights");
}

TEST_F(SaeFilesTest, BadConfigsNameTheFileAndField) {
    const fs::path bad_json = make_sparsify("bad_json", sparsify_cfg());
    write_text(bad_json / "cfg.json", R"({"d_in": 3, "k": )");
    expect_error(open(bad_json), StatusCode::kInvalidInput, {(bad_json / "cfg.json").string(), "invalid JSON"},
                 "bad json");

    const fs::path not_object = make_sparsify("not_object", sparsify_cfg());
    write_text(not_object / "cfg.json", "[1, 2]");
    expect_error(open(not_object), StatusCode::kInvalidInput, {"cfg.json", "expected a JSON object"}, "array cfg");

    json wrong_type = sparsify_cfg();
    wrong_type["k"] = "many";
    expect_error(open(make_sparsify("wrong_type", wrong_type)), StatusCode::kInvalidInput,
                 {"cfg.json", "field 'k'", "expected integer", "string"}, "k as a string");

    json no_d_in = sparsify_cfg();
    no_d_in.erase("d_in");
    expect_error(open(make_sparsify("no_d_in", no_d_in)), StatusCode::kInvalidInput,
                 {"cfg.json", "missing field 'd_in'"}, "no d_in");

    json negative_k = sparsify_cfg();
    negative_k["k"] = -1;
    expect_error(open(make_sparsify("negative_k", negative_k)), StatusCode::kInvalidInput, {"field 'k'", "-1"},
                 "k < 1");
}

TEST_F(SaeFilesTest, WidthMismatchNamesTensorExpectedAndFound) {
    json wider = sparsify_cfg();
    wider["num_latents"] = 6;
    const fs::path folder = make_sparsify("wider", wider);
    expect_error(open(folder), StatusCode::kInvalidInput,
                 {(folder / "sae.safetensors").string(), "encoder.weight", "[6, 3]", "found [5, 3]"},
                 "sparsify d_sae mismatch");

    json narrower = saelens_v6_cfg("jumprelu");
    narrower["d_in"] = 4;
    const fs::path saelens = make_saelens("narrower", narrower);
    expect_error(open(saelens), StatusCode::kInvalidInput,
                 {(saelens / "sae_weights.safetensors").string(), "W_enc", "[4, 5]", "found [3, 5]"},
                 "saelens d_in mismatch");

    // A bias of the wrong length.
    const fs::path bias = root_ / "bias";
    fs::create_directories(bias);
    write_text(bias / "cfg.json", sparsify_cfg().dump());
    const std::vector<float> enc = transpose(kTinyWEnc, kTinyDIn, kTinyDSae);
    ASSERT_TRUE(write_safetensors((bias / "sae.safetensors").string(), {{"encoder.weight", {5, 3}, enc.data()},
                                                                        {"encoder.bias", {4}, kTinyBEnc.data()},
                                                                        {"b_dec", {3}, kTinyBDec.data()}})
                    .ok());
    expect_error(open(bias), StatusCode::kInvalidInput, {"encoder.bias", "expected shape [5]", "found [4]"},
                 "bias length");

    // A tensor that is not there at all.
    const fs::path no_threshold = root_ / "no_threshold";
    fs::create_directories(no_threshold);
    write_text(no_threshold / "cfg.json", saelens_v6_cfg("jumprelu").dump());
    ASSERT_TRUE(
        write_safetensors(
            (no_threshold / "sae_weights.safetensors").string(),
            {{"W_enc", {3, 5}, kTinyWEnc.data()}, {"b_enc", {5}, kTinyBEnc.data()}, {"b_dec", {3}, kTinyBDec.data()}})
            .ok());
    expect_error(open(no_threshold), StatusCode::kInvalidInput, {"missing tensor 'threshold'", "[5]"},
                 "missing threshold");

    // A corrupt weights file surfaces the safetensors error.
    const fs::path corrupt = make_sparsify("corrupt", sparsify_cfg());
    write_text(corrupt / "sae.safetensors", "abc");
    expect_error(open(corrupt), StatusCode::kInvalidInput, {(corrupt / "sae.safetensors").string()}, "corrupt");
}

TEST_F(SaeFilesTest, UnsupportedArchitecturesAreRefusedClearly) {
    expect_error(open(make_saelens("gated", saelens_v6_cfg("gated"))), StatusCode::kUnsupported,
                 {"cfg.json", "architecture", "gated", "standard, topk, jumprelu"}, "gated");

    json groupmax = sparsify_cfg();
    groupmax["activation"] = "groupmax";
    expect_error(open(make_sparsify("groupmax", groupmax)), StatusCode::kUnsupported, {"cfg.json", "groupmax"},
                 "groupmax");

    json expected_average = saelens_v6_cfg("standard");
    expected_average["normalize_activations"] = "expected_average_only_in";
    expect_error(open(make_saelens("expected_average", expected_average)), StatusCode::kUnsupported,
                 {"normalize_activations", "expected_average_only_in", "fold"}, "expected_average_only_in");

    json bool_norm = saelens_v6_cfg("standard");
    bool_norm["normalize_activations"] = true;
    expect_error(open(make_saelens("bool_norm", bool_norm)), StatusCode::kUnsupported, {"expected_average_only_in"},
                 "normalize_activations true");

    json layer_norm = saelens_v6_cfg("standard");
    layer_norm["normalize_activations"] = "layer_norm";
    expect_error(open(make_saelens("layer_norm", layer_norm)), StatusCode::kUnsupported, {"layer_norm"}, "layer_norm");

    json rescale = saelens_v6_cfg("topk");
    rescale["rescale_acts_by_decoder_norm"] = true;
    expect_error(open(make_saelens("rescale", rescale)), StatusCode::kUnsupported, {"rescale_acts_by_decoder_norm"},
                 "rescale by decoder norm");

    json hook_z = saelens_v6_cfg("standard");
    hook_z["reshape_activations"] = "hook_z";
    expect_error(open(make_saelens("hook_z", hook_z)), StatusCode::kUnsupported, {"hook_z"}, "hook_z");

    json tanh = {{"activation_fn_str", "tanh-relu"}, {"d_in", 3}, {"d_sae", 5}};
    expect_error(open(make_saelens("tanh", tanh)), StatusCode::kUnsupported, {"tanh-relu"}, "pre-6 tanh-relu");
}

TEST(SaeLayers, SparsifyFolderNames) {
    const std::pair<const char*, std::optional<int32_t>> cases[] = {
        {"layers.0", 1},      {"layers.15", 16},    {"layer_7", 8},  {"layers.31", 32},
        {"layers.5.mlp", {}}, {"embed_tokens", {}}, {"layers.", {}}, {"layers.x", {}},
        {"layers.-1", {}},    {"layers", {}},       {"", {}},        {"layer_", {}},
    };
    for (const auto& [name, expected] : cases) EXPECT_EQ(expected, layer_from_sparsify_folder(name)) << name;
}

TEST(SaeLayers, SaelensHookNames) {
    struct Case {
        const char* hook;
        std::optional<int32_t> hook_layer;
        std::optional<int32_t> expected;
    };
    const Case cases[] = {
        {"blocks.22.hook_resid_post", {}, 23},
        {"blocks.0.hook_resid_post", {}, 1},
        {"blocks.3.hook_resid_pre", {}, 3},
        {"model.layers.28", {}, 29},
        {"blocks.3.hook_mlp_out", {}, {}},
        {"blocks.3.attn.hook_z", {}, {}},
        {"blocks.3.hook_mlp_out", 3, {}},
        {"hook_resid_post", 7, 8},  // pre-6: layer only in hook_layer
        {"hook_resid_pre", 7, 7},
        {"blocks.x.hook_resid_post", {}, {}},
        {"model.layers.28.mlp", {}, {}},
        {"", {}, {}},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(c.expected, layer_from_saelens_hook(c.hook, c.hook_layer)) << c.hook;
    }
}

}  // namespace
}  // namespace mona
