// cli/flags.cpp: the flag table (every flag of every verb with its type, range, default, env variable and
// per-verb overrides), the parser, and the help and README reference generated from it.
//
// Why ~630 lines: most of it is the table itself, one row per flag; keeping it in one place is the point (the
// defaults, required flags, help and docs cannot drift apart).
#include "cli/flags.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "capture/session.hpp"
#include "embed/token_mode.hpp"
#include "eval/eval.hpp"
#include "jobs/config.hpp"
#include "jobs/embed.hpp"
#include "pool/pool.hpp"
#include "sae/train.hpp"
#include "score/merge_select.hpp"
#include "store/feature_store.hpp"
#include "text/formats.hpp"
#include "util/home.hpp"

namespace mona::cli {
namespace {

constexpr int64_t kMaxThreads = 512;               // GGML_MAX_N_THREADS
constexpr int64_t kMaxCacheMb = int64_t(1) << 30;  // 1 PiB; MB * 2^20 bytes stays far inside int64

// Typed defaults: int literals would convert to int64_t and double alike.
FlagValue I(int64_t v) { return v; }
FlagValue F(double v) { return v; }
FlagValue S(std::string v) { return v; }

std::vector<FlagUse> on(const std::vector<std::string>& verbs) {
    std::vector<FlagUse> uses;
    for (const auto& v : verbs) uses.push_back({v});
    return uses;
}
// The verbs that load the selection model.
std::vector<FlagUse> model_verbs() {
    return on({"select", "eval", "info", "activations", "train-sae", "demo", "embed", "score", "check"});
}
// `uses` with `more` appended.
std::vector<FlagUse> plus(std::vector<FlagUse> uses, const std::vector<FlagUse>& more) {
    uses.insert(uses.end(), more.begin(), more.end());
    return uses;
}

std::string env_name(const std::string& flag) {
    std::string out = "MONA_";
    for (char c : flag) out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

std::string value_text(const FlagValue& value) {
    if (const auto* i = std::get_if<int64_t>(&value)) return std::to_string(*i);
    if (const auto* d = std::get_if<double>(&value)) return fmt::format("{}", *d);
    if (const auto* s = std::get_if<std::string>(&value)) return *s;
    return "";
}

}  // namespace

const std::vector<VerbSpec>& verb_table() {
    static const std::vector<VerbSpec> verbs = {
        {"select", "select the pool samples most similar to each target task (MoNA)", false,
         "mona select --pool pool.jsonl --target math=math_exemplars.jsonl --out runs/math --ratio 0.05"},
        {"eval", "compare MoNA with baselines and ablations on a labelled pool (precision, recall, diversity, report)",
         false, "mona eval --pool labelled_pool.jsonl --target math_word_problems=math.jsonl --out runs/eval"},
        {"info", "print what mona understood of a model (--model) and/or an SAE (--sae)", false, "mona info --json"},
        {"activations", "dump token ids, residual vectors, SAE codes and pooled vectors of a small input", false,
         "mona activations --input few.jsonl --out acts.safetensors"},
        {"train-sae", "train a TopK sparse autoencoder on a model's residual stream", false,
         "mona train-sae --model my-model.gguf --input corpus.jsonl --out my-sae"},
        {"demo", "run the built-in demo: a multi-task pool, four targets, a report", false,
         "mona demo --out runs/demo"},
        {"embed", "embed a pool once into a feature store (resumable, shardable with --shard i/n)", true,
         "mona embed --pool pool.jsonl --out pool.store"},
        {"score", "select from one or more feature stores for any number of targets, without re-running the pool", true,
         "mona score --store pool.store --target math=math_exemplars.jsonl --out runs/math"},
        {"merge", "merge the slice stores of one pool (--shard i/n runs) into one store, or convert an old one", false,
         "mona merge --store slice0 --store slice1 --out pool.store"},
        {"check", "SAE health check on your samples: FVU, L0 and dead latents at the SAE's layer and its neighbours",
         false, "mona check --pool pool.jsonl --samples 100"},
        {"help", "print usage; `mona help <command>` a command's flags; `mona help --markdown` the CLI reference",
         false, "mona help select"},
        {"version", "print the version", false, "mona version"},
    };
    return verbs;
}

namespace {

std::vector<FlagSpec> make_flag_table() {
    using K = ValueKind;
    // Where a config struct has the field, the default is the struct's.
    const SelectConfig select;
    const EmbedStoreOptions embed;
    const EvalConfig eval;
    const SaeTrainOptions train;
    return {
        {"model", 'm', K::kString, "PATH",
         "GGUF selection model: a path, or an http(s):// URL downloaded once (resumable) into $MONA_HOME/models",
         S(default_model_path()), "built-in SmolLM2-135M-Instruct",
         plus(on({"select", "eval", "info", "activations", "train-sae", "demo", "embed", "check"}),
              {{"score", false, std::nullopt, FlagValue{}, "the store's"}})},
        {"model-sha256",
         0,
         K::kString,
         "HEX",
         "expected sha256 of the model file (checked; required trust for URLs)",
         {},
         "",
         model_verbs()},
        {"sae",
         0,
         K::kString,
         "DIR",
         "SAE folder (sparsify cfg.json + sae.safetensors, or SAELens)",
         S(default_sae_dir()),
         "built-in SAE of the built-in model",
         {{"select"},
          {"eval"},
          {"info", false, "SAE folder to describe (without --model, only the SAE is described)", FlagValue{}, ""},
          {"activations", false, "SAE folder: also dump each sample's SAE codes and pooled vector", FlagValue{}, ""},
          {"demo"},
          {"embed"},
          {"score", false, std::nullopt, FlagValue{}, "the store's"},
          {"check", false, "SAE folder to check"}}},
        {"pool",
         'p',
         K::kString,
         "FILE",
         "pool of candidate samples (JSONL, JSON array, optionally gzip)",
         {},
         "",
         {{"select", true},
          {"eval", true},
          {"embed", true},
          {"score", false,
           "the pool the store was embedded from, when it has moved (checked against the store's sha256)", FlagValue{},
           "the store's"},
          {"check", true, "samples to check the SAE on (the first --samples records)"}}},
        {"target",
         't',
         K::kString,
         "NAME=FILE",
         "target exemplars of one task; repeat for several tasks",
         {},
         "",
         {{"select", true},
          {"eval", true, "target exemplars of one task, NAME its task label in the pool; repeat for several tasks"},
          {"score", true}},
         true},
        {"label",
         0,
         K::kString,
         "NAME=LABEL",
         "the pool's task label that target NAME's precision counts in the report (when the pool's labels do not "
         "spell NAME); repeat per target",
         {},
         "the target's name",
         on({"select", "score"}),
         true},
        {"out",
         'o',
         K::kString,
         "PATH",
         "where the output goes",
         {},
         "",
         {{"select", true, "run folder: one subfolder per target, report.html, manifest.json"},
          {"eval", true, "run folder: eval.json, eval.md, report.html"},
          {"activations", true, ".safetensors file to write"},
          {"train-sae", true, "training folder: the SAE (layers.<L-1>/), checkpoint, logs"},
          {"demo", false, "run folder: inputs/, one subfolder per target, report.html", S("runs/demo")},
          {"embed", true, "feature store folder (resumed if it exists)"},
          {"score", true, "run folder: one subfolder per target, report.html, manifest.json"},
          {"merge", true, "merged store folder (resumed if it exists)"},
          {"check", false, "also write the numbers as JSON to this file"}}},
        {"overwrite",
         0,
         K::kSwitch,
         "",
         "write into an --out folder that is not empty and holds no complete run of this command (its files of the "
         "same names are replaced; other files stay)",
         {},
         "",
         on({"select", "eval", "demo", "score"})},
        {"ratio",
         0,
         K::kFloat,
         "R",
         "select round(R x pool size) samples per target",
         F(select.ratio),
         "",
         {{"select"},
          {"eval"},
          {"demo", false, std::nullopt, std::nullopt, "unused unless given (--count 20)"},
          {"score"}}},
        {"count",
         'n',
         K::kInt,
         "N",
         "select N samples per target (instead of --ratio)",
         {},
         "",
         {{"select"}, {"eval"}, {"demo", false, std::nullopt, I(20)}, {"score"}},
         false,
         1,
         INT64_MAX},
        {"merge",
         0,
         K::kString,
         "MODE",
         "also write ONE merged subset of N samples to <out>/merged/: round-robin (targets take turns, equal shares) "
         "or "
         "quota (shares from --quota); a sample two targets want counts once",
         {},
         "",
         on({"select", "score"})},
        {"quota",
         0,
         K::kString,
         "NAME=W",
         "with --merge quota: target NAME's share of the merged subset, repeat per target (weights; exact counts when "
         "they add up to N)",
         {},
         "",
         on({"select", "score"}),
         true},
        {"diversity", 0, K::kFloat, "LAMBDA",
         "diversity-aware selection (beyond the paper): greedy MMR, score - LAMBDA x max Jaccard to the samples "
         "already picked, among each target's top C x N (docs/beyond.md)",
         F(select.diversity), "0 = the paper's top N", on({"select", "score"})},
        {"diversity-candidates", 0, K::kInt, "C",
         "with --diversity or --dedup: the candidates are each target's top C x N samples by score",
         I(select.diversity_candidates), "", on({"select", "score"}), false, 1, 1'000'000},
        {"dedup", 0, K::kFloat, "T",
         "drop duplicates from each selection and the merged subset: same normalised text, or pooled-vector Jaccard "
         ">= T to a better-ranked kept sample; the next candidates fill in (dropped.tsv, docs/beyond.md)",
         F(select.dedup), "0 = off", on({"select", "score"})},
        {"dedup-against",
         0,
         K::kString,
         "FILE",
         "with --dedup: also drop samples that duplicate one of FILE's samples (e.g. a benchmark's test split)",
         {},
         "",
         on({"select", "score"})},
        {"prototype",
         0,
         K::kString,
         "RULE",
         "the prototype each target is scored against (beyond the paper): mean = the paper's mean of the exemplars' "
         "vectors; contrast:BETA = max(0, mean - BETA x the pool's mean vector), which discounts latents every pool "
         "sample shares (one more read of the store; docs/beyond.md)",
         {},
         "mean",
         on({"select", "score"})},
        {"length-strata", 0, K::kInt, "B",
         "remove the score's length preference (beyond the paper): each score becomes its standard score among the "
         "samples of its length stratum (the pool cut into B strata by token count; docs/beyond.md)",
         I(select.length_strata), "0 = off", on({"select", "score"}), false, 0, 1'000'000},
        {"coverage",
         0,
         K::kSwitch,
         "",
         "report each selection's coverage of its target prototype and its redundancy in manifest.json and the report "
         "(on by itself with --diversity or --dedup; costs one more read of the store)",
         {},
         "",
         on({"select", "score"})},
        {"layer",
         'l',
         K::kInt,
         "L",
         "residual stream layer, HF hidden_states[L] numbering (= llama.cpp l_out-(L-1), sparsify layers.(L-1))",
         {},
         "the SAE's own layer, else n_layer-1",
         {{"select"},
          {"eval"},
          {"activations", false, std::nullopt, std::nullopt,
           "the --sae's layer; without --sae and --model the built-in SAE's (as select); else n_layer-1"},
          {"train-sae", false, std::nullopt, std::nullopt, "n_layer-1"},
          {"embed"},
          {"check", false, "the layer checked with its neighbours L-1 and L+1 (even when the SAE records another)"}},
         false,
         0,
         INT32_MAX},
        {"k",
         'k',
         K::kInt,
         "K",
         "TopK k: overrides the SAE's k",
         {},
         "the SAE's k",
         {{"select"}, {"eval"}, {"train-sae", false, "TopK k of the trained SAE", I(kDefaultSaeK)}, {"embed"}},
         false,
         1,
         INT32_MAX},
        {"tokens", 0, K::kString, "MODE", "tokens pooled per sample: all|no-bos|prompt|response",
         S(token_mode_name(select.token_mode)), "", on({"select", "eval", "activations", "embed", "check"})},
        {"pooling", 0, K::kString, "MODE", "per-sample pooling: mean|sum (sum only for ablations)",
         S(pooling_mode_name(select.pooling)), "", on({"select", "eval", "embed"})},
        // score takes max-tokens, template and cpu-repack from the store (run_score), so it does not offer them.
        {"max-tokens", 0, K::kInt, "N", "truncate samples to N tokens (truncations are counted)", I(select.max_tokens),
         "", on({"select", "eval", "activations", "demo", "embed", "check"}), false, 1, INT32_MAX},
        {"batch-tokens", 0, K::kInt, "N",
         "tokens of samples handled together (SAE encoding, pooling); each sample is its own forward pass, so results "
         "do not depend on N",
         I(select.batch_tokens), "",
         on({"select", "eval", "activations", "train-sae", "demo", "embed", "score", "check"}), false, 1, INT32_MAX},
        {"threads", 'j', K::kInt, "N", "CPU threads", I(select.threads), "all cores",
         on({"select", "eval", "activations", "train-sae", "demo", "embed", "score", "check"}), false, 0, kMaxThreads},
        {"template", 0, K::kString, "NAME",
         "chat rendering: model (the GGUF's Jinja template, as HF apply_chat_template), plain, or a llama.cpp "
         "built-in name (chatml, llama3, ...)",
         S(select.template_name), "", on({"select", "eval", "activations", "train-sae", "demo", "embed", "check"})},
        {"cpu-repack", 0, K::kString, "on|off",
         "let llama.cpp repack Q4_0/Q4_K/Q8_0/IQ4_NL weights for its CPU kernels (faster for those types; never AMX, "
         "which mona's build leaves out)",
         S(select.cpu_repack ? "on" : "off"), "",
         on({"select", "eval", "activations", "train-sae", "demo", "embed", "check"})},
        {"system-prompt",
         0,
         K::kString,
         "TEXT",
         "system turn of chat samples: TEXT for each sample that has none (a sample's own is kept), or `none`: no "
         "system turn at all (the sample's dropped, the template's default prompt cut out)",
         {},
         "the template's own, as HF",
         on({"select", "eval", "activations", "train-sae", "demo", "embed", "check"})},
        {"format", 0, K::kString, "FMT", "record format: auto|messages|sharegpt|alpaca|prompt-completion|text",
         S(input_format_name(select.format)), "", on({"select", "eval", "activations", "train-sae", "embed", "check"})},
        {"skip-bad",
         0,
         K::kSwitch,
         "",
         "count and skip malformed records (listed in skipped.tsv) instead of failing",
         {},
         "",
         {{"select"},
          {"eval"},
          {"embed"},
          {"check", false, "count and skip malformed records (the count is in the output) instead of failing"}}},
        {"method",
         0,
         K::kString,
         "NAME[:OPT=V]",
         "eval method, repeatable: mona, sae-cosine, raw-cosine, poly-jaccard, bm25, random; ablation options "
         ":layer=L, :k=K, :pooling=mean|sum (e.g. raw-cosine:layer=10, mona:k=64); SAE methods also take the rules "
         "beyond the paper :diversity=LAMBDA, :candidates=C, :dedup=T, :prototype=contrast:BETA, :length-strata=B "
         "(e.g. mona:diversity=0.3); one model pass serves all",
         {},
         "all six",
         on({"eval"}),
         true},
        {"input",
         'i',
         K::kString,
         "FILE",
         "input samples",
         {},
         "",
         {{"activations", true, "input samples (any record format mona reads)"},
          {"train-sae", true, "training corpus, repeatable; builtin:demo-training[:N] is mona's own generated corpus"}},
         true},
        {"store",
         's',
         K::kString,
         "DIR",
         "feature store written by `mona embed`; repeat for the slices of one pool",
         {},
         "",
         {{"select", false, "where the pool's store is kept (resumed if it exists)", std::nullopt,
           "<out>/.store, removed after success"},
          {"score", true},
          {"merge", true, "a slice store of the pool (a --shard i/n run of `mona embed`); repeat for every slice"}},
         true},
        {"keep", 0, K::kInt, "M", "store only the M largest latents per sample (the exact L1 norm is kept)",
         I(embed.keep), "all", on({"embed"}), false, 0, UINT32_MAX},
        {"shard", 0, K::kString, "I/N", "embed only records with index % N == I (one of N machines)", S("0/1"), "",
         on({"embed"})},
        {"values", 0, K::kString, "ENC",
         "how the store writes each latent's value: f32 (exact, 4 bytes), bf16 (2 bytes), q12 or q8 (12 bits "
         "or 1 byte on a per-sample log grid; docs/store.md)",
         S(value_encoding_name(kEmbedCliValues)), "", on({"embed"})},
        {"shard-rows",
         0,
         K::kInt,
         "N",
         "samples per store shard file",
         {},
         std::to_string(kDefaultShardRows),
         {{"select"}, {"embed"}, {"merge", false, std::nullopt, std::nullopt, "the first slice store's"}},
         false,
         1,
         INT64_MAX},
        {"device", 0, K::kString, "NAME",
         "where the pool pass runs (docs/gpu.md): cpu (the reference: the vectors of every other verb), a ggml device "
         "(CUDA0, rpc:HOST:PORT for an rpc-server, or CPU for ggml's CPU device: model, SAE encode, TopK and pooling "
         "there), or auto (the first "
         "GPU of this build, else cpu)",
         S("auto"), "", on({"embed"})},
        {"gpu-layers", 0, K::kString, "N|all", "model layers offloaded to the --device GPU (0 on the CPU)", S("all"),
         "", on({"embed"})},
        {"sae-dtype", 0, K::kString, "f32|f16|bf16", "SAE encoder weights on the --device (not on cpu)", S("f16"), "",
         on({"embed"})},
        {"allow-mixed-backends",
         0,
         K::kSwitch,
         "",
         "resume a store begun on another backend (--device): its vectors then mix two backends' floats",
         {},
         "",
         on({"embed"})},
        {"json",
         0,
         K::kSwitch,
         "",
         "machine-readable output",
         {},
         "",
         {{"info"}, {"check", false, "print the numbers as JSON instead of the table"}}},
        {"samples", 0, K::kInt, "N", "check the SAE on the pool's first N samples", I(100), "", on({"check"}), false, 1,
         INT64_MAX},
        {"latents", 0, K::kInt, "N", "SAE width (number of latents)", I(kDefaultSaeLatents), "", on({"train-sae"}),
         false, 1, INT32_MAX},
        {"train-tokens", 0, K::kInt, "N", "stop after training on N tokens", I(2'000'000), "", on({"train-sae"}), false,
         1, INT64_MAX},
        {"batch-size", 0, K::kInt, "N", "tokens per optimiser step", I(1024), "", on({"train-sae"}), false, 1,
         INT32_MAX},
        {"doc-tokens", 0, K::kInt, "N", "at most N tokens taken from each document", I(256), "", on({"train-sae"}),
         false, 1, INT32_MAX},
        {"buffer-tokens", 0, K::kInt, "N", "shuffle buffer size in tokens", I(65536), "", on({"train-sae"}), false, 1,
         INT64_MAX},
        {"epochs", 0, K::kInt, "N", "passes over the corpus (activations are recomputed each pass)", I(1), "",
         on({"train-sae"}), false, 1, INT64_MAX},
        {"lr", 0, K::kFloat, "LR", "Adam learning rate", F(train.lr), "2e-4/sqrt(latents/2^14)", on({"train-sae"})},
        {"warmup", 0, K::kInt, "STEPS", "linear learning-rate warm-up steps", I(100), "", on({"train-sae"}), false, 0,
         INT64_MAX},
        {"dead-tokens", 0, K::kInt, "N", "a latent that has not fired for N tokens is dead (AuxK loss)", I(1'000'000),
         "", on({"train-sae"}), false, 1, INT64_MAX},
        {"seed",
         0,
         K::kInt,
         "N",
         "random seed",
         I(static_cast<int64_t>(eval.seed)),
         "",
         {{"eval", false, "seed of the random method"},
          {"train-sae", false, "seed of the decoder initialisation and the shuffle"}},
         false,
         0,
         INT64_MAX},
        // mona eval --finetune (issue 15, src/eval/finetune.hpp): the fine-tuning check and its options.
        {"finetune",
         0,
         K::kSwitch,
         "",
         "fine-tune a copy of the model on each method's top samples and report the loss on held-back target "
         "exemplars (assistant tokens; eval.json finetune, eval.md; docs/finetune.md)",
         {},
         "off",
         on({"eval"})},
        {"finetune-epochs", 0, K::kInt, "N", "with --finetune: epochs over each selection's samples",
         I(eval.finetune.epochs), "", on({"eval"}), false, 1, 1000},
        {"finetune-lr", 0, K::kFloat, "LR", "with --finetune: AdamW learning rate", F(eval.finetune.learning_rate), "",
         on({"eval"})},
        {"finetune-ctx", 0, K::kInt, "TOKENS",
         "with --finetune: tokens per training sequence, a multiple of 256 (longer samples keep the answer)",
         I(eval.finetune.n_ctx), "", on({"eval"}), false, 256, 32768},
        {"finetune-samples", 0, K::kInt, "N", "with --finetune: training samples per selection (its top N)",
         I(eval.finetune.n_samples), "", on({"eval"}), false, 1, 1'000'000},
        {"finetune-seeds", 0, K::kInt, "N", "with --finetune: random's draws (seeds --seed, --seed + 1, ...)",
         I(eval.finetune.n_random_seeds), "", on({"eval"}), false, 1, 1000},
        {"finetune-heldout-every", 0, K::kInt, "K",
         "with --finetune: every Kth target exemplar is held back for the loss and never enters the prototype",
         I(eval.finetune.heldout_every), "", on({"eval"}), false, 2, 1'000'000},
        {"finetune-eval", 0, K::kInt, "N", "with --finetune: held-back exemplars scored per target (the first N)",
         I(eval.finetune.n_eval), "", on({"eval"}), false, 1, 1'000'000},
        {"finetune-method",
         0,
         K::kString,
         "NAME",
         "with --finetune: a method to fine-tune on, repeatable (one of the run's --method names)",
         {},
         "every method of the run",
         on({"eval"}),
         true},
        {"finetune-model",
         0,
         K::kString,
         "PATH",
         "with --finetune: the F32 GGUF to train (llama.cpp trains F32 weights)",
         {},
         "an F32 copy of --model, made once in $MONA_HOME/models",
         on({"eval"})},
        {"log-every", 0, K::kInt, "STEPS", "log FVU, L0, dead fraction, tokens/s every STEPS steps", I(50), "",
         on({"train-sae"}), false, 1, INT64_MAX},
        {"cache-mb", 0, K::kInt, "MB", "keep up to MB of streamed activations in memory for epochs 2+", I(2048), "",
         on({"train-sae"}), false, 0, kMaxCacheMb},
        {"resume", 0, K::kSwitch, "", "continue from the checkpoint in --out", {}, "", on({"train-sae"})},
        {"quiet",
         'q',
         K::kSwitch,
         "",
         "no progress messages",
         {},
         "",
         on({"select", "eval", "train-sae", "demo", "activations", "embed", "score", "check"})},
        {"verbose",
         'v',
         K::kSwitch,
         "",
         "forward llama.cpp's log to stderr",
         {},
         "",
         on({"select", "eval", "activations", "train-sae", "demo", "embed", "score", "check"})},
        {"markdown", 0, K::kSwitch, "", "print the CLI reference as markdown", {}, "", on({"help"})},
    };
}

}  // namespace

const std::vector<FlagSpec>& flag_table() {
    static const std::vector<FlagSpec> flags = make_flag_table();
    return flags;
}

const FlagUse* FlagSpec::use(const std::string& verb) const {
    for (const auto& u : uses) {
        if (u.verb == verb) return &u;
    }
    return nullptr;
}

const std::string& FlagSpec::help_for(const std::string& verb) const {
    const FlagUse* u = use(verb);
    return u != nullptr && u->help ? *u->help : help;
}

const FlagValue& FlagSpec::default_for(const std::string& verb) const {
    const FlagUse* u = use(verb);
    return u != nullptr && u->default_value ? *u->default_value : default_value;
}

std::string FlagSpec::default_shown(const std::string& verb) const {
    const FlagUse* u = use(verb);
    if (u != nullptr && u->default_text) return *u->default_text;
    // A per-verb value without per-verb words shows the value.
    if (u != nullptr && u->default_value) return value_text(*u->default_value);
    return default_text.empty() ? value_text(default_value) : default_text;
}

const FlagSpec* find_flag(const std::string& name) {
    for (const auto& flag : flag_table()) {
        if (flag.name == name) return &flag;
    }
    return nullptr;
}

const VerbSpec* find_verb(const std::string& name) {
    for (const auto& verb : verb_table()) {
        if (verb.name == name) return &verb;
    }
    return nullptr;
}

std::string ParsedArgs::get(const std::string& name) const {
    auto it = values.find(name);
    if (it != values.end() && !it->second.empty()) return it->second.back();
    const FlagSpec* flag = find_flag(name);
    MONA_ASSERT(flag != nullptr, "a command reads only flags of the table");
    return value_text(flag->default_for(verb));
}

std::vector<std::string> ParsedArgs::all(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? std::vector<std::string>{} : it->second;
}

const FlagSpec& ParsedArgs::int_flag(const std::string& name) const {
    const FlagSpec* flag = find_flag(name);
    MONA_ASSERT(flag != nullptr && flag->kind == ValueKind::kInt, "get_int reads an integer flag");
    return *flag;
}

int64_t ParsedArgs::int_value(const FlagSpec& flag) const {
    // parse_args checked the value against the range.
    if (has(flag.name)) return std::strtoll(get(flag.name).c_str(), nullptr, 10);
    const auto* value = std::get_if<int64_t>(&flag.default_for(verb));
    MONA_ASSERT(value != nullptr, "an integer flag read without has() has a default for the verb");
    return *value;
}

double ParsedArgs::get_float(const std::string& name) const {
    const FlagSpec* flag = find_flag(name);
    MONA_ASSERT(flag != nullptr && flag->kind == ValueKind::kFloat, "get_float reads a number flag");
    if (has(name)) return std::strtod(get(name).c_str(), nullptr);
    const auto* value = std::get_if<double>(&flag->default_for(verb));
    MONA_ASSERT(value != nullptr, "a number flag read without has() has a default for the verb");
    return *value;
}

namespace {

Status check_value(const FlagSpec& flag, const std::string& value, const std::string& origin) {
    if (flag.kind == ValueKind::kInt) {
        const std::string range = flag.max_value == INT64_MAX
                                      ? fmt::format(">= {}", flag.min_value)
                                      : fmt::format("in {}..{}", flag.min_value, flag.max_value);
        char* end = nullptr;
        errno = 0;
        const long long parsed = std::strtoll(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0' || (errno != 0 && errno != ERANGE)) {
            return invalid_input(fmt::format("{}: expected an integer, got '{}'", origin, value));
        }
        if (errno == ERANGE || parsed < flag.min_value || parsed > flag.max_value) {
            return invalid_input(fmt::format("{}: {} is out of range: expected an integer {}", origin, value, range));
        }
    } else if (flag.kind == ValueKind::kFloat) {
        char* end = nullptr;
        errno = 0;
        const double parsed = std::strtod(value.c_str(), &end);
        if (value.empty() || *end != '\0' || errno != 0 || !std::isfinite(parsed)) {
            return invalid_input(fmt::format("{}: expected a finite number, got '{}'", origin, value));
        }
    }
    return Status();
}

}  // namespace

namespace {

// Edit distance for "did you mean": insertions, deletions, substitutions and swaps of two neighbouring letters
// (the commonest typo, "scroe"), each 1 (optimal string alignment distance).
size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
    for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        for (size_t j = 1; j <= b.size(); ++j) {
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
            }
        }
    }
    return d[a.size()][b.size()];
}

