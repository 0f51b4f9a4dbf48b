// eval/eval.cpp: the `mona eval` job, in the steps run_eval() takes: resolve the methods, open the model,
// embed the targets, stream the pool once, select, re-read the shown samples, record the configuration, write.
// What a method is lives in eval/methods.cpp, its per-sample vectors in eval/representations.cpp, the metrics in
// eval/metrics.cpp and the renderings in report/eval_report.cpp. The rules beyond the paper (method options
// diversity, dedup, prototype, length-strata) are applied here after the pass, with score/diversity, score/dedup,
// score/prototype_mode and score/length_strata; --finetune's own work lives in eval/finetune.cpp, only the
// hand-over of the pass's state (finetune_inputs) is here. Over 600 lines because every step works on the pass's
// own structures (PoolPass, TargetData, the resolved representations); what can be computed without them already
// lives in the files above.
#include "eval/eval.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

#include "eval/finetune.hpp"
#include "eval/metrics.hpp"
#include "eval/representations.hpp"
#include "io/sample_reader.hpp"
#include "jobs/engine.hpp"
#include "jobs/manifest.hpp"
#include "jobs/run_support.hpp"
#include "jobs/why_latents.hpp"
#include "report/eval_report.hpp"
#include "score/bm25.hpp"
#include "score/dedup.hpp"
#include "score/diversity.hpp"
#include "score/length_strata.hpp"
#include "score/metrics.hpp"
#include "score/prototype_mode.hpp"
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

// The model, and the SAE when some method runs the model.
struct EvalEngine {
    Session session;
    std::optional<SaeModel> sae;
    int32_t layer = -1;  // resolved; -1 without an SAE
    int32_t k = 0;       // the k of the Embedder's own encode (--k or the SAE's); 0 without an SAE
};

// What the targets' exemplars give every method.
struct TargetData {
    std::vector<TargetRep> reps;     // [representation]
    std::vector<std::string> texts;  // exemplar texts (sample_plain_text), for whole-pool methods (BM25)
    std::vector<uint64_t> lengths;   // exemplar token counts
    std::vector<uint32_t> latents;   // the prototype latents the report explains
    std::vector<Sample> heldout;     // --finetune: held-back exemplars (at most n_eval), in none of the above
};

// What the one streaming pass over the pool collects.
struct PoolPass {
    std::vector<PoolRow> rows;
    std::vector<std::vector<std::vector<double>>> scores;  // [method][target][pos], streamed methods only
    std::vector<std::vector<TopNHeap>> latent_heaps;       // [target][latent slot]
    std::optional<Bm25Index> bm25;                         // when some method needs_bm25
    // [rep][pos]: the pooled vectors of the representations kept_reps() names (empty for the others)
    std::vector<std::vector<SparseVec>> vecs;
    std::vector<uint64_t> fingerprints;  // [pos] dedup_fingerprint(normalize_for_dedup()), when some method dedups
};

// The representations whose pool vectors the pass keeps: the explained one (coverage and pairwise Jaccard of every
// method's selection are measured on it) and every one a method reranks (MMR, dedup) or scores against a contrast
// prototype (which needs the pool mean before any score). Memory: about 8 bytes x nnz per pool sample each.
std::vector<bool> kept_reps(const RepresentationSet& reps) {
    std::vector<bool> keep(reps.size(), false);
    if (reps.latent_rep() < reps.size()) keep[reps.latent_rep()] = true;
    for (const ResolvedMethod& method : reps.methods()) {
        if (method.rep != SIZE_MAX && (method.spec.reranks() || !method.spec.prototype.is_mean())) {
            keep[method.rep] = true;
        }
    }
    return keep;
}

bool any_dedup(const RepresentationSet& reps) {
    const auto& m = reps.methods();
    return std::any_of(m.begin(), m.end(), [](const ResolvedMethod& method) { return method.spec.dedup > 0.0; });
}

// The methods asked for (all of them when none is), repeats (by canonical name) dropped.
std::vector<EvalMethodSpec> unique_specs(const EvalConfig& eval_config) {
    std::vector<EvalMethodSpec> specs;
    if (eval_config.methods.empty()) specs = default_method_specs();
    for (const EvalMethodSpec& spec : eval_config.methods) {
        bool seen = false;
        for (const EvalMethodSpec& have : specs) seen = seen || have.name == spec.name;
        if (!seen) specs.push_back(spec);
    }
    return specs;
}

template <class Pred>
bool any_method(const std::vector<EvalMethodSpec>& specs, Pred pred) {
    return std::any_of(specs.begin(), specs.end(), [&](const EvalMethodSpec& spec) { return pred(*spec.method); });
}

