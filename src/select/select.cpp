#include "select/select.hpp"
#include "select/run_support.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "io/atomic_file.hpp"
#include "io/sample_reader.hpp"
#include "report/html_report.hpp"
#include "score/jaccard.hpp"
#include "score/topn.hpp"
#include "store/feature_store.hpp"
#include "util/comm.hpp"
#include "util/sha256.hpp"

#ifndef MONA_LLAMA_VERSION
#define MONA_LLAMA_VERSION "unknown"
#endif

namespace mona {
namespace {

using namespace detail;


bool valid_target_name(const std::string& name) {
    if (name.empty() || name == "." || name == "..") return false;
    for (char c : name) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
    }
    return true;
}

// Per pool sample, what the outputs need (task labels and snippets are read from the pool when writing).
struct PoolRow {
    uint64_t record_idx = 0;
    uint64_t line_no = 0;
    std::string id;
    int64_t n_tokens = 0;
    bool truncated = false;  // found when writing (the store keeps only the token count)
};

}  // namespace

Result<TargetSpec> parse_target_spec(const std::string& text) {
    TargetSpec spec;
    const size_t eq = text.find('=');
    if (eq == std::string::npos) {
        spec.path = text;
        spec.name = std::filesystem::path(text).filename().string();
        for (const char* ext : {".gz", ".jsonl", ".json"}) {
            if (spec.name.size() > std::strlen(ext) && spec.name.ends_with(ext)) {
                spec.name.resize(spec.name.size() - std::strlen(ext));
            }
        }
    } else {
        spec.name = text.substr(0, eq);
        spec.path = text.substr(eq + 1);
    }
    if (!valid_target_name(spec.name)) {
        return invalid_input(fmt::format("--target '{}': target name '{}' must be letters, digits, '_', '-' or '.'",
                                         text, spec.name));
    }
    if (spec.path.empty()) return invalid_input(fmt::format("--target '{}': missing file path after '='", text));
    return spec;
}

Result<QuotaSpec> parse_quota_spec(const std::string& text) {
    const size_t eq = text.find('=');
    if (eq == std::string::npos || eq == 0) {
        return invalid_input(fmt::format("--quota '{}': expected NAME=WEIGHT, e.g. math=300", text));
    }
    QuotaSpec spec;
    spec.name = text.substr(0, eq);
    const std::string number = text.substr(eq + 1);
    char* end = nullptr;
    errno = 0;
    spec.weight = std::strtod(number.c_str(), &end);
    if (number.empty() || *end != '\0' || errno != 0 || !std::isfinite(spec.weight) || spec.weight < 0.0) {
        return invalid_input(fmt::format("--quota '{}': weight '{}' must be a number >= 0", text, number));
    }
    return spec;
}

Status check_select_config(const SelectConfig& config) {
    if (config.targets.empty()) return invalid_input("no --target given: name at least one target exemplar file");
    std::map<std::string, int> seen;
    for (const auto& target : config.targets) {
        if (seen[target.name]++ > 0) return invalid_input(fmt::format("target name '{}' given twice", target.name));
    }
    if (config.merge != MergeMode::kNone && seen.count("merged") > 0) {
        return invalid_input("a target named 'merged' would collide with the --merge output folder merged/: rename it");
    }
    if (!config.quotas.empty() && config.merge != MergeMode::kQuota) {
        return invalid_input("--quota needs --merge quota");
    }
    if (config.merge == MergeMode::kQuota) {
        std::map<std::string, int> quoted;
        double total = 0.0;
        for (const auto& quota : config.quotas) {
            if (seen.count(quota.name) == 0) {
                return invalid_input(fmt::format("--quota {}=...: no --target is named '{}'", quota.name, quota.name));
            }
            if (quoted[quota.name]++ > 0) return invalid_input(fmt::format("--quota for '{}' given twice", quota.name));
            total += quota.weight;
        }
        for (const auto& target : config.targets) {
            if (quoted.count(target.name) == 0) {
                return invalid_input(fmt::format("--merge quota: target '{}' has no --quota {}=WEIGHT", target.name,
                                                 target.name));
            }
        }
        if (!(total > 0.0)) return invalid_input("--merge quota: every --quota is 0");
    }
    if (config.count < 0) return invalid_input(fmt::format("--count must be >= 1, got {}", config.count));
    if (config.count == 0 && !(config.ratio > 0.0 && config.ratio <= 1.0)) {
        return invalid_input(fmt::format("--ratio must be in (0, 1], got {}", config.ratio));
    }
    return Status();
}

Result<int32_t> resolve_layer(int32_t requested, const ModelInfo& model, const SaeInfo& sae) {
    if (sae.d_in != model.n_embd) {
        return invalid_input(fmt::format("SAE {} reads vectors of width d_in = {}, but model {} has n_embd = {}",
                                         sae.path, sae.d_in, model.path, model.n_embd));
    }
    int32_t layer = requested;
    if (sae.layer.has_value()) {
        if (requested >= 0 && requested != *sae.layer) {
            return invalid_input(fmt::format(
                "--layer {} contradicts the SAE's own layer {} (hook '{}' in {}; HF hidden_states numbering)",
                requested, *sae.layer, sae.hook, sae.path));
        }
        layer = *sae.layer;
    }
    if (layer < 0) layer = model.n_layer - 1;
    MONA_RETURN_IF_ERROR(layer_tensor_name(layer, model.n_layer, model.path).status());
    return layer;
}

