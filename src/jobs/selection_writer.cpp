#include "jobs/selection_writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "io/sample_reader.hpp"
#include "jobs/manifest.hpp"
#include "jobs/reference_set.hpp"
#include "jobs/why_latents.hpp"
#include "report/html_report.hpp"
#include "score/dedup.hpp"
#include "score/diversity.hpp"
#include "score/merge_select.hpp"
#include "score/selection_metrics.hpp"
#include "score/topn.hpp"
#include "util/sha256.hpp"

namespace mona::detail {

int64_t n_select_of(const SelectConfig& config, int64_t n_pool) {
    const int64_t n_select = config.count > 0 ? config.count : std::llround(config.ratio * static_cast<double>(n_pool));
    return std::clamp<int64_t>(n_select, 1, n_pool);
}

bool needs_candidate_vectors(const SelectConfig& config) {
    return config.diversity > 0.0 || config.dedup > 0.0 || config.coverage;
}

std::vector<uint64_t> choose_candidates(const SelectConfig& config, SelectRun& run) {
    const size_t n_pool = run.rows.size();
    const auto n_select = static_cast<size_t>(n_select_of(config, static_cast<int64_t>(n_pool)));
    const size_t n_cand = n_diversity_candidates(n_select, config.diversity_candidates, n_pool);
    std::vector<uint64_t> records;
    run.candidates.clear();
    for (const auto& target_scores : run.scores) {
        run.candidates.push_back(top_n(target_scores, n_cand));
        for (uint64_t pos : run.candidates.back()) records.push_back(run.rows[pos].record_idx);
    }
    return records;
}

namespace {

// A sample --dedup left out of a selection (dropped.tsv).
struct DroppedRow {
    std::string target;  // the target's name, or "merged"
    uint64_t pos = 0;    // row position
    DropReason why;      // other_idx: a row position (exact, near) or a reference sample's index
};

// What --dedup compares: the candidates' fingerprints (by row position) and the reference set.
struct DedupContext {
    std::vector<uint64_t> fingerprints;  // [row]; set for candidate rows only
    ReferenceSet reference;
    uint64_t n_jaccard = 0;
};

// One target's selection, best first: the top n, or with --diversity the MMR picks among its candidates, with
// --dedup skipping duplicates (into `dropped`).
std::vector<uint64_t> select_target(const SelectConfig& config, const SelectRun& run, size_t target_idx,
                                    size_t n_select, DiversityStats& stats, DedupContext& dedup,
                                    std::vector<DroppedRow>& dropped) {
    const std::vector<double>& scores = run.scores[target_idx];
    if (!needs_candidate_vectors(config)) return top_n(scores, n_select);
    const std::vector<uint64_t>& candidates = run.candidates[target_idx];
    std::vector<double> cand_scores;
    std::vector<const SparseVec*> cand_vecs;
    for (uint64_t pos : candidates) {
        cand_scores.push_back(scores[pos]);
        cand_vecs.push_back(&run.candidate_vecs.at(run.rows[pos].record_idx));
    }
    AcceptFn accept;
    std::optional<DedupFilter> filter;
    if (config.dedup > 0.0) {
        filter.emplace(config.dedup, &dedup.reference.fingerprints, &dedup.reference.vecs);
        accept = [&](size_t cand_idx) {
            const uint64_t pos = candidates[cand_idx];
            if (auto why = filter->check(dedup.fingerprints[pos], *cand_vecs[cand_idx])) {
                dropped.push_back({config.targets[target_idx].name, pos, *why});
                return false;
            }
            filter->keep(pos, dedup.fingerprints[pos], *cand_vecs[cand_idx]);
            return true;
        };
    }
    std::vector<uint64_t> picks;
    for (size_t cand_idx : mmr_pick(cand_scores, cand_vecs, n_select, config.diversity, &stats, accept)) {
        picks.push_back(candidates[cand_idx]);
    }
    if (filter) dedup.n_jaccard += filter->n_jaccard();
    return picks;
}

std::string dropped_tsv(const std::vector<DroppedRow>& dropped, const std::vector<PoolRow>& rows,
                        const ReferenceSet& reference, const std::string& reference_path) {
    std::string tsv = "target\trecord\tid\tline\treason\tduplicate_of\tsimilarity\n";
    for (const auto& drop : dropped) {
        const PoolRow& row = rows[drop.pos];
        const bool against_reference =
            drop.why.kind == DropKind::kExactReference || drop.why.kind == DropKind::kNearReference;
        const std::string other = against_reference
                                      ? fmt::format("{}:{}", reference_path, reference.line_nos[drop.why.other_idx])
                                      : fmt::format("record {}", rows[drop.why.other_idx].record_idx);
        tsv += fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{:.6f}\n", drop.target, row.record_idx, tsv_field(row.id),
                           row.line_no, drop_kind_name(drop.why.kind), tsv_field(other), drop.why.similarity);
    }
    return tsv;
}

// After a rerun into the same --out: the earlier run's outputs that this one did not write (a target no longer
// given, merged/ without --merge, skipped.tsv without --skip-bad, dropped.tsv without --dedup).
Status remove_stale_selection_outputs(const SelectConfig& config) {
    std::vector<std::string> current;
    for (const auto& target : config.targets) current.push_back(target.name);
    if (config.merge != MergeMode::kNone) current.push_back("merged");
    std::vector<std::string> unwritten;
    if (!config.skip_bad) unwritten.push_back("skipped.tsv");
    if (config.dedup <= 0.0) unwritten.push_back("dropped.tsv");
    return remove_stale_outputs(config.out_dir, current, {"selected.jsonl", "scores.tsv"}, unwritten);
}

}  // namespace

