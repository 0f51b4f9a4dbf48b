#include "score/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_map>
#include <unordered_set>

namespace mona::metrics {

namespace {

void assert_in_range(std::span<const uint64_t> selected, size_t n_pool, const char* what) {
    for (const uint64_t pos : selected) MONA_ASSERT(pos < n_pool, what);
}

std::vector<uint64_t> sorted_unique(std::span<const uint64_t> selection) {
    std::vector<uint64_t> sorted(selection.begin(), selection.end());
    std::sort(sorted.begin(), sorted.end());
    MONA_ASSERT(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(),
                "selection_overlap: a selection repeats a position");
    return sorted;
}

// Type 7 quantile of values sorted ascending; see the header comment.
double quantile(const std::vector<uint64_t>& sorted, double p) {
    const double h = p * static_cast<double>(sorted.size() - 1);
    const auto lo = static_cast<size_t>(std::floor(h));
    if (lo + 1 >= sorted.size()) return static_cast<double>(sorted.back());
    const double x_lo = static_cast<double>(sorted[lo]);
    const double x_hi = static_cast<double>(sorted[lo + 1]);
    return x_lo + (h - static_cast<double>(lo)) * (x_hi - x_lo);
}

}  // namespace

Status validate_selection(std::span<const uint64_t> selected, uint64_t n_pool) {
    std::unordered_map<uint64_t, size_t> first_entry;
    first_entry.reserve(selected.size());
    for (size_t entry_idx = 0; entry_idx < selected.size(); ++entry_idx) {
        const uint64_t pos = selected[entry_idx];
        const std::string where = "selection[" + std::to_string(entry_idx) + "] = " + std::to_string(pos);
        if (pos >= n_pool) {
            return invalid_input(where + ": position out of range (pool has " + std::to_string(n_pool) + " samples)");
        }
        const auto [it, inserted] = first_entry.try_emplace(pos, entry_idx);
        if (!inserted) return invalid_input(where + ": repeats selection[" + std::to_string(it->second) + "]");
    }
    return Status::ok_status();
}

LabelPrecisionRecall label_precision_recall(std::span<const uint64_t> selected, std::span<const std::string> labels,
                                            std::string_view target_label) {
    assert_in_range(selected, labels.size(), "label_precision_recall: selected position >= number of labels");
    LabelPrecisionRecall result;
    result.n_selected = selected.size();
    for (const uint64_t pos : selected) result.n_hits += labels[pos] == target_label ? 1 : 0;
    for (const std::string& label : labels) result.n_label += label == target_label ? 1 : 0;
    if (result.n_selected > 0) {
        result.precision = static_cast<double>(result.n_hits) / static_cast<double>(result.n_selected);
    }
    if (result.n_label > 0) result.recall = static_cast<double>(result.n_hits) / static_cast<double>(result.n_label);
    return result;
}

std::vector<LabelCount> composition(std::span<const uint64_t> selected, std::span<const std::string> labels) {
    assert_in_range(selected, labels.size(), "composition: selected position >= number of labels");
    std::map<std::string_view, uint64_t> counts;
    for (const uint64_t pos : selected) ++counts[labels[pos]];
    std::vector<LabelCount> result;
    for (const auto& [label, count] : counts) {
        result.push_back(
            LabelCount{std::string(label), count, static_cast<double>(count) / static_cast<double>(selected.size())});
    }
    // std::map already ordered labels by bytes; a stable sort by count keeps that order among ties.
    std::stable_sort(result.begin(), result.end(),
                     [](const LabelCount& a, const LabelCount& b) { return a.count > b.count; });
    return result;
}

DistinctN distinct_n(std::span<const std::vector<std::string>> token_lists, size_t n) {
    MONA_ASSERT(n >= 1, "distinct_n: n must be >= 1");
    // n-grams are keyed by the bytes of their token ids, so a key never depends on where one token ends.
    std::unordered_map<std::string_view, uint32_t> token_ids;
    std::unordered_set<std::string> ngrams;
    DistinctN result;
    std::vector<uint32_t> ids;
    std::string key;
    for (const std::vector<std::string>& tokens : token_lists) {
        ids.clear();
        for (const std::string& token : tokens) {
            ids.push_back(token_ids.try_emplace(token, static_cast<uint32_t>(token_ids.size())).first->second);
        }
        if (ids.size() < n) continue;
        for (size_t start = 0; start + n <= ids.size(); ++start) {
            key.assign(reinterpret_cast<const char*>(ids.data() + start), n * sizeof(uint32_t));
            ngrams.insert(key);
            ++result.n_total;
        }
    }
    result.n_distinct = ngrams.size();
    if (result.n_total > 0) {
        result.ratio = static_cast<double>(result.n_distinct) / static_cast<double>(result.n_total);
    }
    return result;
}

DistinctN distinct_n_of_texts(std::span<const std::string> texts, size_t n, const TokenizerOptions& tokenizer) {
    std::vector<std::vector<std::string>> token_lists;
    token_lists.reserve(texts.size());
    for (const std::string& text : texts) token_lists.push_back(tokenize_words(text, tokenizer));
    return distinct_n(token_lists, n);
}

double mtld_pass(std::span<const std::string> tokens, bool reversed, double threshold) {
    MONA_ASSERT(threshold > 0.0 && threshold < 1.0, "mtld_pass: threshold must be in (0, 1)");
    if (tokens.empty()) return 0.0;
    std::unordered_set<std::string_view> types;
    uint64_t n_factor_tokens = 0;
    double factors = 0.0;
    double ttr = 1.0;
    for (size_t step = 0; step < tokens.size(); ++step) {
        const std::string& token = reversed ? tokens[tokens.size() - 1 - step] : tokens[step];
        types.insert(token);
        ++n_factor_tokens;
        ttr = static_cast<double>(types.size()) / static_cast<double>(n_factor_tokens);
        if (ttr <= threshold) {
            factors += 1.0;
            types.clear();
            n_factor_tokens = 0;
        }
    }
    if (n_factor_tokens > 0) factors += (1.0 - ttr) / (1.0 - threshold);
    if (factors == 0.0) factors = 1.0;
    return static_cast<double>(tokens.size()) / factors;
}

double mtld(std::span<const std::string> tokens, double threshold) {
    if (tokens.empty()) return 0.0;
    return 0.5 * (mtld_pass(tokens, false, threshold) + mtld_pass(tokens, true, threshold));
}

double mean_mtld(std::span<const std::string> texts, const TokenizerOptions& tokenizer, double threshold) {
    double sum = 0.0;
    uint64_t n_texts = 0;
    for (const std::string& text : texts) {
        const std::vector<std::string> tokens = tokenize_words(text, tokenizer);
        if (tokens.empty()) continue;
        sum += mtld(tokens, threshold);
        ++n_texts;
    }
    return n_texts == 0 ? 0.0 : sum / static_cast<double>(n_texts);
}

SelectionOverlap selection_overlap(std::span<const uint64_t> a, std::span<const uint64_t> b) {
    const std::vector<uint64_t> sorted_a = sorted_unique(a);
    const std::vector<uint64_t> sorted_b = sorted_unique(b);
    SelectionOverlap result;
    size_t a_idx = 0;
    size_t b_idx = 0;
    while (a_idx < sorted_a.size() && b_idx < sorted_b.size()) {
        if (sorted_a[a_idx] < sorted_b[b_idx]) {
            ++a_idx;
        } else if (sorted_b[b_idx] < sorted_a[a_idx]) {
            ++b_idx;
        } else {
            ++result.n_intersection;
            ++a_idx;
            ++b_idx;
        }
    }
    result.n_union = sorted_a.size() + sorted_b.size() - result.n_intersection;
    const size_t n = std::max(sorted_a.size(), sorted_b.size());
    if (n > 0) result.overlap = static_cast<double>(result.n_intersection) / static_cast<double>(n);
    if (result.n_union > 0) {
        result.jaccard = static_cast<double>(result.n_intersection) / static_cast<double>(result.n_union);
    }
    return result;
}

LengthStats length_stats(std::span<const uint64_t> lengths) {
    LengthStats stats;
    if (lengths.empty()) return stats;
    std::vector<uint64_t> sorted(lengths.begin(), lengths.end());
    std::sort(sorted.begin(), sorted.end());
    double sum = 0.0;
    for (const uint64_t length : lengths) sum += static_cast<double>(length);
    stats.n = lengths.size();
    stats.mean = sum / static_cast<double>(lengths.size());
    stats.median = quantile(sorted, 0.5);
    stats.p10 = quantile(sorted, 0.1);
    stats.p90 = quantile(sorted, 0.9);
    stats.min = sorted.front();
    stats.max = sorted.back();
    return stats;
}

std::vector<uint64_t> word_counts(std::span<const std::string> texts, const TokenizerOptions& tokenizer) {
    std::vector<uint64_t> counts;
    counts.reserve(texts.size());
    for (const std::string& text : texts) counts.push_back(tokenize_words(text, tokenizer).size());
    return counts;
}

std::vector<uint64_t> random_selection(uint64_t n_pool, uint64_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    const uint64_t n_take = std::min(n, n_pool);
    // Partial Fisher–Yates over the identity array [0, n_pool): only the slots that were swapped are stored.
    std::unordered_map<uint64_t, uint64_t> moved;
    moved.reserve(n_take);
    auto value_at = [&moved](uint64_t slot) {
        const auto it = moved.find(slot);
        return it == moved.end() ? slot : it->second;
    };
    std::vector<uint64_t> selection;
    selection.reserve(n_take);
    for (uint64_t draw_idx = 0; draw_idx < n_take; ++draw_idx) {
        const uint64_t pick = draw_idx + uniform_below(rng, n_pool - draw_idx);
        selection.push_back(value_at(pick));
        moved[pick] = value_at(draw_idx);
    }
    return selection;
}

}  // namespace mona::metrics
