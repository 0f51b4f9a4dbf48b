#include "score/jaccard.hpp"

#include <algorithm>
#include <cmath>

#if defined(__AVX__)
#include <immintrin.h>
#endif

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

PrototypeBlock make_prototype_block(const std::vector<Prototype>& prototypes) {
    PrototypeBlock block;
    block.n_targets = prototypes.size();
    block.n_groups = (prototypes.size() + 3) / 4;
    block.d_sae = prototypes.empty() ? 0 : prototypes.front().dense.size();
    block.rows.assign(block.n_groups * block.d_sae * 4, 0.0f);
    for (size_t t = 0; t < prototypes.size(); ++t) {
        MONA_ASSERT(prototypes[t].dense.size() == block.d_sae, "make_prototype_block: prototype widths differ");
        float* group = block.rows.data() + (t / 4) * block.d_sae * 4;
        for (size_t latent = 0; latent < block.d_sae; ++latent) group[latent * 4 + t % 4] = prototypes[t].dense[latent];
        block.l1.push_back(prototypes[t].l1);
    }
    return block;
}

namespace {

constexpr size_t kAhead = 16;  // entries: row fetches in flight while earlier entries are summed

// Σ_k min(a_k, rows[idx_k][j]) for the 4 targets j of one group, in entry order per target. Each target has its
// own accumulator lane, so the sums are the single-target jaccard's to the bit: jaccard() adds
// std::min(double(a_k), double(p)) = (p < a_k) ? p : a_k, which is exactly MINPD(p, a_k) (the second operand
// when unordered or equal), and a vector add is 4 independent IEEE double additions in the same order.
void group_minima(const SparseVec& a, const float* rows, double* m) {
    const uint32_t* idx = a.idx.data();
    const float* val = a.val.data();
    const size_t n = a.idx.size();
#if defined(__AVX__)
    __m256d acc = _mm256_setzero_pd();
    for (size_t k = 0; k < n; ++k) {
        if (k + kAhead < n)
            _mm_prefetch(reinterpret_cast<const char*>(rows + size_t{idx[k + kAhead]} * 4), _MM_HINT_T0);
        const __m256d p = _mm256_cvtps_pd(_mm_loadu_ps(rows + size_t{idx[k]} * 4));
        const __m256d v = _mm256_set1_pd(static_cast<double>(val[k]));
        acc = _mm256_add_pd(acc, _mm256_min_pd(p, v));
    }
    _mm256_storeu_pd(m, acc);
#else
    double acc[4] = {0.0, 0.0, 0.0, 0.0};
    for (size_t k = 0; k < n; ++k) {
        const float* row = rows + size_t{idx[k]} * 4;
        const double v = static_cast<double>(val[k]);
        for (size_t j = 0; j < 4; ++j) acc[j] += std::min(v, static_cast<double>(row[j]));
    }
    for (size_t j = 0; j < 4; ++j) m[j] = acc[j];
#endif
}

}  // namespace

void jaccard_block(const SparseVec& a, const PrototypeBlock& block, double* scores) {
    MONA_ASSERT(a.idx.size() == a.val.size(), "jaccard_block: idx and val lengths differ");
    MONA_ASSERT(a.idx.empty() || a.idx.back() < block.d_sae, "jaccard_block: latent index >= prototype width");
    for (size_t g = 0; g < block.n_groups; ++g) {
        double m[4];
        group_minima(a, block.rows.data() + g * block.d_sae * 4, m);
        const size_t width = std::min<size_t>(4, block.n_targets - 4 * g);
        for (size_t j = 0; j < width; ++j) scores[4 * g + j] = jaccard_from_parts(m[j], a.l1, block.l1[4 * g + j]);
    }
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
