#include "eval/eval.hpp"
#include "select/run_support.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

#include "io/atomic_file.hpp"
#include "io/sample_reader.hpp"
#include "sae/gate_codes.hpp"
#include "score/bm25.hpp"
#include "score/jaccard.hpp"
#include "score/metrics.hpp"
#include "score/topn.hpp"
#include "util/sha256.hpp"

#ifndef MONA_LLAMA_VERSION
#define MONA_LLAMA_VERSION "unknown"
#endif

namespace mona {
namespace {

using namespace detail;

struct PoolRow {
    uint64_t record_idx = 0;
    uint64_t line_no = 0;
    std::string id;
    std::string task;
    int64_t n_tokens = 0;
    bool truncated = false;
};

bool has_method(const std::vector<EvalMethod>& methods, EvalMethod m) {
    return std::find(methods.begin(), methods.end(), m) != methods.end();
}

// Mean of rows [begin, end) of `rows` [n_tokens, d], in double; the zero vector for an empty range.
std::vector<double> mean_rows(const std::vector<float>& rows, int64_t d, int64_t begin, int64_t end) {
    std::vector<double> out(static_cast<size_t>(d), 0.0);
    for (int64_t row = begin; row < end; ++row) {
        const float* x = rows.data() + row * d;
        for (int64_t col = 0; col < d; ++col) out[col] += x[col];
    }
    if (end > begin) {
        for (double& v : out) v /= static_cast<double>(end - begin);
    }
    return out;
}

double l2_norm(const std::vector<double>& v) {
    double sum = 0.0;
    for (double x : v) sum += x * x;
    return std::sqrt(sum);
}

// Σ a_k b_k / (‖a‖ ‖b‖); 0 when either norm is 0 (the convention of score/jaccard.hpp cosine()).
double dense_cosine(const std::vector<double>& a, const std::vector<double>& b, double b_norm) {
    const double a_norm = l2_norm(a);
    if (a_norm == 0.0 || b_norm == 0.0) return 0.0;
    double dot = 0.0;
    for (size_t k = 0; k < a.size(); ++k) dot += a[k] * b[k];
    return dot / (a_norm * b_norm);
}

// Value of `vec` at `latent`, 0 when not stored.
double value_at(const SparseVec& vec, uint32_t latent) {
    auto it = std::lower_bound(vec.idx.begin(), vec.idx.end(), latent);
    return it != vec.idx.end() && *it == latent ? vec.val[static_cast<size_t>(it - vec.idx.begin())] : 0.0;
}

// The n latents with the largest prototype values (> 0), largest first, ties by lower latent.
std::vector<uint32_t> top_latents(const Prototype& proto, size_t n) {
    std::vector<double> values(proto.dense.begin(), proto.dense.end());
    std::vector<uint32_t> out;
    for (uint64_t latent : top_n(values, n)) {
        if (values[latent] > 0.0) out.push_back(static_cast<uint32_t>(latent));
    }
    return out;
}

enum class RepKind { kSae, kRaw, kPoly };

// A per-sample representation some method scores: pooled SAE codes, the mean raw residual row, or pooled TopK
// gate activations, with where its rows come from in the shared capture.
struct Representation {
    RepKind kind = RepKind::kSae;
    int32_t layer = 0;
    int32_t k = 0;
    PoolingMode pooling = PoolingMode::kMean;
    std::string tensor;
    int64_t width = 0;       // kRaw: d_in; kPoly: n_ff (learnt from the first capture)
    bool main = false;       // kSae: equals the Embedder's own pooled vector
    int32_t extra_idx = -1;  // index into EmbedOptions::extra_tensors; -1 = the Embedder's layer rows

