// score/diversity.hpp: diversity-aware selection (`--diversity LAMBDA`), an option beyond the paper (method.md §4
// ranks every sample on its own; docs/beyond.md).
//
// Rule (greedy maximal marginal relevance, MMR). Candidates are a target's top C = c*n samples in the score order of
// score/topn.hpp (best first). Starting from an empty selection S, each step picks the candidate i not yet in S with
// the best
//     value_i(S) = score_i - LAMBDA * max_{s in S} J(v_i, v_s)          (max over the empty S = 0)
// where J is the generalized Jaccard similarity of the two pooled sparse vectors (score/jaccard.hpp, with each
// vector's l1 as given: a truncated stored vector keeps its full L1 norm, so J is then a lower bound). Values rank
// by the order of score/topn.hpp with the candidate's place in the score order as position: equal values go to
// the better-scored candidate, NaN last. The result is the n (or C, if fewer) picks in pick order. LAMBDA = 0 picks
// the candidates in score order: exactly top_n() (so the paper's selection).
//
// Cost. value_i(S) can only fall as S grows (J >= 0), so the last value computed for a candidate is an upper bound
// of its current one: the picker keeps the candidates in a heap by their last value and brings a candidate up to
// date (against the picks made since its last update) only when it reaches the top (lazy greedy; the pick is the
// same as the naive argmax over all candidates at every step, tests/unit/diversity_test.cpp checks it against
// that O(n * C) reference). Each update costs O(nnz(v_i) + nnz(v_s)) per pick compared. Worst case n * C Jaccard
// evaluations (O(c * n^2 * nnz)), the same as the naive loop; in practice far fewer (stats.n_jaccard), because
// candidates deep in the heap are never brought up to date. Memory: the C candidates' vectors.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "mona/types.hpp"

namespace mona {

struct DiversityOptions {
    double lambda = 0.0;      // LAMBDA >= 0; 0 = the paper's top-n
    uint32_t candidates = 4;  // c >= 1: the candidates are the top c*n samples by score
};

struct DiversityStats {
    uint64_t n_candidates = 0;
    uint64_t n_jaccard = 0;  // Jaccard evaluations made
};

// Called with the candidate about to be picked; false drops it instead (--dedup: score/dedup.hpp), and it is never
// offered again. The picks so far are the ones offered before it that were accepted.
using AcceptFn = std::function<bool(size_t cand_idx)>;

// The MMR picks among candidates given in score order (best first): scores[i] and vecs[i] are candidate i's score
// and pooled vector (scores.size() == vecs.size(), asserted). Returns candidate indices in pick order: n of them,
// or fewer when the candidates run out. With `accept`, each would-be pick is offered to it first (a dropped one
// does not count towards n and penalises nobody). LAMBDA = 0 offers the candidates in score order.
std::vector<size_t> mmr_pick(std::span<const double> scores, std::span<const SparseVec* const> vecs, size_t n,
                             double lambda, DiversityStats* stats = nullptr, const AcceptFn& accept = {});

// Number of candidates for a selection of n from a pool of n_pool: min(n_pool, c * n) (no overflow).
size_t n_diversity_candidates(size_t n, uint32_t c, size_t n_pool);

}  // namespace mona
