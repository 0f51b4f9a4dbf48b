#include "score/selection_metrics.hpp"

#include <set>
#include <string_view>
#include <unordered_set>

#include "score/jaccard.hpp"

namespace mona {

namespace {

std::vector<std::string_view> words_of(const std::string& text) {
    std::vector<std::string_view> words;
    size_t begin = std::string::npos;
    for (size_t pos = 0; pos <= text.size(); ++pos) {
        const bool space = pos == text.size() || text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' ||
                           text[pos] == '\r' || text[pos] == '\f' || text[pos] == '\v';
        if (!space && begin == std::string::npos) begin = pos;
        if (space && begin != std::string::npos) {
            words.emplace_back(text.data() + begin, pos - begin);
            begin = std::string::npos;
        }
    }
    return words;
}

// Factors of one MTLD pass over `words`.
double mtld_factors(const std::vector<std::string_view>& words, double threshold) {
    double factors = 0.0;
    std::unordered_set<std::string_view> types;
    size_t n_tokens = 0;
    for (std::string_view word : words) {
        types.insert(word);
        ++n_tokens;
        if (static_cast<double>(types.size()) / static_cast<double>(n_tokens) <= threshold) {
            factors += 1.0;
            types.clear();
            n_tokens = 0;
        }
    }
    if (n_tokens > 0) {
        const double ttr = static_cast<double>(types.size()) / static_cast<double>(n_tokens);
        factors += (1.0 - ttr) / (1.0 - threshold);
    }
    return factors;
}

}  // namespace

CoverageResult selection_coverage(const Prototype& prototype, std::span<const SparseVec* const> selected) {
    std::vector<char> active(prototype.dense.size(), 0);
    for (const SparseVec* vec : selected) {
        for (size_t entry = 0; entry < vec->idx.size(); ++entry) {
            if (vec->val[entry] > 0.0f && vec->idx[entry] < active.size()) active[vec->idx[entry]] = 1;
        }
    }
    double mass_all = 0.0, mass_covered = 0.0;
    size_t n_support = 0, n_covered = 0;
    for (size_t latent = 0; latent < prototype.dense.size(); ++latent) {
        const double p = prototype.dense[latent];
        if (p <= 0.0) continue;
        mass_all += p;
        ++n_support;
        if (active[latent]) {
            mass_covered += p;
            ++n_covered;
        }
    }
    CoverageResult result;
    if (n_support > 0) {
        result.mass = mass_covered / mass_all;
        result.latents = static_cast<double>(n_covered) / static_cast<double>(n_support);
    }
    return result;
}

std::vector<CoverageResult> coverage_curve(const Prototype& prototype, std::span<const SparseVec* const> selected) {
    double mass_all = 0.0;
    size_t n_support = 0;
    for (float p : prototype.dense) {
        if (p <= 0.0f) continue;
        mass_all += p;
        ++n_support;
    }
    std::vector<CoverageResult> curve;
    curve.reserve(selected.size());
    std::vector<char> active(prototype.dense.size(), 0);
    // A running sum: each point's mass adds the newly covered latents in the order they were first covered, so it
    // equals selection_coverage's (summed in latent order) up to rounding.
    double mass_covered = 0.0;
    size_t n_covered = 0;
    for (const SparseVec* vec : selected) {
        for (size_t entry = 0; entry < vec->idx.size(); ++entry) {
            const uint32_t latent = vec->idx[entry];
            if (vec->val[entry] > 0.0f && latent < active.size() && !active[latent]) {
                active[latent] = 1;
                if (prototype.dense[latent] > 0.0f) {
                    mass_covered += prototype.dense[latent];
                    ++n_covered;
                }
            }
        }
        CoverageResult point;
        if (n_support > 0) {
            point.mass = mass_covered / mass_all;
            point.latents = static_cast<double>(n_covered) / static_cast<double>(n_support);
        }
        curve.push_back(point);
    }
    return curve;
}

double mean_pairwise_jaccard(std::span<const SparseVec* const> selected) {
    if (selected.size() < 2) return 0.0;
    double sum = 0.0;
    for (size_t a = 0; a < selected.size(); ++a) {
        for (size_t b = a + 1; b < selected.size(); ++b) sum += jaccard(*selected[a], *selected[b]);
    }
    const double n_pairs = static_cast<double>(selected.size()) * static_cast<double>(selected.size() - 1) / 2.0;
    return sum / n_pairs;
}

double duplicate_rate(std::span<const std::string> normalised_texts) {
    if (normalised_texts.empty()) return 0.0;
    std::unordered_set<std::string_view> seen;
    size_t n_dup = 0;
    for (const std::string& text : normalised_texts) n_dup += !seen.insert(text).second;
    return static_cast<double>(n_dup) / static_cast<double>(normalised_texts.size());
}

double distinct_n(std::span<const std::string> texts, size_t n) {
    if (n == 0) return 0.0;
    std::set<std::vector<std::string_view>> distinct;
    size_t n_total = 0;
    for (const std::string& text : texts) {
        const auto words = words_of(text);
        for (size_t begin = 0; begin + n <= words.size(); ++begin) {
            distinct.insert(std::vector<std::string_view>(words.begin() + begin, words.begin() + begin + n));
            ++n_total;
        }
    }
    return n_total == 0 ? 0.0 : static_cast<double>(distinct.size()) / static_cast<double>(n_total);
}

double mtld(std::span<const std::string> texts, double threshold) {
    std::vector<std::string_view> words;
    for (const std::string& text : texts) {
        const auto text_words = words_of(text);
        words.insert(words.end(), text_words.begin(), text_words.end());
    }
    if (words.empty()) return 0.0;
    const double forward = mtld_factors(words, threshold);
    std::vector<std::string_view> reversed(words.rbegin(), words.rend());
    const double backward = mtld_factors(reversed, threshold);
    const double n_words = static_cast<double>(words.size());
    const auto pass = [&](double factors) { return factors > 0.0 ? n_words / factors : n_words; };
    return (pass(forward) + pass(backward)) / 2.0;
}

}  // namespace mona
