// eval/finetune_results.hpp: the model-free half of `mona eval --finetune` (eval/finetune.hpp runs the model):
// the split of a target's exemplars into prototype and held-back evaluation exemplars, the statistics over the
// runs (random's mean and standard error over seeds, the paired differences mona minus each method), and the
// renderings: eval.json's `finetune` section and eval.md's table. Unit-tested without llama.cpp.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mona {

// `mona eval --finetune` options (flags --finetune-*; the defaults fit one target x four methods in about 15
// minutes on 2 cores with the default model: docs/finetune.md).
struct FinetuneOptions {
    bool enabled = false;
    int32_t epochs = 1;
    double learning_rate = 1e-4;
    int32_t n_ctx = 256;               // tokens per training sequence (a multiple of 256); longer samples are cut
    int32_t n_samples = 8;             // training samples per selection: the top of each method's ranking
    int32_t n_random_seeds = 3;        // random's draws (seeds --seed, --seed + 1, ...)
    int32_t heldout_every = 4;         // every 4th exemplar of a target (index 3, 7, ...) is held back for the loss
    int32_t n_eval = 8;                // held-back exemplars scored per target at most (the first ones)
    std::vector<std::string> methods;  // methods fine-tuned on; empty = every method of the run
    std::string trainable_model;       // "" = an F32 copy of --model, made once in $MONA_HOME/models
};

// Whether exemplar `index` (0-based, in file order, counting the usable ones) is held back for the loss: every
// `every`-th one (index % every == every - 1). Never part of the prototype.
bool is_heldout_exemplar(uint64_t index, int32_t every);

// One fine-tuning run: a method's selection (random: one seed) trained on, then scored on the held-back set.
struct FinetuneRun {
    std::string method;
    uint64_t seed = 0;    // random's draw; 0 otherwise
    int64_t n_train = 0;  // samples trained on
    int64_t n_train_tokens = 0;
    double tuned_loss = 0.0;  // mean nats per held-back assistant token
    double seconds = 0.0;
};

struct FinetuneTarget {
    std::string name;
    int64_t n_prototype = 0;  // exemplars that built the prototype
    int64_t n_heldout = 0;    // held-back exemplars scored
    int64_t n_eval_tokens = 0;
    double base_loss = 0.0;
    std::vector<FinetuneRun> runs;  // in method order, random's seeds together
};

struct FinetuneReport {
    FinetuneOptions options;
    std::vector<std::string> methods;  // in order
    std::vector<FinetuneTarget> targets;
    nlohmann::json model;  // the trainable copy: path, sha256, source path and sha256
    int32_t n_threads = 0;
    double seconds = 0.0;
    int64_t n_train_tokens = 0;  // optimizer-step tokens (n_ctx per step)
};

// Mean and standard error (sample sd / sqrt(n); 0 for n < 2) of `values`.
struct MeanSe {
    double mean = 0.0;
    double se = 0.0;
    int64_t n = 0;
};
MeanSe mean_se(const std::vector<double>& values);

// The reduction base - tuned of every run of `method` on `target` (one per seed for random).
std::vector<double> reductions(const FinetuneTarget& target, const std::string& method);

nlohmann::json finetune_json(const FinetuneReport& report);
// The eval.md section (starts with "\n## Fine-tuning"), one row per target, averages and paired differences.
std::string finetune_markdown(const FinetuneReport& report);
// The report's section (<section id="finetune">): the table of eval.md and, per target, bars of each method's
// reduction with ± one standard error whiskers (random's seeds); caller text HTML-escaped.
std::string finetune_html(const FinetuneReport& report);

}  // namespace mona