// "; did you mean X?" when a word is close to `word`, else "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& known, const std::string& prefix) {
    const std::string best = closest(word, known);
    return best.empty() ? "" : fmt::format("; did you mean {}{}?", prefix, best);
}

// The flags `verb` takes, by long name.
std::vector<std::string> flags_of(const std::string& verb) {
    std::vector<std::string> names;
    for (const auto& flag : flag_table()) {
        if (flag.use(verb) != nullptr) names.push_back(flag.name);
    }
    return names;
}

std::vector<std::string> verb_names() {
    std::vector<std::string> names;
    for (const auto& verb : verb_table()) names.push_back(verb.name);
    return names;
}

Result<std::string> known_verb(const std::string& name) {
    if (find_verb(name) != nullptr) return name;
    return invalid_input(
        fmt::format("unknown command '{}'{}; try `mona help`", name, did_you_mean(name, verb_names(), "")));
}

}  // namespace

std::string closest(const std::string& word, const std::vector<std::string>& known) {
    // A likely typo: at most a third of the word's letters wrong (at least one, at most three), or the word a
    // prefix of exactly one known word (--targ).
    const size_t allowed = std::clamp<size_t>(word.size() / 3, 1, 3);
    std::string best;
    size_t best_distance = allowed + 1;
    for (const auto& candidate : known) {
        const size_t d = edit_distance(word, candidate);
        if (d < best_distance) {
            best = candidate;
            best_distance = d;
        }
    }
    if (!best.empty() || word.size() < 3) return best;
    for (const auto& candidate : known) {
        if (candidate.rfind(word, 0) != 0) continue;
        if (!best.empty()) return "";  // ambiguous
        best = candidate;
    }
    return best;
}

