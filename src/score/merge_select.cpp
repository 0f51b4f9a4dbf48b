#include "score/merge_select.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_set>

namespace mona {

Result<MergeMode> parse_merge_mode(const std::string& text) {
    if (text == "round-robin") return MergeMode::kRoundRobin;
    if (text == "quota") return MergeMode::kQuota;
    return invalid_input(fmt::format("--merge '{}': expected round-robin or quota", text));
}

const char* merge_mode_name(MergeMode mode) {
    switch (mode) {
        case MergeMode::kNone: return "none";
        case MergeMode::kRoundRobin: return "round-robin";
        case MergeMode::kQuota: return "quota";
    }
    return "none";
}

Result<std::vector<uint64_t>> apportion(uint64_t n, std::span<const double> weights) {
    if (weights.empty()) return invalid_input("no target to share the merged subset between");
    double total = 0.0;
    for (size_t target_idx = 0; target_idx < weights.size(); ++target_idx) {
        const double w = weights[target_idx];
        if (!std::isfinite(w) || w < 0.0) {
            return invalid_input(
                fmt::format("quota weight {} of target #{} must be a finite number >= 0", w, target_idx + 1));
        }
        total += w;
    }
    if (!(total > 0.0)) return invalid_input("every quota weight is 0: give at least one target a positive quota");
    std::vector<uint64_t> quotas(weights.size());
    std::vector<double> remainders(weights.size());
    uint64_t assigned = 0;
    for (size_t target_idx = 0; target_idx < weights.size(); ++target_idx) {
        const double exact = static_cast<double>(n) * (weights[target_idx] / total);
        const double floor = std::floor(exact);
        quotas[target_idx] = static_cast<uint64_t>(floor);
        remainders[target_idx] = exact - floor;
        assigned += quotas[target_idx];
    }
    // Rounding in the division can leave Σ floor a little off n either way; the loops below settle it exactly.
    std::vector<size_t> order(weights.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return remainders[a] > remainders[b]; });
    for (size_t turn = 0; assigned < n; ++turn) {
        const size_t target_idx = order[turn % order.size()];
        if (weights[target_idx] > 0.0) {
            ++quotas[target_idx];
            ++assigned;
        }
    }
    for (size_t turn = 0; assigned > n; ++turn) {
        const size_t target_idx = order[order.size() - 1 - turn % order.size()];
        if (quotas[target_idx] > 0) {
            --quotas[target_idx];
            --assigned;
        }
    }
    return quotas;
}

std::vector<MergedPick> merge_rankings(std::span<const std::vector<uint64_t>> rankings,
                                       std::span<const uint64_t> quotas, uint64_t n) {
    MONA_ASSERT(quotas.size() == rankings.size(), "merge_rankings: one quota per ranking");
    const size_t n_targets = rankings.size();
    std::vector<MergedPick> picks;
    std::unordered_set<uint64_t> taken;
    std::vector<size_t> cursor(n_targets, 0);  // next place to look at in each ranking
    std::vector<uint64_t> n_taken(n_targets, 0);
    std::vector<bool> dropped(n_targets, false);

    // One turn of `target_idx`: takes its best unused sample, or drops it out. Returns whether it took one.
    const auto take_turn = [&](size_t target_idx, bool fill) {
        const std::vector<uint64_t>& ranking = rankings[target_idx];
        size_t& place = cursor[target_idx];
        while (place < ranking.size() && taken.count(ranking[place]) > 0) ++place;
        if (place == ranking.size()) {
            dropped[target_idx] = true;
            return false;
        }
        taken.insert(ranking[place]);
        picks.push_back({ranking[place], target_idx, static_cast<uint64_t>(place) + 1, fill});
        ++place;
        ++n_taken[target_idx];
        return true;
    };

    for (bool fill : {false, true}) {
        bool any_turn = true;
        while (any_turn && picks.size() < n) {
            any_turn = false;
            for (size_t target_idx = 0; target_idx < n_targets && picks.size() < n; ++target_idx) {
                if (dropped[target_idx] || quotas[target_idx] == 0) continue;
                if (!fill && n_taken[target_idx] >= quotas[target_idx]) continue;
                any_turn |= take_turn(target_idx, fill);
            }
        }
    }
    return picks;
}

}  // namespace mona