namespace {

// The model, the SAE and the embedding settings of one run.
struct SelectEngine {
    SaeModel sae;
    Session session;
    EmbedOptions eopts;
    static Result<SelectEngine> open(const SelectConfig& config);
};

// What a run accumulates before it writes: target prototypes, one row and one score per target per pool sample.
struct SelectRun {
    SelectSummary summary;
    std::vector<SkipRow> skipped;
    std::vector<Prototype> prototypes;
    std::vector<std::vector<int64_t>> target_lengths;
    std::vector<PoolRow> rows;                // ascending record_idx
    std::vector<std::vector<double>> scores;  // [target][row]
    double seconds_targets = 0.0;
    double seconds_pool = 0.0;
    std::optional<FileStamp> pool_stamp;  // the pool as the run found it (checked before anything is committed)
};


Result<SelectEngine> SelectEngine::open(const SelectConfig& config) {
    MONA_TRY(SaeModel sae, SaeModel::open({config.sae_path}));
    SessionOptions sopts;
    sopts.model_path = config.model_path;
    sopts.n_threads = config.threads;
    sopts.batch_tokens = config.batch_tokens;
    sopts.max_tokens = config.max_tokens;
    sopts.template_name = config.template_name;
    sopts.cpu_repack = config.cpu_repack;
    sopts.system_prompt = config.system_prompt;
    sopts.verbose = config.verbose;
    MONA_TRY(Session session, Session::open(sopts));
    MONA_TRY(int32_t layer, resolve_layer(config.layer, session.info(), sae.info()));
    if (config.k < 0 || (config.k > 0 && sae.info().k == 0)) {
        return invalid_input(fmt::format("--k {} needs a TopK SAE with k >= 1; SAE {} is {}", config.k, sae.info().path,
                                         sae.info().architecture));
    }
    if (config.k > sae.info().d_sae) {
        return invalid_input(fmt::format("--k {} is larger than the SAE width {}", config.k, sae.info().d_sae));
    }
    EmbedOptions eopts;
    eopts.layer = layer;
    eopts.k_override = config.k;
    eopts.token_mode = config.token_mode;
    eopts.pooling = config.pooling;
    return SelectEngine{std::move(sae), std::move(session), eopts};
}

Status embed_targets(const SelectConfig& config, SelectEngine& engine, SelectRun& run) {
    Session& session = engine.session;
    const SaeModel& sae = engine.sae;
    const EmbedOptions& eopts = engine.eopts;
    std::vector<SkipRow>& skipped = run.skipped;
    SelectSummary& summary = run.summary;
    std::vector<Prototype>& prototypes = run.prototypes;
    std::vector<std::vector<int64_t>>& target_lengths = run.target_lengths;
    target_lengths.assign(config.targets.size(), {});
    summary.layer = eopts.layer;
    const auto t_targets = Clock::now();
    for (size_t target_idx = 0; target_idx < config.targets.size(); ++target_idx) {
        const TargetSpec& target = config.targets[target_idx];
        std::vector<SparseVec> vecs;
        Embedder embedder(session, sae, eopts, [&](EmbeddedSample& item) -> Status {
            target_lengths[target_idx].push_back(static_cast<int64_t>(item.tokens.tokens.size()));
            vecs.push_back(std::move(item.pooled));
            return Status();
        });
        const size_t skipped_before = skipped.size();
        MONA_RETURN_IF_ERROR(stream_samples(target.path, config, session, skipped,
                                            [&](const Sample&, TokenizedSample tokens) -> Status {
                                                return embedder.add(vecs.size(), std::move(tokens));
                                            }));
        MONA_RETURN_IF_ERROR(embedder.flush());
        summary.n_target_skipped += static_cast<int64_t>(skipped.size() - skipped_before);
        if (vecs.empty()) {
            return invalid_input(fmt::format("target '{}': {} holds no usable exemplar", target.name, target.path));
        }
        prototypes.push_back(make_prototype(vecs, sae.info().d_sae));
        TargetResult result;
        result.name = target.name;
        result.n_exemplars = static_cast<int64_t>(vecs.size());
        result.prototype_l1 = prototypes.back().l1;
        for (float v : prototypes.back().dense) result.prototype_nnz += v != 0.0f;
        summary.targets.push_back(result);
    }
    run.seconds_targets = seconds_since(t_targets);
    return Status();
}

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
    int64_t n_select = config.count > 0 ? config.count : std::llround(config.ratio * static_cast<double>(n_pool));
    n_select = std::clamp<int64_t>(n_select, 1, n_pool);