const std::vector<std::vector<std::string>>& exclusive_flags() {
    static const std::vector<std::vector<std::string>> groups = {{"count", "ratio"}};
    return groups;
}

Result<ParsedArgs> parse_args(int argc, const char* const* argv) {
    ParsedArgs args;
    if (argc < 2) return invalid_input("missing command; try `mona help`");
    for (int arg_idx = 0; arg_idx < argc; ++arg_idx) {
        if (arg_idx > 0) args.command_line += ' ';
        args.command_line += argv[arg_idx];
    }
    args.verb = argv[1];
    if (args.verb == "--help" || args.verb == "-h") args.verb = "help";
    if (args.verb == "--version" || args.verb == "-V") args.verb = "version";
    MONA_TRY(args.verb, known_verb(args.verb));
    const auto& flags = flag_table();
    for (int arg_idx = 2; arg_idx < argc; ++arg_idx) {
        std::string arg = argv[arg_idx];
        if (arg == "--help" || arg == "-h") {
            args.values["help"].push_back("1");
            args.help_long = arg == "--help";
            continue;
        }
        const FlagSpec* spec = nullptr;
        std::optional<std::string> inline_value;
        if (arg.rfind("--", 0) == 0) {
            std::string name = arg.substr(2);
            const size_t eq = name.find('=');
            if (eq != std::string::npos) {
                inline_value = name.substr(eq + 1);
                name = name.substr(0, eq);
            }
            spec = find_flag(name);
            if (spec == nullptr)
                return invalid_input(fmt::format("unknown flag --{}{}; see `mona {} --help`", name,
                                                 did_you_mean(name, flags_of(args.verb), "--"), args.verb));
        } else if (arg.size() == 2 && arg[0] == '-') {
            for (const auto& flag : flags) {
                if (flag.short_name == arg[1] && flag.use(args.verb) != nullptr) spec = &flag;
            }
            if (spec == nullptr)
                return invalid_input(fmt::format("unknown flag {}; see `mona {} --help`", arg, args.verb));
        } else if (args.verb == "help" && args.help_topic.empty()) {
            MONA_TRY(args.help_topic, known_verb(arg));  // `mona help select`, as git and cargo
            continue;
        } else {
            return invalid_input(fmt::format("unexpected argument '{}' (flags start with --)", arg));
        }
        if (spec->use(args.verb) == nullptr) {
            return invalid_input(fmt::format("--{} does not apply to `mona {}`; see `mona {} --help`", spec->name,
                                             args.verb, args.verb));
        }
        std::string value = "1";
        if (spec->kind == ValueKind::kSwitch) {
            if (inline_value) return invalid_input(fmt::format("--{} takes no value", spec->name));
        } else if (inline_value) {
            value = *inline_value;
        } else {
            if (arg_idx + 1 >= argc)
                return invalid_input(fmt::format("--{} needs a value ({})", spec->name, spec->hint));
            value = argv[++arg_idx];
        }
        MONA_RETURN_IF_ERROR(check_value(*spec, value, "--" + spec->name));
        auto& slot = args.values[spec->name];
        if (!spec->repeatable) slot.clear();
        slot.push_back(value);
    }
    // The environment fills what the command line left open, except a flag the command line excludes by giving
    // another flag of its group: the command line wins.
    const auto excluded_by_command_line = [&](const std::string& name) {
        for (const auto& group : exclusive_flags()) {
            if (std::find(group.begin(), group.end(), name) == group.end()) continue;
            for (const auto& other : group) {
                if (other != name && args.has(other)) return true;
            }
        }
        return false;
    };
    std::vector<std::pair<std::string, std::string>> from_env;
    for (const auto& flag : flags) {
        if (flag.use(args.verb) == nullptr || args.has(flag.name) || excluded_by_command_line(flag.name)) continue;
        const char* env = std::getenv(env_name(flag.name).c_str());
        if (env == nullptr || *env == '\0') continue;
        if (flag.kind == ValueKind::kSwitch) {
            if (std::string(env) != "0") from_env.emplace_back(flag.name, "1");
            continue;
        }
        MONA_RETURN_IF_ERROR(check_value(flag, env, env_name(flag.name)));
        from_env.emplace_back(flag.name, env);
    }
    for (auto& [name, value] : from_env) args.values[name].push_back(std::move(value));
    return args;
}

