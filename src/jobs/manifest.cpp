#include "jobs/manifest.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "util/sha256.hpp"

#ifndef MONA_LLAMA_VERSION
#define MONA_LLAMA_VERSION "unknown"
#endif

namespace mona::detail {

// The parameters that decide a stored vector; a store records them and score/resume check them.
Result<nlohmann::json> model_record(const std::string& model_path, const ModelInfo& mi) {
    MONA_TRY(std::string model_sha, sha256_file(model_path));
    return nlohmann::json{{"path", model_path}, {"sha256", model_sha},   {"arch", mi.arch},
                          {"name", mi.name},    {"n_layer", mi.n_layer}, {"n_embd", mi.n_embd}};
}

Result<nlohmann::json> sae_record(const SaeInfo& si) {
    MONA_TRY(std::string sae_sha, sha256_file(si.weights_file));
    return nlohmann::json{{"path", si.path},
                          {"weights_file", si.weights_file},
                          {"sha256", sae_sha},
                          {"format", si.format},
                          {"architecture", si.architecture},
                          {"d_in", si.d_in},
                          {"d_sae", si.d_sae},
                          {"k", si.k},
                          {"hook", si.hook}};
}

Result<nlohmann::json> pool_record(const std::string& pool_path, int64_t n_read, int64_t n_skipped, int64_t n_truncated,
                                   int64_t n_tokens) {
    MONA_TRY(std::string pool_sha, sha256_file(pool_path));
    return nlohmann::json{{"path", pool_path},    {"sha256", pool_sha},       {"read", n_read},
                          {"skipped", n_skipped}, {"truncated", n_truncated}, {"tokens", n_tokens}};
}

nlohmann::json run_settings_record(const SelectConfig& config, int64_t n_select) {
    return {{"tokens", token_mode_name(config.token_mode)},
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
            {"skip_bad", config.skip_bad}};
}

namespace {

// A store is scored from any folder (`cd /tmp && mona score --store /abs/store`): the paths it records are
// absolute, so that they do not depend on the folder `mona embed` ran in.
std::string absolute_path(const std::string& path) {
    if (path.empty()) return path;
    std::error_code ec;
    const std::filesystem::path absolute = std::filesystem::absolute(path, ec);
    return ec ? path : absolute.lexically_normal().string();
}

}  // namespace

Result<nlohmann::json> store_params(const SelectConfig& config, const SelectEngine& engine) {
    MONA_TRY(std::string model_sha, sha256_file(config.model_path));
    MONA_TRY(std::string sae_sha, sha256_file(engine.sae.info().weights_file));
    MONA_TRY(std::string pool_sha, sha256_file(config.pool_path));
    const SaeInfo& si = engine.sae.info();
    return nlohmann::json{{"model_path", absolute_path(config.model_path)},
                          {"model_sha256", model_sha},
                          {"sae_path", absolute_path(si.path)},
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
                          {"pool_path", absolute_path(config.pool_path)},
                          {"pool_sha256", pool_sha},
                          {"source_pos", "line"},
                          {"tool", std::string("mona ") + MONA_VERSION}};
}

Result<nlohmann::json> selection_manifest(const SelectConfig& config, const SelectEngine& engine,
                                          const SelectSummary& summary, int64_t n_select,
                                          const nlohmann::json& merge_json, const nlohmann::json& extra) {
    const SaeInfo& si = engine.sae.info();
    const size_t n_targets = summary.targets.size();
    nlohmann::json manifest;
    manifest["tool"] = {{"name", "mona"}, {"version", MONA_VERSION}, {"llama_cpp", MONA_LLAMA_VERSION}};
    manifest["command_line"] = config.command_line;
    const ModelInfo& mi = engine.session.info();
    MONA_TRY(manifest["model"], model_record(config.model_path, mi));
    MONA_TRY(manifest["sae"], sae_record(si));
    manifest["parameters"] = {
        {"layer", summary.layer},
        {"llama_tensor", summary.layer == 0 ? std::string("embd") : fmt::format("l_out-{}", summary.layer - 1)},
        {"k", config.k > 0 ? config.k : si.k},
        {"similarity", "generalized_jaccard"}};
    manifest["parameters"].update(run_settings_record(config, n_select));
    MONA_TRY(manifest["pool"], pool_record(config.pool_path, summary.n_pool_read, summary.n_pool_skipped,
                                           summary.n_pool_truncated, summary.n_pool_tokens));
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
    return manifest;
}

}  // namespace mona::detail
