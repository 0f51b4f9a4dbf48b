// Integration tests of capture/session: the layer rows llama.cpp hands over, the layer numbering, tokenisation.
// Every test runs on a random-weight 3-layer `llama` GGUF written into a temporary folder (tiny_model_util).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "capture/session.hpp"
#include "integration/tiny_model_util.hpp"

namespace mona {
namespace {

using fixtures::TinyModelSpec;

Sample chat_sample(const std::string& user, const std::string& assistant, const std::string& system = "") {
    Sample s;
    s.format = InputFormat::kMessages;
    if (!system.empty()) s.turns.push_back({Role::kSystem, system});
    s.turns.push_back({Role::kUser, user});
    if (!assistant.empty()) s.turns.push_back({Role::kAssistant, assistant});
    return s;
}

Sample text_sample(const std::string& text) {
    Sample s;
    s.format = InputFormat::kText;
    s.text = text;
    return s;
}

double row_norm(const float* row, int64_t n) {
    double sum = 0.0;
    for (int64_t idx = 0; idx < n; ++idx) sum += static_cast<double>(row[idx]) * row[idx];
    return std::sqrt(sum);
}

double row_diff_norm(const float* a, const float* b, int64_t n) {
    double sum = 0.0;
    for (int64_t idx = 0; idx < n; ++idx) {
        const double d = static_cast<double>(a[idx]) - b[idx];
        sum += d * d;
    }
    return std::sqrt(sum);
}

class CaptureTest : public ::testing::Test {
   protected:
    static void SetUpTestSuite() {
        dir_ = new std::string(fixtures::make_temp_dir("mona-capture-test"));
        ASSERT_FALSE(dir_->empty());
        TinyModelSpec spec;
        spec.n_layer = 3;
        spec.n_head_kv = 2;
        model_path_ = new std::string(*dir_ + "/tiny.gguf");
        const Status written = fixtures::write_tiny_llama_gguf(*model_path_, spec);
        ASSERT_TRUE(written.ok()) << written.message();

        // Same weights (per-tensor seeds) but block 1 is the identity: hidden_states[2] == hidden_states[1].
        spec.identity_blocks = {1};
        identity_path_ = new std::string(*dir_ + "/tiny-identity-block1.gguf");
        const Status written2 = fixtures::write_tiny_llama_gguf(*identity_path_, spec);
        ASSERT_TRUE(written2.ok()) << written2.message();

        SessionOptions options;
        options.model_path = *model_path_;
        options.n_threads = 1;  // one thread: no OpenMP spin-waits on a shared machine (see select_e2e_test.cpp)
        options.batch_tokens = 512;
        options.max_tokens = 512;
        Result<Session> session = Session::open(options);
        ASSERT_TRUE(session.ok()) << session.status().message();
        session_ = new Session(std::move(session).value());
    }

    static void TearDownTestSuite() {
        delete session_;
        session_ = nullptr;
        std::error_code ec;
        if (dir_ && !dir_->empty()) std::filesystem::remove_all(*dir_, ec);
        delete dir_;
        delete model_path_;
        delete identity_path_;
    }

    void SetUp() override {
        if (session_ == nullptr) GTEST_SKIP() << "fixture setup failed";
    }

    static std::vector<int32_t> tokens_of(const Sample& sample) {
        Result<TokenizedSample> t = session_->tokenize(sample);
        EXPECT_TRUE(t.ok()) << t.status().message();
        return t.ok() ? t.value().tokens : std::vector<int32_t>{};
    }

    static std::vector<Sample> some_samples() {
        return {
            chat_sample("What is 12 plus 3? Please add the two numbers.", "12 + 3 = 15. The sum is 15."),
            chat_sample("How long should I bake salmon fillets at 180 degrees?",
                        "Preheat the oven, season the salmon with salt, pepper and olive oil, then bake for about 14 "
                        "minutes until it flakes easily. Rest it for two minutes before serving with lemon.",
                        "You are a helpful cooking assistant."),
            chat_sample("Hi", "Hello!"),
            text_sample("def total_sum(items):\n    return sum(items)\n"),
            chat_sample("What is the capital city of Hungary, and which river flows through it?",
                        "The capital of Hungary is Budapest. The Danube river runs through the city."),
        };
    }