    std::vector<std::string> labels(rows.size()), snippets(rows.size());
    std::vector<std::vector<uint64_t>> selected(n_targets);
    std::unordered_map<uint64_t, std::string> raw_by_record;  // record_idx -> raw bytes, selected records only
    for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
        selected[target_idx] = top_n(scores[target_idx], static_cast<size_t>(n_select));
        for (uint64_t pos : selected[target_idx]) raw_by_record.emplace(rows[pos].record_idx, std::string());
        summary.targets[target_idx].n_selected = static_cast<int64_t>(selected[target_idx].size());
    }
    // The report shows a snippet of each target's top kReportTopN samples only.
    std::unordered_set<uint64_t> shown;
    for (const auto& target_selected : selected) {
        for (size_t place = 0; place < std::min(kReportTopN, target_selected.size()); ++place) {
            shown.insert(target_selected[place]);
        }
    }
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
                sample = parse_sample(record.bytes, config.format, {config.pool_path, record.line_no, record.record_idx});
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
                Result<TokenizedSample> tokens = prepare_record(record, config.pool_path, config, engine.session, sample);
                if (tokens.ok()) {
                    return invalid_input(fmt::format("{}:{}: record {} is not in the store, yet it embeds without error "
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
        MONA_TRY(StagedWriter tsv_file, StagedWriter::open(stage, name + "/scores.tsv"));
        std::string tsv = "record\tid\tline\ttask\tn_tokens\ttruncated\tscore\trank\tselected\n";
        for (int64_t pos = 0; pos < n_pool; ++pos) {
            const PoolRow& row = rows[static_cast<size_t>(pos)];
            if (tsv.size() >= (1u << 16)) {
                MONA_RETURN_IF_ERROR(tsv_file.write(tsv));
                tsv.clear();
            }
            tsv += fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{:.9g}\t{}\t{}\n", row.record_idx, tsv_field(row.id), row.line_no,
                               tsv_field(labels[pos]), row.n_tokens, row.truncated ? 1 : 0, scores[target_idx][pos],
                               rank[pos], rank[pos] <= static_cast<uint64_t>(n_select) ? 1 : 0);
        }
        MONA_RETURN_IF_ERROR(tsv_file.write(tsv));
        MONA_RETURN_IF_ERROR(tsv_file.close());
    }
    nlohmann::json merge_json;
    if (config.merge != MergeMode::kNone) {
        // Each target's top n is enough: no pick of the merge lies below rank n (score/merge_select.hpp).
        std::vector<double> weights(n_targets, 1.0);
        for (size_t target_idx = 0; target_idx < n_targets && config.merge == MergeMode::kQuota; ++target_idx) {
            for (const auto& quota : config.quotas) {
                if (quota.name == config.targets[target_idx].name) weights[target_idx] = quota.weight;
            }
        }
        MONA_TRY(std::vector<uint64_t> quotas, apportion(static_cast<uint64_t>(n_select), weights));
        const std::vector<MergedPick> picks = merge_rankings(selected, quotas, static_cast<uint64_t>(n_select));
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
        nlohmann::json per_target = nlohmann::json::array();
        for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
            per_target.push_back({{"name", config.targets[target_idx].name},
                                  {"weight", weights[target_idx]},
                                  {"quota", quotas[target_idx]},
                                  {"selected", n_by_target[target_idx]}});
        }
        merge_json = {{"mode", merge_mode_name(config.merge)}, {"selected", summary.n_merged}, {"targets", per_target}};
    }
    if (config.skip_bad) {
        std::string tsv = "file\tline\trecord\terror\n";
        for (const auto& row : skipped) {
            tsv += fmt::format("{}\t{}\t{}\t{}\n", tsv_field(row.path), row.line_no, row.record_idx, tsv_field(row.error));
        }
        MONA_RETURN_IF_ERROR(write_text(stage, "skipped.tsv", tsv));
    }

    // Report.
    ReportInput report;
    report.title = "mona selection";
    report.pool_labels = std::move(labels);
    report.pool_snippets = std::move(snippets);
    for (const auto& row : rows) {
        report.pool_token_counts.push_back(row.n_tokens);
        report.pool_ids.push_back(row.id);
    }
    for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
        ReportTarget target;
        target.name = config.targets[target_idx].name;
        target.label = config.targets[target_idx].name;
        target.pool_scores = std::move(run.scores[target_idx]);  // the last use of the scores
        target.selected = selected[target_idx];
        target.target_token_counts = target_lengths[target_idx];
        report.targets.push_back(std::move(target));
    }
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
    MONA_RETURN_IF_ERROR(write_text(stage, "report.html", render_html_report(report)));
    summary.report = std::move(report);
    const double seconds_write = seconds_since(t_write);

    // Manifest last, so it can record the hashes and every count.
    nlohmann::json manifest;
    manifest["tool"] = {{"name", "mona"}, {"version", MONA_VERSION}, {"llama_cpp", MONA_LLAMA_VERSION}};
    manifest["command_line"] = config.command_line;
    const ModelInfo& mi = session.info();
    MONA_TRY(std::string model_sha, sha256_file(config.model_path));
    manifest["model"] = {{"path", config.model_path}, {"sha256", model_sha}, {"arch", mi.arch},
                         {"name", mi.name},            {"n_layer", mi.n_layer}, {"n_embd", mi.n_embd}};
    MONA_TRY(std::string sae_sha, sha256_file(si.weights_file));
    manifest["sae"] = {{"path", si.path},          {"weights_file", si.weights_file}, {"sha256", sae_sha},
                       {"format", si.format},      {"architecture", si.architecture}, {"d_in", si.d_in},
                       {"d_sae", si.d_sae},        {"k", si.k},                       {"hook", si.hook}};
    manifest["parameters"] = {{"layer", summary.layer},
                              {"llama_tensor", summary.layer == 0 ? std::string("embd")
                                                                  : fmt::format("l_out-{}", summary.layer - 1)},
                              {"k", config.k > 0 ? config.k : si.k},
                              {"tokens", token_mode_name(config.token_mode)},
                              {"pooling", pooling_mode_name(config.pooling)},
                              {"similarity", "generalized_jaccard"},
                              {"format", input_format_name(config.format)},
                              {"template", config.template_name},
                              {"cpu_repack", config.cpu_repack},
                              {"system_prompt", system_prompt_param(config.system_prompt)},
                              {"max_tokens", config.max_tokens},
                              {"batch_tokens", config.batch_tokens},
                              {"threads", config.threads},
                              {"ratio", config.count > 0 ? nlohmann::json(nullptr) : nlohmann::json(config.ratio)},
                              {"count", n_select},
                              {"skip_bad", config.skip_bad}};
    MONA_TRY(std::string pool_sha, sha256_file(config.pool_path));
    manifest["pool"] = {{"path", config.pool_path},          {"sha256", pool_sha},
                        {"read", summary.n_pool_read},       {"skipped", summary.n_pool_skipped},
                        {"truncated", summary.n_pool_truncated}, {"tokens", summary.n_pool_tokens}};
    nlohmann::json targets = nlohmann::json::array();
    for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
        const auto& t = summary.targets[target_idx];
        MONA_TRY(std::string target_sha, sha256_file(config.targets[target_idx].path));
        targets.push_back({{"name", t.name},
                           {"path", config.targets[target_idx].path},
                           {"sha256", target_sha},
                           {"exemplars", t.n_exemplars},
                           {"selected", t.n_selected},
                           {"prototype_nnz", t.prototype_nnz},
                           {"prototype_l1", t.prototype_l1}});
    }
    manifest["targets"] = targets;
    manifest["targets_skipped"] = summary.n_target_skipped;
    if (!merge_json.is_null()) manifest["merge"] = merge_json;
    for (const auto& [key, value] : extra.items()) manifest[key] = value;
    summary.seconds_total = seconds_since(t_start);
    manifest["timings_s"] = {{"targets", seconds_targets}, {"pool", seconds_pool}, {"write", seconds_write},
                             {"total", summary.seconds_total}};
    if (run.pool_stamp) MONA_RETURN_IF_ERROR(check_unchanged(config.pool_path, *run.pool_stamp, "pool"));
    MONA_RETURN_IF_ERROR(write_text(stage, "manifest.json", manifest.dump(2) + "\n"));
    MONA_RETURN_IF_ERROR(stage.commit());
    return summary;
}

}  // namespace

