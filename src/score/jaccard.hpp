// score/jaccard.hpp: similarity of a pooled sample vector to the task prototype (spec method.md §3).
//
// MoNA scores with the generalized (weighted, Ruzicka) Jaccard similarity of non-negative vectors
//   J(a, b) = Σ_k min(a_k, b_k) / Σ_k max(a_k, b_k),            J(0, 0) = 0  [method.md decision]
// For non-negative vectors max(x, y) = x + y − min(x, y), so Σ max = ‖a‖₁ + ‖b‖₁ − Σ min, and with
//   m = Σ_{k ∈ supp(a)} min(a_k, b_k)        (min is 0 wherever a_k = 0, so supp(a) suffices)
//   J = m / (‖a‖₁ + ‖b‖₁ − m)
// which costs O(nnz(a)) against a dense prototype instead of O(d_sae). All sums are in double; the float
// inputs are widened before min. The result is 0 when the denominator is 0 (both vectors zero), and NaN only
// if an input holds NaN. For integer-valued inputs every sum is exact, so the result equals the dense
// Σmin/Σmax bit for bit (tests/unit/jaccard_test.cpp checks that against tests/reference/).
//
// The L1 norms are NOT recomputed: a.l1 (SparseVec::l1) and p.l1 (Prototype::l1) are used as given and must be
// the exact L1 norms of the full vectors. When `a` is a truncated stored vector (only its largest entries kept,
// a.l1 still the full norm), the identity becomes an approximation: the dropped entries' mins are missing, so
// the computed m' is a lower bound of the true m, with
//   m' <= m <= m' + r,     r = a.l1 − Σ_{stored k} a_k   (the dropped mass)
// and, because m / (S − m) grows with m (S = a.l1 + p.l1),
//   m' / (S − m') <= J <= (m' + r) / (S − m' − r).
// So a truncated vector's score is never above its true score, and the gap shrinks with the dropped mass r.
// (Passing a.l1 = Σ stored values instead would score the truncated vector itself, exactly.)
//
// Preconditions (asserted, O(1)): a.idx.size() == a.val.size(); every index of `a` < p.dense.size() (checked on
// the last, largest index). Values are assumed >= 0 and indices strictly increasing (not checked).
// Thread-safety: pure functions of their arguments.
#pragma once

#include <algorithm>
#include <cstddef>  // types.hpp uses size_t without including it
#include <vector>

#include "mona/types.hpp"
#include "pool/pool.hpp"

namespace mona {

// J(a, p) against a dense prototype, O(nnz(a)).
double jaccard(const SparseVec& a, const Prototype& p);

// Several prototypes laid out for scoring them together: in groups of 4 targets (the last group padded with zero
// targets), each group latent-major, so one 16-byte load gives a latent's value in the group's 4 targets and a
// group's table (d_sae × 16 bytes: 74 KB at d_sae 4,608, 2 MB at 131,072) stays in a core's cache.
struct PrototypeBlock {
    size_t n_targets = 0;
    size_t n_groups = 0;      // ceil(n_targets / 4)
    size_t d_sae = 0;         // latents
    std::vector<float> rows;  // [n_groups × d_sae × 4]: rows[(g·d_sae + latent)·4 + j] = target 4g+j (0: padding)
    std::vector<double> l1;   // [n_targets]
};
// The block of `prototypes` (all of one width). Preconditions (asserted): equal dense sizes.
PrototypeBlock make_prototype_block(const std::vector<Prototype>& prototypes);

// scores[t] = jaccard(a, prototypes[t]) for every target of the block, bit for bit (each target's Σmin is summed
// in double in a's entry order, exactly as the single-target jaccard): per group of 4 targets one pass over a's
// entries, the 4 minima and sums side by side (AVX: one MINPD and one ADDPD per entry, no branch; a scalar loop
// without AVX), the rows prefetched 16 entries ahead. scores has
// block.n_targets entries. Preconditions (asserted): as jaccard(a, p), with block.d_sae as the prototype width.
void jaccard_block(const SparseVec& a, const PrototypeBlock& block, double* scores);

// J(a, b) of two sparse vectors by merging their index lists, O(nnz(a) + nnz(b)). Uses a.l1 and b.l1 as given.
// Symmetric bit for bit: jaccard(a, b) == jaccard(b, a).
double jaccard(const SparseVec& a, const SparseVec& b);

// Cosine similarity Σ a_k p_k / (‖a‖₂ ‖p‖₂), O(nnz(a)); for the paper's Jaccard-vs-cosine ablation.
// ‖a‖₂ is computed from the stored entries of `a` (so for a truncated vector it is the truncated norm);
// ‖p‖₂ is p.l2. Returns 0 when either norm is 0.
double cosine(const SparseVec& a, const Prototype& p);

}  // namespace mona
