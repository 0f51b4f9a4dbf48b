#include "jobs/config.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

namespace mona {
namespace {

bool valid_target_name(const std::string& name) {
    if (name.empty() || name == "." || name == "..") return false;
    for (char c : name) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
    }
    return true;
}

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
        return invalid_input(
            fmt::format("--target '{}': target name '{}' must be letters, digits, '_', '-' or '.'", text, spec.name));
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
                return invalid_input(
                    fmt::format("--merge quota: target '{}' has no --quota {}=WEIGHT", target.name, target.name));
            }
        }
        if (!(total > 0.0)) return invalid_input("--merge quota: every --quota is 0");
    }
    if (config.count < 0) return invalid_input(fmt::format("--count must be >= 1, got {}", config.count));
    if (config.count == 0 && !(config.ratio > 0.0 && config.ratio <= 1.0)) {
        return invalid_input(fmt::format("--ratio must be in (0, 1], got {}", config.ratio));
    }
    if (!(config.diversity >= 0.0) || !std::isfinite(config.diversity)) {
        return invalid_input(fmt::format("--diversity must be a finite number >= 0, got {}", config.diversity));
    }
    if (!(config.dedup >= 0.0 && config.dedup <= 1.0)) {
        return invalid_input(fmt::format("--dedup must be a Jaccard threshold in (0, 1], got {}", config.dedup));
    }
    if (!config.dedup_against.empty() && config.dedup == 0.0) {
        return invalid_input("--dedup-against needs --dedup T (the near-duplicate threshold)");
    }
    if (config.diversity_candidates < 1) {
        return invalid_input(fmt::format("--diversity-candidates must be >= 1, got {}", config.diversity_candidates));
    }
    return Status();
}

}  // namespace mona