Result<EvalEngine> open_engine(const SelectConfig& config, bool run_model) {
    std::optional<SaeModel> sae;
    if (run_model) {
        MONA_TRY(SaeModel opened, SaeModel::open({config.sae_path}));
        sae.emplace(std::move(opened));
    }
    MONA_TRY(Session session, Session::open(session_options(config)));
    EvalEngine engine{std::move(session), std::move(sae)};
    if (run_model) {
        MONA_TRY(engine.layer, resolve_layer(config.layer, engine.session.info(), engine.sae->info()));
        MONA_RETURN_IF_ERROR(check_sae_k(*engine.sae, config.k, "--k"));
        engine.k = config.k > 0 ? config.k : engine.sae->info().k;
    }
    return engine;
}

// Starts `embedder` over the engine, delivering each sample's representations to `sink` (tag, vectors); leaves it
// empty without an SAE.
template <class Sink>
void start_embedder(std::optional<Embedder>& embedder, EvalEngine& engine, RepresentationSet& reps, Sink sink) {
    if (!engine.sae) return;
    embedder.emplace(engine.session, *engine.sae, reps.embed_options(), [&reps, sink](EmbeddedSample& item) -> Status {
        std::vector<RepVector> vecs;
        MONA_RETURN_IF_ERROR(reps.compute(item, vecs));
        return sink(item.tag, vecs);
    });
}

// One target: its exemplars' representations reduced to the target's (prototypes, dense means), texts, lengths.
Result<TargetData> embed_target(const TargetSpec& target, const EvalConfig& eval_config, EvalEngine& engine,
                                RepresentationSet& reps, std::vector<SkipRow>& skipped) {
    const SelectConfig& config = eval_config.select;
    const size_t n_reps = reps.size();
    TargetData out;
    out.reps.resize(n_reps);
    std::vector<std::vector<SparseVec>> vecs(n_reps);
    std::vector<std::vector<double>> dense_sum(n_reps);
    int64_t n_embedded = 0;
    std::optional<Embedder> embedder;
    start_embedder(embedder, engine, reps, [&](uint64_t, std::vector<RepVector>& sample) -> Status {
        for (size_t rep_idx = 0; rep_idx < n_reps; ++rep_idx) {
            if (reps[rep_idx].kind == RepKind::kRaw) {
                const std::vector<double>& dense = sample[rep_idx].dense;
                if (dense_sum[rep_idx].empty()) dense_sum[rep_idx].assign(dense.size(), 0.0);
                for (size_t col = 0; col < dense.size(); ++col) dense_sum[rep_idx][col] += dense[col];
            } else {
                vecs[rep_idx].push_back(std::move(sample[rep_idx].sparse));
            }
        }
        ++n_embedded;
        return Status();
    });
    const FinetuneOptions& finetune = eval_config.finetune;
    uint64_t n_usable = 0;
    MONA_RETURN_IF_ERROR(stream_samples(
        target.path, config, engine.session, skipped, [&](const Sample& sample, TokenizedSample tokens) -> Status {
            // --finetune: a held-back exemplar goes nowhere else.
            if (finetune.enabled && is_heldout_exemplar(n_usable++, finetune.heldout_every)) {
                if (out.heldout.size() < static_cast<size_t>(finetune.n_eval)) {
                    out.heldout.push_back(sample);
                }
                return Status();
            }
            out.lengths.push_back(tokens.tokens.size());
            out.texts.push_back(sample_plain_text(sample));
            if (!embedder) return Status();
            return embedder->add(out.lengths.size() - 1, std::move(tokens));
        }));
    if (embedder) MONA_RETURN_IF_ERROR(embedder->flush());
    if (out.lengths.empty()) {
        return invalid_input(fmt::format("target '{}': {} holds no usable exemplar", target.name, target.path));
    }
    if (finetune.enabled && out.heldout.empty()) {
        return invalid_input(
            fmt::format("target '{}': {} holds fewer than {} usable exemplars: --finetune holds every "
                        "{}th back for the loss (--finetune-heldout-every)",
                        target.name, target.path, finetune.heldout_every, finetune.heldout_every));
    }
    for (size_t rep_idx = 0; rep_idx < n_reps; ++rep_idx) {
        TargetRep& rep = out.reps[rep_idx];
        if (reps[rep_idx].kind == RepKind::kRaw) {
            rep.dense = std::move(dense_sum[rep_idx]);
            for (double& v : rep.dense) v /= static_cast<double>(n_embedded);
            rep.dense_norm = l2_norm(rep.dense);
        } else {
            rep.proto = make_prototype(vecs[rep_idx], reps[rep_idx].width);
        }
    }
    if (reps.latent_rep() != SIZE_MAX) {
        out.latents = top_latents(out.reps[reps.latent_rep()].proto, static_cast<size_t>(eval_config.n_latents));
    }
    return out;
}

