#include "score/diversity.hpp"

#include <algorithm>
#include <queue>

#include "mona/status.hpp"
#include "score/jaccard.hpp"
#include "score/topn.hpp"

namespace mona {

namespace {

struct HeapEntry {
    double value = 0.0;   // the candidate's value against the first n_seen picks
    size_t cand_idx = 0;  // place in the score order: the position of the tie rule
    size_t n_seen = 0;    // picks compared with so far
};

// std::priority_queue keeps its "largest" on top: a is "less" than b when b ranks before a.
struct RanksAfter {
    bool operator()(const HeapEntry& a, const HeapEntry& b) const {
        return ranks_before(b.cand_idx, b.value, a.cand_idx, a.value);
    }
};

}  // namespace

std::vector<size_t> mmr_pick(std::span<const double> scores, std::span<const SparseVec* const> vecs, size_t n,
                             double lambda, DiversityStats* stats, const AcceptFn& accept) {
    MONA_ASSERT(scores.size() == vecs.size(), "mmr_pick: one vector per score");
    const size_t n_cand = scores.size();
    const size_t n_pick = std::min(n, n_cand);
    std::vector<size_t> picks;
    picks.reserve(n_pick);
    if (stats != nullptr) stats->n_candidates += n_cand;
    if (lambda == 0.0) {
        // No penalty: the score order itself (the values are the scores).
        for (size_t cand_idx = 0; cand_idx < n_cand && picks.size() < n_pick; ++cand_idx) {
            if (!accept || accept(cand_idx)) picks.push_back(cand_idx);
        }
        return picks;
    }
    std::vector<double> max_sim(n_cand, 0.0);
    std::priority_queue<HeapEntry, std::vector<HeapEntry>, RanksAfter> heap;
    // With the empty selection every value is the score itself (score - LAMBDA * 0).
    for (size_t cand_idx = 0; cand_idx < n_cand; ++cand_idx) {
        heap.push({scores[cand_idx], cand_idx, 0});
    }
    uint64_t n_jaccard = 0;
    while (picks.size() < n_pick && !heap.empty()) {
        HeapEntry top = heap.top();
        heap.pop();
        if (top.n_seen == picks.size()) {
            // Up to date, and every other entry's value is an upper bound of its current one: the argmax.
            if (!accept || accept(top.cand_idx)) picks.push_back(top.cand_idx);
            continue;
        }
        double& sim = max_sim[top.cand_idx];
        for (size_t pick_idx = top.n_seen; pick_idx < picks.size(); ++pick_idx) {
            sim = std::max(sim, jaccard(*vecs[top.cand_idx], *vecs[picks[pick_idx]]));
            ++n_jaccard;
        }
        top.value = scores[top.cand_idx] - lambda * sim;
        top.n_seen = picks.size();
        heap.push(top);
    }
    if (stats != nullptr) stats->n_jaccard += n_jaccard;
    return picks;
}

size_t n_diversity_candidates(size_t n, uint32_t c, size_t n_pool) {
    if (c == 0 || n == 0) return std::min(n, n_pool);
    if (n > n_pool / c) return n_pool;
    return std::min(n_pool, n * c);
}

}  // namespace mona
