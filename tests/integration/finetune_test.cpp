// Integration tests of capture/finetune: the assistant-token loss against a reference computed by hand from
// llama.cpp's logits, and fine-tuning (lower loss on its own training data, the same losses twice) on the tiny
// random-weight model (tiny_model_util), which is all F32 and so trainable as written.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "capture/finetune.hpp"
#include "capture/session.hpp"
#include "integration/tiny_model_util.hpp"

namespace mona {
namespace {

Sample chat(const std::string& user, const std::string& assistant) {
    Sample s;
    s.format = InputFormat::kMessages;
    s.turns.push_back({Role::kUser, user});
    s.turns.push_back({Role::kAssistant, assistant});
    return s;
}

class FinetuneTest : public ::testing::Test {
   protected:
    static void SetUpTestSuite() {
        dir_ = new std::string(fixtures::make_temp_dir("mona-finetune-test"));
        ASSERT_FALSE(dir_->empty());
        model_path_ = new std::string(*dir_ + "/tiny.gguf");
        fixtures::TinyModelSpec spec;
        spec.n_layer = 2;
        const Status written = fixtures::write_tiny_llama_gguf(*model_path_, spec);
        ASSERT_TRUE(written.ok()) << written.message();
        SessionOptions options;
        options.model_path = *model_path_;
        options.n_threads = 1;
        Result<Session> session = Session::open(options);
        ASSERT_TRUE(session.ok()) << session.status().message();
        examples_ = new std::vector<LossExample>();
        const std::vector<Sample> samples = {
            chat("What is 12 plus 30?", "12 plus 30 is 42."),
            chat("Name a spice used in curry.", "Turmeric is a spice used in curry; cumin is another."),
            chat("Sort 3 1 2.", "The sorted list is 1 2 3."),
        };
        for (const Sample& sample : samples) {
            Result<TokenizedSample> tokens = session.value().tokenize(sample);
            ASSERT_TRUE(tokens.ok()) << tokens.status().message();
            ASSERT_GT(tokens->n_prompt, 1);
            ASSERT_LT(tokens->n_prompt, static_cast<int32_t>(tokens->tokens.size()));
            examples_->push_back({tokens->tokens, tokens->n_prompt});
        }
    }
    static void TearDownTestSuite() {
        std::filesystem::remove_all(*dir_);
        delete dir_;
        delete model_path_;
        delete examples_;
    }

    static std::string* dir_;
    static std::string* model_path_;
    static std::vector<LossExample>* examples_;
};
std::string* FinetuneTest::dir_ = nullptr;
std::string* FinetuneTest::model_path_ = nullptr;
std::vector<LossExample>* FinetuneTest::examples_ = nullptr;

TEST_F(FinetuneTest, LossIsCrossEntropyOverAssistantTokensOfTheLogits) {
    Result<TrainableModel> model = TrainableModel::load(*model_path_, 1, 256);
    ASSERT_TRUE(model.ok()) << model.status().message();
    // Reference: log-sum-exp in long double over llama.cpp's logits, the assistant tokens only.
    long double ref_sum = 0.0L;
    int64_t ref_count = 0;
    const size_t n_vocab = static_cast<size_t>(model->n_vocab());
    for (const LossExample& ex : *examples_) {
        Result<std::vector<float>> logits = model->logits(ex.tokens);
        ASSERT_TRUE(logits.ok()) << logits.status().message();
        ASSERT_EQ(logits->size(), ex.tokens.size() * n_vocab);
        for (size_t target = static_cast<size_t>(ex.n_prompt); target < ex.tokens.size(); ++target) {
            const float* row = logits->data() + (target - 1) * n_vocab;
            long double z = 0.0L;
            for (size_t v = 0; v < n_vocab; ++v) z += std::exp(static_cast<long double>(row[v]));
            ref_sum += std::log(z) - static_cast<long double>(row[ex.tokens[target]]);
            ++ref_count;
        }
    }
    Result<LossSum> loss = model->loss(*examples_);
    ASSERT_TRUE(loss.ok()) << loss.status().message();
    EXPECT_EQ(loss->n_tokens, ref_count);
    EXPECT_NEAR(loss->sum_nll, static_cast<double>(ref_sum), 1e-9 * static_cast<double>(ref_sum));
    // The prompt is not scored: a longer prompt split leaves fewer tokens.
    std::vector<LossExample> shifted = *examples_;
    for (LossExample& ex : shifted) ex.n_prompt += 1;
    Result<LossSum> fewer = model->loss(shifted);
    ASSERT_TRUE(fewer.ok());
    EXPECT_EQ(fewer->n_tokens, ref_count - static_cast<int64_t>(shifted.size()));
}

TEST_F(FinetuneTest, TrainingLowersTheLossOnItsDataDeterministically) {
    auto run = [&](std::vector<double>& losses) {
        Result<TrainableModel> model = TrainableModel::load(*model_path_, 1, 256);
        ASSERT_TRUE(model.ok()) << model.status().message();
        Result<LossSum> before = model->loss(*examples_);
        ASSERT_TRUE(before.ok()) << before.status().message();
        TrainOptions options;
        options.epochs = 3;
        options.learning_rate = 1e-3f;
        options.seed = 7;
        int64_t last_step = 0;
        Result<int64_t> trained = model->train(*examples_, options, [&](int64_t done, int64_t total) {
            EXPECT_EQ(done, last_step + 1);
            EXPECT_EQ(total, 9);
            last_step = done;
        });
        ASSERT_TRUE(trained.ok()) << trained.status().message();
        EXPECT_EQ(trained.value(), 3);
        EXPECT_EQ(last_step, 9);
        Result<LossSum> after = model->loss(*examples_);
        ASSERT_TRUE(after.ok()) << after.status().message();
        losses = {before->mean(), after->mean()};
    };
    std::vector<double> first;
    std::vector<double> second;
    run(first);
    run(second);
    ASSERT_EQ(first.size(), 2u);
    EXPECT_LT(first[1], 0.9 * first[0]) << "before " << first[0] << ", after " << first[1];
    EXPECT_EQ(first, second);
}

TEST_F(FinetuneTest, ExamplesWithoutAssistantTokensAreRefused) {
    Result<TrainableModel> model = TrainableModel::load(*model_path_, 1, 256);
    ASSERT_TRUE(model.ok());
    std::vector<LossExample> prompt_only = *examples_;
    for (LossExample& ex : prompt_only) ex.n_prompt = static_cast<int32_t>(ex.tokens.size());
    Result<int64_t> trained = model->train(prompt_only, TrainOptions{});
    EXPECT_FALSE(trained.ok());
}

TEST_F(FinetuneTest, TrainableCopyIsF32AndLoads) {
    const std::string copy = *dir_ + "/copy-f32.gguf";
    const Status made = make_trainable_copy(*model_path_, copy, 1);
    ASSERT_TRUE(made.ok()) << made.message();
    Result<TrainableModel> model = TrainableModel::load(copy, 1, 256);
    ASSERT_TRUE(model.ok()) << model.status().message();
    Result<TrainableModel> original = TrainableModel::load(*model_path_, 1, 256);
    ASSERT_TRUE(original.ok());
    Result<LossSum> a = model->loss(*examples_);
    Result<LossSum> b = original->loss(*examples_);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->sum_nll, b->sum_nll);  // F32 -> F32 is a copy
}

}  // namespace
}  // namespace mona