// The one streaming pass over the pool: per sample, every streamed method's score against every target, the
// latent heaps, and the BM25 index.
Result<PoolPass> stream_pool(const EvalConfig& eval_config, EvalEngine& engine, RepresentationSet& reps,
                             const std::vector<TargetData>& targets, std::vector<SkipRow>& skipped,
                             EvalSummary& summary) {
    const SelectConfig& config = eval_config.select;
    const std::vector<ResolvedMethod>& methods = reps.methods();
    const size_t n_methods = methods.size();
    const size_t n_targets = targets.size();
    const size_t latent_rep = reps.latent_rep();
    PoolPass pass;
    pass.scores.assign(n_methods, std::vector<std::vector<double>>(n_targets));
    const std::vector<bool> keep = kept_reps(reps);
    const bool dedup = any_dedup(reps);
    pass.vecs.resize(reps.size());
    pass.latent_heaps.resize(n_targets);
    for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
        for (size_t slot = 0; slot < targets[target_idx].latents.size(); ++slot)
            pass.latent_heaps[target_idx].emplace_back(static_cast<size_t>(eval_config.n_latent_samples));
    }
    if (std::any_of(methods.begin(), methods.end(), [](const ResolvedMethod& m) { return m.def->needs_bm25; })) {
        MONA_TRY(Bm25Index index, Bm25Index::create());
        pass.bm25.emplace(std::move(index));
    }
    Progress progress(config.progress, "pool");
    std::optional<Embedder> embedder;
    start_embedder(embedder, engine, reps, [&](uint64_t pos, std::vector<RepVector>& sample) -> Status {
        for (size_t method_idx = 0; method_idx < n_methods; ++method_idx) {
            const ResolvedMethod& method = methods[method_idx];
            // A contrast prototype needs the pool mean: scored after the pass (score_contrast_methods).
            if (method.rep == SIZE_MAX || !method.spec.prototype.is_mean()) continue;
            for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
                pass.scores[method_idx][target_idx][pos] =
                    method.def->score(sample[method.rep], targets[target_idx].reps[method.rep]);
            }
        }
        if (latent_rep != SIZE_MAX) {
            for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
                const std::vector<uint32_t>& latents = targets[target_idx].latents;
                for (size_t slot = 0; slot < latents.size(); ++slot) {
                    const double v = value_at(sample[latent_rep].sparse, latents[slot]);
                    if (v > 0.0) pass.latent_heaps[target_idx][slot].push(pos, v);
                }
            }
        }
        for (size_t rep_idx = 0; rep_idx < keep.size(); ++rep_idx) {
            if (keep[rep_idx]) pass.vecs[rep_idx][pos] = std::move(sample[rep_idx].sparse);
        }
        return Status();
    });
    uint64_t n_tokens_seen = 0;
    const size_t skipped_before = skipped.size();
    std::vector<PoolRow>& rows = pass.rows;
    MONA_RETURN_IF_ERROR(stream_samples(
        config.pool_path, config, engine.session, skipped, [&](const Sample& sample, TokenizedSample tokens) -> Status {
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
                if (methods[method_idx].rep == SIZE_MAX) continue;
                for (auto& s : pass.scores[method_idx]) s.push_back(0.0);
            }
            for (size_t rep_idx = 0; rep_idx < keep.size(); ++rep_idx) {
                if (keep[rep_idx]) pass.vecs[rep_idx].emplace_back();
            }
            if (dedup) pass.fingerprints.push_back(dedup_fingerprint(normalize_for_dedup(sample)));
            if (pass.bm25) MONA_RETURN_IF_ERROR(pass.bm25->add_document(sample_plain_text(sample)));
            if (embedder) MONA_RETURN_IF_ERROR(embedder->add(rows.size() - 1, std::move(tokens)));
            progress.update(static_cast<int64_t>(rows.size()), embedder ? embedder->n_tokens_run() : n_tokens_seen);
            return Status();
        }));
    if (embedder) MONA_RETURN_IF_ERROR(embedder->flush());
    progress.update(static_cast<int64_t>(rows.size()), embedder ? embedder->n_tokens_run() : n_tokens_seen, true);
    summary.n_pool_read = static_cast<int64_t>(rows.size());
    summary.n_pool_skipped = static_cast<int64_t>(skipped.size() - skipped_before);
    if (rows.empty()) return invalid_input(fmt::format("pool {} holds no usable sample", config.pool_path));
    return pass;
}