    bool same_as(const Representation& o) const {
        return kind == o.kind && layer == o.layer && k == o.k && pooling == o.pooling;
    }
};

struct ResolvedMethod {
    std::string name;
    EvalMethod method = EvalMethod::kMona;
    int32_t layer = -1;
    int32_t k = 0;
    PoolingMode pooling = PoolingMode::kMean;
    std::string tensor;
};

}  // namespace

Result<EvalMethod> parse_eval_method(std::string_view name) {
    if (name == "mona") return EvalMethod::kMona;
    if (name == "sae-cosine") return EvalMethod::kSaeCosine;
    if (name == "raw-cosine") return EvalMethod::kRawCosine;
    if (name == "bm25") return EvalMethod::kBm25;
    if (name == "random") return EvalMethod::kRandom;
    if (name == "poly-jaccard") return EvalMethod::kPolyJaccard;
    return invalid_input(fmt::format(
        "unknown method '{}': expected mona, sae-cosine, raw-cosine, poly-jaccard, bm25 or random",
        name));
}

Result<EvalMethodSpec> parse_eval_method_spec(std::string_view text) {
    const size_t colon = text.find(':');
    MONA_TRY(EvalMethod method, parse_eval_method(text.substr(0, colon)));
    EvalMethodSpec spec = default_method_spec(method);
    std::string_view rest = colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
    bool has_layer = false, has_k = false, has_pooling = false;
    while (colon != std::string_view::npos) {
        const size_t next = rest.find(':');
        const std::string_view option = rest.substr(0, next);
        const size_t eq = option.find('=');
        const std::string_view key = option.substr(0, eq);
        const std::string value(eq == std::string_view::npos ? std::string_view() : option.substr(eq + 1));
        auto bad = [&](const std::string& why) {
            return invalid_input(fmt::format("method '{}': {}", text, why));
        };
        if (eq == std::string_view::npos || value.empty()) return bad(fmt::format("option '{}' is not KEY=VALUE", option));
        const bool sae_or_poly = method == EvalMethod::kMona || method == EvalMethod::kSaeCosine ||
                                 method == EvalMethod::kPolyJaccard;
        if (key == "layer" || key == "k") {
            if (method == EvalMethod::kBm25 || method == EvalMethod::kRandom) {
                return bad(fmt::format("{} takes no {} option", eval_method_name(method), key));
            }
            if (key == "k" && !sae_or_poly) return bad("raw-cosine takes no k option");
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
            if (!sae_or_poly) return bad(fmt::format("{} takes no pooling option", eval_method_name(method)));
            if (has_pooling) return bad("pooling given twice");
            MONA_TRY(PoolingMode pooling, parse_pooling_mode(value));
            spec.pooling = pooling;
            has_pooling = true;
        } else {
            return bad(fmt::format("unknown option '{}': expected layer=L, k=K or pooling=mean|sum", key));
        }
        if (next == std::string_view::npos) break;
        rest = rest.substr(next + 1);
    }
    // Canonical name: the method, then the options given, in the order layer, k, pooling.
    spec.name = eval_method_name(method);
    if (has_layer) spec.name += fmt::format(":layer={}", spec.layer);
    if (has_k) spec.name += fmt::format(":k={}", spec.k);
    if (has_pooling) spec.name += fmt::format(":pooling={}", pooling_mode_name(*spec.pooling));
    return spec;
}

EvalMethodSpec default_method_spec(EvalMethod method) {
    EvalMethodSpec spec;
    spec.method = method;
    spec.name = eval_method_name(method);
    return spec;
}


const char* eval_method_name(EvalMethod method) {
    switch (method) {
        case EvalMethod::kMona: return "mona";
        case EvalMethod::kSaeCosine: return "sae-cosine";
        case EvalMethod::kRawCosine: return "raw-cosine";
        case EvalMethod::kBm25: return "bm25";
        case EvalMethod::kRandom: return "random";
        case EvalMethod::kPolyJaccard: return "poly-jaccard";
    }
    return "?";
}

std::vector<EvalMethod> default_eval_methods() {
    return {EvalMethod::kMona, EvalMethod::kSaeCosine, EvalMethod::kRawCosine, EvalMethod::kPolyJaccard,
            EvalMethod::kBm25, EvalMethod::kRandom};
}

std::string sample_plain_text(const Sample& sample) {
    if (sample.turns.empty()) return sample.text;
    std::string out;
    for (const Turn& turn : sample.turns) {
        if (turn.role == Role::kSystem) continue;
        if (!out.empty()) out += '\n';
        out += turn.content;
    }
    return out;
}

Result<EvalSummary> run_eval(const EvalConfig& eval_config) {
    const auto t_start = Clock::now();
    const SelectConfig& config = eval_config.select;
    EvalSummary summary;

    // Methods: parsed and de-duplicated (by canonical name) before anything is loaded.
    std::vector<EvalMethodSpec> specs;
    if (eval_config.methods.empty()) {
        for (EvalMethod m : default_eval_methods()) specs.push_back(default_method_spec(m));
    }
    for (const EvalMethodSpec& spec : eval_config.methods) {
        bool seen = false;
        for (const EvalMethodSpec& have : specs) seen = seen || have.name == spec.name;
        if (!seen) specs.push_back(spec);
    }
    std::vector<EvalMethod> methods;
    for (const EvalMethodSpec& spec : specs) {
        methods.push_back(spec.method);
        summary.methods.push_back(spec.name);
    }
    const bool run_model = std::any_of(methods.begin(), methods.end(), [](EvalMethod m) {
        return m != EvalMethod::kBm25 && m != EvalMethod::kRandom;
    });
    const bool run_bm25 = has_method(methods, EvalMethod::kBm25);

    MONA_RETURN_IF_ERROR(check_select_config(config));
    if (eval_config.n_latents < 0 || eval_config.n_latent_samples < 0) {
        return invalid_input("the number of latents and of samples per latent must be >= 0");
    }
    MONA_TRY(RunFolderLock out_lock, RunFolderLock::acquire(config.out_dir));
    MONA_TRY(const FileStamp pool_stamp, FileStamp::of(config.pool_path));

    SessionOptions sopts;
    sopts.model_path = config.model_path;
    sopts.n_threads = config.threads;
    sopts.batch_tokens = config.batch_tokens;
    sopts.max_tokens = config.max_tokens;
    sopts.template_name = config.template_name;
    sopts.cpu_repack = config.cpu_repack;
    sopts.system_prompt = config.system_prompt;
    sopts.verbose = config.verbose;
    std::optional<SaeModel> sae;
    if (run_model) {
        MONA_TRY(SaeModel opened, SaeModel::open({config.sae_path}));
        sae.emplace(std::move(opened));
    }
    MONA_TRY(Session session, Session::open(sopts));
    const ModelInfo& model_info = session.info();
    const int32_t n_layer = model_info.n_layer;
    auto check_sae_k = [&](int32_t k, const std::string& what) -> Status {
        if (k < 0 || (k > 0 && sae->info().k == 0)) {
            return invalid_input(fmt::format("{} k {} needs a TopK SAE with k >= 1; SAE {} is {}", what, k,
                                             sae->info().path, sae->info().architecture));
        }
        if (k > sae->info().d_sae) {
            return invalid_input(fmt::format("{} k {} is larger than the SAE width {}", what, k, sae->info().d_sae));
        }
        return Status();
    };
    if (run_model) {
        MONA_TRY(summary.layer, resolve_layer(config.layer, model_info, sae->info()));
        MONA_RETURN_IF_ERROR(check_sae_k(config.k, "--k"));
    }
    const int64_t d_sae = run_model ? sae->info().d_sae : 0;
    const int64_t d_in = model_info.n_embd;
    const int32_t main_k = run_model ? (config.k > 0 ? config.k : sae->info().k) : 0;

    // Representations: what a method scores, computed once per sample and shared by the methods that use it.
    EmbedOptions eopts;
    eopts.layer = summary.layer;
    eopts.k_override = config.k;
    eopts.token_mode = config.token_mode;
    eopts.pooling = config.pooling;
    std::vector<Representation> reps;
    std::vector<size_t> rep_of(specs.size(), SIZE_MAX);
    std::vector<ResolvedMethod> resolved(specs.size());
    for (size_t method_idx = 0; method_idx < specs.size(); ++method_idx) {
        const EvalMethodSpec& spec = specs[method_idx];
        ResolvedMethod& r = resolved[method_idx];
        r.name = spec.name;
        r.method = spec.method;
        if (spec.method == EvalMethod::kBm25 || spec.method == EvalMethod::kRandom) continue;
        Representation rep;
        rep.layer = spec.layer >= 0 ? spec.layer : summary.layer;
        rep.pooling = spec.pooling.value_or(config.pooling);
        switch (spec.method) {
            case EvalMethod::kMona:
            case EvalMethod::kSaeCosine:
                rep.kind = RepKind::kSae;
                if (rep.layer != summary.layer) {
                    return invalid_input(fmt::format(
                        "--method {}: the SAE {} reads layer {}; SAE features at layer {} need an SAE trained there "
                        "(raw-cosine and poly-jaccard take any layer)",
                        spec.name, sae->info().path, summary.layer, rep.layer));
                }
                MONA_RETURN_IF_ERROR(check_sae_k(spec.k, "--method " + spec.name + ":"));
                rep.k = spec.k > 0 ? spec.k : main_k;
                rep.tensor = layer_tensor_name(rep.layer, n_layer, config.model_path).value();
                break;
            case EvalMethod::kRawCosine: {
                rep.kind = RepKind::kRaw;
                rep.pooling = PoolingMode::kMean;
                MONA_TRY(rep.tensor, layer_tensor_name(rep.layer, n_layer, config.model_path));
                rep.width = d_in;
                break;
            }
            case EvalMethod::kPolyJaccard: {
                rep.kind = RepKind::kPoly;
                MONA_TRY(rep.tensor, ffn_gate_tensor_name(rep.layer, n_layer, config.model_path));
                if (spec.k < 0) return invalid_input(fmt::format("--method {}: k must be >= 1", spec.name));
                rep.k = spec.k > 0 ? spec.k : main_k;
                if (rep.k < 1) {
                    return invalid_input(fmt::format("--method {}: the SAE {} has no TopK k to copy; give one, e.g. "
                                                     "poly-jaccard:k=32",
                                                     spec.name, sae->info().path));
                }
                break;
            }
            default: break;
        }
        r.layer = rep.layer;
        r.k = rep.kind == RepKind::kRaw ? 0 : rep.k;
        r.pooling = rep.pooling;
        r.tensor = rep.tensor;
        size_t found = SIZE_MAX;
        for (size_t rep_idx = 0; rep_idx < reps.size(); ++rep_idx) {
            if (reps[rep_idx].same_as(rep)) found = rep_idx;
        }
        if (found == SIZE_MAX) {
            // Where the rows come from: the Embedder's own layer rows, or an extra tensor of the same pass.
            if (rep.kind == RepKind::kSae) {
                rep.main = rep.k == main_k && rep.pooling == config.pooling;
                eopts.keep_rows = eopts.keep_rows || !rep.main;
            } else if (rep.kind == RepKind::kRaw && rep.layer == summary.layer) {
                eopts.keep_rows = true;
            } else {
                auto it = std::find(eopts.extra_tensors.begin(), eopts.extra_tensors.end(), rep.tensor);
                rep.extra_idx = static_cast<int32_t>(it - eopts.extra_tensors.begin());
                if (it == eopts.extra_tensors.end()) eopts.extra_tensors.push_back(rep.tensor);
            }
            found = reps.size();
            reps.push_back(rep);
        }
        rep_of[method_idx] = found;
    }
    const size_t n_reps = reps.size();
    size_t latent_rep = SIZE_MAX;  // the representation whose prototype latents the report explains: first `mona`
    for (size_t method_idx = 0; method_idx < specs.size() && latent_rep == SIZE_MAX; ++method_idx) {
        if (specs[method_idx].method == EvalMethod::kMona) latent_rep = rep_of[method_idx];
    }

    // Per-sample vectors of every representation. SAE codes at another k or pooling are re-encoded from the rows;
    // gate rows become TopK(SiLU(.)) codes; widths of gate tensors are learnt from the first capture.
    std::vector<std::optional<Pooler>> poolers(n_reps);
    SparseCodes scratch_codes;
    auto compute_reps = [&](EmbeddedSample& item, std::vector<SparseVec>& sparse,
                            std::vector<std::vector<double>>& dense) -> Status {
        const auto [begin, end] = pooled_rows(item.tokens, config.token_mode);
        for (size_t rep_idx = 0; rep_idx < n_reps; ++rep_idx) {
            Representation& rep = reps[rep_idx];
            switch (rep.kind) {
                case RepKind::kSae:
                    if (rep.main) {
                        sparse[rep_idx] = item.pooled;
                    } else {
                        if (!poolers[rep_idx]) poolers[rep_idx].emplace(d_sae);
                        scratch_codes.clear();
                        sae->encode(item.rows.data() + begin * d_in, end - begin, scratch_codes, rep.k);
                        sparse[rep_idx] = poolers[rep_idx]->pool(scratch_codes, 0, end - begin, rep.pooling);
                    }
                    break;
                case RepKind::kRaw:
                    dense[rep_idx] = rep.extra_idx < 0 ? mean_rows(item.rows, d_in, begin, end)
                                                       : mean_rows(item.extra[rep.extra_idx], d_in, begin, end);
                    break;
                case RepKind::kPoly: {
                    const int64_t width = item.extra_width[rep.extra_idx];
                    if (rep.width == 0) {
                        if (rep.k > width) {
                            return invalid_input(fmt::format("poly-jaccard k {} is larger than the MLP width {} of {}",
                                                             rep.k, width, rep.tensor));
                        }
                        rep.width = width;
                    }
                    if (!poolers[rep_idx]) poolers[rep_idx].emplace(rep.width);
                    scratch_codes.clear();
                    gate_topk_codes(item.extra[rep.extra_idx].data() + begin * width, end - begin, width, rep.k,
                                    scratch_codes);
                    sparse[rep_idx] = poolers[rep_idx]->pool(scratch_codes, 0, end - begin, rep.pooling);
                    break;
                }
            }
        }
        item.rows = {};
        item.codes = {};
        item.extra = {};
        return Status();
    };
    std::vector<SkipRow> skipped;

    // 1. Targets: prototypes of every representation, exemplar texts (BM25), lengths.
    const size_t n_targets = config.targets.size();
    std::vector<std::vector<Prototype>> prototypes(n_targets, std::vector<Prototype>(n_reps));
    std::vector<std::vector<std::vector<double>>> target_dense(n_targets, std::vector<std::vector<double>>(n_reps));
    std::vector<std::vector<double>> target_dense_norm(n_targets, std::vector<double>(n_reps, 0.0));
    std::vector<std::vector<std::string>> target_texts(n_targets);
    std::vector<std::vector<uint64_t>> target_lengths(n_targets);
    std::vector<std::vector<uint32_t>> latents(n_targets);
    const auto t_targets = Clock::now();
    for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
        const TargetSpec& target = config.targets[target_idx];
        std::vector<std::vector<SparseVec>> vecs(n_reps);
        std::vector<std::vector<double>> dense_sum(n_reps);
        int64_t n_embedded = 0;
        std::optional<Embedder> embedder;
        if (run_model) {
            embedder.emplace(session, *sae, eopts, [&](EmbeddedSample& item) -> Status {
                std::vector<SparseVec> sparse(n_reps);
                std::vector<std::vector<double>> dense(n_reps);
                MONA_RETURN_IF_ERROR(compute_reps(item, sparse, dense));
                for (size_t rep_idx = 0; rep_idx < n_reps; ++rep_idx) {
                    if (reps[rep_idx].kind == RepKind::kRaw) {
                        if (dense_sum[rep_idx].empty()) dense_sum[rep_idx].assign(dense[rep_idx].size(), 0.0);
                        for (size_t col = 0; col < dense[rep_idx].size(); ++col) dense_sum[rep_idx][col] += dense[rep_idx][col];
                    } else {
                        vecs[rep_idx].push_back(std::move(sparse[rep_idx]));
                    }
                }
                ++n_embedded;
                return Status();
            });
        }
        const size_t skipped_before = skipped.size();
        MONA_RETURN_IF_ERROR(stream_samples(
            target.path, config, session, skipped, [&](const Sample& sample, TokenizedSample tokens) -> Status {
                target_lengths[target_idx].push_back(tokens.tokens.size());
                target_texts[target_idx].push_back(sample_plain_text(sample));
                if (!embedder) return Status();
                return embedder->add(target_lengths[target_idx].size() - 1, std::move(tokens));
            }));
        if (embedder) MONA_RETURN_IF_ERROR(embedder->flush());
        summary.n_target_skipped += static_cast<int64_t>(skipped.size() - skipped_before);
        if (target_lengths[target_idx].empty()) {
            return invalid_input(fmt::format("target '{}': {} holds no usable exemplar", target.name, target.path));
        }
        for (size_t rep_idx = 0; rep_idx < n_reps; ++rep_idx) {
            if (reps[rep_idx].kind == RepKind::kRaw) {
                std::vector<double>& mean = dense_sum[rep_idx];
                for (double& v : mean) v /= static_cast<double>(n_embedded);
                target_dense_norm[target_idx][rep_idx] = l2_norm(mean);
                target_dense[target_idx][rep_idx] = std::move(mean);
            } else {
                const int64_t width = reps[rep_idx].kind == RepKind::kSae ? d_sae : reps[rep_idx].width;
                prototypes[target_idx][rep_idx] = make_prototype(vecs[rep_idx], width);
            }
        }
        if (latent_rep != SIZE_MAX) {
            latents[target_idx] =
                top_latents(prototypes[target_idx][latent_rep], static_cast<size_t>(eval_config.n_latents));
        }
    }
    const double seconds_targets = seconds_since(t_targets);

