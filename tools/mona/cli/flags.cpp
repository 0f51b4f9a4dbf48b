#include "cli/flags.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace mona::cli {
namespace {

constexpr int64_t kMaxThreads = 512;             // GGML_MAX_N_THREADS
constexpr int64_t kMaxCacheMb = int64_t(1) << 30;  // 1 PiB; MB * 2^20 bytes stays far inside int64

const std::vector<std::string> kModelVerbs = {"select", "eval", "info", "activations", "train-sae", "demo", "embed", "score"};

std::string env_name(const std::string& flag) {
    std::string out = "MONA_";
    for (char c : flag) out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

bool applies(const FlagSpec& flag, const std::string& verb) {
    return std::find(flag.verbs.begin(), flag.verbs.end(), verb) != flag.verbs.end();
}

}  // namespace

const std::vector<VerbSpec>& verb_table() {
    static const std::vector<VerbSpec> verbs = {
        {"select", "select the pool samples most similar to each target task (MoNA)"},
        {"eval", "compare MoNA with baselines and ablations on a labelled pool (precision, recall, diversity, report)"},
        {"info", "print what mona understood of a model (--model) and/or an SAE (--sae)"},
        {"activations", "dump token ids, residual vectors, SAE codes and pooled vectors of a small input"},
        {"train-sae", "train a TopK sparse autoencoder on a model's residual stream"},
        {"demo", "run the built-in demo: a multi-task pool, four targets, a report"},
        {"embed", "embed a pool once into a feature store (resumable, shardable with --shard i/n)"},
        {"score", "select from one or more feature stores for any number of targets, without re-running the pool"},
        {"merge", "merge the slice stores of one pool (--shard i/n runs) into one store"},
        {"help", "print usage; `mona help --markdown` prints the CLI reference"},
        {"version", "print the version"},
    };
    return verbs;
}

const std::vector<FlagSpec>& flag_table() {
    using K = ValueKind;
    static const std::vector<FlagSpec> flags = {
        {"model", 'm', K::kString, "PATH", "GGUF selection model: a path, or an http(s):// URL downloaded once (resumable) into $MONA_HOME/models", "built-in SmolLM2-135M-Instruct", kModelVerbs},
        {"model-sha256", 0, K::kString, "HEX", "expected sha256 of the model file (checked; required trust for URLs)",
         "", kModelVerbs},
        {"sae", 0, K::kString, "DIR", "SAE folder (sparsify cfg.json + sae.safetensors, or SAELens)",
         "built-in SAE of the built-in model; score: the store's", {"select", "eval", "info", "activations", "demo", "embed", "score"}},
        {"pool", 'p', K::kString, "FILE", "pool of candidate samples (JSONL, JSON array, optionally gzip)", "",
         {"select", "eval", "embed"}},
        {"target", 't', K::kString, "NAME=FILE",
         "target exemplars of one task; repeat for several tasks (eval: NAME is the task label)", "",
         {"select", "eval", "score"}, true},
        {"out", 'o', K::kString, "PATH",
         "output: run folder (select, eval, demo), .safetensors file (activations), SAE folder (train-sae)", "",
         {"select", "eval", "activations", "train-sae", "demo", "embed", "score", "merge"}},
        {"ratio", 0, K::kFloat, "R", "select round(R x pool size) samples per target", "0.05",
         {"select", "eval", "demo", "score"}},
        {"count", 'n', K::kInt, "N", "select N samples per target (instead of --ratio)", "",
         {"select", "eval", "demo", "score"}, false, 1, INT64_MAX},
        {"merge", 0, K::kString, "MODE",
         "also write ONE merged subset of N samples to <out>/merged/: round-robin (targets take turns, equal shares) or "
         "quota (shares from --quota); a sample two targets want counts once", "", {"select", "score"}},
        {"quota", 0, K::kString, "NAME=W",
         "with --merge quota: target NAME's share of the merged subset, repeat per target (weights; exact counts when they add up to N)",
         "", {"select", "score"}, true},
        {"layer", 'l', K::kInt, "L",
         "residual stream layer, HF hidden_states[L] numbering (= llama.cpp l_out-(L-1), sparsify layers.(L-1))",
         "the SAE's own layer, else n_layer-1", {"select", "eval", "activations", "train-sae", "embed"}, false, 0, INT32_MAX},
        {"k", 'k', K::kInt, "K", "TopK k: overrides the SAE's k (select); the trained SAE's k (train-sae)",
         "the SAE's k; train-sae: 32", {"select", "eval", "train-sae", "embed"}, false, 1, INT32_MAX},
        {"tokens", 0, K::kString, "MODE", "tokens pooled per sample: all|no-bos|prompt|response", "no-bos",
         {"select", "eval", "activations", "embed"}},
        {"pooling", 0, K::kString, "MODE", "per-sample pooling: mean|sum (sum only for ablations)", "mean",
         {"select", "eval", "embed"}},
        {"max-tokens", 0, K::kInt, "N", "truncate samples to N tokens (truncations are counted)", "2048",
         {"select", "eval", "activations", "train-sae", "demo", "embed", "score"}, false, 1, INT32_MAX},
        {"batch-tokens", 0, K::kInt, "N", "tokens of samples handled together (SAE encoding, pooling); each sample is its own forward pass, so results do not depend on N", "512",
         {"select", "eval", "activations", "train-sae", "demo", "embed", "score"}, false, 1, INT32_MAX},
        {"threads", 'j', K::kInt, "N", "CPU threads", "all cores",
         {"select", "eval", "activations", "train-sae", "demo", "embed", "score"}, false, 0, kMaxThreads},
        {"template", 0, K::kString, "NAME",
         "chat rendering: model (the GGUF's Jinja template, as HF apply_chat_template), plain, or a llama.cpp "
         "built-in name (chatml, llama3, ...)",
         "model", {"select", "eval", "activations", "train-sae", "demo", "embed", "score"}},
        {"cpu-repack", 0, K::kString, "on|off",
         "let llama.cpp repack Q4_0/Q4_K/Q8_0/IQ4_NL weights for its CPU kernels (faster for those types; never AMX, "
         "which mona's build leaves out)", "off", {"select", "eval", "activations", "train-sae", "demo", "embed", "score"}},
        {"system-prompt", 0, K::kString, "TEXT",
         "system turn of chat samples: TEXT for each sample that has none (a sample's own is kept), or `none`: no "
         "system turn at all (the sample's dropped, the template's default prompt cut out); score uses the store's",
         "the template's own, as HF", {"select", "eval", "activations", "train-sae", "demo", "embed"}},
        {"format", 0, K::kString, "FMT", "record format: auto|messages|sharegpt|alpaca|prompt-completion|text",
         "auto", {"select", "eval", "activations", "train-sae", "embed"}},
        {"skip-bad", 0, K::kSwitch, "", "count and skip malformed records (listed in skipped.tsv) instead of failing",
         "", {"select", "eval", "embed"}},
        {"method", 0, K::kString, "NAME[:OPT=V]",
         "eval method, repeatable: mona, sae-cosine, raw-cosine, poly-jaccard, bm25, random; ablation options "
         ":layer=L, :k=K, :pooling=mean|sum (e.g. raw-cosine:layer=10, mona:k=64); one model pass serves all",
         "all six", {"eval"}, true},
        {"input", 'i', K::kString, "FILE", "input samples (activations); training corpus, repeatable (train-sae)",
         "", {"activations", "train-sae"}, true},
        {"store", 's', K::kString, "DIR",
         "feature store written by `mona embed`; repeat for the slices of one pool. select: where the pool's store is "
         "kept (resumed if it exists)", "select: <out>/.store, removed after success", {"select", "score", "merge"}, true},
        {"keep", 0, K::kInt, "M", "store only the M largest latents per sample (the exact L1 norm is kept)", "all",
         {"embed"}, false, 0, UINT32_MAX},
        {"shard", 0, K::kString, "I/N", "embed only records with index % N == I (one of N machines)", "0/1",
         {"embed"}},
        {"shard-rows", 0, K::kInt, "N", "samples per store shard file", "1024", {"select", "embed", "merge"}, false, 1, INT64_MAX},
        {"json", 0, K::kSwitch, "", "machine-readable output", "", {"info"}},
        {"latents", 0, K::kInt, "N", "SAE width (number of latents)", "4608", {"train-sae"}, false, 1, INT32_MAX},
        {"train-tokens", 0, K::kInt, "N", "stop after training on N tokens", "2000000", {"train-sae"}, false, 1, INT64_MAX},
        {"batch-size", 0, K::kInt, "N", "tokens per optimiser step", "1024", {"train-sae"}, false, 1, INT32_MAX},
        {"doc-tokens", 0, K::kInt, "N", "at most N tokens taken from each document", "256", {"train-sae"}, false, 1, INT32_MAX},
        {"buffer-tokens", 0, K::kInt, "N", "shuffle buffer size in tokens", "65536", {"train-sae"}, false, 1, INT64_MAX},
        {"epochs", 0, K::kInt, "N", "passes over the corpus (activations are recomputed each pass)", "1",
         {"train-sae"}, false, 1, INT64_MAX},
        {"lr", 0, K::kFloat, "LR", "Adam learning rate", "2e-4/sqrt(latents/2^14)", {"train-sae"}},
        {"warmup", 0, K::kInt, "STEPS", "linear learning-rate warm-up steps", "100", {"train-sae"}, false, 0, INT64_MAX},
        {"dead-tokens", 0, K::kInt, "N", "a latent that has not fired for N tokens is dead (AuxK loss)", "1000000",
         {"train-sae"}, false, 1, INT64_MAX},
        {"seed", 0, K::kInt, "N", "random seed (train-sae; eval: the random method)", "0", {"eval", "train-sae"}, false, 0, INT64_MAX},
        {"log-every", 0, K::kInt, "STEPS", "log FVU, L0, dead fraction, tokens/s every STEPS steps", "50",
         {"train-sae"}, false, 1, INT64_MAX},
        {"cache-mb", 0, K::kInt, "MB", "keep up to MB of streamed activations in memory for epochs 2+", "2048",
         {"train-sae"}, false, 0, kMaxCacheMb},
        {"resume", 0, K::kSwitch, "", "continue from the checkpoint in --out", "", {"train-sae"}},
        {"quiet", 'q', K::kSwitch, "", "no progress messages", "",
         {"select", "eval", "train-sae", "demo", "activations", "embed", "score"}},
        {"verbose", 'v', K::kSwitch, "", "forward llama.cpp's log to stderr", "", kModelVerbs},
        {"markdown", 0, K::kSwitch, "", "print the CLI reference as markdown", "", {"help"}},
    };
    return flags;
}

std::string ParsedArgs::get(const std::string& name, const std::string& fallback) const {
    auto it = values.find(name);
    return it == values.end() || it->second.empty() ? fallback : it->second.back();
}

std::vector<std::string> ParsedArgs::all(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? std::vector<std::string>{} : it->second;
}

int64_t ParsedArgs::get_int(const std::string& name, int64_t fallback) const {
    return has(name) ? std::strtoll(get(name).c_str(), nullptr, 10) : fallback;
}

double ParsedArgs::get_float(const std::string& name, double fallback) const {
    return has(name) ? std::strtod(get(name).c_str(), nullptr) : fallback;
}

namespace {

Status check_value(const FlagSpec& flag, const std::string& value, const std::string& origin) {
    if (flag.kind == ValueKind::kInt) {
        const std::string range = flag.max_value == INT64_MAX ? fmt::format(">= {}", flag.min_value)
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

Result<ParsedArgs> parse_args(int argc, const char* const* argv) {
    ParsedArgs args;
    if (argc < 2) return invalid_input("missing command; try `mona help`");
    args.verb = argv[1];
    if (args.verb == "--help" || args.verb == "-h") args.verb = "help";
    if (args.verb == "--version") args.verb = "version";
    const auto& verbs = verb_table();
    if (std::none_of(verbs.begin(), verbs.end(), [&](const VerbSpec& v) { return v.name == args.verb; })) {
        return invalid_input(fmt::format("unknown command '{}'; try `mona help`", args.verb));
    }
    const auto& flags = flag_table();
    for (int arg_idx = 2; arg_idx < argc; ++arg_idx) {
        std::string arg = argv[arg_idx];
        if (arg == "--help" || arg == "-h") {
            args.values["help"].push_back("1");
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
            for (const auto& flag : flags) {
                if (flag.name == name) spec = &flag;
            }
            if (spec == nullptr) return invalid_input(fmt::format("unknown flag --{}; try `mona {} --help`", name, args.verb));
        } else if (arg.size() == 2 && arg[0] == '-') {
            for (const auto& flag : flags) {
                if (flag.short_name == arg[1] && applies(flag, args.verb)) spec = &flag;
            }
            if (spec == nullptr) return invalid_input(fmt::format("unknown flag {}; try `mona {} --help`", arg, args.verb));
        } else {
            return invalid_input(fmt::format("unexpected argument '{}' (flags start with --)", arg));
        }
        if (!applies(*spec, args.verb)) {
            return invalid_input(fmt::format("--{} does not apply to `mona {}`", spec->name, args.verb));
        }
        std::string value = "1";
        if (spec->kind == ValueKind::kSwitch) {
            if (inline_value) return invalid_input(fmt::format("--{} takes no value", spec->name));
        } else if (inline_value) {
            value = *inline_value;
        } else {
            if (arg_idx + 1 >= argc) return invalid_input(fmt::format("--{} needs a value ({})", spec->name, spec->hint));
            value = argv[++arg_idx];
        }
        MONA_RETURN_IF_ERROR(check_value(*spec, value, "--" + spec->name));
        auto& slot = args.values[spec->name];
        if (!spec->repeatable) slot.clear();
        slot.push_back(value);
    }
    for (const auto& flag : flags) {
        if (!applies(flag, args.verb) || args.has(flag.name)) continue;
        const char* env = std::getenv(env_name(flag.name).c_str());
        if (env == nullptr || *env == '\0') continue;
        if (flag.kind == ValueKind::kSwitch) {
            if (std::string(env) != "0") args.values[flag.name].push_back("1");
            continue;
        }
        MONA_RETURN_IF_ERROR(check_value(flag, env, env_name(flag.name)));
        args.values[flag.name].push_back(env);
    }
    return args;
}

std::string usage_text() {
    std::string out = "mona: task-specific data selection for instruction tuning (MoNA)\n\nusage: mona <command> [flags]\n\ncommands:\n";
    for (const auto& verb : verb_table()) out += fmt::format("  {:<12} {}\n", verb.name, verb.summary);
    out += "\n`mona <command> --help` lists a command's flags. Exit codes: 0 ok, 1 failed, 2 usage error.\n";
    return out;
}

std::string verb_help(const std::string& verb) {
    std::string out;
    for (const auto& v : verb_table()) {
        if (v.name == verb) out += fmt::format("mona {}: {}\n\nflags:\n", verb, v.summary);
    }
    for (const auto& flag : flag_table()) {
        if (!applies(flag, verb)) continue;
        std::string left = "--" + flag.name + (flag.hint.empty() ? "" : " " + flag.hint);
        if (flag.short_name) left = fmt::format("-{}, {}", flag.short_name, left);
        out += fmt::format("  {:<28} {}", left, flag.help);
        if (!flag.default_text.empty()) out += fmt::format(" [default: {}]", flag.default_text);
        out += fmt::format(" [env: {}]\n", env_name(flag.name));
    }
    return out;
}

std::string markdown_reference() {
    std::string out = "| flag | value | commands | default | env | meaning |\n|---|---|---|---|---|---|\n";
    for (const auto& flag : flag_table()) {
        std::string verbs;
        for (const auto& v : flag.verbs) verbs += (verbs.empty() ? "" : ", ") + v;
        std::string name = "`--" + flag.name + "`";
        if (flag.short_name) name += fmt::format(" `-{}`", flag.short_name);
        std::string help = flag.help;
        std::replace(help.begin(), help.end(), '|', '/');
        std::string def = flag.default_text;
        std::replace(def.begin(), def.end(), '|', '/');
        out += fmt::format("| {} | {} | {} | {} | `{}` | {} |\n", name, flag.hint, verbs, def, env_name(flag.name), help);
    }
    return out;
}

}  // namespace mona::cli