namespace {

// The parameters that decide a stored vector; a store records them and score/resume check them.
Result<nlohmann::json> store_params(const SelectConfig& config, const SelectEngine& engine) {
    MONA_TRY(std::string model_sha, sha256_file(config.model_path));
    MONA_TRY(std::string sae_sha, sha256_file(engine.sae.info().weights_file));
    MONA_TRY(std::string pool_sha, sha256_file(config.pool_path));
    const SaeInfo& si = engine.sae.info();
    return nlohmann::json{{"model_path", config.model_path},
                          {"model_sha256", model_sha},
                          {"sae_path", si.path},
                          {"sae_sha256", sae_sha},
                          {"layer", engine.eopts.layer},
                          {"k", config.k > 0 ? config.k : si.k},
                          {"tokens", token_mode_name(config.token_mode)},
                          {"pooling", pooling_mode_name(config.pooling)},
                          {"template", config.template_name},
                          {"cpu_repack", config.cpu_repack},
                          {"system_prompt", system_prompt_param(config.system_prompt)},
                          {"format", input_format_name(config.format)},
                          {"max_tokens", config.max_tokens},
                          {"pool_path", config.pool_path},
                          {"pool_sha256", pool_sha},
                          {"source_pos", "line"},
                          {"tool", std::string("mona ") + MONA_VERSION}};
}

}  // namespace