// The methods with a contrast prototype (score/prototype_mode.hpp), scored from the kept vectors now that the pool
// mean is known: the mean of the representation's pool vectors in pool order, as make_prototype() computes it.
void score_contrast_methods(const RepresentationSet& reps, const std::vector<TargetData>& targets, PoolPass& pass) {
    const std::vector<ResolvedMethod>& methods = reps.methods();
    std::vector<std::optional<Prototype>> pool_means(reps.size());
    for (size_t method_idx = 0; method_idx < methods.size(); ++method_idx) {
        const ResolvedMethod& method = methods[method_idx];
        if (method.rep == SIZE_MAX || method.spec.prototype.is_mean()) continue;
        std::vector<SparseVec>& vecs = pass.vecs[method.rep];
        if (!pool_means[method.rep]) pool_means[method.rep] = make_prototype(vecs, reps[method.rep].width);
        for (size_t target_idx = 0; target_idx < targets.size(); ++target_idx) {
            TargetRep target;
            target.proto = apply_prototype_mode(targets[target_idx].reps[method.rep].proto, *pool_means[method.rep],
                                                method.spec.prototype);
            std::vector<double>& scores = pass.scores[method_idx][target_idx];
            RepVector sample;
            for (size_t pos = 0; pos < vecs.size(); ++pos) {
                sample.sparse = std::move(vecs[pos]);  // lent to the method's score function, then given back
                scores[pos] = method.def->score(sample, target);
                vecs[pos] = std::move(sample.sparse);
            }
        }
    }
}

// One method's selection for one target: its top n by score, or with diversity/dedup the picks among its top C*n
// candidates, made exactly as `mona select` makes them (score/diversity.hpp mmr_pick with the score/dedup.hpp
// filter; no reference set in eval).
std::vector<uint64_t> select_method(const ResolvedMethod& method, const std::vector<double>& scores, uint64_t n_select,
                                    const PoolPass& pass) {
    if (!method.spec.reranks()) return top_n(scores, n_select);
    const std::vector<SparseVec>& vecs = pass.vecs[method.rep];
    const size_t n_cand = n_diversity_candidates(n_select, method.spec.candidates, scores.size());
    const std::vector<uint64_t> candidates = top_n(scores, n_cand);
    std::vector<double> cand_scores;
    std::vector<const SparseVec*> cand_vecs;
    for (uint64_t pos : candidates) {
        cand_scores.push_back(scores[pos]);
        cand_vecs.push_back(&vecs[pos]);
    }
    std::optional<DedupFilter> filter;
    AcceptFn accept;
    if (method.spec.dedup > 0.0) {
        filter.emplace(method.spec.dedup);
        accept = [&](size_t cand_idx) {
            const uint64_t pos = candidates[cand_idx];
            if (filter->check(pass.fingerprints[pos], *cand_vecs[cand_idx])) return false;
            filter->keep(pos, pass.fingerprints[pos], *cand_vecs[cand_idx]);
            return true;
        };
    }
    std::vector<uint64_t> picks;
    for (size_t cand_idx : mmr_pick(cand_scores, cand_vecs, n_select, method.spec.diversity, nullptr, accept)) {
        picks.push_back(candidates[cand_idx]);
    }
    return picks;
}

// Every method's run per target (top n of its scores, or its own selection) and the latent lists, as the metrics
// and renderings take them.
EvalInput make_eval_input(const EvalConfig& eval_config, const RepresentationSet& reps,
                          const std::vector<TargetData>& targets, PoolPass& pass, const EvalSummary& summary) {
    EvalInput in;
    in.methods = summary.methods;
    in.n_select = static_cast<uint64_t>(summary.n_select);
    for (const PoolRow& row : pass.rows) {
        in.pool_labels.push_back(row.task);
        in.pool_token_counts.push_back(static_cast<uint64_t>(row.n_tokens));
        in.pool_records.push_back(row.record_idx);
        in.pool_ids.push_back(row.id);
    }
    const std::vector<ResolvedMethod>& methods = reps.methods();
    std::vector<int64_t> pool_tokens;
    for (const PoolRow& row : pass.rows) pool_tokens.push_back(row.n_tokens);
    for (size_t target_idx = 0; target_idx < targets.size(); ++target_idx) {
        const TargetData& target = targets[target_idx];
        EvalTargetInput t;
        t.name = eval_config.select.targets[target_idx].name;
        t.token_counts = target.lengths;
        for (size_t method_idx = 0; method_idx < methods.size(); ++method_idx) {
            const EvalMethodDef& def = *methods[method_idx].def;
            EvalMethodRun run;
            if (def.run_pool != nullptr) {
                run = def.run_pool({pass.rows.size(), in.n_select, eval_config.seed, pass.bm25 ? &*pass.bm25 : nullptr,
                                    &target.texts});
            } else {
                run.scores = std::move(pass.scores[method_idx][target_idx]);
                const uint32_t strata = methods[method_idx].spec.length_strata;
                if (strata > 0) run.scores = length_stratified_scores(run.scores, pool_tokens, strata);
            }
            if (!run.scores.empty()) run.selected = select_method(methods[method_idx], run.scores, in.n_select, pass);
            t.runs.push_back(std::move(run));
        }
        for (size_t slot = 0; slot < target.latents.size(); ++slot) {
            EvalLatent latent;
            latent.latent = target.latents[slot];
            const Prototype& proto = target.reps[reps.latent_rep()].proto;
            latent.value = proto.dense[latent.latent];
            latent.share = proto.l1 > 0 ? latent.value / proto.l1 : 0.0;
            for (const auto& [pos, value] : pass.latent_heaps[target_idx][slot].sorted()) {
                latent.top.push_back({pos, value});
            }
            t.latents.push_back(std::move(latent));
        }
        if (reps.latent_rep() < reps.size()) t.coverage_prototype = &target.reps[reps.latent_rep()].proto;
        in.targets.push_back(std::move(t));
    }
    if (reps.latent_rep() < reps.size()) in.coverage_vecs = &pass.vecs[reps.latent_rep()];
    return in;
}

