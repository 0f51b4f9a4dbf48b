// score/metrics.hpp: measures of a selection's quality for `mona eval` (issue 4), and the seeded random baseline.
//
// A selection is a list of pool positions (0-based, the order of the pool file), as returned by top_n() in
// score/topn.hpp, with no repeats. Every function here is pure and exact about its conventions:
//   * precision@n and recall@n of a label: with n = |selection|, hits = selected samples whose label equals the
//     target label, and L = pool samples with that label,
//       precision@n = hits / n   (0 when n = 0),      recall@n = hits / L   (0 when L = 0).
//     The pool's labels are the samples' `task` field; an empty string is an ordinary label.
//   * family composition: count and share (count / n) of each label among the selected samples.
//   * distinct-n: distinct n-grams / total n-grams over the selected texts, tokenised by tokenize_words()
//     (score/bm25.hpp). n-grams never span two texts; a text of k tokens has max(0, k − n + 1) of them. The
//     distinct count is taken over the whole selection, so distinct-n measures diversity ACROSS samples.
//   * MTLD (McCarthy & Jarvis 2010, "MTLD, vocd-D, and HD-D", Behavior Research Methods 42(2)): walk the tokens,
//     keeping the type-token ratio (TTR) of the current factor; when TTR <= threshold (0.72) the factor is
//     complete, the count of factors grows by 1 and the TTR restarts at the next token. At the end a partial
//     factor with TTR r (if any tokens remain) adds (1 − r) / (1 − threshold). One pass gives
//     n_tokens / factors; MTLD is the mean of the forward pass and the pass over the reversed sequence.
//     Conventions where implementations differ: a factor closes when TTR reaches the threshold (<=, "reaches"
//     in the paper); when a pass ends with zero factors (every token distinct, so the partial factor is 0) it
//     counts as one factor and the pass gives n_tokens (as the lexicalrichness package does); no tokens give 0.
//     MTLD is a within-text measure (factors span a few dozen tokens), so for a selection mean_mtld() averages
//     the per-text values, which does not depend on the order of the selection.
//   * pairwise overlap of two selections A and B: |A ∩ B| / n with n = max(|A|, |B|) (the budget when both have
//     n entries) and Jaccard |A ∩ B| / |A ∪ B|; both 0 when the selections are empty.
//   * length statistics of token counts: mean, median, p10, p90, min, max. Quantiles interpolate linearly
//     between order statistics (numpy's default, R type 7): q(p) = x[lo] + (h − lo)(x[lo + 1] − x[lo]) with
//     h = p (n − 1), lo = floor(h), x sorted ascending. All zero for no values.
//   * random_selection(n_pool, n, seed): a uniformly random ordered sample without replacement (a partial
//     Fisher–Yates shuffle over a virtual identity array, O(n) time and memory). Random numbers come from the
//     raw 64-bit output of std::mt19937_64, whose sequence the C++ standard fixes, reduced to a range by
//     rejection (uniform_below()), never through std::uniform_int_distribution, whose algorithm differs between
//     standard libraries. So a seed gives the same selection on every platform.
//
// Usage sketch: per target and method, validate any selection that came from a file with validate_selection(),
// then call label_precision_recall(), composition(), distinct_n_of_texts(), mean_mtld() and
// length_stats(word_counts(...)) on it, and selection_overlap() for each pair of methods.
//
// Preconditions: functions taking a selection assert that its positions are below the label/text count and,
// where stated, unique; selections read from outside the library must pass validate_selection() first.
// Thread-safety: every function is pure (random_selection() owns its generator).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mona/status.hpp"
#include "score/bm25.hpp"
#include "util/random.hpp"