namespace {

// The stored samples to run through the model again when a store is resumed: those of the last decode batch an
// uninterrupted pass would have had open at the resume point. Their vectors are discarded; running them again
// makes every further sample's batch, and therefore its vector, exactly that of one uninterrupted pass (batches
// depend on the samples' token counts alone, see BatchRule, and the store records every count).
Result<std::unordered_set<uint64_t>> samples_to_replay(const std::string& dir, uint64_t n_done, const BatchRule& rule) {
    std::unordered_set<uint64_t> replay;
    if (n_done == 0) return replay;
    MONA_TRY(StoreReader reader, StoreReader::open(dir));
    std::vector<int64_t> n_tokens;
    std::vector<uint64_t> records;
    for (size_t shard_idx = 0; shard_idx < reader.n_shards() && records.size() < n_done; ++shard_idx) {
        MONA_RETURN_IF_ERROR(reader.for_each_in_shard(shard_idx, [&](const StoredSample& stored) -> Status {
            if (records.size() < n_done) {
                records.push_back(stored.record_idx);
                n_tokens.push_back(stored.n_tokens);
            }
            return Status();
        }));
    }
    MONA_ASSERT(records.size() == n_done, "a resumed store holds fewer samples than its writer reported");
    for (size_t pos = open_batch_start(rule, n_tokens); pos < records.size(); ++pos) replay.insert(records[pos]);
    return replay;
}

// Embeds the records of one slice of config.pool_path that the store at config.out_dir lacks (all of
// `mona embed` without mpirun, and the model pass of `mona select`).
Result<EmbedSummary> embed_pool(const SelectConfig& config, const EmbedStoreOptions& options, SelectEngine& engine) {
    if (options.n_slices < 1 || options.slice_idx >= options.n_slices) {
        return invalid_input(fmt::format("--shard {}/{}: expected i/n with 0 <= i < n", options.slice_idx, options.n_slices));
    }
    MONA_TRY(const FileStamp pool_stamp, FileStamp::of(config.pool_path));
    MONA_TRY(nlohmann::json params, store_params(config, engine));
    StoreOptions sopts;
    sopts.keep = options.keep;
    sopts.shard_rows = options.shard_rows;
    sopts.params_json = params.dump();
    sopts.resume = true;
    sopts.slice_idx = options.slice_idx;
    sopts.n_slices = options.n_slices;
    MONA_TRY(StoreWriter writer, StoreWriter::open(config.out_dir, sopts));
    EmbedSummary summary;
    summary.n_resumed = static_cast<int64_t>(writer.n_done());
    const std::optional<uint64_t> last_done = writer.last_record_idx();

    std::vector<SkipRow> skipped;
    struct Queued {
        StoredSample stored;  // record_idx/line/id, then the vector
        bool replay = false;  // already stored: run only to rebuild the batch
    };
    std::vector<Queued> queued;  // by Embedder tag
    Progress progress(config.progress, "embed");
    Embedder embedder(engine.session, engine.sae, engine.eopts, [&](EmbeddedSample& item) -> Status {
        Queued& entry = queued[item.tag];
        if (entry.replay) return Status();
        entry.stored.n_tokens = static_cast<uint32_t>(item.tokens.tokens.size());
        entry.stored.vec = std::move(item.pooled);
        Status status = writer.append(entry.stored);
        entry.stored = StoredSample();  // release the vector
        ++summary.n_embedded;
        return status;
    });
    MONA_TRY(std::unordered_set<uint64_t> replay, samples_to_replay(config.out_dir, writer.n_done(), embedder.rule()));
    Status streamed = stream_samples(config.pool_path, config, engine.session, skipped,
                                     [&](const Sample& sample, TokenizedSample tokens) -> Status {
                                         Queued entry;
                                         entry.stored.record_idx = sample.record_idx;
                                         entry.stored.source_pos = sample.line_no;
                                         entry.stored.id = sample.id;
                                         entry.replay = replay.count(sample.record_idx) > 0;
                                         summary.n_truncated += tokens.truncated;
                                         // Stored by an earlier run: read and tokenised only so that the skip
                                         // list and the truncation count cover the whole slice, not this run.
                                         if (last_done && sample.record_idx <= *last_done && !entry.replay) {
                                             return Status();
                                         }
                                         queued.push_back(std::move(entry));
                                         MONA_RETURN_IF_ERROR(embedder.add(queued.size() - 1, std::move(tokens)));
                                         progress.update(summary.n_embedded, embedder.n_tokens_run());
                                         return Status();
                                     },
                                     [&](uint64_t record_idx) {
                                         // Other slices' records are not even parsed; stored ones never reach the
                                         // model (see above).
                                         return belongs_to_slice(record_idx, options.slice_idx, options.n_slices);
                                     });
    MONA_RETURN_IF_ERROR(streamed);
    MONA_RETURN_IF_ERROR(embedder.flush());
    progress.update(summary.n_embedded, embedder.n_tokens_run(), true);
    // The store records the pool's sha256 from the start: vectors of a pool that changed since must not pass for it.
    MONA_RETURN_IF_ERROR(check_unchanged(config.pool_path, pool_stamp, "pool"));
    MONA_RETURN_IF_ERROR(writer.commit());
    summary.n_skipped = static_cast<int64_t>(skipped.size());
    if (config.skip_bad) {
        std::string tsv = "file\tline\trecord\terror\n";
        for (const auto& row : skipped) {
            tsv += fmt::format("{}\t{}\t{}\t{}\n", tsv_field(row.path), row.line_no, row.record_idx, tsv_field(row.error));
        }
        MONA_RETURN_IF_ERROR(write_file_atomic(config.out_dir + fmt::format("/skipped-{}-of-{}.tsv", options.slice_idx,
                                                                            options.n_slices), tsv));
    }
    MONA_TRY(StoreReader reader, StoreReader::open(config.out_dir));
    summary.store_size = reader.size();
    summary.bytes_on_disk = reader.bytes_on_disk();
    return summary;
}

// One process embeds one slice of the pool into config.out_dir (all of `mona embed` without mpirun).
Result<EmbedSummary> embed_slice(const SelectConfig& config, const EmbedStoreOptions& options) {
    if (options.n_slices < 1 || options.slice_idx >= options.n_slices) {
        return invalid_input(fmt::format("--shard {}/{}: expected i/n with 0 <= i < n", options.slice_idx, options.n_slices));
    }
    MONA_TRY(SelectEngine engine, SelectEngine::open(config));
    return embed_pool(config, options, engine);
}


// What a rank of `mona embed` under mpirun tells rank 0 about its slice.
std::string pack_embed_result(const Result<EmbedSummary>& result) {
    ByteWriter writer;
    writer.put<int32_t>(static_cast<int32_t>(result.status().code()));
    writer.put_string(result.status().message());
    const EmbedSummary summary = result.ok() ? result.value() : EmbedSummary();
    writer.put(summary.n_embedded);
    writer.put(summary.n_resumed);
    writer.put(summary.n_skipped);
    writer.put(summary.n_truncated);
    return std::move(writer.bytes());
}

}  // namespace

