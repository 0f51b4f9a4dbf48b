#include "score/jaccard.hpp"

#include <algorithm>
#include <cmath>

namespace mona {

namespace {

// Σmax = l1_a + l1_b − m holds only for non-negative vectors (method.md §3); a zero denominator means both are
// zero, and J(0, 0) = 0 by decision. NaN passes through (NaN <= 0 is false).
double jaccard_from_parts(double m, double l1_a, double l1_b) {
    const double denom = l1_a + l1_b - m;
    if (denom <= 0.0) return 0.0;
    return m / denom;
}

}  // namespace

double jaccard(const SparseVec& a, const Prototype& p) {
    MONA_ASSERT(a.idx.size() == a.val.size(), "jaccard: idx and val lengths differ");
    MONA_ASSERT(a.idx.empty() || a.idx.back() < p.dense.size(), "jaccard: latent index >= prototype width");
    const float* dense = p.dense.data();
    double m = 0.0;
    for (size_t entry_idx = 0; entry_idx < a.idx.size(); ++entry_idx) {
        m += std::min(static_cast<double>(a.val[entry_idx]), static_cast<double>(dense[a.idx[entry_idx]]));
    }
    return jaccard_from_parts(m, a.l1, p.l1);
}

double jaccard(const SparseVec& a, const SparseVec& b) {
    MONA_ASSERT(a.idx.size() == a.val.size() && b.idx.size() == b.val.size(), "jaccard: idx and val lengths differ");
    double m = 0.0;
    size_t a_idx = 0;
    size_t b_idx = 0;
    while (a_idx < a.idx.size() && b_idx < b.idx.size()) {
        if (a.idx[a_idx] < b.idx[b_idx]) {
            ++a_idx;
        } else if (b.idx[b_idx] < a.idx[a_idx]) {
            ++b_idx;
        } else {
            m += std::min(static_cast<double>(a.val[a_idx]), static_cast<double>(b.val[b_idx]));
            ++a_idx;
            ++b_idx;
        }
    }
    // l1_a + l1_b is commutative in floating point, so swapping the arguments gives the same bits.
    return jaccard_from_parts(m, a.l1, b.l1);
}

double cosine(const SparseVec& a, const Prototype& p) {
    MONA_ASSERT(a.idx.size() == a.val.size(), "cosine: idx and val lengths differ");
    MONA_ASSERT(a.idx.empty() || a.idx.back() < p.dense.size(), "cosine: latent index >= prototype width");
    double dot = 0.0;
    double sum_sq = 0.0;
    for (size_t entry_idx = 0; entry_idx < a.idx.size(); ++entry_idx) {
        const double value = static_cast<double>(a.val[entry_idx]);
        dot += value * static_cast<double>(p.dense[a.idx[entry_idx]]);
        sum_sq += value * value;
    }
    const double norm_a = std::sqrt(sum_sq);
    if (norm_a == 0.0 || p.l2 == 0.0) return 0.0;
    return dot / (norm_a * p.l2);
}

}  // namespace mona
