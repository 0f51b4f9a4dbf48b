// score/topn.hpp: pick the n highest-scoring pool samples (spec method.md §4, global top-n).
//
// Order. Every function here ranks (position, score) pairs by one total order:
//   1. higher score first;
//   2. equal scores: lower input position first                      [method.md §4 decision];
//   3. NaN ranks below every number, -inf included; NaNs among themselves by position.
// Scores that compare equal with == are ties (so -0.0 and +0.0 tie). Because positions are distinct the order is
// total, hence the selected set and its order are unique: top_n(), ranks() and TopNHeap agree exactly however
// the scores are fed in (any push order, any split into merged heaps).
//
// Usage sketch: with all scores in memory, call top_n(scores, n). When scores are produced in chunks or on
// several threads, give each producer a TopNHeap(n), push (position, score) pairs, merge() the heaps and read
// sorted(). ranks() gives every sample's 1-based place in the order, for reports.
//
// Thread-safety: the free functions are pure; a TopNHeap is not synchronised (one per thread, then merge).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace mona {

// True when (pos_a, score_a) ranks strictly before (pos_b, score_b) in the order above.
bool ranks_before(uint64_t pos_a, double score_a, uint64_t pos_b, double score_b);

// Positions of the min(n, scores.size()) best scores, best first. O(N + n log n) time, O(N) memory.
std::vector<uint64_t> top_n(std::span<const double> scores, size_t n);

// ranks[pos] = 1-based place of position `pos` in the order above (1 = best). O(N log N).
std::vector<uint64_t> ranks(std::span<const double> scores);

// Streaming top-n: keeps the n best (position, score) pairs pushed so far in a bounded heap, O(log n) per push,
// O(n) memory. Positions are expected to be distinct across everything pushed into (or merged into) one heap;
// a repeated position is kept as a separate entry.
class TopNHeap {
   public:
    explicit TopNHeap(size_t n);

    void push(uint64_t pos, double score);
    // The kept pairs, best first; equals top_n() over the same (position, score) pairs.
    std::vector<std::pair<uint64_t, double>> sorted() const;
    // Pushes every pair kept by `other` into this heap (this heap's n stays).
    void merge(const TopNHeap& other);

    size_t capacity() const { return n_; }
    size_t size() const { return heap_.size(); }

   private:
    size_t n_;
    // Binary heap whose front is the worst kept pair, so a better newcomer replaces it in O(log n).
    std::vector<std::pair<uint64_t, double>> heap_;
};

}  // namespace mona
