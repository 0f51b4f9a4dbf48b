#include "eval/eval.hpp"
#include "select/run_support.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

#include "io/atomic_file.hpp"
#include "io/sample_reader.hpp"
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

}  // namespace

Result<EvalMethod> parse_eval_method(std::string_view name) {
    if (name == "mona") return EvalMethod::kMona;
    if (name == "sae-cosine") return EvalMethod::kSaeCosine;
    if (name == "raw-cosine") return EvalMethod::kRawCosine;
    if (name == "bm25") return EvalMethod::kBm25;
    if (name == "random") return EvalMethod::kRandom;
    if (name == "poly-jaccard") return EvalMethod::kPolyJaccard;
    return invalid_input(fmt::format(
        "unknown method '{}': expected mona, sae-cosine, raw-cosine, bm25, random (poly-jaccard: not implemented yet)",
        name));
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
    return {EvalMethod::kMona, EvalMethod::kSaeCosine, EvalMethod::kRawCosine, EvalMethod::kBm25, EvalMethod::kRandom};
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

    // Methods: validated before anything is loaded.
    std::vector<EvalMethod> methods;
    for (EvalMethod m : eval_config.methods.empty() ? default_eval_methods() : eval_config.methods) {
        if (m == EvalMethod::kPolyJaccard) {
            return unsupported(
                "--method poly-jaccard is not implemented yet: it scores TopK(SiLU(W_gate x)) of the gated MLP, a "
                "second tensor the capture session does not capture yet; use mona, sae-cosine, raw-cosine, bm25 or "
                "random");
        }
        if (!has_method(methods, m)) methods.push_back(m);
    }
    for (EvalMethod m : methods) summary.methods.push_back(eval_method_name(m));
    const bool run_sae = has_method(methods, EvalMethod::kMona) || has_method(methods, EvalMethod::kSaeCosine);
    const bool run_raw = has_method(methods, EvalMethod::kRawCosine);
    const bool run_model = run_sae || run_raw;
    const bool run_bm25 = has_method(methods, EvalMethod::kBm25);

    MONA_RETURN_IF_ERROR(check_select_config(config));
    if (eval_config.n_latents < 0 || eval_config.n_latent_samples < 0) {
        return invalid_input("the number of latents and of samples per latent must be >= 0");
    }

    SessionOptions sopts;
    sopts.model_path = config.model_path;
    sopts.n_threads = config.threads;
    sopts.batch_tokens = config.batch_tokens;
    sopts.max_tokens = config.max_tokens;
    sopts.template_name = config.template_name;
    sopts.verbose = config.verbose;
    std::optional<SaeModel> sae;
    if (run_model) {
        MONA_TRY(SaeModel opened, SaeModel::open({config.sae_path}));
        sae.emplace(std::move(opened));
    }
    MONA_TRY(Session session, Session::open(sopts));
    if (run_model) {
        MONA_TRY(summary.layer, resolve_layer(config.layer, session.info(), sae->info()));
        if (config.k < 0 || (config.k > 0 && sae->info().k == 0)) {
            return invalid_input(fmt::format("--k {} needs a TopK SAE with k >= 1; SAE {} is {}", config.k,
                                             sae->info().path, sae->info().architecture));
        }
        if (config.k > sae->info().d_sae) {
            return invalid_input(fmt::format("--k {} is larger than the SAE width {}", config.k, sae->info().d_sae));
        }
    }
    const int64_t d_sae = run_model ? sae->info().d_sae : 0;
    const int64_t d_in = session.info().n_embd;

    EmbedOptions eopts;
    eopts.layer = summary.layer;
    eopts.k_override = config.k;
    eopts.token_mode = config.token_mode;
    eopts.pooling = config.pooling;
    eopts.keep_rows = run_raw;
    std::vector<SkipRow> skipped;

    // 1. Targets: prototypes (SAE), mean raw vectors, exemplar texts (BM25), lengths.
    const size_t n_targets = config.targets.size();
    std::vector<Prototype> prototypes(n_targets);
    std::vector<std::vector<double>> target_raw(n_targets);
    std::vector<double> target_raw_norm(n_targets, 0.0);
    std::vector<std::vector<std::string>> target_texts(n_targets);
    std::vector<std::vector<uint64_t>> target_lengths(n_targets);
    std::vector<std::vector<uint32_t>> latents(n_targets);
    const auto t_targets = Clock::now();
    for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
        const TargetSpec& target = config.targets[target_idx];
        std::vector<SparseVec> vecs;
        std::vector<double> raw_sum(run_raw ? static_cast<size_t>(d_in) : 0, 0.0);
        int64_t n_raw = 0;
        std::optional<Embedder> embedder;
        if (run_model) {
            embedder.emplace(session, *sae, eopts, [&](EmbeddedSample& item) -> Status {
                if (run_raw) {
                    const auto [begin, end] = pooled_rows(item.tokens, config.token_mode);
                    const std::vector<double> mean = mean_rows(item.rows, d_in, begin, end);
                    for (int64_t col = 0; col < d_in; ++col) raw_sum[col] += mean[col];
                    ++n_raw;
                    item.rows = {};
                }
                vecs.push_back(std::move(item.pooled));
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
        if (run_model) {
            prototypes[target_idx] = make_prototype(vecs, d_sae);
            if (has_method(methods, EvalMethod::kMona)) {
                latents[target_idx] = top_latents(prototypes[target_idx], static_cast<size_t>(eval_config.n_latents));
            }
        }
        if (run_raw) {
            for (double& v : raw_sum) v /= static_cast<double>(n_raw);
            target_raw_norm[target_idx] = l2_norm(raw_sum);
            target_raw[target_idx] = std::move(raw_sum);
        }
    }
    const double seconds_targets = seconds_since(t_targets);

    // 2. Pool: one streaming pass shared by every method and target.
    const auto t_pool = Clock::now();
    const size_t n_methods = methods.size();
    std::vector<PoolRow> rows;
    // scores[method][target][pos] for the scoring methods computed while streaming.
    std::vector<std::vector<std::vector<double>>> scores(n_methods, std::vector<std::vector<double>>(n_targets));
    std::vector<bool> streamed(n_methods, false);
    for (size_t method_idx = 0; method_idx < n_methods; ++method_idx) {
        const EvalMethod m = methods[method_idx];
        streamed[method_idx] = m == EvalMethod::kMona || m == EvalMethod::kSaeCosine || m == EvalMethod::kRawCosine;
    }
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
            std::vector<double> raw;
            if (run_raw) {
                const auto [begin, end] = pooled_rows(item.tokens, config.token_mode);
                raw = mean_rows(item.rows, d_in, begin, end);
                item.rows = {};
                item.codes = {};
            }
            for (size_t method_idx = 0; method_idx < n_methods; ++method_idx) {
                if (!streamed[method_idx]) continue;
                for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
                    double& slot = scores[method_idx][target_idx][pos];
                    switch (methods[method_idx]) {
                        case EvalMethod::kMona: slot = jaccard(item.pooled, prototypes[target_idx]); break;
                        case EvalMethod::kSaeCosine: slot = cosine(item.pooled, prototypes[target_idx]); break;
                        case EvalMethod::kRawCosine:
                            slot = dense_cosine(raw, target_raw[target_idx], target_raw_norm[target_idx]);
                            break;
                        default: break;
                    }
                }
            }
            for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
                for (size_t slot = 0; slot < latents[target_idx].size(); ++slot) {
                    const double v = value_at(item.pooled, latents[target_idx][slot]);
                    if (v > 0.0) latent_heaps[target_idx][slot].push(pos, v);
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
                if (!streamed[method_idx]) continue;
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
            latent.value = prototypes[target_idx].dense[latent.latent];
            latent.share = prototypes[target_idx].l1 > 0 ? latent.value / prototypes[target_idx].l1 : 0.0;
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
    const int32_t k_used = run_model ? (config.k > 0 ? config.k : sae->info().k) : 0;
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
    MONA_RETURN_IF_ERROR(stage.commit());
    return summary;
}

}  // namespace mona
