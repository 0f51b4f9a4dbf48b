#include "eval/methods.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>

#include "score/bm25.hpp"
#include "score/jaccard.hpp"
#include "score/metrics.hpp"

namespace mona {
namespace {

double score_jaccard(const RepVector& sample, const TargetRep& target) { return jaccard(sample.sparse, target.proto); }
double score_cosine(const RepVector& sample, const TargetRep& target) { return cosine(sample.sparse, target.proto); }
double score_dense_cosine(const RepVector& sample, const TargetRep& target) {
    return dense_cosine(sample.dense, target.dense, target.dense_norm);
}

EvalMethodRun run_bm25(const PoolMethodInput& in) {
    EvalMethodRun run;
    run.scores = in.bm25->score_target_set(*in.target_texts, Bm25Aggregation::kPrototype);
    return run;
}

EvalMethodRun run_random(const PoolMethodInput& in) {
    EvalMethodRun run;
    run.selected = metrics::random_selection(in.n_pool, in.n_select, in.seed);
    return run;
}

// The registry. Its order is the default run order and the order the names are listed in errors. Fields left out
// are false / null (GCC's -Wextra warns about every field a designated initializer leaves out; here that is
// the point).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
constexpr EvalMethodDef kEvalMethods[] = {
    {.name = "mona",
     .rep = RepKind::kSae,
     .takes_layer = true,
     .takes_k = true,
     .takes_pooling = true,
     .score = score_jaccard,
     .explains_latents = true,
     .definition = "pooled SAE codes (--pooling, --k), generalized Jaccard vs the mean of the targets' vectors"},
    {.name = "sae-cosine",
     .rep = RepKind::kSae,
     .takes_layer = true,
     .takes_k = true,
     .takes_pooling = true,
     .score = score_cosine,
     .definition = "pooled SAE codes (--pooling, --k), cosine vs the same prototype"},
    {.name = "raw-cosine",
     .rep = RepKind::kRaw,
     .takes_layer = true,
     .score = score_dense_cosine,
     .definition = "mean of the raw residual rows over the pooled tokens at the same layer, cosine vs the mean of "
                   "the targets' raw vectors"},
    {.name = "poly-jaccard",
     .rep = RepKind::kPoly,
     .takes_layer = true,
     .takes_k = true,
     .takes_pooling = true,
     .score = score_jaccard,
     .definition = "TopK(SiLU(W_gate x)) of the gated MLP of the block writing the layer (llama.cpp ffn_gate-(L-1), "
                   "SiLU applied by mona), positive values of the k largest per token, pooled like mona, generalized "
                   "Jaccard"},
    {.name = "bm25",
     .rep = RepKind::kNone,
     .run_pool = run_bm25,
     .needs_bm25 = true,
     .definition = "Okapi BM25 (k1 1.2, b 0.75, Lucene IDF) of the user+assistant contents, prototype query: mean "
                   "over exemplars of tf/|e|"},
    {.name = "random",
     .rep = RepKind::kNone,
     .run_pool = run_random,
     .uses_seed = true,
     .definition = "uniform random selection without replacement, std::mt19937_64(seed), the same for every target"},
};
#pragma GCC diagnostic pop

// "a, b, c or d"
std::string method_names() {
    std::string out;
    const size_t n = std::size(kEvalMethods);
    for (size_t idx = 0; idx < n; ++idx) {
        if (idx > 0) out += idx + 1 == n ? " or " : ", ";
        out += kEvalMethods[idx].name;
    }
    return out;
}

}  // namespace

std::span<const EvalMethodDef> eval_methods() { return kEvalMethods; }

Result<const EvalMethodDef*> find_eval_method(std::string_view name) {
    for (const EvalMethodDef& def : kEvalMethods) {
        if (name == def.name) return &def;
    }
    return invalid_input(fmt::format("unknown method '{}': expected {}", name, method_names()));
}

namespace {

// A number option of the beyond-the-paper rules: finite, and in [lo, hi] (lo excluded when lo_open).
Result<double> parse_number(std::string_view text, std::string_view key, const std::string& value, double lo,
                            bool lo_open, double hi, const char* range) {
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(value.c_str(), &end);
    if (errno != 0 || end == value.c_str() || *end != '\0' || !std::isfinite(v) || v < lo || (lo_open && v == lo) ||
        v > hi) {
        return invalid_input(fmt::format("method '{}': {} must be {}, got '{}'", text, key, range, value));
    }
    return v;
}

}  // namespace

Result<EvalMethodSpec> parse_eval_method_spec(std::string_view text) {
    const size_t colon = text.find(':');
    MONA_TRY(const EvalMethodDef* method, find_eval_method(text.substr(0, colon)));
    EvalMethodSpec spec = default_method_spec(*method);
    std::string_view rest = colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
    bool has_layer = false, has_k = false, has_pooling = false;
    bool has_prototype = false, has_diversity = false, has_candidates = false, has_dedup = false, has_strata = false;
    const bool sparse = method->rep == RepKind::kSae || method->rep == RepKind::kPoly;
    while (colon != std::string_view::npos) {
        size_t next = rest.find(':');
        std::string_view option = rest.substr(0, next);
        // prototype=contrast:BETA carries the separator in its value: take the next segment along.
        if (option == "prototype=contrast" && next != std::string_view::npos) {
            next = rest.find(':', next + 1);
            option = rest.substr(0, next);
        }
        const size_t eq = option.find('=');
        const std::string_view key = option.substr(0, eq);
        const std::string value(eq == std::string_view::npos ? std::string_view() : option.substr(eq + 1));
        auto bad = [&](const std::string& why) { return invalid_input(fmt::format("method '{}': {}", text, why)); };
        auto takes_no = [&] { return bad(fmt::format("{} takes no {} option", method->name, key)); };
        auto twice = [&](bool& has) {
            const bool was = has;
            has = true;
            return was;
        };
        if (eq == std::string_view::npos || value.empty()) {
            return bad(fmt::format("option '{}' is not KEY=VALUE", option));
        }
        if (key == "layer" || key == "k") {
            if (!(key == "layer" ? method->takes_layer : method->takes_k)) return takes_no();
            char* end = nullptr;
            errno = 0;
            const long v = std::strtol(value.c_str(), &end, 10);
            if (errno != 0 || end == value.c_str() || *end != '\0' || v < (key == "k" ? 1 : 0) || v > INT32_MAX) {
                return bad(fmt::format("{} must be an integer >= {}, got '{}'", key, key == "k" ? 1 : 0, value));
            }
            if ((key == "layer" ? has_layer : has_k)) return bad(fmt::format("{} given twice", key));
            (key == "layer" ? spec.layer : spec.k) = static_cast<int32_t>(v);
            (key == "layer" ? has_layer : has_k) = true;
        } else if (key == "pooling") {
            if (!method->takes_pooling) return takes_no();
            if (has_pooling) return bad("pooling given twice");
            MONA_TRY(PoolingMode pooling, parse_pooling_mode(value));
            spec.pooling = pooling;
            has_pooling = true;
        } else if (key == "prototype" || key == "diversity" || key == "candidates" || key == "dedup" ||
                   key == "length-strata") {
            if (!sparse) return takes_no();
            if (twice(key == "length-strata" ? has_strata
                      : key == "prototype"   ? has_prototype
                      : key == "diversity"   ? has_diversity
                      : key == "candidates"  ? has_candidates
                                             : has_dedup)) {
                return bad(fmt::format("{} given twice", key));
            }
            if (key == "prototype") {
                Result<PrototypeMode> mode = parse_prototype_mode(value);
                if (!mode.ok()) return bad(mode.status().message());
                spec.prototype = mode.value();
            } else if (key == "diversity") {
                MONA_TRY(spec.diversity, parse_number(text, key, value, 0.0, false, 1e9, "a number >= 0"));
            } else if (key == "length-strata") {
                MONA_TRY(const double b,
                         parse_number(text, key, value, 1.0, false, 1'000'000.0, "an integer in [1, 1000000]"));
                if (b != std::floor(b)) return bad(fmt::format("length-strata must be an integer, got '{}'", value));
                spec.length_strata = static_cast<uint32_t>(b);
            } else if (key == "dedup") {
                MONA_TRY(spec.dedup, parse_number(text, key, value, 0.0, true, 1.0, "a number in (0, 1]"));
            } else {
                MONA_TRY(const double c, parse_number(text, key, value, 1.0, false, 1000.0, "an integer in [1, 1000]"));
                if (c != std::floor(c)) return bad(fmt::format("candidates must be an integer, got '{}'", value));
                spec.candidates = static_cast<uint32_t>(c);
            }
        } else {
            return bad(
                fmt::format("unknown option '{}': expected {}", key,
                            sparse ? "layer=L, k=K, pooling=mean|sum, prototype=mean|contrast:BETA, length-strata=B, "
                                     "diversity=LAMBDA, candidates=C or dedup=T"
                                   : "layer=L, k=K or pooling=mean|sum"));
        }
        if (next == std::string_view::npos) break;
        rest = rest.substr(next + 1);
    }
    // Canonical name: the method, then the options given, in the order layer, k, pooling, then the rules beyond
    // the paper when they differ from the paper's (candidates only when some rule uses them).
    if (has_layer) spec.name += fmt::format(":layer={}", spec.layer);
    if (has_k) spec.name += fmt::format(":k={}", spec.k);
    if (has_pooling) spec.name += fmt::format(":pooling={}", pooling_mode_name(*spec.pooling));
    if (!spec.prototype.is_mean()) spec.name += ":prototype=" + prototype_mode_name(spec.prototype);
    if (spec.length_strata > 0) spec.name += fmt::format(":length-strata={}", spec.length_strata);
    if (spec.diversity > 0.0) spec.name += fmt::format(":diversity={:g}", spec.diversity);
    if (spec.reranks() && spec.candidates != 4) spec.name += fmt::format(":candidates={}", spec.candidates);
    if (spec.dedup > 0.0) spec.name += fmt::format(":dedup={:g}", spec.dedup);
    return spec;
}

EvalMethodSpec default_method_spec(const EvalMethodDef& method) {
    EvalMethodSpec spec;
    spec.method = &method;
    spec.name = method.name;
    return spec;
}

std::vector<EvalMethodSpec> default_method_specs() {
    std::vector<EvalMethodSpec> out;
    for (const EvalMethodDef& def : kEvalMethods) out.push_back(default_method_spec(def));
    return out;
}

}  // namespace mona
