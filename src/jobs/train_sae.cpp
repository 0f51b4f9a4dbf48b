// jobs/train_sae.cpp: the `mona train-sae` job (see train_sae.hpp): resume checks, the epoch loop over the
// Embedder's rows (capture-only backend), checkpoints, and the held-out measurement of the saved SAE.
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "jobs/train_sae.hpp"

#include "capture/session.hpp"
#include "embed/embedder.hpp"
#include "io/atomic_file.hpp"
#include "io/sample_reader.hpp"
#include "sae/sae.hpp"
#include "sae/shuffle_buffer.hpp"
#include "sae/train.hpp"
#include "util/random.hpp"

namespace mona {

Status read_documents(const std::vector<std::string>& paths, InputFormat format, const DocumentFn& on_doc) {
    for (const auto& input : paths) {
        MONA_TRY(RecordReader reader, RecordReader::open(input));
        RawRecord record;
        while (true) {
            MONA_TRY(bool more, reader.next(record));
            if (!more) break;
            MONA_TRY(Sample sample, parse_sample(record.bytes, format, {input, record.line_no, record.record_idx}));
            MONA_RETURN_IF_ERROR(on_doc(sample));
        }
    }
    return Status();
}

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kHoldoutEvery = 20;

struct TrainRun {
    Session* session = nullptr;
    SaeTrainer* trainer = nullptr;
    int32_t layer = 0;
    int64_t batch_size = 0;
    int64_t train_tokens = 0;
    int64_t log_every = 0;
    const LogFn* say = nullptr;  // the job's log callback (may be empty)
    std::ofstream* log = nullptr;
    Clock::time_point start = Clock::now();
    int64_t tokens_at_start = 0;
    bool b_dec_ready = false;
    std::vector<float> batch;
    int64_t epoch = 0, n_epochs = 1, epochs_left = 0;  // progress: epochs_left counts the current one
    int64_t epoch_rows = 0;                            // rows per epoch once known (0 during epoch 1)
    int64_t rows_into_epoch = 0;

    Clock::time_point epoch_start = Clock::now();

    void begin_epoch(int64_t e, int64_t rows_per_epoch) {
        epoch_start = Clock::now();
        epoch = e;
        epochs_left = n_epochs - e;
        epoch_rows = rows_per_epoch;
        rows_into_epoch = 0;
    }

    bool done() const { return trainer->tokens_seen() >= train_tokens; }