Result<EmbedSummary> run_embed(const SelectConfig& config, const EmbedStoreOptions& options, const Comm& comm) {
    if (comm.size() == 1) return embed_slice(config, options);
    // Every rank decides the same way here: the check uses only the flags.
    if (options.n_slices != 1) {
        return invalid_input(fmt::format("--shard {}/{} splits the pool by hand, but under mpirun the {} ranks split "
                                         "it: give one or the other",
                                         options.slice_idx, options.n_slices, comm.size()));
    }
    namespace fs = std::filesystem;
    const std::string slices_dir = config.out_dir + "/.mpi-slices";
    // Rank 0 decides the plan for every rank. A store begun without MPI (or finished by an earlier MPI run, which
    // leaves no slices behind) is resumed by rank 0 alone, exactly as `mona embed` would resume it.
    std::string plan;
    if (comm.is_root()) {
        std::error_code ec;
        plan = fs::exists(config.out_dir + "/manifest.json", ec) && !fs::exists(slices_dir, ec) ? "resume" : "slices";
    }
    comm.broadcast(plan);
    if (plan == "resume") {
        Result<EmbedSummary> result = comm.is_root() ? embed_slice(config, options) : Result<EmbedSummary>(EmbedSummary());
        MONA_RETURN_IF_ERROR(comm.broadcast_status(result.status()));
        return result;
    }

    // Rank r embeds slice r of n into <out>/.mpi-slices/r-of-n, resumable like any slice store.
    const auto slice_dir = [&](int rank) { return fmt::format("{}/{}-of-{}", slices_dir, rank, comm.size()); };
    SelectConfig slice_config = config;
    slice_config.out_dir = slice_dir(comm.rank());
    slice_config.progress = config.progress && comm.is_root();
    EmbedStoreOptions slice_options = options;
    slice_options.slice_idx = static_cast<uint32_t>(comm.rank());
    slice_options.n_slices = static_cast<uint32_t>(comm.size());
    const std::vector<std::string> results = comm.gather(pack_embed_result(embed_slice(slice_config, slice_options)));

    // Rank 0 checks every slice, merges them into <out> (the store `mona merge` makes of the slices) and removes
    // the slices; its status goes to every rank.
    Result<EmbedSummary> merged = EmbedSummary();
    if (comm.is_root()) {
        merged = [&]() -> Result<EmbedSummary> {
            EmbedSummary summary;
            std::vector<std::string> dirs;
            for (int rank = 0; rank < comm.size(); ++rank) {
                ByteReader reader(results[static_cast<size_t>(rank)]);
                const auto code = static_cast<StatusCode>(reader.get<int32_t>());
                const std::string message = reader.get_string();
                if (code != StatusCode::kOk) {
                    return Status(code, message).with_context(fmt::format("rank {} of {}", rank, comm.size()));
                }
                summary.n_embedded += reader.get<int64_t>();
                summary.n_resumed += reader.get<int64_t>();
                summary.n_skipped += reader.get<int64_t>();
                summary.n_truncated += reader.get<int64_t>();
                dirs.push_back(slice_dir(rank));
            }
            MergeOptions merge_options;
            merge_options.shard_rows = options.shard_rows;
            merge_options.resume = true;
            MONA_RETURN_IF_ERROR(merge_stores(config.out_dir, dirs, merge_options));
            if (config.skip_bad) {
                for (int rank = 0; rank < comm.size(); ++rank) {
                    const std::string name = fmt::format("skipped-{}-of-{}.tsv", rank, comm.size());
                    std::error_code ec;
                    fs::rename(slice_dir(rank) + "/" + name, config.out_dir + "/" + name, ec);
                    if (ec) {
                        return io_error(fmt::format("cannot move {}/{} into {}: {}", slice_dir(rank), name,
                                                    config.out_dir, ec.message()));
                    }
                }
            }
            std::error_code ec;
            fs::remove_all(slices_dir, ec);
            if (ec) return io_error(fmt::format("cannot remove the slice stores in {}: {}", slices_dir, ec.message()));
            MONA_TRY(StoreReader reader, StoreReader::open(config.out_dir));
            summary.store_size = reader.size();
            summary.bytes_on_disk = reader.bytes_on_disk();
            return summary;
        }();
    }
    MONA_RETURN_IF_ERROR(comm.broadcast_status(merged.status()));
    return merged;
}