// Second read of the pool: texts and snippets of the samples some selection or latent list shows.
// The report's latents, each shown on the token where it fires most in its top pool samples (jobs/why_latents.hpp):
// one small pass over those samples with per-token codes, when the explained representation is the Embedder's own
// pooled vector (its codes are the ones the pass keeps).
Status add_firing_contexts(const SelectConfig& config, EvalEngine& engine, const RepresentationSet& reps,
                           const std::vector<PoolRow>& rows, EvalInput& in) {
    if (!engine.sae || reps.latent_rep() >= reps.size() || !reps[reps.latent_rep()].main) return Status();
    std::vector<uint64_t> records;
    for (const EvalTargetInput& t : in.targets) {
        for (const EvalLatent& l : t.latents) {
            for (const EvalLatentSample& s : l.top) records.push_back(rows[s.position].record_idx);
        }
    }
    MONA_TRY(auto codes, embed_records_with_codes(config, engine.session, *engine.sae, reps.embed_options(), records));
    for (EvalTargetInput& t : in.targets) {
        for (EvalLatent& l : t.latents) {
            for (EvalLatentSample& s : l.top) {
                auto it = codes.find(rows[s.position].record_idx);
                if (it == codes.end()) continue;
                const LatentFiring firing = strongest_firing(it->second.sample, l.latent);
                if (firing.row < 0) continue;
                ReportLatent::Context c = firing_context(engine.session, it->second, firing);
                s.before = std::move(c.before);
                s.token = std::move(c.token);
                s.after = std::move(c.after);
                s.token_value = c.value;
            }
        }
    }
    return Status();
}

Status read_shown_texts(const SelectConfig& config, const std::vector<PoolRow>& rows, EvalInput& in) {
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
        in.normalised.emplace_back(it->second, normalize_for_dedup(sample.value()));
        in.snippets.emplace_back(it->second, snippet_of(sample.value()));
        pos_by_record.erase(it);
    }
    if (!pos_by_record.empty()) {
        return io_error(fmt::format("pool {} changed during the run: record {} is gone", config.pool_path,
                                    pos_by_record.begin()->first));
    }
    std::sort(in.texts.begin(), in.texts.end());
    std::sort(in.snippets.begin(), in.snippets.end());
    std::sort(in.normalised.begin(), in.normalised.end());
    return Status();
}

// One entry of config.method_configs: the method and, for a streamed one, where its vectors come from.
nlohmann::json method_config(const ResolvedMethod& method, const RepresentationSet& reps) {
    nlohmann::json m = {{"name", method.name}, {"method", method.def->name}};
    if (method.rep == SIZE_MAX) return m;
    const Representation& rep = reps[method.rep];
    m["layer"] = rep.layer;
    m["llama_tensor"] = rep.tensor;
    m["k"] = rep.k > 0 ? nlohmann::json(rep.k) : nlohmann::json(nullptr);
    m["pooling"] = pooling_mode_name(rep.pooling);
    if (rep.kind == RepKind::kPoly) m["mlp_width"] = rep.width;
    // The rules beyond the paper (docs/beyond.md), only when a method uses them: the paper's runs keep their bytes.
    const EvalMethodSpec& spec = method.spec;
    if (!spec.prototype.is_mean()) m["prototype"] = prototype_mode_name(spec.prototype);
    if (spec.length_strata > 0) m["length_strata"] = spec.length_strata;
    if (spec.reranks()) {
        m["diversity"] = spec.diversity;
        m["candidates"] = spec.candidates;
        m["dedup"] = spec.dedup > 0.0 ? nlohmann::json(spec.dedup) : nlohmann::json(nullptr);
    }
    return m;
}