Status check_required(const ParsedArgs& args) {
    for (const auto& flag : flag_table()) {
        const FlagUse* use = flag.use(args.verb);
        if (use == nullptr || !use->required || args.has(flag.name)) continue;
        return invalid_input(fmt::format("{}--{} {} is required by `mona {}`; see `mona {} --help`",
                                         flag.repeatable ? "at least one " : "", flag.name, flag.hint, args.verb,
                                         args.verb));
    }
    return Status();
}

Status check_values(const ParsedArgs& args) {
    for (const auto& group : exclusive_flags()) {
        std::vector<std::string> given;
        for (const auto& name : group) {
            if (args.has(name)) given.push_back("--" + name);
        }
        if (given.size() > 1) {
            std::string names;
            for (size_t i = 0; i < given.size(); ++i)
                names += (i == 0 ? "" : i + 1 == given.size() ? " or " : ", ") + given[i];
            return invalid_input(fmt::format("give {}, not both (the environment's MONA_* count as given)", names));
        }
    }
    const auto check = [&](const char* name, auto parse) -> Status {
        if (!args.has(name)) return Status();
        auto parsed = parse(args.get(name));
        return parsed.ok() ? Status() : parsed.status().with_context(std::string("--") + name);
    };
    MONA_RETURN_IF_ERROR(check("tokens", [](const std::string& v) { return parse_token_mode(v); }));
    MONA_RETURN_IF_ERROR(check("pooling", [](const std::string& v) { return parse_pooling_mode(v); }));
    MONA_RETURN_IF_ERROR(check("format", [](const std::string& v) { return parse_input_format(v); }));
    MONA_RETURN_IF_ERROR(check("merge", [](const std::string& v) { return parse_merge_mode(v); }));
    MONA_RETURN_IF_ERROR(check("cpu-repack", [](const std::string& v) -> Result<bool> {
        if (v == "on" || v == "off") return v == "on";
        return invalid_input("expected on or off, got '" + v + "'");
    }));
    return Status();
}