    Status train_on(const float* rows, int64_t n) {
        if (n <= 0 || done()) return Status();
        if (!b_dec_ready) {
            MONA_RETURN_IF_ERROR(trainer->init_b_dec(rows, n));
            b_dec_ready = true;
        }
        SaeTrainStats s = trainer->step(rows, n);
        if (!std::isfinite(s.loss))
            return internal_error(fmt::format("training diverged at step {} (loss {})", s.step, s.loss));
        const double secs = std::chrono::duration<double>(Clock::now() - start).count();
        const double rate = secs > 0 ? static_cast<double>(s.tokens_seen - tokens_at_start) / secs : 0.0;
        // One row per step, flushed, so the log can be followed while training runs.
        if (log)
            *log << fmt::format("{}\t{}\t{:.5f}\t{:.5f}\t{:.2f}\t{:.4f}\t{:.5f}\t{:.0f}\n", s.step, s.tokens_seen,
                                s.loss, s.fvu, s.l0, s.dead_fraction, s.auxk_loss, rate)
                 << std::flush;
        if (*say && (s.step % log_every == 0 || done())) {
            // The end is known once the epoch length is (after epoch 1) or when --train-tokens binds first.
            int64_t goal = train_tokens;
            if (epoch_rows > 0) goal = std::min(goal, s.tokens_seen + epoch_rows * epochs_left - rows_into_epoch);
            // Later epochs replay memory and run far faster than epoch 1, so the ETA uses this epoch's own rate.
            const double epoch_secs = std::chrono::duration<double>(Clock::now() - epoch_start).count();
            const double epoch_rate = epoch_secs > 0 ? static_cast<double>(rows_into_epoch + n) / epoch_secs : 0.0;
            std::string eta = "ETA unknown until epoch 1 ends";
            if (epoch_rows > 0 && epoch_rate > 0) {
                eta = fmt::format("ETA {:.0f} s", static_cast<double>(goal - s.tokens_seen) / epoch_rate);
            }
            // printf's rounding, as the CLI has always printed these numbers.
            char line[512];
            std::snprintf(line, sizeof(line),
                          "epoch %lld/%lld  step %lld  tokens %lld  FVU %.4f  L0 %.1f  dead %.1f%%  %.0f tokens/s  %s",
                          static_cast<long long>(epoch + 1), static_cast<long long>(n_epochs),
                          static_cast<long long>(s.step), static_cast<long long>(s.tokens_seen), s.fvu, s.l0,
                          100.0 * s.dead_fraction, rate, eta.c_str());
            (*say)(line);
        }
        rows_into_epoch += n;
        return Status();
    }
};

constexpr const char* kLogHeader = "step\ttokens\tloss\tfvu\tl0\tdead_fraction\tauxk_loss\ttokens_per_s\n";

// The log of a resumed run continues from its checkpoint: rows of later steps (the interrupted epoch, which runs
// again) and a half-written last line are dropped, so the log reads as that of one uninterrupted run.
Status cut_log_at_step(const std::string& path, int64_t step) {
    std::string kept = kLogHeader;
    std::ifstream in(path);
    std::string line;
    for (bool first = true; std::getline(in, line); first = false) {
        if (first || in.eof()) continue;  // the header; a last line without '\n'
        if (std::strtoll(line.c_str(), nullptr, 10) <= step) kept += line + "\n";
    }
    return write_file_atomic(path, kept);
}

// Removes the staging folders (.mona-staging-sae-*) of earlier runs that were killed while saving.
void remove_stale_stages(const std::string& out) {
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(out, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
        if (it->path().filename().string().rfind(".mona-staging-sae-", 0) != 0) continue;
        std::error_code remove_ec;
        std::filesystem::remove_all(it->path(), remove_ec);
    }
}

Result<std::string> read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return not_found(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return text;
}

Status train_sae(const TrainSaeConfig& cfg) {
    const std::string& out = cfg.out_dir;
    const SessionOptions& sopts = cfg.session;
    if (sopts.max_tokens < 1) return invalid_input("--doc-tokens must be >= 1");
    MONA_TRY(Session session, Session::open(sopts));
    const ModelInfo& mi = session.info();
    const int32_t layer = cfg.layer < 0 ? mi.n_layer - 1 : cfg.layer;
    MONA_TRY(std::string tensor_name, layer_tensor_name(layer, mi.n_layer, mi.path));
    if (layer == 0) return invalid_input("--layer 0 (token embeddings) has no sparsify hookpoint name; pick L >= 1");
    const std::string hookpoint = fmt::format("layers.{}", layer - 1);

    SaeTrainOptions topts = cfg.train;
    topts.d_in = mi.n_embd;
    topts.n_threads = sopts.n_threads;
    const int64_t epochs = cfg.epochs;
    const int64_t train_tokens = cfg.train_tokens;
    const int64_t buffer_tokens = cfg.buffer_tokens;
    if (topts.batch_size < 1) return invalid_input("--batch-size must be >= 1");
    if (epochs < 1) return invalid_input("--epochs must be >= 1");
    if (train_tokens < 1) return invalid_input("--train-tokens must be >= 1");
    if (buffer_tokens < topts.batch_size) return invalid_input("--buffer-tokens must be >= --batch-size");

    // Resume: the checkpoint's run state must describe the same run.
    const std::string ckpt_path = out + "/checkpoint.bin";
    const std::string state_path = out + "/train_state.json";
    const std::string log_path = out + "/train_log.tsv";
    nlohmann::json config = {{"model", mi.path},
                             {"layer", layer},
                             {"latents", topts.n_latents},
                             {"k", topts.k},
                             {"inputs", cfg.inputs},
                             {"doc_tokens", sopts.max_tokens},
                             {"batch_size", topts.batch_size},
                             {"seed", topts.seed},
                             {"template", sopts.template_name},
                             {"system_prompt", system_prompt_param(sopts.system_prompt)}};
    int64_t epochs_done = 0;
    int64_t epoch1_docs = -1;  // documents epoch 1 streamed (it stops early when --train-tokens is reached); -1 = all
    int64_t docs_last_epoch = 0;  // documents the last streamed epoch took (metrics.json)
    std::optional<SaeTrainer> trainer;
    if (cfg.resume && std::filesystem::exists(ckpt_path)) {
        // train_state.json is written atomically, so a kill leaves it whole (at most one epoch behind the
        // checkpoint); anything unreadable in it was damaged by something else and is refused.
        nlohmann::json file_state;
        const bool have_file = std::filesystem::exists(state_path);
        if (have_file) {
            MONA_TRY(std::string text, read_text_file(state_path));
            auto checked = check_train_state(text, config, state_path);
            if (!checked.ok())
                return invalid_input(fmt::format("{}; remove {} to start over", checked.status().message(), out));
            file_state = std::move(checked).value();
        }
        std::string run_state;
        MONA_TRY(SaeTrainer loaded, SaeTrainer::load_checkpoint(ckpt_path, &run_state));
        nlohmann::json state;
        if (run_state.empty()) {  // a version 1 checkpoint: its state is in the file beside it
            if (!have_file) {
                return not_found(fmt::format("{}: missing (the training state of {}); remove {} to start over",
                                             state_path, ckpt_path, out));
            }
            state = std::move(file_state);
        } else {
            auto checked = check_train_state(run_state, config, ckpt_path);
            if (!checked.ok())
                return invalid_input(fmt::format("{}; remove {} to start over", checked.status().message(), out));
            state = std::move(checked).value();
        }
        const SaeTrainOptions& saved = loaded.options();
        if (saved.d_in != topts.d_in || saved.n_latents != topts.n_latents || saved.k != topts.k) {
            return invalid_input(fmt::format(
                "{}: checkpoint of d_in {}, {} latents, k {}, but this run has d_in {}, "
                "{} latents, k {}; remove {} to start over",
                ckpt_path, saved.d_in, saved.n_latents, saved.k, topts.d_in, topts.n_latents, topts.k, out));
        }
        // A kill between the checkpoint's commit and the state file's leaves the file one epoch behind.
        if (!run_state.empty()) MONA_RETURN_IF_ERROR(write_file_atomic(state_path, state.dump(2) + "\n"));
        epochs_done = state.value("epochs_done", int64_t{0});
        epoch1_docs = state.value("epoch1_documents", int64_t{-1});
        docs_last_epoch = state.value("documents", int64_t{0});
        trainer.emplace(std::move(loaded));
        if (cfg.log) cfg.log(fmt::format("resuming after epoch {}, step {}", epochs_done, trainer->step_count()));
    } else {
        MONA_TRY(SaeTrainer created, SaeTrainer::create(topts));
        trainer.emplace(std::move(created));
    }

    MONA_RETURN_IF_ERROR(ensure_dir(out));  // only now: an input error above leaves no --out behind
    if (epochs_done > 0) MONA_RETURN_IF_ERROR(cut_log_at_step(log_path, trainer->step_count()));
    std::ofstream log(log_path, epochs_done > 0 ? std::ios::app : std::ios::trunc);
    if (epochs_done == 0) log << kLogHeader << std::flush;
    TrainRun run;
    run.session = &session;
    run.trainer = &*trainer;
    run.layer = layer;
    run.batch_size = topts.batch_size;
    run.train_tokens = train_tokens;
    run.log_every = std::max<int64_t>(1, cfg.log_every);
    run.say = &cfg.log;
    run.log = &log;
    run.tokens_at_start = trainer->tokens_seen();
    run.b_dec_ready = trainer->step_count() > 0;

    const int64_t d = mi.n_embd;
    const int64_t cache_limit_rows = cfg.cache_mb * (1 << 20) / (d * 4);
    std::vector<float> cache;  // rows of the first streamed epoch, replayed by later epochs
    bool cache_complete = false;
    std::vector<float> heldout;
    int64_t n_docs_total = docs_last_epoch;

    run.n_epochs = epochs;
    // One pass of the model over the corpus. Epoch 1 (epoch 0 here) also collects the held-out rows and fills the
    // cache; later streamed epochs leave the held-out documents out. With train = false it is a resume's rebuild
    // of epoch 1: the same documents in the same decode batches, so the same rows, but nothing is trained.
    auto stream_epoch = [&](int64_t epoch, bool train) -> Status {
        const bool fill_cache = cache.empty();
        MONA_TRY(ShuffleBuffer buffer,
                 ShuffleBuffer::create({d, buffer_tokens, 0, topts.seed + static_cast<uint64_t>(epoch)}));
        int64_t doc_idx = 0;
        std::vector<bool> doc_heldout;  // by Embedder tag
        int64_t n_run = 0;              // samples the Embedder has handed back
        EmbedOptions eopts;
        eopts.layer = layer;
        // A full batch waits for the next document: training stops taking documents once it has seen enough
        // tokens, so this decides which documents an epoch counts (train_state.json, metrics.json).
        eopts.defer_full_batch = true;
        Embedder embedder(make_cpu_backend(session, nullptr, eopts), [&](EmbeddedSample& item) -> Status {
            ++n_run;
            const std::vector<int32_t>& tokens = item.tokens.tokens;
            for (size_t tok = 0; tok < tokens.size(); ++tok) {
                // Special tokens and the first position (the attention sink) are outliers, not text.
                if (tok == 0 || session.is_special(tokens[tok])) continue;
                const float* row = item.rows.data() + static_cast<int64_t>(tok) * d;
                if (doc_heldout[item.tag]) {
                    if (epoch == 0) heldout.insert(heldout.end(), row, row + d);
                    continue;
                }
                if (fill_cache && static_cast<int64_t>(cache.size()) / d < cache_limit_rows)
                    cache.insert(cache.end(), row, row + d);
                if (!train) continue;
                int64_t pushed = 0;
                while (pushed < 1) {
                    pushed = buffer.push(row, 1);
                    while (buffer.pop_batch(topts.batch_size, run.batch)) {
                        MONA_RETURN_IF_ERROR(run.train_on(run.batch.data(), topts.batch_size));
                    }
                }
            }
            return Status();
        });
        // After each batch: a line when the batch passed a multiple of 200 documents.
        auto report_batch = [&](int64_t n_before) {
            const int64_t n_batch = n_run - n_before;
            if (cfg.log && n_batch > 0 && doc_idx % 200 < n_batch) {
                cfg.log(fmt::format("epoch {}: {} documents streamed{}", epoch + 1, doc_idx,
                                    train ? "" : " (rebuilt, not trained)"));
            }
        };
        MONA_RETURN_IF_ERROR(cfg.documents([&](const Sample& sample) -> Status {
            // Epoch 1 stopped taking documents once --train-tokens was reached; its rebuild stops at the same one.
            if (train ? run.done() : (epoch1_docs >= 0 && doc_idx >= epoch1_docs)) return Status();
            auto tokens = session.tokenize(sample);
            if (!tokens.ok()) return tokens.status().with_context(fmt::format("document {}", sample.id));
            const bool is_heldout = doc_idx % kHoldoutEvery == kHoldoutEvery - 1;
            ++doc_idx;
            if (is_heldout && epoch != 0) return Status();
            if (tokens->tokens.empty()) return Status();
            doc_heldout.push_back(is_heldout);
            const int64_t n_before = n_run;
            MONA_RETURN_IF_ERROR(embedder.add(doc_heldout.size() - 1, std::move(tokens.value())));
            report_batch(n_before);
            return Status();
        }));
        const int64_t n_before = n_run;
        MONA_RETURN_IF_ERROR(embedder.flush());
        report_batch(n_before);
        if (train) {
            std::vector<float> rest;
            const int64_t n_rest = buffer.drain(rest);
            for (int64_t begin = 0; begin < n_rest; begin += topts.batch_size) {
                MONA_RETURN_IF_ERROR(run.train_on(rest.data() + begin * d, std::min(topts.batch_size, n_rest - begin)));
            }
        }
        if (train) n_docs_total = doc_idx;
        if (epoch == 0) epoch1_docs = doc_idx;
        cache_complete = fill_cache && static_cast<int64_t>(cache.size()) / d < cache_limit_rows && !run.done();
        return Status();
    };

    if (epochs_done > 0) {
        if (cfg.log) {
            cfg.log(
                "rebuilding epoch 1's rows in memory (one model pass, no training), so the resumed run trains as "
                "an uninterrupted one");
        }
        MONA_RETURN_IF_ERROR(stream_epoch(0, /*train=*/false));
    }
    for (int64_t epoch = epochs_done; epoch < epochs && !run.done(); ++epoch) {
        run.begin_epoch(epoch, cache_complete ? static_cast<int64_t>(cache.size()) / d : 0);
        if (cache_complete) {
            const int64_t n_rows = static_cast<int64_t>(cache.size()) / d;
            std::vector<int64_t> order(static_cast<size_t>(n_rows));
            std::iota(order.begin(), order.end(), 0);
            std::mt19937_64 rng(topts.seed * 1000003 + static_cast<uint64_t>(epoch));
            shuffle_in_place(std::span<int64_t>(order), rng);  // unbiased since issue 10 (was rng() % (pos + 1))
            for (int64_t begin = 0; begin < n_rows && !run.done(); begin += topts.batch_size) {
                const int64_t n = std::min(topts.batch_size, n_rows - begin);
                run.batch.resize(static_cast<size_t>(n * d));
                for (int64_t row = 0; row < n; ++row) {
                    std::copy_n(cache.begin() + order[begin + row] * d, d, run.batch.begin() + row * d);
                }
                MONA_RETURN_IF_ERROR(run.train_on(run.batch.data(), n));
            }
        } else {
            MONA_RETURN_IF_ERROR(stream_epoch(epoch, /*train=*/true));
        }
        // The run state commits with the weights (one atomic rename); train_state.json repeats it for people.
        const nlohmann::json state = {{"config", config},
                                      {"epochs_done", epoch + 1},
                                      {"step", trainer->step_count()},
                                      {"tokens_seen", trainer->tokens_seen()},
                                      {"epoch1_documents", epoch1_docs},
                                      {"documents", n_docs_total}};
        MONA_RETURN_IF_ERROR(trainer->save_checkpoint(ckpt_path, state.dump()));
        MONA_RETURN_IF_ERROR(write_file_atomic(state_path, state.dump(2) + "\n"));
    }
    if (trainer->step_count() == 0) return invalid_input("the training corpus produced no usable token rows");

    // The SAE folder appears complete or not at all: written and measured in a staging folder, then renamed into
    // place after metrics.json (a killed run leaves only the staging folder, which the next run removes).
    const std::string sae_dir = out + "/" + hookpoint;
    remove_stale_stages(out);
    const std::string stage_dir = fmt::format("{}/.mona-staging-sae-{}", out, ::getpid());
    const std::string staged_sae = stage_dir + "/" + hookpoint;
    MONA_RETURN_IF_ERROR(trainer->save_sparsify(staged_sae, hookpoint));

    // Held-out measurement with the saved file, read back the way `mona select` reads it.
    nlohmann::json metrics = {{"model", mi.path},
                              {"layer", layer},
                              {"llama_tensor", tensor_name},
                              {"hookpoint", hookpoint},
                              {"latents", topts.n_latents},
                              {"k", topts.k},
                              {"steps", trainer->step_count()},
                              {"tokens_trained", trainer->tokens_seen()},
                              {"documents", n_docs_total},
                              {"seconds", std::chrono::duration<double>(Clock::now() - run.start).count()}};
    const int64_t n_heldout = static_cast<int64_t>(heldout.size()) / d;
    if (n_heldout > 0) {
        std::vector<float> x_hat(heldout.size());
        trainer->reconstruct(heldout.data(), n_heldout, x_hat.data());
        MONA_TRY(SaeModel saved, SaeModel::open({staged_sae}));
        SparseCodes codes;
        saved.encode(heldout.data(), n_heldout, codes);
        std::vector<int64_t> fired(static_cast<size_t>(topts.n_latents), 0);
        for (uint32_t latent : codes.idx) fired[latent] = 1;
        metrics["heldout_tokens"] = n_heldout;
        metrics["heldout_fvu"] = fvu(heldout.data(), x_hat.data(), n_heldout, d);
        metrics["heldout_l0"] = static_cast<double>(codes.idx.size()) / static_cast<double>(n_heldout);
        metrics["heldout_unused_fraction"] =
            1.0 - static_cast<double>(std::accumulate(fired.begin(), fired.end(), int64_t{0})) /
                      static_cast<double>(topts.n_latents);
    }
    int64_t n_dead = 0;
    for (int64_t since : trainer->tokens_since_fired()) n_dead += since >= topts.dead_after_tokens;
    metrics["dead_fraction"] = static_cast<double>(n_dead) / static_cast<double>(topts.n_latents);
    MONA_RETURN_IF_ERROR(write_file_atomic(out + "/metrics.json", metrics.dump(2) + "\n"));
    std::error_code ec;
    std::filesystem::remove_all(sae_dir, ec);  // a finished run's SAE, when a finished run is resumed again
    if (!ec) std::filesystem::rename(staged_sae, sae_dir, ec);
    if (ec) return io_error(fmt::format("cannot move the SAE into place at {}: {}", sae_dir, ec.message()));
    std::filesystem::remove_all(stage_dir, ec);
    if (cfg.log) cfg.log(fmt::format("SAE written to {}\n{}", sae_dir, metrics.dump(2)));
    return Status();
}

}  // namespace

Status run_train_sae(const TrainSaeConfig& config) {
    if (config.inputs.empty() || !config.documents)
        return invalid_input("--input FILE (or builtin:demo-training) is required");
    if (config.out_dir.empty()) return invalid_input("--out DIR is required");
    namespace fs = std::filesystem;
    const std::string& out = config.out_dir;
    std::error_code ec;
    const bool out_existed = fs::exists(out, ec);
    Status status = train_sae(config);
    // A run that fails before its first checkpoint leaves nothing to resume: remove the folder it created.
    if (!status.ok() && !out_existed && !fs::exists(out + "/checkpoint.bin", ec)) fs::remove_all(out, ec);
    return status;
}

}  // namespace mona
