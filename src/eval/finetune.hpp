// eval/finetune.hpp: `mona eval --finetune` (issue 15), the downstream check of a selection: does it teach the
// target task? Per target, from the same base weights each time: the base model's loss on the target's held-back
// exemplars, then per method (random: per seed) a full fine-tune on the method's top samples and the tuned model's
// loss on the same held-back exemplars. Loss: mean negative log-likelihood per assistant token under the model's
// chat template (capture/finetune.hpp). The held-back exemplars (eval/finetune_results.hpp is_heldout_exemplar)
// never reach the prototype, BM25's query or any other method's view of the target: run_eval leaves them out
// before embedding the target.
//
// The weights trained are an F32 copy of --model (llama.cpp trains F32), made once into
// $MONA_HOME/models/<model file stem>.F32.gguf and reused; a model that is already all F32 is trained as it is.
// Its path and sha256 go into eval.json's `finetune.model`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "capture/finetune.hpp"
#include "capture/session.hpp"
#include "eval/finetune_results.hpp"
#include "jobs/config.hpp"
#include "jobs/progress.hpp"
#include "text/formats.hpp"

namespace mona {

// One selection to fine-tune on: the method, random's seed, and the pool records in rank order.
struct FinetuneSelection {
    std::string method;
    uint64_t seed = 0;
    std::vector<uint64_t> records;
};

struct FinetuneTargetInput {
    std::string name;
    int64_t n_prototype = 0;
    std::vector<Sample> heldout;  // at most options.n_eval, in file order
    std::vector<FinetuneSelection> selections;
};

// Checks the options (before any model pass): ranges, and that every method asked for runs in this eval.
Status check_finetune_options(const FinetuneOptions& options, const std::vector<std::string>& eval_methods);

// Tokenises the held-back exemplars and the selected pool records (one read of the pool) with the run's template,
// without --max-tokens' cut (a long prompt would lose the answer; capture/finetune.hpp windows them instead), and runs
// every fine-tune.
// `log` gets one line per run (may be empty). Progress: stage "finetune", n_samples = optimizer steps done of n_total,
// with the ETA of progress_line().
Result<FinetuneReport> run_finetune(const FinetuneOptions& options, const SelectConfig& config,
                                    const std::vector<FinetuneTargetInput>& targets, const LogFn& log);

}  // namespace mona