// eval.json "config": the exact configuration, with the hashes of every input.
Result<nlohmann::json> config_json(const EvalConfig& eval_config, const EvalEngine& engine,
                                   const RepresentationSet& reps, const std::vector<TargetData>& targets,
                                   const EvalSummary& summary) {
    const SelectConfig& config = eval_config.select;
    const bool run_model = engine.sae.has_value();
    nlohmann::json cfg;
    const ModelInfo& mi = engine.session.info();
    MONA_TRY(cfg["model"], model_record(config.model_path, mi));
    if (run_model) {
        MONA_TRY(cfg["sae"], sae_record(engine.sae->info()));
    } else {
        cfg["sae"] = nullptr;
    }
    MONA_TRY(cfg["pool"], pool_record(config.pool_path, summary.n_pool_read, summary.n_pool_skipped,
                                      summary.n_pool_truncated, summary.n_pool_tokens));
    nlohmann::json targets_cfg = nlohmann::json::array();
    for (size_t target_idx = 0; target_idx < targets.size(); ++target_idx) {
        MONA_TRY(std::string target_sha, sha256_file(config.targets[target_idx].path));
        targets_cfg.push_back({{"name", config.targets[target_idx].name},
                               {"path", config.targets[target_idx].path},
                               {"sha256", target_sha},
                               {"exemplars", targets[target_idx].lengths.size()}});
    }
    cfg["targets"] = targets_cfg;
    cfg["targets_skipped"] = summary.n_target_skipped;
    cfg["methods"] = summary.methods;
    nlohmann::json method_cfgs = nlohmann::json::array();
    for (const ResolvedMethod& method : reps.methods()) method_cfgs.push_back(method_config(method, reps));
    cfg["method_configs"] = method_cfgs;
    auto if_model = [&](nlohmann::json value) { return run_model ? std::move(value) : nlohmann::json(nullptr); };
    cfg["parameters"] = {{"layer", if_model(summary.layer)},
                         {"llama_tensor", if_model(summary.layer == 0 ? std::string("embd")
                                                                      : fmt::format("l_out-{}", summary.layer - 1))},
                         {"k", if_model(engine.k)},
                         {"seed", eval_config.seed},
                         {"latents_per_target", eval_config.n_latents},
                         {"samples_per_latent", eval_config.n_latent_samples}};
    cfg["parameters"].update(run_settings_record(config, summary.n_select));
    nlohmann::json definitions = nlohmann::json::object();
    for (const EvalMethodDef& def : eval_methods()) definitions[def.name] = def.definition;
    cfg["method_definitions"] = definitions;
    return cfg;
}

// The key/value rows of the report's #settings.
std::vector<std::pair<std::string, std::string>> settings_rows(const EvalConfig& eval_config, const EvalEngine& engine,
                                                               const std::vector<EvalMethodSpec>& specs,
                                                               const EvalSummary& summary) {
    const SelectConfig& config = eval_config.select;
    std::vector<std::pair<std::string, std::string>> rows = {
        {"model", config.model_path},
        {"pool", fmt::format("{} ({} samples)", config.pool_path, summary.n_pool_read)},
        {"methods", fmt::format("{}", fmt::join(summary.methods, ", "))},
        {"selected per target", std::to_string(summary.n_select)}};
    if (engine.sae) {
        const SaeInfo& si = engine.sae->info();
        rows.push_back(
            {"layer", fmt::format("{} (HF hidden_states; llama.cpp {})", summary.layer,
                                  layer_tensor_name(summary.layer, engine.session.info().n_layer, "").value())});
        rows.push_back({"SAE", fmt::format("{} ({} {}, d_in {}, d_sae {}, k {})", si.path, si.format, si.architecture,
                                           si.d_in, si.d_sae, engine.k)});
        rows.push_back({"tokens", token_mode_name(config.token_mode)});
        rows.push_back({"pooling (SAE methods)", pooling_mode_name(config.pooling)});
    }
    if (any_method(specs, [](const EvalMethodDef& m) { return m.uses_seed; })) {
        rows.push_back({"seed", std::to_string(eval_config.seed)});
    }
    if (any_method(specs, [](const EvalMethodDef& m) { return m.needs_bm25; })) {
        rows.push_back({"bm25", "k1 1.2, b 0.75, prototype aggregation, user+assistant text"});
    }
    return rows;
}

// <target>/scores.tsv, streamed into the stage row by row: one column per method with scores.
Status write_scores_tsv(OutputStage& stage, const EvalTargetInput& t, const std::vector<std::string>& methods,
                        const std::vector<PoolRow>& rows) {
    MONA_TRY(StagedWriter out, StagedWriter::open(stage, t.name + "/scores.tsv"));
    std::string line = "record\tid\tline\ttask\tn_tokens\ttruncated";
    std::vector<size_t> scored;
    for (size_t method_idx = 0; method_idx < methods.size(); ++method_idx) {
        if (t.runs[method_idx].scores.empty()) continue;
        scored.push_back(method_idx);
        line += "\tscore_" + methods[method_idx];
    }
    line += '\n';
    MONA_RETURN_IF_ERROR(out.write(line));
    for (uint64_t pos = 0; pos < rows.size(); ++pos) {
        const PoolRow& row = rows[pos];
        line = fmt::format("{}\t{}\t{}\t{}\t{}\t{}", row.record_idx, tsv_field(row.id), row.line_no,
                           tsv_field(row.task), row.n_tokens, row.truncated ? 1 : 0);
        for (size_t method_idx : scored) line += fmt::format("\t{:.9g}", t.runs[method_idx].scores[pos]);
        line += '\n';
        MONA_RETURN_IF_ERROR(out.write(line));
    }
    return out.close();
}

