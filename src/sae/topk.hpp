// sae/topk.hpp: the one top-k routine over a row of latent activations (SAE encode, gate codes, SAE training).
//
// Order (the tie rule): a larger value ranks higher; equal values (==, so -0.0 and +0.0 tie) rank the lower
// latent index higher. Latent indices are distinct within a row, so the order is total on non-NaN values and the
// kept set and its order are unique however the candidates are fed in. Callers keep NaN out (encode and gate
// codes offer only values > 0; the trainer offers ReLU values).
//
// Usage: LatentTopK top(k); top.reset(k) per row; offer(value, latent) for each candidate; then sort_by_rank()
// (best first: the trainer) or sort_by_latent() (ascending latent: sparse codes) and read entries(). Offering
// the candidates in ascending latent order is the fast path (an equal value then never displaces a kept one),
// but any order gives the same result. O(n log k) worst case, O(n) when most candidates lose to the k-th.
// Reference test: tests/unit/topk_test.cpp (a stable full sort).
//
// Thread-safety: one LatentTopK per thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace mona {

struct LatentValue {
    float value;
    uint32_t latent_idx;
};

// True when a ranks strictly higher than b in the order above.
inline bool ranks_higher(const LatentValue& a, const LatentValue& b) {
    return a.value > b.value || (a.value == b.value && a.latent_idx < b.latent_idx);
}

class LatentTopK {
   public:
    explicit LatentTopK(size_t k = 0) { reset(k); }

    // Empties the kept set and sets k (0 keeps nothing).
    void reset(size_t k) {
        k_ = k;
        heap_.clear();
        heap_.reserve(k);
    }

    void offer(float value, uint32_t latent_idx) {
        const LatentValue entry{value, latent_idx};
        // ranks_higher as "less" makes std's max-heap keep the lowest-ranked entry at the front.
        if (heap_.size() < k_) {
            heap_.push_back(entry);
            std::push_heap(heap_.begin(), heap_.end(), ranks_higher);
        } else if (k_ > 0 && ranks_higher(entry, heap_.front())) {
            std::pop_heap(heap_.begin(), heap_.end(), ranks_higher);
            heap_.back() = entry;
            std::push_heap(heap_.begin(), heap_.end(), ranks_higher);
        }
    }

    // The kept entries, best first. Ends the heap: reset() before offering again.
    std::span<const LatentValue> sort_by_rank() {
        std::sort(heap_.begin(), heap_.end(), ranks_higher);
        return heap_;
    }
    // The kept entries in ascending latent order. Ends the heap: reset() before offering again.
    std::span<const LatentValue> sort_by_latent() {
        std::sort(heap_.begin(), heap_.end(),
                  [](const LatentValue& a, const LatentValue& b) { return a.latent_idx < b.latent_idx; });
        return heap_;
    }

    size_t size() const { return heap_.size(); }

   private:
    size_t k_ = 0;
    std::vector<LatentValue> heap_;  // a binary heap until sorted
};

}  // namespace mona
