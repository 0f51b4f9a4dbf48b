// mona train-sae: flags -> TrainSaeConfig -> run_train_sae (src/jobs/train_sae.hpp). The documents come from
// --input files, or `builtin:demo-training[:N]`, the project's own generated instruction corpus.
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>

#include "commands.hpp"
#include "demo/demo_corpus.hpp"
#include "jobs/train_sae.hpp"

namespace mona::cli {
namespace {

constexpr const char* kBuiltinCorpus = "builtin:demo-training";

// Every document of every input, in order: record files (jobs/train_sae.hpp read_documents) or the builtin corpus.
Status for_each_document(const std::vector<std::string>& inputs, InputFormat format, const DocumentFn& on_doc) {
    for (const auto& input : inputs) {
        if (input.rfind(kBuiltinCorpus, 0) != 0) {
            MONA_RETURN_IF_ERROR(read_documents({input}, format, on_doc));
            continue;
        }
        int per_family = 250;
        if (input.size() > std::strlen(kBuiltinCorpus) + 1) {
            per_family = std::atoi(input.c_str() + std::strlen(kBuiltinCorpus) + 1);
        }
        if (per_family < 1) {
            return invalid_input(fmt::format("--input {}: expected builtin:demo-training[:N] with N >= 1", input));
        }
        // A seed of its own: the demo's pool and targets use other seeds.
        for (const DemoSample& demo : demo_pool(/*seed=*/90210, per_family)) {
            Sample sample;
            sample.id = demo.id;
            sample.task = demo.task;
            sample.format = InputFormat::kMessages;
            sample.turns = {{Role::kUser, demo.user}, {Role::kAssistant, demo.assistant}};
            MONA_RETURN_IF_ERROR(on_doc(sample));
        }
    }
    return Status();
}

Result<TrainSaeConfig> train_config_from_args(const ParsedArgs& args) {
    TrainSaeConfig config;
    config.out_dir = args.get("out");
    config.inputs = args.all("input");
    MONA_TRY(InputFormat format, parse_input_format(args.get("format")));
    config.documents = [inputs = config.inputs, format](const DocumentFn& on_doc) {
        return for_each_document(inputs, format, on_doc);
    };
    MONA_TRY(config.session, session_options_from_args(args, "doc-tokens"));
    if (args.has("layer")) config.layer = args.get_int<int32_t>("layer");
    SaeTrainOptions& train = config.train;
    train.n_latents = args.get_int("latents");
    train.k = args.get_int<int32_t>("k");
    train.batch_size = args.get_int("batch-size");
    train.lr = args.get_float("lr");
    train.warmup_steps = args.get_int("warmup");
    train.dead_after_tokens = args.get_int("dead-tokens");
    train.seed = args.get_int<uint64_t>("seed");
    config.epochs = args.get_int("epochs");
    config.train_tokens = args.get_int("train-tokens");
    config.buffer_tokens = args.get_int("buffer-tokens");
    config.cache_mb = args.get_int("cache-mb");
    config.log_every = args.get_int("log-every");
    config.resume = args.on("resume");
    if (!args.on("quiet")) config.log = print_log;
    return config;
}

}  // namespace

CommandResult cmd_train_sae(const ParsedArgs& args) {
    auto config = train_config_from_args(args);
    if (!config.ok()) return config.status();
    // Usage errors (exit 2) the flags alone decide; the job checks them again for library callers.
    if (config->layer == 0) {
        return usage_error(invalid_input("--layer 0 (token embeddings) has no sparsify hookpoint name; pick L >= 1"));
    }
    if (config->buffer_tokens < config->train.batch_size) {
        return usage_error(invalid_input("--buffer-tokens must be >= --batch-size"));
    }
    return run_train_sae(config.value());
}

}  // namespace mona::cli
