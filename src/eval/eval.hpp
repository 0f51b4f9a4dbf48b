// eval/eval.hpp: the `mona eval` job: MoNA against its baselines and ablations on a labelled pool (issue 4).
//
// One pass of the selection model over each target's exemplar file, then ONE streaming pass over the pool shared
// by every method and target. Per pool sample the Embedder (select/embed.hpp, keep_rows on when `raw-cosine`
// runs) gives the pooled SAE vector and the per-token residual rows; the rows are reduced to their mean over the
// same pooled token range (pooled_rows(), --tokens) and dropped. Methods:
//   mona          pooled SAE features (--pooling, --k as in `mona select`), generalized Jaccard against the
//                 target prototype: exactly the score of `mona select` (the e2e test checks it bit for bit)
//   sae-cosine    the same features and prototype, cosine similarity (score/jaccard.hpp cosine())
//   raw-cosine    the mean of the raw residual rows at the same layer over the pooled tokens (always the mean,
//                 whatever --pooling says), cosine against the mean of the targets' raw vectors; computed in double
//   bm25          Okapi BM25 (score/bm25.hpp, k1 1.2, b 0.75, Lucene IDF) over the pool's texts, with the
//                 prototype aggregation of the target's exemplars (Bm25Aggregation::kPrototype). A sample's text
//                 is its user and assistant turn contents joined by '\n' (system turns and the chat template
//                 are left out), or its text for the `text` format: sample_plain_text()
//   random        metrics::random_selection(n_pool, n, --seed): the same draw for every target
//   poly-jaccard  TopK(SiLU(W_gate x)) of the gated MLP in the block that writes the layer (llama.cpp tensor
//                 ffn_gate-(L-1), captured in the same pass; SiLU applied here since llama.cpp fuses it with the
//                 up projection), k = the SAE methods' k unless given, only positive values kept, pooled like
//                 mona (--pooling), generalized Jaccard against the mean of the targets' vectors: the paper's
//                 "polysemantic" row
// The methods are the rows of eval/methods.hpp (a new method is a new row there); per-sample representations
// are computed by eval/representations.hpp. Each method may carry ablation options (EvalMethodSpec: layer, k,
// pooling), so a layer or K sweep is one model pass: every tensor asked for is captured in the same forward
// pass, which stops after the deepest one.
// Each method's selection is its top n by score (score/topn.hpp: ties to the lower position), n = --count or
// round(--ratio x pool size), the same n for every method; an SAE method with the options beyond the paper
// (eval/methods.hpp: diversity, dedup, prototype, length-strata; docs/beyond.md) selects as `mona select` does with
// the flags of the same names, from the pooled vectors the pass keeps. Metrics: eval/metrics.hpp; renderings:
// report/eval_report.hpp.
//
// Outputs (staged in <out>/.mona-staging-<host>-<pid>/ and renamed into place only when the whole run succeeded):
//   <out>/eval.json                 the exact configuration (hashes too) and every number
//   <out>/eval.md                   precision@n and recall@n tables (targets x methods, averages), diversity
//   <out>/report.html               self-contained report (inline SVG)
//   <out>/<target>/scores.tsv       every pool sample: record, id, line, task, n_tokens, truncated and one column
//                                   per scoring method (`score_<method>`, %.9g like `mona select`)
//   <out>/<target>/selections.tsv   method, rank, position, record, id, task, score (empty for random)
//   <out>/skipped.tsv               with skip_bad: one row per skipped record
// Interpretability (for `mona`): per target, the 10 latents with the largest prototype values (ties: lower
// latent), chosen after the targets are embedded, and for each a bounded top-3 heap of the pool samples with the
// largest pooled value on it, kept while the pool streams (only values > 0 count).
//
// With --finetune (eval/finetune.hpp), every `heldout_every`-th exemplar of each target is held back: it builds no
// method's view of the target (prototype, raw mean, BM25 query), and after the selections each method's top samples
// fine-tune a copy of the model whose loss on those held-back exemplars goes into eval.json `finetune` and eval.md.
// Without it, every output is what it was before the option existed.
//
// Errors are Status values with the messages of `mona select` (bad record: path:line, and --skip-bad advice).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eval/finetune_results.hpp"
#include "eval/methods.hpp"
#include "jobs/config.hpp"
#include "jobs/progress.hpp"
#include "mona/status.hpp"

namespace mona {

struct EvalConfig {
    SelectConfig select;                  // model, SAE, pool, targets, out, layer, ratio/count, k, tokens, pooling, ...
    std::vector<EvalMethodSpec> methods;  // run in this order; empty = default_method_specs(); repeats are dropped
    uint64_t seed = 0;                    // for `random`
    int32_t n_latents = 10;               // prototype latents shown per target (mona)
    int32_t n_latent_samples = 3;         // pool samples shown per latent
    FinetuneOptions finetune;             // --finetune (eval/finetune.hpp): held-back exemplars, fine-tunes, losses
    LogFn log;                            // one line per fine-tuning run; empty = none
};

struct EvalTargetSummary {
    std::string name;
    int64_t n_exemplars = 0;
    std::vector<double> precision;  // [methods]
    std::vector<double> recall;     // [methods]
};

struct EvalSummary {
    std::vector<std::string> methods;
    int64_t n_pool_read = 0;
    int64_t n_pool_skipped = 0;
    int64_t n_pool_truncated = 0;
    int64_t n_pool_tokens = 0;
    int64_t n_target_skipped = 0;
    int64_t n_select = 0;
    int32_t layer = -1;  // -1 when no method ran the model
    std::vector<EvalTargetSummary> targets;
    double seconds_total = 0.0;
    std::optional<FinetuneReport> finetune;  // with --finetune
};

// The text BM25 and the diversity metrics see: the contents of the user and assistant turns joined by '\n' (no
// system turns, no chat template), or Sample::text for plain-text records.
std::string sample_plain_text(const Sample& sample);

// Runs the evaluation and writes its outputs into config.select.out_dir, holding <out>/.mona-run.lock as
// run_select does (a second run into the same --out fails; a failed run leaves no --out it created), and fails
// before committing anything if the pool changed during the run.
Result<EvalSummary> run_eval(const EvalConfig& config);

}  // namespace mona