namespace {

// Rank 0's part of `mona score` before any sample is scored: the stores checked against the model and SAE, the
// targets embedded with the stores' settings. Fills `engine`, `run` (prototypes, target results) and `extra`.
Status score_setup(SelectConfig& config, const std::vector<std::string>& store_dirs,
                   std::optional<SelectEngine>& engine, SelectRun& run, nlohmann::json& extra) {
    if (store_dirs.empty()) return invalid_input("no --store given");
    MONA_TRY(StoreSet stores, StoreSet::open(store_dirs));
    nlohmann::json params = nlohmann::json::parse(stores.params_json(), nullptr, false);
    if (params.is_discarded() || !params.contains("model_sha256") || !params.contains("sae_sha256")) {
        return invalid_input(fmt::format("store {} was not written by `mona embed` (no model/SAE parameters)",
                                         store_dirs.front()));
    }
    // The store's settings decide how the targets are embedded.
    std::string tokens, pooling, format, system_prompt;
    try {
        if (config.model_path.empty()) config.model_path = params.value("model_path", "");
        if (config.sae_path.empty()) config.sae_path = params.value("sae_path", "");
        config.pool_path = params.value("pool_path", "");
        config.layer = params.value("layer", -1);
        config.k = params.value("k", 0);
        tokens = params.value("tokens", "no-bos");
        pooling = params.value("pooling", "mean");
        format = params.value("format", "auto");
        config.template_name = params.value("template", "model");
        config.cpu_repack = params.value("cpu_repack", false);
        system_prompt = params.value("system_prompt", "");
        config.max_tokens = params.value("max_tokens", 2048);
    } catch (const nlohmann::json::exception& e) {
        return invalid_input(fmt::format("{}/manifest.json: a run parameter under \"params\" has the wrong type: {}",
                                         store_dirs.front(), e.what()));
    }
    MONA_TRY(config.token_mode, parse_token_mode(tokens));
    MONA_TRY(config.pooling, parse_pooling_mode(pooling));
    MONA_TRY(config.format, parse_input_format(format));
    if (system_prompt.empty()) {
        return invalid_input(fmt::format("store {} has no system_prompt parameter: it was embedded before mona "
                                         "rendered samples with the model's Jinja chat template; re-embed the pool",
                                         store_dirs.front()));
    }
    MONA_TRY(config.system_prompt, parse_system_prompt_param(system_prompt));
    MONA_RETURN_IF_ERROR(check_select_config(config));
    MONA_TRY(run.pool_stamp, FileStamp::of(config.pool_path));
    MONA_TRY(SelectEngine opened, SelectEngine::open(config));
    engine.emplace(std::move(opened));
    MONA_TRY(nlohmann::json now, store_params(config, *engine));
    for (const char* key : {"model_sha256", "sae_sha256", "pool_sha256", "layer", "k"}) {
        if (now[key] != params[key]) {
            return invalid_input(fmt::format("store {} was embedded with {} = {}, but now {} = {} ({}): re-embed, or "
                                             "point --model/--sae at the original files",
                                             store_dirs.front(), key, params[key].dump(), key, now[key].dump(),
                                             std::string(key) == "pool_sha256" ? config.pool_path : "this run"));
        }
    }
    if (config.k > 0 && config.k == engine->sae.info().k) config.k = 0;  // the SAE's own k: nothing overridden
    extra = {{"stores", store_dirs}, {"store_keep", stores.keep()}};
    return embed_targets(config, *engine, run);
}

// The prototypes as bytes for the other ranks: bit-exact, so every rank scores exactly as rank 0 would.
std::string pack_prototypes(const std::vector<Prototype>& prototypes) {
    ByteWriter writer;
    writer.put<uint64_t>(prototypes.size());
    for (const auto& p : prototypes) {
        writer.put_vector(p.dense);
        writer.put(p.l1);
        writer.put(p.l2);
    }
    return std::move(writer.bytes());
}

std::vector<Prototype> unpack_prototypes(const std::string& bytes) {
    ByteReader reader(bytes);
    std::vector<Prototype> prototypes(reader.get<uint64_t>());
    for (auto& p : prototypes) {
        p.dense = reader.get_vector<float>();
        p.l1 = reader.get<double>();
        p.l2 = reader.get<double>();
    }
    return prototypes;
}

// One rank's share of the scoring: the store shards numbered unit_idx (the stores in slice order, then their
// shards) with unit_idx % n_ranks == rank. Packs the status, then every row and its score per target.
std::string score_share(const std::vector<std::string>& store_dirs, const std::vector<Prototype>& prototypes,
                        const Comm& comm) {
    std::vector<PoolRow> rows;
    std::vector<std::vector<double>> scores(prototypes.size());
    const Status status = [&]() -> Status {
        MONA_TRY(StoreSet stores, StoreSet::open(store_dirs));
        size_t unit_idx = 0;
        for (size_t store_idx = 0; store_idx < stores.n_stores(); ++store_idx) {
            const StoreReader& reader = stores.store(store_idx);
            for (size_t shard_idx = 0; shard_idx < reader.n_shards(); ++shard_idx, ++unit_idx) {
                if (unit_idx % static_cast<size_t>(comm.size()) != static_cast<size_t>(comm.rank())) continue;
                MONA_RETURN_IF_ERROR(reader.for_each_in_shard(shard_idx, [&](const StoredSample& stored) -> Status {
                    PoolRow row;
                    row.record_idx = stored.record_idx;
                    row.line_no = stored.source_pos;
                    row.id = stored.id;
                    row.n_tokens = stored.n_tokens;
                    rows.push_back(std::move(row));
                    for (size_t target_idx = 0; target_idx < prototypes.size(); ++target_idx) {
                        scores[target_idx].push_back(jaccard(stored.vec, prototypes[target_idx]));
                    }
                    return Status();
                }));
            }
        }
        return Status();
    }();
    ByteWriter writer;
    writer.put<int32_t>(static_cast<int32_t>(status.code()));
    writer.put_string(status.message());
    if (!status.ok()) return std::move(writer.bytes());
    writer.put<uint64_t>(rows.size());
    for (const auto& row : rows) {
        writer.put(row.record_idx);
        writer.put(row.line_no);
        writer.put(row.n_tokens);
        writer.put_string(row.id);
    }
    for (const auto& target_scores : scores) writer.put_vector(target_scores);
    return std::move(writer.bytes());
}

// Rank 0: every rank's rows and scores into `run`, in source order (ascending record_idx).
Status collect_shares(std::vector<std::string>& shares, const Comm& comm, const std::string& store_dir,
                      SelectRun& run) {
    const size_t n_targets = run.prototypes.size();
    std::vector<PoolRow> rows;
    std::vector<std::vector<double>> scores(n_targets);
    for (size_t rank = 0; rank < shares.size(); ++rank) {
        ByteReader reader(shares[rank]);
        const auto code = static_cast<StatusCode>(reader.get<int32_t>());
        const std::string message = reader.get_string();
        if (code != StatusCode::kOk) {
            const Status status(code, message);
            return comm.size() > 1 ? status.with_context(fmt::format("rank {} of {}", rank, comm.size())) : status;
        }
        const uint64_t n_rows = reader.get<uint64_t>();
        for (uint64_t row_idx = 0; row_idx < n_rows; ++row_idx) {
            PoolRow row;
            row.record_idx = reader.get<uint64_t>();
            row.line_no = reader.get<uint64_t>();
            row.n_tokens = reader.get<int64_t>();
            row.id = reader.get_string();
            rows.push_back(std::move(row));
        }
        for (auto& target_scores : scores) {
            const std::vector<double> share = reader.get_vector<double>();
            target_scores.insert(target_scores.end(), share.begin(), share.end());
        }
        std::string().swap(shares[rank]);  // release the message as soon as it is read
    }
    std::vector<size_t> order(rows.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rows[a].record_idx < rows[b].record_idx; });
    run.rows.clear();
    run.rows.reserve(rows.size());
    run.scores.assign(n_targets, {});
    for (auto& target_scores : run.scores) target_scores.reserve(rows.size());
    for (size_t place = 0; place < order.size(); ++place) {
        if (place > 0 && rows[order[place]].record_idx == rows[order[place - 1]].record_idx) {
            return invalid_input(fmt::format("stores {} ...: record {} is stored twice", store_dir,
                                             rows[order[place]].record_idx));
        }
        run.rows.push_back(std::move(rows[order[place]]));
        for (size_t target_idx = 0; target_idx < n_targets; ++target_idx) {
            run.scores[target_idx].push_back(scores[target_idx][order[place]]);
        }
    }
    return Status();
}

