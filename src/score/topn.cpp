#include "score/topn.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace mona {

bool ranks_before(uint64_t pos_a, double score_a, uint64_t pos_b, double score_b) {
    // NaN would make operator> an invalid sort comparator; ranking it last keeps the order total.
    const bool nan_a = std::isnan(score_a);
    const bool nan_b = std::isnan(score_b);
    if (nan_a != nan_b) return nan_b;
    if (!nan_a && score_a != score_b) return score_a > score_b;
    return pos_a < pos_b;
}

namespace {

struct PairBefore {
    bool operator()(const std::pair<uint64_t, double>& a, const std::pair<uint64_t, double>& b) const {
        return ranks_before(a.first, a.second, b.first, b.second);
    }
};

std::vector<uint64_t> all_positions(size_t n_scores) {
    std::vector<uint64_t> positions(n_scores);
    std::iota(positions.begin(), positions.end(), uint64_t{0});
    return positions;
}

}  // namespace

std::vector<uint64_t> top_n(std::span<const double> scores, size_t n) {
    const auto before = [&](uint64_t a, uint64_t b) { return ranks_before(a, scores[a], b, scores[b]); };
    std::vector<uint64_t> positions = all_positions(scores.size());
    if (n < positions.size()) {
        std::nth_element(positions.begin(), positions.begin() + static_cast<std::ptrdiff_t>(n), positions.end(),
                         before);
        positions.resize(n);
    }
    std::sort(positions.begin(), positions.end(), before);
    return positions;
}

std::vector<uint64_t> ranks(std::span<const double> scores) {
    const std::vector<uint64_t> order = top_n(scores, scores.size());
    std::vector<uint64_t> rank(scores.size());
    for (size_t place = 0; place < order.size(); ++place) rank[order[place]] = place + 1;
    return rank;
}

TopNHeap::TopNHeap(size_t n) : n_(n) {}

void TopNHeap::push(uint64_t pos, double score) {
    if (n_ == 0) return;
    // With PairBefore as "less", std's max-heap puts the pair that ranks last at the front.
    if (heap_.size() < n_) {
        heap_.emplace_back(pos, score);
        std::push_heap(heap_.begin(), heap_.end(), PairBefore{});
        return;
    }
    if (!ranks_before(pos, score, heap_.front().first, heap_.front().second)) return;
    std::pop_heap(heap_.begin(), heap_.end(), PairBefore{});
    heap_.back() = {pos, score};
    std::push_heap(heap_.begin(), heap_.end(), PairBefore{});
}

std::vector<std::pair<uint64_t, double>> TopNHeap::sorted() const {
    std::vector<std::pair<uint64_t, double>> out = heap_;
    std::sort(out.begin(), out.end(), PairBefore{});
    return out;
}

void TopNHeap::merge(const TopNHeap& other) {
    // Copy first: merging a heap into itself must not iterate over the vector being modified.
    const std::vector<std::pair<uint64_t, double>> pairs = other.heap_;
    for (const auto& [pos, score] : pairs) push(pos, score);
}

}  // namespace mona
