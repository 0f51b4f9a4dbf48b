// eval/finetune.cpp: `mona eval --finetune` runs (eval/finetune.hpp).
#include "eval/finetune.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>
#include <unordered_map>

#include "jobs/engine.hpp"
#include "jobs/run_support.hpp"
#include "util/home.hpp"
#include "util/sha256.hpp"

namespace mona {
namespace {

using Clock = std::chrono::steady_clock;

// Tokens a sample may have before fine-tuning's tokenisation cuts it (its window is taken later). The session made
// for the tokenisation holds a context of this size, never decoded.
constexpr int32_t kFinetuneMaxTokens = 2048;
using detail::SkipRow;
using detail::stream_samples;

double seconds_from(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The F32 weights to train: --finetune-model, --model itself when all F32, else the cached copy
// $MONA_HOME/models/<stem>.<sha256[:12] of --model>.F32.gguf, made now when missing.
Result<std::string> trainable_model(const FinetuneOptions& options, const SelectConfig& config, int32_t n_threads,
                                    const LogFn& log, std::string& source_sha) {
    if (!options.trainable_model.empty()) return options.trainable_model;
    if (check_trainable_model(config.model_path).ok()) return config.model_path;
    MONA_TRY(source_sha, sha256_file(config.model_path));
    std::string stem = std::filesystem::path(config.model_path).stem().string();
    const std::filesystem::path dir = std::filesystem::path(mona_home()) / "models";
    const std::string path = (dir / fmt::format("{}.{}.F32.gguf", stem, source_sha.substr(0, 12))).string();
    if (std::filesystem::exists(path)) return path;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return io_error(fmt::format("cannot create {}: {}", dir.string(), ec.message()));
    if (log) log(fmt::format("finetune: writing an F32 copy of {} to {} (once)", config.model_path, path));
    MONA_RETURN_IF_ERROR(make_trainable_copy(config.model_path, path, n_threads));
    return path;
}

// Throttled "finetune" progress: optimizer steps done of the total.
struct StepProgress {
    const ProgressFn* fn = nullptr;
    Clock::time_point start = Clock::now();
    double last = -1e9;
    int64_t total = 0;
    int64_t done = 0;
    int32_t n_ctx = 0;

    void report(bool force) {
        if (fn == nullptr || !*fn) return;
        const double now = seconds_from(start);
        if (!force && now - last < 5.0) return;
        last = now;
        (*fn)(ProgressUpdate{"finetune", done, static_cast<uint64_t>(done) * static_cast<uint64_t>(n_ctx), now, force,
                             total, 0});
    }
};

}  // namespace

Status check_finetune_options(const FinetuneOptions& o, const std::vector<std::string>& eval_methods) {
    if (o.epochs < 1) return invalid_input(fmt::format("--finetune-epochs {} must be >= 1", o.epochs));
    if (!(o.learning_rate > 0.0) || o.learning_rate > 1.0) {
        return invalid_input(fmt::format("--finetune-lr {} must be in (0, 1]", o.learning_rate));
    }
    if (o.n_ctx < 256 || o.n_ctx % 256 != 0) {
        return invalid_input(
            fmt::format("--finetune-ctx {} must be a multiple of 256 (llama.cpp's context padding)", o.n_ctx));
    }
    if (o.n_samples < 1) return invalid_input(fmt::format("--finetune-samples {} must be >= 1", o.n_samples));
    if (o.n_random_seeds < 1) return invalid_input(fmt::format("--finetune-seeds {} must be >= 1", o.n_random_seeds));
    if (o.heldout_every < 2) {
        return invalid_input(fmt::format("--finetune-heldout-every {} must be >= 2", o.heldout_every));
    }
    if (o.n_eval < 1) return invalid_input(fmt::format("--finetune-eval {} must be >= 1", o.n_eval));
    for (const std::string& m : o.methods) {
        if (std::find(eval_methods.begin(), eval_methods.end(), m) == eval_methods.end()) {
            return invalid_input(fmt::format("--finetune-method {}: not a method of this eval (methods: {})", m,
                                             fmt::join(eval_methods, ", ")));
        }
    }
    return Status();
}

Result<FinetuneReport> run_finetune(const FinetuneOptions& options, const SelectConfig& config,
                                    const std::vector<FinetuneTargetInput>& targets, const LogFn& log) {
    const auto t0 = Clock::now();
    const int32_t n_threads =
        config.threads > 0 ? config.threads : std::max(1, static_cast<int32_t>(std::thread::hardware_concurrency()));
    FinetuneReport report;
    report.options = options;
    report.n_threads = n_threads;
    for (const FinetuneTargetInput& t : targets) {
        for (const FinetuneSelection& s : t.selections) {
            if (std::find(report.methods.begin(), report.methods.end(), s.method) == report.methods.end())
                report.methods.push_back(s.method);
        }
    }

    // The run's template and system prompt, with room for whole samples (the selection pass may cut them).
    SelectConfig long_config = config;
    long_config.max_tokens = std::max(config.max_tokens, kFinetuneMaxTokens);
    MONA_TRY(Session session, Session::open(session_options(long_config)));
    std::vector<std::vector<LossExample>> heldout(targets.size());
    for (size_t i = 0; i < targets.size(); ++i) {
        for (const Sample& sample : targets[i].heldout) {
            MONA_TRY(TokenizedSample tokens, session.tokenize(sample));
            heldout[i].push_back({std::move(tokens.tokens), tokens.n_prompt});
        }
    }

    // The training samples: one read of the pool.
    std::unordered_map<uint64_t, LossExample> by_record;
    for (const FinetuneTargetInput& t : targets) {
        for (const FinetuneSelection& s : t.selections) {
            for (uint64_t r : s.records) by_record.emplace(r, LossExample{});
        }
    }
    std::vector<SkipRow> skipped;
    MONA_RETURN_IF_ERROR(stream_samples(
        config.pool_path, long_config, session, skipped,
        [&](const Sample& sample, TokenizedSample tokens) -> Status {
            by_record[sample.record_idx] = LossExample{std::move(tokens.tokens), tokens.n_prompt};
            return Status();
        },
        [&](uint64_t record) { return by_record.count(record) > 0; }));
    for (const auto& [record, ex] : by_record) {
        if (ex.tokens.empty()) {
            return io_error(fmt::format("pool {} changed during the run: record {} is gone", config.pool_path, record));
        }
    }

    std::string source_sha;
    MONA_TRY(const std::string model_path, trainable_model(options, config, n_threads, log, source_sha));
    MONA_TRY(const std::string model_sha, sha256_file(model_path));
    report.model = {{"path", model_path}, {"sha256", model_sha}, {"source", config.model_path}};
    if (!source_sha.empty()) report.model["source_sha256"] = source_sha;

    StepProgress progress;
    progress.fn = &config.progress;
    progress.n_ctx = options.n_ctx;
    for (const FinetuneTargetInput& t : targets) {
        for (const FinetuneSelection& s : t.selections) progress.total += static_cast<int64_t>(s.records.size());
    }
    progress.total *= options.epochs;

    TrainOptions train;
    train.epochs = options.epochs;
    train.learning_rate = static_cast<float>(options.learning_rate);
    for (size_t target_idx = 0; target_idx < targets.size(); ++target_idx) {
        const FinetuneTargetInput& t = targets[target_idx];
        FinetuneTarget& out = report.targets.emplace_back();
        out.name = t.name;
        out.n_prototype = t.n_prototype;
        out.n_heldout = static_cast<int64_t>(t.heldout.size());
        {
            MONA_TRY(TrainableModel base, TrainableModel::load(model_path, n_threads, options.n_ctx));
            MONA_TRY(LossSum loss, base.loss(heldout[target_idx]));
            if (loss.n_tokens == 0) {
                return invalid_input(
                    fmt::format("target '{}': its held-back exemplars have no assistant token within --finetune-ctx {}",
                                t.name, options.n_ctx));
            }
            out.base_loss = loss.mean();
            out.n_eval_tokens = loss.n_tokens;
        }
        for (const FinetuneSelection& s : t.selections) {
            const auto t_run = Clock::now();
            std::vector<LossExample> examples;
            for (uint64_t r : s.records) examples.push_back(by_record.at(r));
            MONA_TRY(TrainableModel model, TrainableModel::load(model_path, n_threads, options.n_ctx));
            train.seed = s.seed;
            const int64_t done_before = progress.done;
            MONA_TRY(int64_t n_trained, model.train(examples, train, [&](int64_t steps, int64_t) {
                progress.done = done_before + steps;
                progress.report(false);
            }));
            // Samples without an assistant token in the context are not trained on: their steps count as done.
            progress.done = done_before + static_cast<int64_t>(s.records.size()) * options.epochs;
            MONA_TRY(LossSum tuned, model.loss(heldout[target_idx]));
            FinetuneRun& run = out.runs.emplace_back();
            run.method = s.method;
            run.seed = s.seed;
            run.n_train = n_trained;
            run.n_train_tokens = n_trained * options.epochs * options.n_ctx;
            run.tuned_loss = tuned.mean();
            run.seconds = seconds_from(t_run);
            report.n_train_tokens += run.n_train_tokens;
            if (log) {
                log(fmt::format("finetune: {} / {}{}: loss {:.4f} -> {:.4f} ({} samples, {:.0f} s)", t.name, s.method,
                                s.method == "random" ? fmt::format(" seed {}", s.seed) : "", out.base_loss,
                                run.tuned_loss, n_trained, run.seconds));
            }
        }
    }
    progress.report(true);
    report.seconds = seconds_from(t0);
    return report;
}

}  // namespace mona