Result<SelectSummary> write_selection(const SelectConfig& config, SelectEngine& engine, SelectRun& run,
                                      std::chrono::steady_clock::time_point t_start, const nlohmann::json& extra) {
    const Session& session = engine.session;
    const SaeModel& sae = engine.sae;
    SelectSummary& summary = run.summary;
    std::vector<PoolRow>& rows = run.rows;
    const std::vector<std::vector<double>>& scores = run.scores;
    std::vector<SkipRow>& skipped = run.skipped;
    const std::vector<std::vector<int64_t>>& target_lengths = run.target_lengths;
    const size_t n_targets = scores.size();
    const double seconds_targets = run.seconds_targets;
    const double seconds_pool = run.seconds_pool;
    const auto t_write = Clock::now();
    const int64_t n_pool = static_cast<int64_t>(rows.size());
    const int64_t n_select = n_select_of(config, n_pool);

    std::vector<std::string> labels(rows.size()), snippets(rows.size());
    std::vector<std::vector<uint64_t>> selected(n_targets);
    std::unordered_map<uint64_t, std::string> raw_by_record;  // record_idx -> raw bytes, selected records only
    DiversityStats diversity_stats;
    // --dedup needs the candidates' texts, read below, before it can select: it keeps every candidate's bytes.
    const bool dedup = config.dedup > 0.0;
    DedupContext dedup_context;
    std::vector<DroppedRow> dropped;
    std::vector<char> is_candidate;
    if (dedup) {
        if (!config.dedup_against.empty()) {
            MONA_RETURN_IF_ERROR(
                embed_reference(config.dedup_against, config, engine, skipped, dedup_context.reference));
        }
        dedup_context.fingerprints.assign(rows.size(), 0);
        is_candidate.assign(rows.size(), 0);
        for (const auto& candidates : run.candidates) {
            for (uint64_t pos : candidates) {
                is_candidate[pos] = 1;
                raw_by_record.emplace(rows[pos].record_idx, std::string());
            }
        }
    }
    std::unordered_set<uint64_t> shown;
    // Each target's selection, and the report's snippets of each target's top kReportTopN samples only.
    const auto select_all = [&]() {
        for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
            selected[target_idx] = select_target(config, run, target_idx, static_cast<size_t>(n_select),
                                                 diversity_stats, dedup_context, dropped);
            for (uint64_t pos : selected[target_idx]) raw_by_record.emplace(rows[pos].record_idx, std::string());
            summary.targets[target_idx].n_selected = static_cast<int64_t>(selected[target_idx].size());
        }
        for (const auto& target_selected : selected) {
            for (size_t place = 0; place < std::min(kReportTopN, target_selected.size()); ++place) {
                shown.insert(target_selected[place]);
            }
        }
    };
    if (!dedup) select_all();
    {
        // Second read of the pool, for the selected records' exact bytes, every row's task label and report snippet,
        // and its truncation: the store keeps only the token count, and a cut sample has exactly max_tokens, so
        // only samples of that length are tokenised again. With skip_bad, the records the store lacks are parsed
        // and tokenised again for the error that made the embedding skip them (skipped.tsv).
        size_t next_row = 0;
        MONA_TRY(RecordReader reader, RecordReader::open(config.pool_path));
        RawRecord record;
        Result<Sample> sample = Sample();
        summary.n_pool_truncated = 0;
        summary.n_pool_skipped = 0;
        while (true) {
            MONA_TRY(bool more, reader.next(record));
            if (!more) break;
            while (next_row < rows.size() && rows[next_row].record_idx < record.record_idx) ++next_row;
            if (next_row < rows.size() && rows[next_row].record_idx == record.record_idx) {
                PoolRow& row = rows[next_row];
                sample =
                    parse_sample(record.bytes, config.format, {config.pool_path, record.line_no, record.record_idx});
                if (dedup && is_candidate[next_row]) {
                    dedup_context.fingerprints[next_row] =
                        dedup_fingerprint(sample.ok() ? normalize_for_dedup(sample.value()) : record.bytes);
                }
                if (sample.ok()) {
                    labels[next_row] = sample->task;
                    if (shown.count(next_row) > 0) snippets[next_row] = snippet_of(sample.value());
                    if (row.n_tokens == config.max_tokens) {
                        MONA_TRY(TokenizedSample tokens, engine.session.tokenize(sample.value()));
                        row.truncated = tokens.truncated;
                        summary.n_pool_truncated += row.truncated;
                    }
                }
            } else if (config.skip_bad) {
                Result<TokenizedSample> tokens =
                    prepare_record(record, config.pool_path, config, engine.session, sample);
                if (tokens.ok()) {
                    return invalid_input(
                        fmt::format("{}:{}: record {} is not in the store, yet it embeds without error "
                                    "(was the store written from another pool?)",
                                    config.pool_path, record.line_no, record.record_idx));
                }
                skipped.push_back({config.pool_path, record.line_no, record.record_idx, tokens.status().message()});
                ++summary.n_pool_skipped;
            }
            auto it = raw_by_record.find(record.record_idx);
            if (it != raw_by_record.end()) it->second = std::move(record.bytes);
        }
    }
    if (dedup) {
        select_all();
        for (uint64_t pos : shown) {
            Result<Sample> shown_sample = parse_sample(raw_by_record[rows[pos].record_idx], config.format,
                                                       {config.pool_path, rows[pos].line_no, rows[pos].record_idx});
            if (shown_sample.ok()) snippets[pos] = snippet_of(shown_sample.value());
        }
    }

    MONA_TRY(OutputStage stage, OutputStage::create(config.out_dir));
    for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
        const std::string& name = config.targets[target_idx].name;
        std::string selected_text;
        for (uint64_t pos : selected[target_idx]) {
            const std::string& raw = raw_by_record[rows[pos].record_idx];
            if (raw.empty()) {
                return io_error(fmt::format("pool {} changed during the run: record {} (line {}) is gone",
                                            config.pool_path, rows[pos].record_idx, rows[pos].line_no));
            }
            selected_text += raw;
            selected_text += '\n';
        }
        MONA_RETURN_IF_ERROR(write_text(stage, name + "/selected.jsonl", selected_text));

        const std::vector<uint64_t> rank = ranks(scores[target_idx]);
        // Without --diversity the selection is exactly the samples ranked 1..n.
        std::vector<char> in_selection(rows.size(), 0);
        for (uint64_t pos : selected[target_idx]) in_selection[pos] = 1;
        MONA_TRY(StagedWriter tsv_file, StagedWriter::open(stage, name + "/scores.tsv"));
        std::string tsv = "record\tid\tline\ttask\tn_tokens\ttruncated\tscore\trank\tselected\n";
        for (int64_t pos = 0; pos < n_pool; ++pos) {
            const PoolRow& row = rows[static_cast<size_t>(pos)];
            if (tsv.size() >= (1u << 16)) {
                MONA_RETURN_IF_ERROR(tsv_file.write(tsv));
                tsv.clear();
            }
            tsv += fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{:.9g}\t{}\t{}\n", row.record_idx, tsv_field(row.id),
                               row.line_no, tsv_field(labels[pos]), row.n_tokens, row.truncated ? 1 : 0,
                               scores[target_idx][pos], rank[pos], in_selection[static_cast<size_t>(pos)] ? 1 : 0);
        }
        MONA_RETURN_IF_ERROR(tsv_file.write(tsv));
        MONA_RETURN_IF_ERROR(tsv_file.close());
    }
    nlohmann::json merge_json;
    std::optional<ReportMerged> report_merged;
    if (config.merge != MergeMode::kNone) {
        // Each target's top n is enough: no pick of the merge lies below rank n (score/merge_select.hpp).
        std::vector<double> weights(n_targets, 1.0);
        for (size_t target_idx = 0; target_idx < n_targets && config.merge == MergeMode::kQuota; ++target_idx) {
            for (const auto& quota : config.quotas) {
                if (quota.name == config.targets[target_idx].name) weights[target_idx] = quota.weight;
            }
        }
        MONA_TRY(std::vector<uint64_t> quotas, apportion(static_cast<uint64_t>(n_select), weights));
        std::vector<MergedPick> picks = merge_rankings(selected, quotas, static_cast<uint64_t>(n_select));
        if (dedup) {
            // Each target's selection is free of duplicates, but two targets may have taken near-copies of one
            // sample: a later pick that duplicates an earlier one is dropped (the subset may then hold fewer than n).
            DedupFilter filter(config.dedup);
            std::vector<MergedPick> kept;
            for (const MergedPick& pick : picks) {
                const SparseVec& vec = run.candidate_vecs.at(rows[pick.pos].record_idx);
                if (auto why = filter.check(dedup_context.fingerprints[pick.pos], vec)) {
                    dropped.push_back({"merged", pick.pos, *why});
                    continue;
                }
                filter.keep(pick.pos, dedup_context.fingerprints[pick.pos], vec);
                kept.push_back(pick);
            }
            dedup_context.n_jaccard += filter.n_jaccard();
            picks = std::move(kept);
        }
        std::string selected_text;
        std::string tsv = "pick\trecord\tid\tline\ttarget\trank\tscore\n";
        std::vector<int64_t> n_by_target(n_targets, 0);
        for (size_t pick_idx = 0; pick_idx < picks.size(); ++pick_idx) {
            const MergedPick& pick = picks[pick_idx];
            const PoolRow& row = rows[pick.pos];
            selected_text += raw_by_record[row.record_idx];
            selected_text += '\n';
            tsv += fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{:.9g}\n", pick_idx + 1, row.record_idx, tsv_field(row.id),
                               row.line_no, config.targets[pick.target_idx].name, pick.rank,
                               scores[pick.target_idx][pick.pos]);
            ++n_by_target[pick.target_idx];
        }
        MONA_RETURN_IF_ERROR(write_text(stage, "merged/selected.jsonl", selected_text));
        MONA_RETURN_IF_ERROR(write_text(stage, "merged/selected.tsv", tsv));
        summary.n_merged = static_cast<int64_t>(picks.size());
        report_merged = ReportMerged{merge_mode_name(config.merge), {}};
        for (const MergedPick& pick : picks) report_merged->picks.push_back({pick.pos, pick.target_idx, pick.rank});
        nlohmann::json per_target = nlohmann::json::array();
        for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
            per_target.push_back({{"name", config.targets[target_idx].name},
                                  {"weight", weights[target_idx]},
                                  {"quota", quotas[target_idx]},
                                  {"selected", n_by_target[target_idx]}});
        }
        merge_json = {{"mode", merge_mode_name(config.merge)}, {"selected", summary.n_merged}, {"targets", per_target}};
    }
    if (config.skip_bad) MONA_RETURN_IF_ERROR(write_text(stage, "skipped.tsv", skipped_tsv(skipped)));
    if (dedup) {
        MONA_RETURN_IF_ERROR(write_text(stage, "dropped.tsv",
                                        dropped_tsv(dropped, rows, dedup_context.reference, config.dedup_against)));
    }

    // Report. Its "why" needs one more small model pass over each target's top samples (jobs/why_latents.hpp).
    MONA_TRY(WhyResult why, explain_selections(config, engine, rows, selected, run.prototypes));
    ReportInput report;
    report.title = "mona selection";
    report.pool_labels = std::move(labels);
    report.pool_snippets = std::move(snippets);
    for (const auto& row : rows) {
        report.pool_token_counts.push_back(row.n_tokens);
        report.pool_ids.push_back(row.id);
    }
    const std::unordered_set<std::string> pool_label_set(report.pool_labels.begin(), report.pool_labels.end());
    for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
        ReportTarget target;
        const TargetSpec& spec = config.targets[target_idx];
        target.name = spec.name;
        // Precision counts the samples labelled as the target (--label NAME=LABEL, else its name); a label no
        // pool sample carries would read as "precision 0.0 %" for any selection, so precision is left out.
        target.label = spec.label.empty() ? spec.name : spec.label;
        if (pool_label_set.count(target.label) == 0) {
            target.label_note = fmt::format("no pool sample is labelled '{}'; --label {}=LABEL names the label",
                                            target.label, spec.name);
            target.label.clear();
        }
        target.pool_scores = std::move(run.scores[target_idx]);  // the last use of the scores
        target.selected = selected[target_idx];
        target.target_token_counts = target_lengths[target_idx];
        if (target_idx < run.target_snippets.size()) target.exemplar_snippets = run.target_snippets[target_idx];
        target.why_latents = std::move(why.latents[target_idx]);
        target.why_n_samples = why.n_samples[target_idx];
        report.targets.push_back(std::move(target));
    }
    report.merged = std::move(report_merged);
    const SaeInfo& si = sae.info();
    report.settings = {{"model", config.model_path},
                       {"layer", fmt::format("{} (HF hidden_states; llama.cpp {})", summary.layer,
                                             layer_tensor_name(summary.layer, session.info().n_layer, "").value())},
                       {"SAE", fmt::format("{} ({} {}, d_in {}, d_sae {}, k {})", si.path, si.format, si.architecture,
                                           si.d_in, si.d_sae, config.k > 0 ? config.k : si.k)},
                       {"tokens", token_mode_name(config.token_mode)},
                       {"pooling", pooling_mode_name(config.pooling)},
                       {"pool", fmt::format("{} ({} samples)", config.pool_path, n_pool)},
                       {"selected per target", std::to_string(n_select)}};
    // Coverage of each target's prototype by its selection (score/selection_metrics.hpp), where the vectors are here.
    nlohmann::json coverage_json = nlohmann::json::array();
    if (needs_candidate_vectors(config)) {
        std::string coverage_text;
        for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
            std::vector<const SparseVec*> vecs;
            for (uint64_t pos : selected[target_idx]) vecs.push_back(&run.candidate_vecs.at(rows[pos].record_idx));
            const CoverageResult cov = selection_coverage(run.prototypes[target_idx], vecs);
            // Coverage against n, in pick order: every n in the report's chart, at most kCurvePoints in the manifest
            // (n = ceil(i * N / kCurvePoints), i = 1.., so the last point is the whole selection).
            const std::vector<CoverageResult> curve = coverage_curve(run.prototypes[target_idx], vecs);
            constexpr size_t kCurvePoints = 64;
            nlohmann::json curve_n = nlohmann::json::array(), curve_mass = nlohmann::json::array(),
                           curve_latents = nlohmann::json::array();
            size_t last_n = 0;
            for (size_t i = 1; i <= std::min(kCurvePoints, curve.size()); ++i) {
                const size_t n = (i * curve.size() + kCurvePoints - 1) / kCurvePoints;
                const size_t at = curve.size() <= kCurvePoints ? i : n;
                if (at == last_n) continue;
                last_n = at;
                curve_n.push_back(at);
                curve_mass.push_back(curve[at - 1].mass);
                curve_latents.push_back(curve[at - 1].latents);
            }
            for (const CoverageResult& point : curve) {
                report.targets[target_idx].coverage_mass.push_back(point.mass);
                report.targets[target_idx].coverage_latents.push_back(point.latents);
            }
            // Pairwise redundancy is O(n^2): left out (null) above kMaxPairwiseN selected samples.
            constexpr size_t kMaxPairwiseN = 2000;
            coverage_json.push_back(
                {{"coverage_mass", cov.mass},
                 {"coverage_latents", cov.latents},
                 {"coverage_curve", {{"n", curve_n}, {"mass", curve_mass}, {"latents", curve_latents}}},
                 {"mean_pairwise_jaccard",
                  vecs.size() <= kMaxPairwiseN ? nlohmann::json(mean_pairwise_jaccard(vecs)) : nlohmann::json()}});
            coverage_text += fmt::format("{}{}: mass {:.3f}, latents {:.3f}", target_idx ? "; " : "",
                                         config.targets[target_idx].name, cov.mass, cov.latents);
        }
        report.settings.push_back({"prototype coverage", coverage_text});
    }
    if (config.length_strata > 0) {
        report.settings.push_back(
            {"length strata", fmt::format("{}: scores standardised within each length stratum", config.length_strata)});
    }
    if (!config.prototype.is_mean()) {
        report.settings.push_back({"prototype", fmt::format("contrast: max(0, mean - {} x the pool's mean vector)",
                                                            config.prototype.contrast_beta)});
    }
    if (config.diversity > 0.0) {
        report.settings.push_back({"diversity", fmt::format("MMR, LAMBDA {}, among each target's top {} x n",
                                                            config.diversity, config.diversity_candidates)});
    }
    if (dedup) {
        report.settings.push_back(
            {"dedup",
             fmt::format("exact text and Jaccard >= {}{}: {} dropped (dropped.tsv)", config.dedup,
                         config.dedup_against.empty() ? "" : ", against " + config.dedup_against, dropped.size())});
    }
    MONA_RETURN_IF_ERROR(write_text(stage, "report.html", render_html_report(report)));
    summary.report = std::move(report);
    const double seconds_write = seconds_since(t_write);
    // Manifest last, so it can record the hashes and every count.
    MONA_TRY(nlohmann::json manifest, selection_manifest(config, engine, summary, n_select, merge_json, extra));
    summary.seconds_total = seconds_since(t_start);
    for (size_t target_idx = 0; target_idx < coverage_json.size(); ++target_idx) {
        manifest["targets"][target_idx]["selection"] = coverage_json[target_idx];
    }
    if (dedup) {
        nlohmann::json by_reason = nlohmann::json::object();
        for (DropKind kind : {DropKind::kExact, DropKind::kNear, DropKind::kExactReference, DropKind::kNearReference}) {
            by_reason[drop_kind_name(kind)] =
                std::count_if(dropped.begin(), dropped.end(), [&](const DroppedRow& d) { return d.why.kind == kind; });
        }
        nlohmann::json against = nullptr;
        if (!config.dedup_against.empty()) {
            MONA_TRY(std::string against_sha, sha256_file(config.dedup_against));
            against = {{"path", config.dedup_against},
                       {"sha256", against_sha},
                       {"samples", dedup_context.reference.vecs.size()}};
        }
        manifest["parameters"]["dedup"] = {{"threshold", config.dedup},
                                           {"candidates_per_selected", config.diversity_candidates},
                                           {"against", against},
                                           {"dropped", by_reason},
                                           {"jaccard_evaluations", dedup_context.n_jaccard}};
    }
    // Only when asked: the paper's runs keep their manifests byte for byte.
    if (!config.prototype.is_mean()) {
        manifest["parameters"]["prototype"] = {{"rule", "contrast"}, {"beta", config.prototype.contrast_beta}};
    }
    if (config.length_strata > 0) manifest["parameters"]["length_strata"] = config.length_strata;
    if (config.diversity > 0.0) {
        manifest["parameters"]["diversity"] = {{"rule", "mmr"},
                                               {"lambda", config.diversity},
                                               {"candidates_per_selected", config.diversity_candidates},
                                               {"candidates", diversity_stats.n_candidates},
                                               {"jaccard_evaluations", diversity_stats.n_jaccard}};
    }
    manifest["timings_s"] = {{"targets", seconds_targets},
                             {"pool", seconds_pool},
                             {"write", seconds_write},
                             {"total", summary.seconds_total}};
    if (run.pool_stamp) MONA_RETURN_IF_ERROR(check_unchanged(config.pool_path, *run.pool_stamp, "pool"));
    MONA_RETURN_IF_ERROR(write_text(stage, "manifest.json", manifest.dump(2) + "\n"));
    MONA_RETURN_IF_ERROR(stage.commit());
    MONA_RETURN_IF_ERROR(remove_stale_selection_outputs(config));
    return summary;
}

}  // namespace mona::detail