namespace mona::metrics {

inline constexpr double kMtldThreshold = 0.72;  // McCarthy & Jarvis's default TTR factor size

// ok when every position is < n_pool and none repeats; otherwise kInvalidInput naming the first offending entry
// ("selection[3] = 17: position out of range (pool has 10 samples)" or "...: repeats selection[1]").
Status validate_selection(std::span<const uint64_t> selected, uint64_t n_pool);

struct LabelPrecisionRecall {
    uint64_t n_selected = 0;  // n
    uint64_t n_hits = 0;      // selected samples with the target label
    uint64_t n_label = 0;     // pool samples with the target label
    double precision = 0.0;   // n_hits / n_selected, 0 when n_selected = 0
    double recall = 0.0;      // n_hits / n_label, 0 when n_label = 0
};

// precision@n and recall@n of `target_label`. labels: [n_pool], one per pool sample.
// Preconditions (asserted): every selected position < labels.size(). O(n_pool).
LabelPrecisionRecall label_precision_recall(std::span<const uint64_t> selected, std::span<const std::string> labels,
                                            std::string_view target_label);

struct LabelCount {
    std::string label;
    uint64_t count = 0;
    double share = 0.0;  // count / |selection|
};

// Composition of the selection by label, most frequent first, equal counts by label in byte order. Empty for an
// empty selection. Preconditions (asserted): every selected position < labels.size().
std::vector<LabelCount> composition(std::span<const uint64_t> selected, std::span<const std::string> labels);

struct DistinctN {
    uint64_t n_distinct = 0;  // distinct n-grams over all texts
    uint64_t n_total = 0;     // Σ_texts max(0, n_tokens − n + 1)
    double ratio = 0.0;       // n_distinct / n_total, 0 when n_total = 0
};

// distinct-n over token lists (one list per text). Precondition (asserted): n >= 1.
DistinctN distinct_n(std::span<const std::vector<std::string>> token_lists, size_t n);
// distinct-n of texts tokenised with tokenize_words(text, tokenizer).
DistinctN distinct_n_of_texts(std::span<const std::string> texts, size_t n, const TokenizerOptions& tokenizer = {});

// One MTLD pass over `tokens` (reversed: from the last token to the first): n_tokens / factors, by the
// conventions in the header comment. Precondition (asserted): 0 < threshold < 1.
double mtld_pass(std::span<const std::string> tokens, bool reversed, double threshold = kMtldThreshold);
// MTLD: the mean of the forward and the reversed pass; 0 for no tokens.
double mtld(std::span<const std::string> tokens, double threshold = kMtldThreshold);
// Mean of mtld() over the texts that have at least one token (tokenize_words(text, tokenizer)); 0 if none has.
double mean_mtld(std::span<const std::string> texts, const TokenizerOptions& tokenizer = {},
                 double threshold = kMtldThreshold);

struct SelectionOverlap {
    uint64_t n_intersection = 0;  // |A ∩ B|
    uint64_t n_union = 0;         // |A ∪ B|
    double overlap = 0.0;         // |A ∩ B| / max(|A|, |B|), 0 when both are empty
    double jaccard = 0.0;         // |A ∩ B| / |A ∪ B|, 0 when both are empty
};

// Overlap of two selections, O((|A| + |B|) log). Precondition (asserted): no position repeats within a or b.
SelectionOverlap selection_overlap(std::span<const uint64_t> a, std::span<const uint64_t> b);

struct LengthStats {
    uint64_t n = 0;  // number of values
    double mean = 0.0;
    double median = 0.0;  // quantile 0.5
    double p10 = 0.0;     // quantile 0.1
    double p90 = 0.0;     // quantile 0.9
    uint64_t min = 0;
    uint64_t max = 0;
};

// Statistics of token counts (any tokenizer: model tokens or word_counts()), by the quantile rule in the header
// comment. The mean is summed in double in input order.
LengthStats length_stats(std::span<const uint64_t> lengths);
// Number of tokenize_words() tokens of each text: [texts.size()].
std::vector<uint64_t> word_counts(std::span<const std::string> texts, const TokenizerOptions& tokenizer = {});

// A uniform integer in [0, bound) from the raw output of a generator (util/random.hpp).
using ::mona::uniform_below;

// min(n, n_pool) distinct positions in [0, n_pool), in draw order, from std::mt19937_64(seed); every ordered
// sample is equally likely, so any prefix is itself a uniform random selection. The same (n_pool, n, seed) gives
// the same result on every platform. O(n) time and memory.
std::vector<uint64_t> random_selection(uint64_t n_pool, uint64_t n, uint64_t seed);

}  // namespace mona::metrics