std::string usage_text() {
    std::string out =
        "mona: task-specific data selection for instruction tuning (MoNA)\n\nusage: mona <command> "
        "[flags]\n\ncommands:\n";
    for (const auto& verb : verb_table()) out += fmt::format("  {:<12} {}\n", verb.name, verb.summary);
    out +=
        "\n`mona help <command>` (or `mona <command> --help`) lists a command's flags; `-h` is the short form.\n"
        "Exit codes: 0 ok, 1 failed, 2 usage error.\n";
    return out;
}

std::string verb_help(const std::string& verb, bool long_form) {
    std::string out;
    const VerbSpec* v = find_verb(verb);
    if (v == nullptr) return out;
    out += fmt::format("mona {}: {}\n\nusage: mona {}", verb, v->summary, verb);
    for (const auto& flag : flag_table()) {
        const FlagUse* use = flag.use(verb);
        if (use != nullptr && use->required) out += fmt::format(" --{} {}", flag.name, flag.hint);
    }
    out += flags_of(verb).empty() ? "\n" : " [flags]\n";
    if (!flags_of(verb).empty()) out += "\nflags:\n";
    for (const auto& flag : flag_table()) {
        const FlagUse* use = flag.use(verb);
        if (use == nullptr) continue;
        std::string left = "--" + flag.name + (flag.hint.empty() ? "" : " " + flag.hint);
        if (flag.short_name) left = fmt::format("-{}, {}", flag.short_name, left);
        out += fmt::format("  {:<28} {}", left, flag.help_for(verb));
        if (use->required) out += " (required)";
        if (long_form) {
            if (const std::string def = flag.default_shown(verb); !def.empty()) {
                out += fmt::format(" [default: {}]", def);
            }
            out += fmt::format(" [env: {}]", env_name(flag.name));
        }
        out += "\n";
    }
    if (!v->example.empty()) out += fmt::format("\nexample:\n  {}\n", v->example);
    if (long_form) {
        out +=
            "\nA flag not given is read from its environment variable, else its default: the command line beats the\n"
            "environment (an explicit --ratio also silences MONA_COUNT), which beats the defaults.\n"
            "Exit codes: 0 ok, 1 failed, 2 usage error.\n";
    } else {
        out += fmt::format("\n`mona {} --help` also shows defaults and environment variables.\n", verb);
    }
    return out;
}