    // 2. Pool: one streaming pass shared by every method and target.
    const auto t_pool = Clock::now();
    const size_t n_methods = methods.size();
    std::vector<PoolRow> rows;
    // scores[method][target][pos] for the scoring methods computed while streaming.
    std::vector<std::vector<std::vector<double>>> scores(n_methods, std::vector<std::vector<double>>(n_targets));
    std::vector<std::vector<TopNHeap>> latent_heaps(n_targets);
    for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
        for (size_t slot = 0; slot < latents[target_idx].size(); ++slot)
            latent_heaps[target_idx].emplace_back(static_cast<size_t>(eval_config.n_latent_samples));
    }
    std::optional<Bm25Index> bm25;
    if (run_bm25) {
        MONA_TRY(Bm25Index index, Bm25Index::create());
        bm25.emplace(std::move(index));
    }
    Progress progress(config.progress, "pool");
    std::optional<Embedder> embedder;
    if (run_model) {
        embedder.emplace(session, *sae, eopts, [&](EmbeddedSample& item) -> Status {
            const uint64_t pos = item.tag;
            std::vector<SparseVec> sparse(n_reps);
            std::vector<std::vector<double>> dense(n_reps);
            MONA_RETURN_IF_ERROR(compute_reps(item, sparse, dense));
            for (size_t method_idx = 0; method_idx < n_methods; ++method_idx) {
                const size_t rep_idx = rep_of[method_idx];
                if (rep_idx == SIZE_MAX) continue;
                for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
                    double& slot = scores[method_idx][target_idx][pos];
                    const Prototype& proto = prototypes[target_idx][rep_idx];
                    switch (methods[method_idx]) {
                        case EvalMethod::kMona:
                        case EvalMethod::kPolyJaccard: slot = jaccard(sparse[rep_idx], proto); break;
                        case EvalMethod::kSaeCosine: slot = cosine(sparse[rep_idx], proto); break;
                        case EvalMethod::kRawCosine:
                            slot = dense_cosine(dense[rep_idx], target_dense[target_idx][rep_idx],
                                                target_dense_norm[target_idx][rep_idx]);
                            break;
                        default: break;
                    }
                }
            }
            if (latent_rep != SIZE_MAX) {
                for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
                    for (size_t slot = 0; slot < latents[target_idx].size(); ++slot) {
                        const double v = value_at(sparse[latent_rep], latents[target_idx][slot]);
                        if (v > 0.0) latent_heaps[target_idx][slot].push(pos, v);
                    }
                }
            }
            return Status();
        });
    }
    uint64_t n_tokens_seen = 0;
    const size_t pool_skipped_before = skipped.size();
    MONA_RETURN_IF_ERROR(stream_samples(
        config.pool_path, config, session, skipped, [&](const Sample& sample, TokenizedSample tokens) -> Status {
            PoolRow row;
            row.record_idx = sample.record_idx;
            row.line_no = sample.line_no;
            row.id = sample.id;
            row.task = sample.task;
            row.n_tokens = static_cast<int64_t>(tokens.tokens.size());
            row.truncated = tokens.truncated;
            summary.n_pool_truncated += tokens.truncated;
            summary.n_pool_tokens += row.n_tokens;
            n_tokens_seen += static_cast<uint64_t>(row.n_tokens);
            rows.push_back(std::move(row));
            for (size_t method_idx = 0; method_idx < n_methods; ++method_idx) {
                if (rep_of[method_idx] == SIZE_MAX) continue;
                for (auto& s : scores[method_idx]) s.push_back(0.0);
            }
            if (bm25) MONA_RETURN_IF_ERROR(bm25->add_document(sample_plain_text(sample)));
            if (embedder) MONA_RETURN_IF_ERROR(embedder->add(rows.size() - 1, std::move(tokens)));
            progress.update(static_cast<int64_t>(rows.size()), embedder ? embedder->n_tokens_run() : n_tokens_seen);
            return Status();
        }));
    if (embedder) MONA_RETURN_IF_ERROR(embedder->flush());
    progress.update(static_cast<int64_t>(rows.size()), embedder ? embedder->n_tokens_run() : n_tokens_seen, true);
    summary.n_pool_read = static_cast<int64_t>(rows.size());
    summary.n_pool_skipped = static_cast<int64_t>(skipped.size() - pool_skipped_before);
    if (rows.empty()) return invalid_input(fmt::format("pool {} holds no usable sample", config.pool_path));
    const double seconds_pool = seconds_since(t_pool);

    // 3. Scores that need the whole pool, selections.
    const auto t_write = Clock::now();
    const uint64_t n_pool = rows.size();
    int64_t n_select = config.count > 0 ? config.count : std::llround(config.ratio * static_cast<double>(n_pool));
    n_select = std::clamp<int64_t>(n_select, 1, static_cast<int64_t>(n_pool));
    summary.n_select = n_select;

    EvalInput in;
    in.methods = summary.methods;
    in.n_select = static_cast<uint64_t>(n_select);
    for (const PoolRow& row : rows) {
        in.pool_labels.push_back(row.task);
        in.pool_token_counts.push_back(static_cast<uint64_t>(row.n_tokens));
        in.pool_records.push_back(row.record_idx);
        in.pool_ids.push_back(row.id);
    }
    const std::vector<uint64_t> random = metrics::random_selection(n_pool, in.n_select, eval_config.seed);
    for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
        EvalTargetInput t;
        t.name = config.targets[target_idx].name;
        t.token_counts = target_lengths[target_idx];
        for (size_t method_idx = 0; method_idx < n_methods; ++method_idx) {
            EvalMethodRun run;
            switch (methods[method_idx]) {
                case EvalMethod::kRandom: run.selected = random; break;
                case EvalMethod::kBm25:
                    run.scores = bm25->score_target_set(target_texts[target_idx], Bm25Aggregation::kPrototype);
                    break;
                default: run.scores = std::move(scores[method_idx][target_idx]); break;
            }
            if (!run.scores.empty()) run.selected = top_n(run.scores, in.n_select);
            t.runs.push_back(std::move(run));
        }
        for (size_t slot = 0; slot < latents[target_idx].size(); ++slot) {
            EvalLatent latent;
            latent.latent = latents[target_idx][slot];
            const Prototype& proto = prototypes[target_idx][latent_rep];
            latent.value = proto.dense[latent.latent];
            latent.share = proto.l1 > 0 ? latent.value / proto.l1 : 0.0;
            for (const auto& [pos, value] : latent_heaps[target_idx][slot].sorted()) latent.top.push_back({pos, value});
            t.latents.push_back(std::move(latent));
        }
        in.targets.push_back(std::move(t));
    }

    // Second read of the pool: texts and snippets of the samples some selection or latent list shows.
    {
        std::unordered_map<uint64_t, uint64_t> pos_by_record;
        for (const EvalTargetInput& t : in.targets) {
            for (const EvalMethodRun& run : t.runs) {
                for (uint64_t pos : run.selected) pos_by_record.emplace(rows[pos].record_idx, pos);
            }
            for (const EvalLatent& l : t.latents) {
                for (const EvalLatentSample& s : l.top) pos_by_record.emplace(rows[s.position].record_idx, s.position);
            }
        }
        MONA_TRY(RecordReader reader, RecordReader::open(config.pool_path));
        RawRecord record;
        while (true) {
            MONA_TRY(bool more, reader.next(record));
            if (!more) break;
            auto it = pos_by_record.find(record.record_idx);
            if (it == pos_by_record.end()) continue;
            Result<Sample> sample =
                parse_sample(record.bytes, config.format, {config.pool_path, record.line_no, record.record_idx});
            if (!sample.ok()) {
                return io_error(
                    fmt::format("pool {} changed during the run: {}", config.pool_path, sample.status().message()));
            }
            in.texts.emplace_back(it->second, sample_plain_text(sample.value()));
            in.snippets.emplace_back(it->second, snippet_of(sample.value()));
            pos_by_record.erase(it);
        }
        if (!pos_by_record.empty()) {
            return io_error(fmt::format("pool {} changed during the run: record {} is gone", config.pool_path,
                                        pos_by_record.begin()->first));
        }
        std::sort(in.texts.begin(), in.texts.end());
        std::sort(in.snippets.begin(), in.snippets.end());
    }

    // Configuration, recorded exactly.
    nlohmann::json cfg;
    const ModelInfo& mi = session.info();
    MONA_TRY(std::string model_sha, sha256_file(config.model_path));
    cfg["model"] = {{"path", config.model_path}, {"sha256", model_sha},   {"arch", mi.arch},
                    {"name", mi.name},           {"n_layer", mi.n_layer}, {"n_embd", mi.n_embd}};
    if (run_model) {
        const SaeInfo& si = sae->info();
        MONA_TRY(std::string sae_sha, sha256_file(si.weights_file));
        cfg["sae"] = {{"path", si.path},
                      {"weights_file", si.weights_file},
                      {"sha256", sae_sha},
                      {"format", si.format},
                      {"architecture", si.architecture},
                      {"d_in", si.d_in},
                      {"d_sae", si.d_sae},
                      {"k", si.k},
                      {"hook", si.hook}};
    } else {
        cfg["sae"] = nullptr;
    }
    MONA_TRY(std::string pool_sha, sha256_file(config.pool_path));
    cfg["pool"] = {{"path", config.pool_path},
                   {"sha256", pool_sha},
                   {"read", summary.n_pool_read},
                   {"skipped", summary.n_pool_skipped},
                   {"truncated", summary.n_pool_truncated},
                   {"tokens", summary.n_pool_tokens}};
    nlohmann::json targets_cfg = nlohmann::json::array();
    for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
        MONA_TRY(std::string target_sha, sha256_file(config.targets[target_idx].path));
        targets_cfg.push_back({{"name", config.targets[target_idx].name},
                               {"path", config.targets[target_idx].path},
                               {"sha256", target_sha},
                               {"exemplars", target_lengths[target_idx].size()}});
    }
    cfg["targets"] = targets_cfg;
    cfg["targets_skipped"] = summary.n_target_skipped;
    cfg["methods"] = summary.methods;
    const int32_t k_used = main_k;
    nlohmann::json method_cfgs = nlohmann::json::array();
    for (size_t method_idx = 0; method_idx < n_methods; ++method_idx) {
        const ResolvedMethod& r = resolved[method_idx];
        nlohmann::json m = {{"name", r.name}, {"method", eval_method_name(r.method)}};
        if (rep_of[method_idx] != SIZE_MAX) {
            m["layer"] = r.layer;
            m["llama_tensor"] = r.tensor;
            m["k"] = r.k > 0 ? nlohmann::json(r.k) : nlohmann::json(nullptr);
            m["pooling"] = pooling_mode_name(r.pooling);
            if (r.method == EvalMethod::kPolyJaccard) m["mlp_width"] = reps[rep_of[method_idx]].width;
        }
        method_cfgs.push_back(m);
    }
    cfg["method_configs"] = method_cfgs;
    cfg["parameters"] = {
        {"layer", run_model ? nlohmann::json(summary.layer) : nlohmann::json(nullptr)},
        {"llama_tensor", run_model ? nlohmann::json(summary.layer == 0 ? std::string("embd")
                                                                       : fmt::format("l_out-{}", summary.layer - 1))
                                   : nlohmann::json(nullptr)},
        {"k", run_model ? nlohmann::json(k_used) : nlohmann::json(nullptr)},
        {"tokens", token_mode_name(config.token_mode)},
        {"pooling", pooling_mode_name(config.pooling)},
        {"format", input_format_name(config.format)},
        {"template", config.template_name},
        {"cpu_repack", config.cpu_repack},
        {"system_prompt", system_prompt_param(config.system_prompt)},
        {"max_tokens", config.max_tokens},
        {"batch_tokens", config.batch_tokens},
        {"threads", config.threads},
        {"ratio", config.count > 0 ? nlohmann::json(nullptr) : nlohmann::json(config.ratio)},
        {"count", n_select},
        {"seed", eval_config.seed},
        {"skip_bad", config.skip_bad},
        {"latents_per_target", eval_config.n_latents},
        {"samples_per_latent", eval_config.n_latent_samples}};
    cfg["method_definitions"] = {
        {"mona", "pooled SAE codes (--pooling, --k), generalized Jaccard vs the mean of the targets' vectors"},
        {"sae-cosine", "pooled SAE codes (--pooling, --k), cosine vs the same prototype"},
        {"raw-cosine",
         "mean of the raw residual rows over the pooled tokens at the same layer, cosine vs the mean of "
         "the targets' raw vectors"},
        {"poly-jaccard",
         "TopK(SiLU(W_gate x)) of the gated MLP of the block writing the layer (llama.cpp ffn_gate-(L-1), SiLU "
         "applied by mona), positive values of the k largest per token, pooled like mona, generalized Jaccard"},
        {"bm25",
         "Okapi BM25 (k1 1.2, b 0.75, Lucene IDF) of the user+assistant contents, prototype query: mean over "
         "exemplars of tf/|e|"},
        {"random", "uniform random selection without replacement, std::mt19937_64(seed), the same for every target"}};
    in.config = cfg;
    in.command_line = config.command_line;
    in.settings = {{"model", config.model_path},
                   {"pool", fmt::format("{} ({} samples)", config.pool_path, n_pool)},
                   {"methods", fmt::format("{}", fmt::join(summary.methods, ", "))},
                   {"selected per target", std::to_string(n_select)}};
    if (run_model) {
        const SaeInfo& si = sae->info();
        in.settings.push_back({"layer", fmt::format("{} (HF hidden_states; llama.cpp {})", summary.layer,
                                                    layer_tensor_name(summary.layer, mi.n_layer, "").value())});
        in.settings.push_back({"SAE", fmt::format("{} ({} {}, d_in {}, d_sae {}, k {})", si.path, si.format,
                                                  si.architecture, si.d_in, si.d_sae, k_used)});
        in.settings.push_back({"tokens", token_mode_name(config.token_mode)});
        in.settings.push_back({"pooling (SAE methods)", pooling_mode_name(config.pooling)});
    }
    if (has_method(methods, EvalMethod::kRandom)) in.settings.push_back({"seed", std::to_string(eval_config.seed)});
    if (run_bm25) in.settings.push_back({"bm25", "k1 1.2, b 0.75, prototype aggregation, user+assistant text"});

    const EvalResults results = compute_eval_results(in);

    // Outputs.
    MONA_TRY(OutputStage stage, OutputStage::create(config.out_dir));
    for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
        const EvalTargetInput& t = in.targets[target_idx];
        std::string tsv = "record\tid\tline\ttask\tn_tokens\ttruncated";
        std::vector<size_t> scored;
        for (size_t method_idx = 0; method_idx < n_methods; ++method_idx) {
            if (t.runs[method_idx].scores.empty()) continue;
            scored.push_back(method_idx);
            tsv += "\tscore_" + in.methods[method_idx];
        }
        tsv += '\n';
        for (uint64_t pos = 0; pos < n_pool; ++pos) {
            const PoolRow& row = rows[pos];
            tsv += fmt::format("{}\t{}\t{}\t{}\t{}\t{}", row.record_idx, tsv_field(row.id), row.line_no,
                               tsv_field(row.task), row.n_tokens, row.truncated ? 1 : 0);
            for (size_t method_idx : scored) tsv += fmt::format("\t{:.9g}", t.runs[method_idx].scores[pos]);
            tsv += '\n';
        }
        MONA_RETURN_IF_ERROR(stage.write(t.name + "/scores.tsv", tsv));

        std::string sel = "method\trank\tposition\trecord\tid\ttask\tscore\n";
        for (size_t method_idx = 0; method_idx < n_methods; ++method_idx) {
            const EvalMethodRun& run = t.runs[method_idx];
            for (size_t rank = 0; rank < run.selected.size(); ++rank) {
                const uint64_t pos = run.selected[rank];
                sel += fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{}\n", in.methods[method_idx], rank + 1, pos,
                                   rows[pos].record_idx, tsv_field(rows[pos].id), tsv_field(rows[pos].task),
                                   run.scores.empty() ? std::string() : fmt::format("{:.9g}", run.scores[pos]));
            }
        }
        MONA_RETURN_IF_ERROR(stage.write(t.name + "/selections.tsv", sel));
        summary.targets.push_back({t.name, static_cast<int64_t>(t.token_counts.size()), {}, {}});
        for (const EvalMethodMetrics& mm : results.targets[target_idx].methods) {
            summary.targets.back().precision.push_back(mm.pr.precision);
            summary.targets.back().recall.push_back(mm.pr.recall);
        }
    }
    if (config.skip_bad) {
        std::string tsv = "file\tline\trecord\terror\n";
        for (const auto& row : skipped) {
            tsv +=
                fmt::format("{}\t{}\t{}\t{}\n", tsv_field(row.path), row.line_no, row.record_idx, tsv_field(row.error));
        }
        MONA_RETURN_IF_ERROR(stage.write("skipped.tsv", tsv));
    }
    MONA_RETURN_IF_ERROR(stage.write("eval.md", render_eval_markdown(in, results)));
    MONA_RETURN_IF_ERROR(stage.write("report.html", render_eval_html(in, results)));
    summary.seconds_total = seconds_since(t_start);
    in.timings = {{"targets", seconds_targets},
                  {"pool", seconds_pool},
                  {"write", seconds_since(t_write)},
                  {"total", summary.seconds_total}};
    nlohmann::json out = render_eval_json(in, results);
    out["tool"]["llama_cpp"] = MONA_LLAMA_VERSION;
    MONA_RETURN_IF_ERROR(stage.write("eval.json", out.dump(2) + "\n"));
    MONA_RETURN_IF_ERROR(check_unchanged(config.pool_path, pool_stamp, "pool"));
    MONA_RETURN_IF_ERROR(stage.commit());
    return summary;
}

}  // namespace mona
