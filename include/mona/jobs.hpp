// mona/jobs.hpp: the jobs of the `mona` command as C++ calls (public).
//
// Each job takes a plain options struct whose fields are the command's flags (same names, same values, same
// defaults; tests/integration/api_test.cpp checks the defaults against the library's own) and writes the same
// files as the command: `run_select_job` is `mona select`, `run_embed_job` is `mona embed`, `run_score_job` is
// `mona score`, `run_eval_job` is `mona eval`. The on-disk outputs and their guarantees (staging, resume, locks,
// byte-identical reruns) are documented in docs/ and in the command's --help. Enumerated settings travel as the
// strings the flags take ("no-bos", "mean", ...), so a bad value comes back as kInvalidInput naming it.
// Progress lines go through the log callback (mona/log.hpp). Jobs run in this process, one rank (for mpirun
// use the command).
//
// Errors: Status/Result as everywhere (mona/status.hpp); no exception leaves these calls.
// Thread-safety: a job may run on any thread; two jobs writing the same out_dir are refused by its lock file.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mona/status.hpp"

namespace mona {

// One progress report of a model pass: `stage` ("embed", "pool", ...) has run n_samples samples of n_tokens
// tokens in `seconds` since it began; `final` marks the report at the end of the pass. `line` is the text the
// command prints after "mona: " ("pool: 17 samples, 4463 tokens, 215 tokens/s, 21 s").
struct JobProgress {
    std::string stage;
    int64_t n_samples = 0;
    uint64_t n_tokens = 0;
    double seconds = 0.0;
    bool final = false;
    std::string line;
};

// What every model job shares (flags --model, --sae, --pool, --out, --layer, --k, --tokens, ...).
struct JobCommonOptions {
    std::string model_path;                    // GGUF file; "" = the default model ($MONA_HOME), as the command does
    std::string sae_path;                      // SAE folder; "" = the default SAE
    std::string pool_path;                     // the pool (JSONL, JSON array, optionally gzipped)
    std::string out_dir;                       // output folder (a store folder for run_embed_job)
    int32_t layer = -1;                        // HF hidden_states[L]; -1 = the SAE's own layer
    int32_t k = 0;                             // TopK k; 0 = the SAE's own k
    std::string tokens = "no-bos";             // all | no-bos | prompt | response
    std::string pooling = "mean";              // mean | sum
    std::string format = "auto";               // auto | messages | sharegpt | alpaca | prompt-completion | text
    std::string chat_template = "model";       // model | plain | a llama.cpp built-in template name
    std::optional<std::string> system_prompt;  // unset = the template's own; "none" = no system turn; else the text
    bool cpu_repack = false;                   // llama.cpp's CPU weight repacking
    int32_t max_tokens = 2048;                 // tokens per sample; longer samples are truncated
    int32_t batch_tokens = 512;                // tokens per decode call
    int32_t threads = 0;                       // 0 = all hardware threads
    bool skip_bad = false;                     // skip bad records (listed in skipped.tsv) instead of failing
    bool progress = true;                      // progress lines through the log callback
    std::string command_line;                  // recorded in the manifest ("" for none)
    // Per call, for bindings and applications (not flags; both may stay empty):
    //   on_progress  receives the job's progress reports instead of the log callback (when `progress` is true);
    //                called on the job's thread, at most every 5 s and once at the end of each model pass.
    //   cancelled    polled before each record of the pool and the targets is read; when it returns true the
    //                job stops and returns kCancelled. Outputs are staged (mona select/score/eval) or committed
    //                shard by shard (embed, resumable), so a cancelled run leaves --out as a failed run does.
    std::function<void(const JobProgress& update)> on_progress;
    std::function<bool()> cancelled;
};

struct JobTarget {
    std::string name;        // output folder name [A-Za-z0-9_.-]+; "" = the file's stem
    std::string path;        // exemplar records
    std::string label = {};  // the pool's task label of this target, for precision in reports; "" = its name (--label)
};

struct JobQuota {
    std::string target;
    double weight = 0.0;  // >= 0
};

// `mona select` and, with the store folders, `mona score`.
struct SelectJobOptions {
    JobCommonOptions common;
    std::vector<JobTarget> targets;
    double ratio = 0.05;            // share of the pool selected per target, used when count == 0
    int64_t count = 0;              // samples per target; 0 = round(ratio x pool size), at least 1
    std::string merge = "none";     // none | round-robin | quota: also write <out>/merged/
    std::vector<JobQuota> quotas;   // merge = quota: one weight per target
    std::string store_dir;          // select: the pool's store; "" = <out>/.store, removed after success
    uint64_t store_shard_rows = 0;  // select: samples per shard of a new store; 0 = the store's default
    // Beyond the paper (docs/beyond.md), as the flags of the same names:
    double diversity = 0.0;             // MMR LAMBDA >= 0; 0 = the paper's top n
    uint32_t diversity_candidates = 4;  // MMR and dedup pick among each target's top C x n
    double dedup = 0.0;                 // near-duplicate Jaccard threshold in (0, 1]; 0 = off
    std::string dedup_against;          // with dedup: also drop duplicates of this file's samples
    bool coverage = false;              // report prototype coverage and redundancy in manifest.json
    std::string prototype = "mean";     // mean (the paper's) | contrast:BETA
    uint32_t length_strata = 0;         // B >= 1: scores standardised within B length strata; 0 = off
};

struct EmbedJobOptions {
    JobCommonOptions common;     // out_dir is the store folder
    uint32_t keep = 0;           // latents kept per sample (largest first); 0 = all
    std::string values = "q12";  // how the store writes values: f32 (exact), bf16, q8 or q12 (`mona embed --values`)
    uint64_t shard_rows = 0;     // samples per shard file; 0 = the store's default
    uint32_t slice_idx = 0;      // this machine's slice of the pool (records with index % n_slices == slice_idx)
    uint32_t n_slices = 1;
};

struct ScoreJobOptions {
    SelectJobOptions select;              // model/SAE paths may stay "" (the store's recorded ones are used)
    std::vector<std::string> store_dirs;  // one store, or the slices of one pool
};

struct EvalJobOptions {
    SelectJobOptions select;
    std::vector<std::string> methods;  // e.g. "mona", "bm25", "mona:k=64"; empty = every method
    uint64_t seed = 0;                 // for `random`
    int32_t n_latents = 10;            // prototype latents shown per target
    int32_t n_latent_samples = 3;      // pool samples shown per latent
};

struct JobTargetResult {
    std::string name;
    int64_t n_exemplars = 0;
    int64_t n_selected = 0;
    std::vector<double> precision;  // eval: per method, in EvalJobResult::methods order
    std::vector<double> recall;     // eval: per method
};

struct SelectJobResult {
    int64_t n_pool_read = 0;
    int64_t n_pool_skipped = 0;
    int64_t n_pool_resumed = 0;
    int64_t n_pool_truncated = 0;
    int64_t n_pool_tokens = 0;
    int64_t n_target_skipped = 0;
    int32_t layer = 0;
    std::vector<JobTargetResult> targets;
    int64_t n_merged = -1;  // -1 without merge
    double seconds_total = 0.0;
};

struct EmbedJobResult {
    int64_t n_embedded = 0;
    int64_t n_resumed = 0;
    int64_t n_skipped = 0;
    int64_t n_truncated = 0;
    uint64_t store_size = 0;
    uint64_t bytes_on_disk = 0;
};

struct EvalJobResult {
    std::vector<std::string> methods;
    int64_t n_pool_read = 0;
    int64_t n_pool_skipped = 0;
    int64_t n_pool_truncated = 0;
    int64_t n_select = 0;
    int32_t layer = -1;
    std::vector<JobTargetResult> targets;
    double seconds_total = 0.0;
};

Result<SelectJobResult> run_select_job(const SelectJobOptions& options);
Result<EmbedJobResult> run_embed_job(const EmbedJobOptions& options);
Result<SelectJobResult> run_score_job(const ScoreJobOptions& options);
Result<EvalJobResult> run_eval_job(const EvalJobOptions& options);

}  // namespace mona
