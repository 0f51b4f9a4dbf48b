// jobs/train_sae.hpp: the `mona train-sae` job: train a TopK SAE (sae/train.hpp) on a model's residual stream at
// one layer.
//
// Documents stream from the config's document source through the model (the Embedder's capture-only backend,
// batched by its BatchRule); the rows of non-special tokens (BOS, EOS, chat-template control tokens and the first
// position, the attention sink, excluded) of at most session.max_tokens tokens per document go through a shuffle
// buffer into the trainer. Every 20th document is held out and measured at the end (FVU, L0).
// Epoch 1 streams from the model; later epochs replay the rows kept in memory (when they fit in cache_mb),
// shuffled anew, else stream again. A checkpoint is written after every epoch; `resume` continues after the last
// completed epoch, and ends with exactly the weights of an uninterrupted run: the checkpoint holds the run state
// (epochs done, documents of epoch 1) in the same atomic commit as the weights, and a resume first runs the model
// once more over epoch 1's documents, without training, to rebuild what an uninterrupted run holds in memory (the
// cached rows later epochs replay, the held-out rows).
// Output in out_dir: layers.<L-1>/ (sparsify cfg.json + sae.safetensors, loadable by `mona select`; it appears
// only complete, renamed into place last), checkpoint.bin, train_state.json (the checkpoint's run state, for
// people), train_log.tsv, metrics.json. A run that fails before its first checkpoint removes the out_dir it
// created.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "capture/session.hpp"
#include "jobs/progress.hpp"
#include "mona/status.hpp"
#include "sae/train.hpp"
#include "text/formats.hpp"

namespace mona {

// Hands each document to the callback, in order; the callback's error stops the stream and is returned.
using DocumentFn = std::function<Status(const Sample&)>;
using DocumentSource = std::function<Status(const DocumentFn&)>;

// The records of `paths` (any record format mona reads) as documents; a bad record is an error naming path:line.
Status read_documents(const std::vector<std::string>& paths, InputFormat format, const DocumentFn& on_doc);

// The defaults of `mona train-sae`: documents cut at 256 tokens; 4608 latents, k 32, 1024 tokens per step,
// 100 warm-up steps, dead after 1M tokens (smaller than sae/train.hpp's library defaults, for CPU runs).
inline SessionOptions train_sae_session_defaults() {
    SessionOptions options;
    options.max_tokens = 256;
    return options;
}
inline SaeTrainOptions train_sae_trainer_defaults() {
    SaeTrainOptions options;
    options.n_latents = 4608;
    options.k = 32;
    options.batch_size = 1024;
    options.warmup_steps = 100;
    options.dead_after_tokens = 1'000'000;
    return options;
}

struct TrainSaeConfig {
    // The model session; max_tokens is the per-document cap (--doc-tokens). n_threads also drives the trainer.
    SessionOptions session = train_sae_session_defaults();
    std::vector<std::string> inputs;  // recorded in the run state, so that a resume checks it is the same corpus
    DocumentSource documents;         // the documents of `inputs`, in order (e.g. read_documents); required
    std::string out_dir;
    int32_t layer = -1;  // HF hidden_states[L], 1..n_layer-1; -1 = n_layer - 1
    // The trainer's settings; d_in and n_threads are set by the job (the model's n_embd, session.n_threads).
    SaeTrainOptions train = train_sae_trainer_defaults();
    int64_t epochs = 1;
    int64_t train_tokens = 2'000'000;  // training stops after this many tokens
    int64_t buffer_tokens = 65536;     // shuffle buffer rows; >= train.batch_size
    int64_t cache_mb = 2048;           // memory for epoch 1's rows, replayed by later epochs when they fit
    int64_t log_every = 50;            // a step line every this many steps (and at the end)
    bool resume = false;               // continue from out_dir/checkpoint.bin when it exists
    LogFn log;                         // step lines, epoch progress and the final metrics; empty = none
};

// Errors: kInvalidInput for settings the model or a checkpoint contradicts (naming both), kNotFound / kIo from
// files, kInternal when training diverges.
Status run_train_sae(const TrainSaeConfig& config);

}  // namespace mona