    static std::string* dir_;
    static std::string* model_path_;
    static std::string* identity_path_;
    static Session* session_;
};

std::string* CaptureTest::dir_ = nullptr;
std::string* CaptureTest::model_path_ = nullptr;
std::string* CaptureTest::identity_path_ = nullptr;
Session* CaptureTest::session_ = nullptr;

TEST_F(CaptureTest, ModelHeaderIsWhatTheFixtureWrote) {
    const ModelInfo& info = session_->info();
    EXPECT_EQ("llama", info.arch);
    EXPECT_EQ("mona-tiny-llama", info.name);
    EXPECT_EQ(3, info.n_layer);
    EXPECT_EQ(64, info.n_embd);
    EXPECT_EQ(32000, info.n_vocab);
    EXPECT_EQ(2048, info.n_ctx_train);
    EXPECT_TRUE(info.add_bos);
    EXPECT_EQ(1, info.bos);
    EXPECT_EQ(std::string(fixtures::kChatMlTemplate), info.chat_template);
}

TEST_F(CaptureTest, ModelInfoAgreesWithTheOpenSession) {
    // read_model_info must report what a full load reports; llama.cpp's vocab_only mode, which its header once
    // promised, leaves n_layer, n_embd and n_ctx_train at 0.
    Result<ModelInfo> info = read_model_info(*model_path_);
    ASSERT_TRUE(info.ok()) << info.status().message();
    const ModelInfo& full = session_->info();
    EXPECT_EQ(full.arch, info->arch);
    EXPECT_EQ(full.name, info->name);
    EXPECT_EQ(full.n_layer, info->n_layer);
    EXPECT_EQ(full.n_embd, info->n_embd);
    EXPECT_EQ(full.n_vocab, info->n_vocab);
    EXPECT_EQ(full.n_ctx_train, info->n_ctx_train);
    EXPECT_EQ(full.add_bos, info->add_bos);
    EXPECT_EQ(full.chat_template, info->chat_template);
    EXPECT_EQ(full.n_params, info->n_params);
    EXPECT_EQ(full.size_bytes, info->size_bytes);
    EXPECT_GT(info->n_params, 0u);
}

TEST_F(CaptureTest, TensorShapeAtTheInt64LimitIsAnErrorNotAnAbort) {
    // Regression (issue 9, found by fuzz/gguf_fuzz.cpp): a tensor of shape [INT64_MAX / 2, 2] (type I8) passes
    // the pinned ggml's GGUF overflow check (`<`) but trips GGML_ASSERT(INT64_MAX / ne[i] > n) in
    // ggml_new_tensor_impl, which aborted `mona info` and every model load. mona now refuses it first.
    std::string bytes = "GGUF";
    auto put = [&bytes](auto value) { bytes.append(reinterpret_cast<const char*>(&value), sizeof(value)); };
    put(uint32_t{3});  // version
    put(int64_t{1});   // tensors
    put(int64_t{0});   // key/values
    put(uint64_t{1});  // name length
    bytes += "t";
    put(uint32_t{2});  // n_dims
    put(int64_t{INT64_MAX / 2});
    put(int64_t{2});
    put(uint32_t{24});  // GGML_TYPE_I8
    put(uint64_t{0});   // offset
    bytes.resize((bytes.size() + 31) / 32 * 32, '\0');
    const std::string path = *dir_ + "/int64-limit.gguf";
    {
        std::FILE* f = std::fopen(path.c_str(), "wb");
        ASSERT_NE(nullptr, f);
        ASSERT_EQ(bytes.size(), std::fwrite(bytes.data(), 1, bytes.size(), f));
        std::fclose(f);
    }
    Result<ModelInfo> info = read_model_info(path);
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(StatusCode::kInvalidInput, info.status().code());
    EXPECT_NE(std::string::npos, info.status().message().find(path)) << info.status().message();
    EXPECT_NE(std::string::npos, info.status().message().find("tensor 't'")) << info.status().message();
    SessionOptions options = session_->options();
    options.model_path = path;
    Result<Session> session = Session::open(options);
    ASSERT_FALSE(session.ok());
    EXPECT_EQ(StatusCode::kInvalidInput, session.status().code());
}

TEST_F(CaptureTest, RowsAreTheSameAloneAndBatched) {
    const std::vector<Sample> samples = some_samples();
    std::vector<std::vector<int32_t>> tokens;
    for (const auto& s : samples) tokens.push_back(tokens_of(s));
    const int64_t n_embd = session_->info().n_embd;

    for (int32_t layer : {1, 2}) {
        std::vector<std::vector<float>> alone(tokens.size());
        for (size_t sample_idx = 0; sample_idx < tokens.size(); ++sample_idx) {
            const Status st = session_->capture({&tokens[sample_idx]}, layer, alone[sample_idx]);
            ASSERT_TRUE(st.ok()) << st.message();
            ASSERT_EQ(tokens[sample_idx].size() * static_cast<size_t>(n_embd), alone[sample_idx].size());
        }
        // All together, and in reverse order (a different packing of the same sequences).
        for (bool reversed : {false, true}) {
            std::vector<size_t> order(tokens.size());
            for (size_t idx = 0; idx < order.size(); ++idx) order[idx] = reversed ? order.size() - 1 - idx : idx;
            std::vector<const std::vector<int32_t>*> seqs;
            for (size_t idx : order) seqs.push_back(&tokens[idx]);
            std::vector<float> batched;
            const Status st = session_->capture(seqs, layer, batched);
            ASSERT_TRUE(st.ok()) << st.message();
            size_t row0 = 0;
            for (size_t idx : order) {
                for (size_t token_idx = 0; token_idx < tokens[idx].size(); ++token_idx) {
                    const float* a = alone[idx].data() + token_idx * n_embd;
                    const float* b = batched.data() + (row0 + token_idx) * n_embd;
                    const double norm = row_norm(a, n_embd);
                    ASSERT_GT(norm, 1e-3) << "degenerate activations: layer " << layer << " sample " << idx;
                    // Bit for bit: a sample's rows may not depend on the samples it is batched with.
                    EXPECT_EQ(0, std::memcmp(a, b, static_cast<size_t>(n_embd) * sizeof(float)))
                        << "layer " << layer << " sample " << idx << " token " << token_idx
                        << (reversed ? " (reversed batch)" : "") << ": differs by " << row_diff_norm(a, b, n_embd);
                }
                row0 += tokens[idx].size();
            }
            EXPECT_EQ(row0 * static_cast<size_t>(n_embd), batched.size());
        }
    }
}

TEST_F(CaptureTest, RowsDependOnContextNotOnlyOnTheToken) {
    // Sanity of the fixture: attention mixes positions, so the same token in different contexts gives
    // different rows after block 0 (otherwise the batching test above would prove little).
    const std::vector<int32_t> a = tokens_of(text_sample("alpha beta gamma"));
    const std::vector<int32_t> b = tokens_of(text_sample("delta epsilon gamma"));
    ASSERT_EQ(a.back(), b.back());
    std::vector<float> rows_a, rows_b;
    ASSERT_TRUE(session_->capture({&a}, 1, rows_a).ok());
    ASSERT_TRUE(session_->capture({&b}, 1, rows_b).ok());
    const int64_t n_embd = session_->info().n_embd;
    const float* last_a = rows_a.data() + (a.size() - 1) * n_embd;
    const float* last_b = rows_b.data() + (b.size() - 1) * n_embd;
    EXPECT_GT(row_diff_norm(last_a, last_b, n_embd), 1e-3 * row_norm(last_a, n_embd));
}

// Regression: layer 0 used to be read from `inp_embd`, which the pinned llama.cpp uses for the raw vector-input
// leaf (never computed, never shown to the eval callback); the token path's get_rows result is named `embd`.
TEST_F(CaptureTest, LayerZeroIsTheTokenEmbeddingRows) {
    std::vector<int64_t> ne;
    Result<std::vector<float>> embd = fixtures::read_gguf_tensor_f32(*model_path_, "token_embd.weight", &ne);
    ASSERT_TRUE(embd.ok()) << embd.status().message();
    const int64_t n_embd = session_->info().n_embd;
    ASSERT_EQ(n_embd, ne[0]);
    ASSERT_EQ(session_->info().n_vocab, ne[1]);

    const std::vector<Sample> samples = some_samples();
    std::vector<std::vector<int32_t>> tokens;
    for (const auto& s : samples) tokens.push_back(tokens_of(s));
    std::vector<const std::vector<int32_t>*> seqs;
    for (const auto& t : tokens) seqs.push_back(&t);
    std::vector<float> rows;
    const Status st = session_->capture(seqs, 0, rows);
    ASSERT_TRUE(st.ok()) << st.message();
    size_t row = 0;
    for (const auto& t : tokens) {
        for (int32_t token : t) {
            for (int64_t dim = 0; dim < n_embd; ++dim) {
                ASSERT_EQ(embd.value()[static_cast<size_t>(token) * n_embd + dim], rows[row * n_embd + dim])
                    << "token " << token << " (row " << row << ") dim " << dim;
            }
            ++row;
        }
    }
}

TEST_F(CaptureTest, LayerLIsTheResidualAfterBlockLMinusOne) {
    // The identity model has the full model's weights except that block 1 adds nothing. So hidden_states[1]
    // (after block 0) is the same in both models, hidden_states[2] (after block 1) equals hidden_states[1] in the
    // identity model only, and differs between the two models. Reading L as "after block L" or "after block L-2"
    // breaks one of these.
    SessionOptions options = session_->options();
    options.model_path = *identity_path_;
    Result<Session> identity = Session::open(options);
    ASSERT_TRUE(identity.ok()) << identity.status().message();
    const std::vector<int32_t> tokens = tokens_of(some_samples()[1]);
    std::vector<float> id1, id2, full1, full2;
    ASSERT_TRUE(identity->capture({&tokens}, 1, id1).ok());
    ASSERT_TRUE(identity->capture({&tokens}, 2, id2).ok());
    ASSERT_TRUE(session_->capture({&tokens}, 1, full1).ok());
    ASSERT_TRUE(session_->capture({&tokens}, 2, full2).ok());
    EXPECT_EQ(full1, id1) << "hidden_states[1] is not the output of block 0 alone";
    EXPECT_EQ(id1, id2) << "hidden_states[2] is not the output of (identity) block 1";
    EXPECT_NE(full1, full2) << "block 1 of the full model changed nothing";
    EXPECT_NE(full2, id2);
}

TEST_F(CaptureTest, LayerOutOfRangeIsAnErrorNamingTheRangeAndModel) {
    const std::vector<int32_t> tokens = tokens_of(some_samples()[0]);
    for (int32_t layer : {3, 4, 100, -1}) {
        std::vector<float> rows;
        const Status st = session_->capture({&tokens}, layer, rows);
        ASSERT_FALSE(st.ok()) << "layer " << layer;
        EXPECT_EQ(StatusCode::kInvalidInput, st.code());
        EXPECT_NE(std::string::npos, st.message().find("layer " + std::to_string(layer))) << st.message();
        EXPECT_NE(std::string::npos, st.message().find("0..2")) << st.message();
        EXPECT_NE(std::string::npos, st.message().find(*model_path_)) << st.message();
    }
    Result<std::string> name = layer_tensor_name(3, 3, "x.gguf");
    ASSERT_FALSE(name.ok());
    EXPECT_NE(std::string::npos, name.status().message().find("x.gguf"));
    EXPECT_EQ("embd", layer_tensor_name(0, 3, "x.gguf").value());
    EXPECT_EQ("l_out-0", layer_tensor_name(1, 3, "x.gguf").value());
    EXPECT_EQ("l_out-1", layer_tensor_name(2, 3, "x.gguf").value());
}

// Extra tensors ride along in the same pass: the MLP gate rows are W_gate · (the block's normalised FFN input),
// recomputed here from the GGUF weights; and asking for extras leaves the layer rows bit for bit unchanged.
TEST_F(CaptureTest, ExtraTensorsAreCapturedInTheSamePass) {
    const std::vector<Sample> samples = some_samples();
    std::vector<std::vector<int32_t>> tokens;
    for (const auto& s : samples) tokens.push_back(tokens_of(s));
    std::vector<const std::vector<int32_t>*> seqs;
    int64_t n_tokens = 0;
    for (const auto& t : tokens) {
        seqs.push_back(&t);
        n_tokens += static_cast<int64_t>(t.size());
    }
    const int64_t n_embd = session_->info().n_embd;
    for (int32_t layer : {1, 2}) {
        std::vector<float> plain, with_extra;
        ASSERT_TRUE(session_->capture(seqs, layer, plain).ok());
        // Asked deepest-first on purpose: the order of the request must not matter.
        std::vector<ExtraCapture> extra = {{ffn_gate_tensor_name(layer, 3, "").value(), 0, {}},
                                           {fmt::format("ffn_norm-{}", layer - 1), 0, {}},
                                           {"l_out-0", 0, {}}};
        if (layer == 1) extra.pop_back();  // l_out-0 is the layer's own tensor there
        const Status st = session_->capture(seqs, layer, with_extra, &extra);
        ASSERT_TRUE(st.ok()) << st.message();
        EXPECT_EQ(plain, with_extra) << "extra captures changed the layer rows, layer " << layer;

        std::vector<int64_t> ne;
        Result<std::vector<float>> w =
            fixtures::read_gguf_tensor_f32(*model_path_, fmt::format("blk.{}.ffn_gate.weight", layer - 1), &ne);
        ASSERT_TRUE(w.ok()) << w.status().message();
        const int64_t n_ff = ne[1];
        ASSERT_EQ(n_embd, ne[0]);
        ASSERT_EQ(n_ff, extra[0].width);
        ASSERT_EQ(n_embd, extra[1].width);
        ASSERT_EQ(static_cast<size_t>(n_tokens * n_ff), extra[0].rows.size());
        ASSERT_EQ(static_cast<size_t>(n_tokens * n_embd), extra[1].rows.size());
        double max_err = 0.0, max_abs = 0.0;
        for (int64_t row = 0; row < n_tokens; ++row) {
            const float* x = extra[1].rows.data() + row * n_embd;
            for (int64_t j = 0; j < n_ff; ++j) {
                double want = 0.0;
                for (int64_t i = 0; i < n_embd; ++i) want += static_cast<double>(w.value()[j * n_embd + i]) * x[i];
                max_err = std::max(max_err, std::abs(want - extra[0].rows[row * n_ff + j]));
                max_abs = std::max(max_abs, std::abs(want));
            }
        }
        EXPECT_GT(max_abs, 0.01) << "gate rows are all ~0: the check would be empty";
        EXPECT_LT(max_err, 1e-4) << "layer " << layer;
        if (layer == 2) {
            std::vector<float> layer1;
            ASSERT_TRUE(session_->capture(seqs, 1, layer1).ok());
            EXPECT_EQ(layer1, extra[2].rows) << "l_out-0 as an extra differs from layer 1";
        }
    }
}

TEST_F(CaptureTest, AnExtraTensorTheGraphLacksIsAnErrorNamingIt) {
    const std::vector<int32_t> tokens = tokens_of(some_samples()[0]);
    std::vector<float> rows;
    std::vector<ExtraCapture> extra = {{"no_such_tensor-0", 0, {}}};
    const Status st = session_->capture({&tokens}, 1, rows, &extra);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(std::string::npos, st.message().find("no_such_tensor-0")) << st.message();
    Result<std::string> gate0 = ffn_gate_tensor_name(0, 3, "x.gguf");
    ASSERT_FALSE(gate0.ok());
    EXPECT_NE(std::string::npos, gate0.status().message().find("1..2")) << gate0.status().message();
    EXPECT_EQ("ffn_gate-1", ffn_gate_tensor_name(2, 3, "x.gguf").value());
}

void expect_single_leading_bos(const TokenizedSample& t, int32_t bos, const std::string& what) {
    ASSERT_FALSE(t.tokens.empty()) << what;
    EXPECT_EQ(bos, t.tokens[0]) << what;
    EXPECT_TRUE(t.has_bos) << what;
    EXPECT_EQ(1, std::count(t.tokens.begin(), t.tokens.end(), bos)) << what;
}

TEST_F(CaptureTest, BosAppearsOnceAtTheStart) {
    const int32_t bos = session_->info().bos;
    // The model's own (Jinja) template is tokenised as HF's apply_chat_template does, without adding special
    // tokens (issue 9): the tiny model's ChatML template writes no BOS, so there is none, although the llama-spm
    // tokenizer would add one to plain text.
    // Text samples are not templated: the tokenizer adds its BOS.
    for (const Sample& s : some_samples()) {
        Result<TokenizedSample> t = session_->tokenize(s);
        ASSERT_TRUE(t.ok()) << t.status().message();
        if (s.format == InputFormat::kText) {
            expect_single_leading_bos(t.value(), bos, "text sample");
        } else {
            EXPECT_FALSE(t->has_bos);
            EXPECT_EQ(0, std::count(t->tokens.begin(), t->tokens.end(), bos));
        }
    }
    // A template that writes BOS itself ("<s>" in the text) plus a tokenizer that adds one: still one BOS.
    // (gigachat writes a leading "<s>"; llama2-sys and plain do not.)
    for (const std::string& template_name :
         {std::string("plain"), std::string("llama2-sys"), std::string("gigachat")}) {
        SessionOptions options = session_->options();
        options.template_name = template_name;
        Result<Session> other = Session::open(options);
        ASSERT_TRUE(other.ok()) << template_name << ": " << other.status().message();
        const Sample s = chat_sample("What is 12 plus 3?", "15.", "Be brief.");
        Result<std::string> text = other->render(s);
        ASSERT_TRUE(text.ok());
        Result<TokenizedSample> t = other->tokenize(s);
        ASSERT_TRUE(t.ok()) << t.status().message();
        expect_single_leading_bos(t.value(), bos, template_name + " rendered as: " + text.value());
    }
}

// DISABLED: the rendered chat text is tokenised with parse_special = true as a whole (src/capture/session.cpp
// tokenize_text / Session::tokenize), so special-token text inside a sample's *content* ("<s>", "</s>",
// "<|im_end|>") becomes control tokens; here a second BOS in the middle of the sample. Enable once content is
// tokenised without special parsing (or escaped).
TEST_F(CaptureTest, DISABLED_BosTextInsideUserContentIsNotABosToken) {
    // A pool sample that merely mentions "<s>" must not get a BOS token in the middle (it would be pooled as BOS
    // and, in no-bos mode, only a leading BOS is dropped).
    const int32_t bos = session_->info().bos;
    Result<TokenizedSample> t =
        session_->tokenize(chat_sample("In HTML, what does the <s> tag do?", "It strikes text."));
    ASSERT_TRUE(t.ok()) << t.status().message();
    expect_single_leading_bos(t.value(), bos, "content with a literal <s>");
}

TEST_F(CaptureTest, PromptResponseSplitIsSane) {
    for (const Sample& s : some_samples()) {
        Result<TokenizedSample> t = session_->tokenize(s);
        ASSERT_TRUE(t.ok()) << t.status().message();
        const int32_t n = static_cast<int32_t>(t->tokens.size());
        EXPECT_EQ(n, t->n_full);
        EXPECT_FALSE(t->truncated);
        if (s.format == InputFormat::kText) {
            EXPECT_EQ(n, t->n_prompt) << "a text sample is all prompt";
            continue;
        }
        ASSERT_GT(t->n_prompt, 1);
        ASSERT_LT(t->n_prompt, n) << "a sample with an assistant turn has response tokens";
        // The prompt part ends with the assistant header; the response part holds the assistant's words.
        std::string prompt_text, response_text;
        for (int32_t idx = 0; idx < n; ++idx) {
            (idx < t->n_prompt ? prompt_text : response_text) += session_->token_text(t->tokens[idx]);
        }
        const std::string& user = s.turns[s.turns.size() - 2].content;
        const std::string& answer = s.turns.back().content;
        EXPECT_NE(std::string::npos, prompt_text.find(user.substr(0, 8))) << prompt_text;
        EXPECT_NE(std::string::npos, prompt_text.rfind("assistant")) << prompt_text;
        EXPECT_EQ(std::string::npos, prompt_text.find(answer.substr(0, 5))) << prompt_text;
        EXPECT_NE(std::string::npos, response_text.find(answer.substr(0, 5))) << response_text;
    }
    // Prompt only (no assistant turn): everything is prompt.
    Result<TokenizedSample> t = session_->tokenize(chat_sample("Only a question?", ""));
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(static_cast<int32_t>(t->tokens.size()), t->n_prompt);
}

TEST_F(CaptureTest, TruncationKeepsTheFirstMaxTokens) {
    SessionOptions options = session_->options();
    options.max_tokens = 16;
    options.batch_tokens = 16;
    Result<Session> small = Session::open(options);
    ASSERT_TRUE(small.ok()) << small.status().message();
    const Sample s = some_samples()[1];
    Result<TokenizedSample> full = session_->tokenize(s);
    Result<TokenizedSample> cut = small->tokenize(s);
    ASSERT_TRUE(full.ok() && cut.ok());
    ASSERT_GT(full->tokens.size(), 16u);
    EXPECT_TRUE(cut->truncated);
    EXPECT_EQ(16u, cut->tokens.size());
    EXPECT_EQ(static_cast<int32_t>(full->tokens.size()), cut->n_full);
    EXPECT_TRUE(std::equal(cut->tokens.begin(), cut->tokens.end(), full->tokens.begin()));
    EXPECT_LE(cut->n_prompt, 16);
}

}  // namespace
}  // namespace mona
