// score/selection_metrics.hpp: model-free numbers about one selection, beyond the paper's precision (docs/beyond.md):
// how much of the target prototype it covers, how redundant and how lexically varied it is. Used by the select and
// score manifests (coverage, redundancy), bench/beyond_table.cpp and `mona eval`.
//
//   coverage_mass     Σ_{k ∈ A} p_k / Σ_k p_k, A = latents active (> 0) in at least one selected vector: the share of
//                     the prototype's L1 mass on latents the selection exercises at all;
//   coverage_latents  |supp(p) ∩ A| / |supp(p)|: the share of the latents active in any target exemplar (the
//                     prototype's support) that some selected sample activates (FAC-style feature coverage);
//   mean_pairwise_jaccard   mean of J(v_a, v_b) over the unordered pairs of selected vectors (0 below 2 vectors);
//   duplicate_rate    share of selected samples whose normalised text equals an earlier selected sample's;
//   distinct_n        distinct word n-grams / all word n-grams, n-grams taken within each text (0 without any);
//   mtld              MTLD (McCarthy & Jarvis 2010) of the texts' words in order, threshold 0.72, the mean of a
//                     forward and a backward pass; a pass with no full factor counts its partial factor only, and a
//                     stream whose type-token ratio never falls below 1 gives its word count.
// Words: the text split on ASCII whitespace (callers pass normalised text: score/dedup.hpp).
// Cost: coverage (and its curve over prefixes) O(Σ nnz + d), pairwise O(n^2 * nnz), the text metrics O(total words).
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "mona/types.hpp"
#include "pool/pool.hpp"

namespace mona {

struct CoverageResult {
    double mass = 0.0;     // coverage_mass (0 for a zero prototype)
    double latents = 0.0;  // coverage_latents (0 for a zero prototype)
};

CoverageResult selection_coverage(const Prototype& prototype, std::span<const SparseVec* const> selected);
// Coverage against n: element i is selection_coverage of the first i+1 selected vectors (in the order given: the
// pick order). One pass, O(Σ nnz + d).
std::vector<CoverageResult> coverage_curve(const Prototype& prototype, std::span<const SparseVec* const> selected);
double mean_pairwise_jaccard(std::span<const SparseVec* const> selected);
double duplicate_rate(std::span<const std::string> normalised_texts);
double distinct_n(std::span<const std::string> texts, size_t n);
double mtld(std::span<const std::string> texts, double threshold = 0.72);

}  // namespace mona