namespace {

// "a, b: text; c: other" for the verbs whose `text_of(use)` is set, grouped by equal text in first-use order.
template <class TextOf>
std::string per_verb(const FlagSpec& flag, TextOf&& text_of) {
    std::vector<std::pair<std::string, std::string>> groups;  // text, verbs
    for (const auto& use : flag.uses) {
        const std::optional<std::string> text = text_of(use);
        if (!text) continue;
        auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == *text; });
        if (it == groups.end()) {
            groups.push_back({*text, use.verb});
        } else {
            it->second += ", " + use.verb;
        }
    }
    std::string out;
    for (const auto& [text, verbs] : groups)
        out += fmt::format("{}{}: {}", out.empty() ? "" : "; ", verbs, text.empty() ? "none" : text);
    return out;
}

std::string cell(std::string text) {
    std::replace(text.begin(), text.end(), '|', '/');
    return text;
}

}  // namespace

std::string markdown_reference() {
    std::string out = "| flag | value | commands | default | env | meaning |\n|---|---|---|---|---|---|\n";
    for (const auto& flag : flag_table()) {
        std::string verbs;
        for (const auto& use : flag.uses)
            verbs += (verbs.empty() ? "" : ", ") + use.verb + (use.required ? " (required)" : "");
        std::string name = "`--" + flag.name + "`";
        if (flag.short_name) name += fmt::format(" `-{}`", flag.short_name);
        std::string help = flag.help;
        const std::string help_by_verb = per_verb(flag, [](const FlagUse& u) { return u.help; });
        if (!help_by_verb.empty()) help += " — " + help_by_verb;
        std::string def = flag.default_text.empty() ? value_text(flag.default_value) : flag.default_text;
        const std::string def_by_verb = per_verb(flag, [&](const FlagUse& u) -> std::optional<std::string> {
            if (!u.default_text && !u.default_value) return std::nullopt;
            return flag.default_shown(u.verb);
        });
        if (!def_by_verb.empty()) def += (def.empty() ? "" : "; ") + def_by_verb;
        out += fmt::format("| {} | {} | {} | {} | `{}` | {} |\n", name, flag.hint, verbs, cell(def),
                           env_name(flag.name), cell(help));
    }
    return out;
}

}  // namespace mona::cli
