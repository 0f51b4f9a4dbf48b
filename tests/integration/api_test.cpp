// The public jobs facade (include/mona/jobs.hpp, src/api/): its defaults are the library's own, bad settings
// name their field, and run_select_job writes what `mona select` writes, with progress through the log callback.
#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "api/jobs.hpp"
#include "integration/run_util.hpp"
#include "integration/tiny_model_util.hpp"
#include "jobs/embed.hpp"
#include "mona/mona.hpp"

namespace mona {
namespace {

namespace fs = std::filesystem;

TEST(Api, JobDefaultsAreTheLibrarysDefaults) {
    Result<SelectConfig> converted = api::to_select_config(SelectJobOptions{}, /*fill_default_paths=*/false);
    ASSERT_TRUE(converted.ok()) << converted.status().message();
    const SelectConfig& got = converted.value();
    const SelectConfig want;
    EXPECT_EQ(want.layer, got.layer);
    EXPECT_EQ(want.ratio, got.ratio);
    EXPECT_EQ(want.count, got.count);
    EXPECT_EQ(want.merge, got.merge);
    EXPECT_EQ(want.store_dir, got.store_dir);
    EXPECT_EQ(want.store_shard_rows, got.store_shard_rows);
    EXPECT_EQ(want.k, got.k);
    EXPECT_EQ(want.token_mode, got.token_mode);
    EXPECT_EQ(want.pooling, got.pooling);
    EXPECT_EQ(want.format, got.format);
    EXPECT_EQ(want.template_name, got.template_name);
    EXPECT_EQ(want.cpu_repack, got.cpu_repack);
    EXPECT_EQ(want.system_prompt, got.system_prompt);
    EXPECT_EQ(want.max_tokens, got.max_tokens);
    EXPECT_EQ(want.batch_tokens, got.batch_tokens);
    EXPECT_EQ(want.threads, got.threads);
    EXPECT_EQ(want.skip_bad, got.skip_bad);
    EXPECT_FALSE(want.progress) << "the library is silent unless asked";
    EXPECT_TRUE(static_cast<bool>(got.progress)) << "the public API reports progress by default (log callback)";
    EXPECT_EQ(want.command_line, got.command_line);
    EXPECT_TRUE(got.model_path.empty());  // score keeps the store's recorded paths

    Result<EvalConfig> eval = api::to_eval_config(EvalJobOptions{});
    ASSERT_TRUE(eval.ok()) << eval.status().message();
    const EvalConfig eval_want;
    EXPECT_EQ(eval_want.seed, eval->seed);
    EXPECT_EQ(eval_want.n_latents, eval->n_latents);
    EXPECT_EQ(eval_want.n_latent_samples, eval->n_latent_samples);
    EXPECT_TRUE(eval->methods.empty());
    EXPECT_FALSE(eval->select.model_path.empty());  // every job but score fills in the default model and SAE
    EXPECT_FALSE(eval->select.sae_path.empty());

    const EmbedJobOptions embed;
    const EmbedStoreOptions store;
    EXPECT_EQ(store.keep, embed.keep);
    EXPECT_EQ(std::string(value_encoding_name(kEmbedCliValues)), embed.values);  // the command's default, not the job's
    EXPECT_EQ(store.shard_rows, embed.shard_rows);
    EXPECT_EQ(store.slice_idx, embed.slice_idx);
    EXPECT_EQ(store.n_slices, embed.n_slices);
}

TEST(Api, SettingsConvertAndBadOnesNameTheirField) {
    SelectJobOptions options;
    options.common.tokens = "response";
    options.common.pooling = "sum";
    options.common.system_prompt = "none";
    options.targets = {{"", "/data/maths.jsonl"}, {"code", "/data/c.jsonl"}};
    options.merge = "quota";
    options.quotas = {{"maths", 2.0}, {"code", 1.0}};
    Result<SelectConfig> config = api::to_select_config(options, false);
    ASSERT_TRUE(config.ok()) << config.status().message();
    EXPECT_EQ(TokenMode::kResponse, config->token_mode);
    EXPECT_EQ(PoolingMode::kSum, config->pooling);
    EXPECT_EQ(SystemPrompt::Mode::kNone, config->system_prompt.mode);
    ASSERT_EQ(2u, config->targets.size());
    EXPECT_EQ("maths", config->targets[0].name);
    EXPECT_EQ("code", config->targets[1].name);
    EXPECT_EQ("/data/c.jsonl", config->targets[1].path);
    EXPECT_EQ(MergeMode::kQuota, config->merge);
    ASSERT_EQ(2u, config->quotas.size());
    EXPECT_EQ(2.0, config->quotas[0].weight);

    const auto expect_refused = [](SelectJobOptions bad, const char* field) {
        Result<SelectConfig> refused = api::to_select_config(bad, false);
        ASSERT_FALSE(refused.ok()) << field;
        EXPECT_EQ(StatusCode::kInvalidInput, refused.status().code());
        EXPECT_EQ(0u, refused.status().message().rfind(field, 0)) << refused.status().message();
    };
    SelectJobOptions bad;
    bad.common.tokens = "most";
    expect_refused(bad, "tokens");
    bad = {};
    bad.common.pooling = "max";
    expect_refused(bad, "pooling");
    bad = {};
    bad.common.format = "csv";
    expect_refused(bad, "format");
    bad = {};
    bad.merge = "zip";
    expect_refused(bad, "merge");
    bad = {};
    bad.targets = {{"bad name!", "x.jsonl"}};
    expect_refused(bad, "targets");
    EvalJobOptions eval;
    eval.methods = {"mona", "magic"};
    Result<EvalConfig> refused = api::to_eval_config(eval);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(0u, refused.status().message().rfind("methods", 0)) << refused.status().message();
    // The facade never reaches the model with a bad setting.
    Result<SelectJobResult> run = run_select_job(bad);
    ASSERT_FALSE(run.ok());
    EXPECT_EQ(StatusCode::kInvalidInput, run.status().code());
}

TEST(Api, SelectJobWritesWhatTheCommandWrites) {
    fixtures::unset_mona_environment();
    const std::string dir = fixtures::make_temp_dir("mona-api");
    ASSERT_FALSE(dir.empty());
    const std::string model = dir + "/tiny.gguf";
    ASSERT_TRUE(fixtures::write_tiny_llama_gguf(model, fixtures::TinyModelSpec{}).ok());
    Result<fixtures::TinySae> sae = fixtures::write_tiny_sparsify_sae(dir + "/sae", 64, 96, 8, 7, "layers.1");
    ASSERT_TRUE(sae.ok()) << sae.status().message();
    const std::string pool = dir + "/pool.jsonl";
    const std::string target = dir + "/math.jsonl";
    ASSERT_TRUE(fixtures::write_jsonl(pool, fixtures::make_labelled_pool(6)).ok());
    ASSERT_TRUE(fixtures::write_jsonl(target, fixtures::make_target_exemplars("math", 4)).ok());

    const fixtures::RunResult cli =
        fixtures::run_binary(MONA_BIN,
                             {"select", "--model", model, "--sae", sae->folder, "--pool", pool, "--target",
                              "math=" + target, "--count", "5", "--threads", "1", "--out", dir + "/cli", "--quiet"},
                             dir);
    ASSERT_EQ(0, cli.exit_code) << cli.err;

    std::mutex mutex;
    std::vector<std::string> messages;
    set_log_callback([&](LogLevel, std::string_view message) {
        const std::lock_guard<std::mutex> lock(mutex);
        messages.emplace_back(message);
    });
    SelectJobOptions job;
    job.common.model_path = model;
    job.common.sae_path = sae->folder;
    job.common.pool_path = pool;
    job.common.out_dir = dir + "/api";
    job.common.threads = 1;
    job.targets = {{"math", target}};
    job.count = 5;
    Result<SelectJobResult> result = run_select_job(job);
    set_log_callback(nullptr);
    ASSERT_TRUE(result.ok()) << result.status().message();
    ASSERT_EQ(1u, result->targets.size());
    EXPECT_EQ("math", result->targets[0].name);
    EXPECT_EQ(5, result->targets[0].n_selected);
    EXPECT_EQ(24, result->n_pool_read);
    for (const char* file : {"math/selected.jsonl", "math/scores.tsv"}) {
        const std::string want = fixtures::read_file(dir + "/cli/" + file);
        EXPECT_FALSE(want.empty()) << file;
        EXPECT_EQ(want, fixtures::read_file(dir + "/api/" + file)) << file;
    }
    ASSERT_FALSE(messages.empty()) << "no progress line reached the log callback";
    EXPECT_EQ(0u, messages.back().rfind("mona: ", 0)) << messages.back();

    std::error_code ec;
    fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace mona