// <target>/selections.tsv: every method's selection in rank order.
std::string selections_tsv(const EvalTargetInput& t, const std::vector<std::string>& methods,
                           const std::vector<PoolRow>& rows) {
    std::string sel = "method\trank\tposition\trecord\tid\ttask\tscore\n";
    for (size_t method_idx = 0; method_idx < methods.size(); ++method_idx) {
        const EvalMethodRun& run = t.runs[method_idx];
        for (size_t rank = 0; rank < run.selected.size(); ++rank) {
            const uint64_t pos = run.selected[rank];
            sel += fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{}\n", methods[method_idx], rank + 1, pos, rows[pos].record_idx,
                               tsv_field(rows[pos].id), tsv_field(rows[pos].task),
                               run.scores.empty() ? std::string() : fmt::format("{:.9g}", run.scores[pos]));
        }
    }
    return sel;
}

// --finetune: per target, the held-back exemplars and each fine-tuned method's top samples (random: one draw per
// seed, --seed, --seed + 1, ...), as pool records in rank order.
std::vector<FinetuneTargetInput> finetune_inputs(const EvalConfig& eval_config, const RepresentationSet& reps,
                                                 std::vector<TargetData>& targets, const EvalInput& in,
                                                 const std::vector<PoolRow>& rows) {
    const FinetuneOptions& options = eval_config.finetune;
    const std::vector<ResolvedMethod>& methods = reps.methods();
    const uint64_t n_samples = std::min<uint64_t>(static_cast<uint64_t>(options.n_samples), rows.size());
    std::vector<FinetuneTargetInput> out;
    for (size_t target_idx = 0; target_idx < targets.size(); ++target_idx) {
        FinetuneTargetInput& t = out.emplace_back();
        t.name = in.targets[target_idx].name;
        t.n_prototype = static_cast<int64_t>(targets[target_idx].lengths.size());
        t.heldout = std::move(targets[target_idx].heldout);
        for (size_t method_idx = 0; method_idx < methods.size(); ++method_idx) {
            const std::string& name = in.methods[method_idx];
            if (!options.methods.empty() &&
                std::find(options.methods.begin(), options.methods.end(), name) == options.methods.end())
                continue;
            const EvalMethodRun& run = in.targets[target_idx].runs[method_idx];
            auto records = [&](const std::vector<uint64_t>& positions) {
                std::vector<uint64_t> r;
                for (uint64_t pos : positions) r.push_back(rows[pos].record_idx);
                return r;
            };
            if (methods[method_idx].def->uses_seed) {
                for (int32_t s = 0; s < options.n_random_seeds; ++s) {
                    const uint64_t seed = eval_config.seed + static_cast<uint64_t>(s);
                    t.selections.push_back(
                        {name, seed, records(metrics::random_selection(rows.size(), n_samples, seed))});
                }
            } else if (!run.scores.empty()) {
                t.selections.push_back({name, 0, records(top_n(run.scores, n_samples))});
            } else {
                std::vector<uint64_t> prefix(run.selected.begin(),
                                             run.selected.begin() + std::min<size_t>(run.selected.size(), n_samples));
                t.selections.push_back({name, 0, records(prefix)});
            }
        }
    }
    return out;
}

}  // namespace

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

    // Methods, checked before anything is loaded.
    const std::vector<EvalMethodSpec> specs = unique_specs(eval_config);
    for (const EvalMethodSpec& spec : specs) summary.methods.push_back(spec.name);
    const bool run_model = any_method(specs, [](const EvalMethodDef& m) { return m.rep != RepKind::kNone; });
    MONA_RETURN_IF_ERROR(check_select_config(config));
    if (eval_config.n_latents < 0 || eval_config.n_latent_samples < 0) {
        return invalid_input("the number of latents and of samples per latent must be >= 0");
    }
    if (eval_config.finetune.enabled) {
        MONA_RETURN_IF_ERROR(check_finetune_options(eval_config.finetune, summary.methods));
    }
    MONA_TRY(RunFolderLock out_lock, RunFolderLock::acquire(config.out_dir));
    MONA_TRY(const FileStamp pool_stamp, FileStamp::of(config.pool_path));

    // Model, SAE and the representations the methods score.
    MONA_TRY(EvalEngine engine, open_engine(config, run_model));
    summary.layer = engine.layer;
    const RepDefaults defaults{engine.layer, config.k, config.pooling, config.token_mode, config.model_path};
    MONA_TRY(RepresentationSet reps,
             RepresentationSet::resolve(specs, defaults, engine.sae ? &*engine.sae : nullptr, engine.session.info()));
    std::vector<SkipRow> skipped;

    // 1. Targets.
    const auto t_targets = Clock::now();
    std::vector<TargetData> targets;
    for (const TargetSpec& target : config.targets) {
        const size_t skipped_before = skipped.size();
        Result<TargetData> data = embed_target(target, eval_config, engine, reps, skipped);
        summary.n_target_skipped += static_cast<int64_t>(skipped.size() - skipped_before);
        if (!data.ok()) return data.status();
        targets.push_back(std::move(data).value());
    }
    const double seconds_targets = seconds_since(t_targets);

    // 2. Pool: one streaming pass shared by every method and target.
    const auto t_pool = Clock::now();
    MONA_TRY(PoolPass pool, stream_pool(eval_config, engine, reps, targets, skipped, summary));
    score_contrast_methods(reps, targets, pool);
    const double seconds_pool = seconds_since(t_pool);

    // 3. Selections, the shown samples' texts, the configuration, the metrics.
    const auto t_write = Clock::now();
    const int64_t n_pool = static_cast<int64_t>(pool.rows.size());
    const int64_t n_select = config.count > 0 ? config.count : std::llround(config.ratio * static_cast<double>(n_pool));
    summary.n_select = std::clamp<int64_t>(n_select, 1, n_pool);
    EvalInput in = make_eval_input(eval_config, reps, targets, pool, summary);
    MONA_RETURN_IF_ERROR(read_shown_texts(config, pool.rows, in));
    MONA_RETURN_IF_ERROR(add_firing_contexts(config, engine, reps, pool.rows, in));
    MONA_TRY(in.config, config_json(eval_config, engine, reps, targets, summary));
    in.command_line = config.command_line;
    in.settings = settings_rows(eval_config, engine, specs, summary);
    const EvalResults results = compute_eval_results(in);

    // 3b. --finetune: fine-tune a copy of the model on each method's top samples, loss on the held-back exemplars.
    std::optional<FinetuneReport> finetune;
    double seconds_finetune = 0.0;
    if (eval_config.finetune.enabled) {
        const auto t_finetune = Clock::now();
        MONA_TRY(finetune, run_finetune(eval_config.finetune, config,
                                        finetune_inputs(eval_config, reps, targets, in, pool.rows), eval_config.log));
        seconds_finetune = seconds_since(t_finetune);
    }

    // 4. Outputs, committed together.
    MONA_TRY(OutputStage stage, OutputStage::create(config.out_dir));
    for (size_t target_idx = 0; target_idx < in.targets.size(); ++target_idx) {
        const EvalTargetInput& t = in.targets[target_idx];
        MONA_RETURN_IF_ERROR(write_scores_tsv(stage, t, in.methods, pool.rows));
        MONA_RETURN_IF_ERROR(stage.write(t.name + "/selections.tsv", selections_tsv(t, in.methods, pool.rows)));
        EvalTargetSummary& ts = summary.targets.emplace_back();
        ts.name = t.name;
        ts.n_exemplars = static_cast<int64_t>(t.token_counts.size());
        for (const EvalMethodMetrics& mm : results.targets[target_idx].methods) {
            ts.precision.push_back(mm.pr.precision);
            ts.recall.push_back(mm.pr.recall);
        }
    }
    if (config.skip_bad) MONA_RETURN_IF_ERROR(stage.write("skipped.tsv", skipped_tsv(skipped)));
    MONA_RETURN_IF_ERROR(stage.write(
        "eval.md", render_eval_markdown(in, results) + (finetune ? finetune_markdown(*finetune) : std::string())));
    std::string html = render_eval_html(in, results);
    if (finetune) {
        const size_t main_end = html.rfind("</main>");
        if (main_end != std::string::npos) html.insert(main_end, finetune_html(*finetune));
    }
    MONA_RETURN_IF_ERROR(stage.write("report.html", html));
    summary.seconds_total = seconds_since(t_start);
    in.timings = {{"targets", seconds_targets},
                  {"pool", seconds_pool},
                  {"write", seconds_since(t_write)},
                  {"total", summary.seconds_total}};
    if (finetune) in.timings["finetune"] = seconds_finetune;
    nlohmann::json out = render_eval_json(in, results);
    if (finetune) out["finetune"] = finetune_json(*finetune);
    summary.finetune = finetune;
    out["tool"]["llama_cpp"] = MONA_LLAMA_VERSION;
    MONA_RETURN_IF_ERROR(stage.write("eval.json", out.dump(2) + "\n"));
    MONA_RETURN_IF_ERROR(check_unchanged(config.pool_path, pool_stamp, "pool"));
    MONA_RETURN_IF_ERROR(stage.commit());
    // A rerun into the same --out: target folders of targets no longer given, and skipped.tsv without --skip-bad.
    std::vector<std::string> current;
    for (const EvalTargetInput& t : in.targets) current.push_back(t.name);
    MONA_RETURN_IF_ERROR(
        remove_stale_outputs(config.out_dir, current, {"selections.tsv", "scores.tsv"},
                             config.skip_bad ? std::vector<std::string>() : std::vector<std::string>{"skipped.tsv"}));
    return summary;
}

}  // namespace mona