// Scores every sample of the stores against run.prototypes (rank 0's) on the ranks of `comm`; rank 0 gathers rows
// and scores, orders them by record and writes the outputs. engine is set on rank 0 only.
Result<SelectSummary> score_and_write(const SelectConfig& config, std::optional<SelectEngine>& engine, SelectRun& run,
                                      const std::vector<std::string>& store_dirs, const Comm& comm,
                                      const nlohmann::json& extra, Clock::time_point t_start) {
    std::string packed = comm.is_root() ? pack_prototypes(run.prototypes) : std::string();
    comm.broadcast(packed);
    const std::vector<Prototype> prototypes = comm.is_root() ? run.prototypes : unpack_prototypes(packed);
    const auto t_score = Clock::now();
    std::vector<std::string> shares = comm.gather(score_share(store_dirs, prototypes, comm));
    Result<SelectSummary> summary = SelectSummary();
    if (comm.is_root()) {
        summary = [&]() -> Result<SelectSummary> {
            MONA_RETURN_IF_ERROR(collect_shares(shares, comm, store_dirs.front(), run));
            run.summary.n_pool_read = static_cast<int64_t>(run.rows.size());
            for (const auto& row : run.rows) run.summary.n_pool_tokens += row.n_tokens;
            run.seconds_pool += seconds_since(t_score);
            if (run.rows.empty()) {
                return invalid_input(fmt::format("pool {} holds no usable sample (store {})", config.pool_path,
                                                 store_dirs.front()));
            }
            return write_selection(config, *engine, run, t_start, extra);
        }();
    }
    MONA_RETURN_IF_ERROR(comm.broadcast_status(summary.status()));
    return summary;
}

}  // namespace

Result<SelectSummary> run_score(SelectConfig config, const std::vector<std::string>& store_dirs, const Comm& comm) {
    const auto t_start = Clock::now();
    // Rank 0 checks the stores and embeds the targets; every rank gets the prototypes and scores its share.
    std::optional<SelectEngine> engine;
    SelectRun run;
    nlohmann::json extra;
    Status status;
    RunFolderLock out_lock;  // rank 0 alone writes --out
    if (comm.is_root()) {
        status = [&]() -> Status {
            MONA_RETURN_IF_ERROR(check_select_config(config));
            MONA_TRY(out_lock, RunFolderLock::acquire(config.out_dir));
            return score_setup(config, store_dirs, engine, run, extra);
        }();
    }
    MONA_RETURN_IF_ERROR(comm.broadcast_status(status));
    return score_and_write(config, engine, run, store_dirs, comm, extra, t_start);
}

namespace {

// Select's own store (<out>/.store) is kept only to resume the same run: one left by a run with other parameters
// (another pool, model, k, ...) or that cannot be read is removed, so that the pool pass starts afresh.
Status discard_other_store(const SelectConfig& embed_config, const EmbedStoreOptions& options,
                           const SelectEngine& engine) {
    namespace fs = std::filesystem;
    const std::string& dir = embed_config.out_dir;
    std::error_code ec;
    if (!fs::exists(dir, ec)) return Status();
    MONA_TRY(nlohmann::json params, store_params(embed_config, engine));
    Result<StoreReader> reader = StoreReader::open(dir);
    const uint64_t shard_rows = options.shard_rows ? options.shard_rows : kDefaultShardRows;
    if (reader.ok() && reader->params_json() == params.dump() && reader->shard_rows() == shard_rows &&
        reader->keep() == options.keep && reader->n_slices() == 1) {
        return Status();
    }
    fs::remove_all(dir, ec);
    if (ec) return io_error(fmt::format("cannot remove the stale store {}: {}", dir, ec.message()));
    return Status();
}

}  // namespace

Result<SelectSummary> run_select(const SelectConfig& config) {
    const auto t_start = Clock::now();
    MONA_RETURN_IF_ERROR(check_select_config(config));
    // Held until the store below is removed: the last thing the run does in --out.
    MONA_TRY(RunFolderLock out_lock, RunFolderLock::acquire(config.out_dir));
    SelectRun run;
    MONA_TRY(run.pool_stamp, FileStamp::of(config.pool_path));
    std::optional<SelectEngine> engine;
    {
        MONA_TRY(SelectEngine opened, SelectEngine::open(config));
        engine.emplace(std::move(opened));
    }
    MONA_RETURN_IF_ERROR(embed_targets(config, *engine, run));

    // The model pass over the pool goes into a store (resumable: rerunning the same command continues it), which
    // is then scored exactly as `mona score` scores it.
    const bool own_store = config.store_dir.empty();
    SelectConfig embed_config = config;
    embed_config.out_dir = own_store ? config.out_dir + "/.store" : config.store_dir;
    EmbedStoreOptions options;
    options.shard_rows = config.store_shard_rows;
    if (own_store) MONA_RETURN_IF_ERROR(discard_other_store(embed_config, options, *engine));
    Result<SelectSummary> summary = [&]() -> Result<SelectSummary> {
        const auto t_pool = Clock::now();
        MONA_TRY(EmbedSummary embedded, embed_pool(embed_config, options, *engine));
        run.summary.n_pool_resumed = embedded.n_resumed;
        run.seconds_pool = seconds_since(t_pool);
        return score_and_write(config, engine, run, {embed_config.out_dir}, Comm::local(), nlohmann::json::object(),
                               t_start);
    }();
    // Select's own store goes when the run ends, in success or error (only an interruption leaves it to resume);
    // a --store DIR stays.
    if (own_store) {
        std::error_code ec;
        std::filesystem::remove_all(embed_config.out_dir, ec);
        if (ec && summary.ok()) {
            return io_error(fmt::format("the outputs are in {}, but the store {} could not be removed: {}",
                                        config.out_dir, embed_config.out_dir, ec.message()));
        }
    }
    return summary;
}

}  // namespace mona
