// reference/score_reference.hpp: deliberately naive versions of pooling, Jaccard, cosine and top-n.
//
// These are the specification the fast kernels in src/pool and src/score are tested against (spec method.md
// §1d, §2, §3, §4). They work on full dense vectors, loop over every latent, and sort everything; they are
// written to be obviously right, not fast. Sums are in double in index order, so for integer-valued inputs
// they are exact and the fast kernels must match them bit for bit.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "mona/types.hpp"

namespace mona::reference {

// Dense copy [d] of a sparse vector (latents not stored are 0).
std::vector<float> to_dense(const SparseVec& vec, int64_t d);

// Dense per-token rows [n_rows][d] of rows [row_begin, row_end) of CSR codes.
std::vector<std::vector<float>> dense_rows(const SparseCodes& codes, int64_t row_begin, int64_t row_end, int64_t d);

// Column-wise sum of dense rows [n_rows][d], in double, divided by n_rows when `mean` (0 rows: all zeros),
// then rounded to float.
std::vector<float> pool_dense(const std::vector<std::vector<float>>& rows, int64_t d, bool mean);

// Σ_k |v_k| in double.
double l1_dense(std::span<const float> v);

// Σ_k min(a_k, b_k) / Σ_k max(a_k, b_k) over all k (in double); 0 when Σ max is 0. a and b have equal length.
double jaccard_dense(std::span<const float> a, std::span<const float> b);

// Σ a_k b_k / (sqrt(Σ a_k^2) sqrt(Σ b_k^2)) over all k (in double); 0 when either norm is 0.
double cosine_dense(std::span<const float> a, std::span<const float> b);

// Full stable sort of all positions: score descending, NaN last, ties (and NaNs) by position ascending;
// the first min(n, size) positions.
std::vector<uint64_t> top_n_full_sort(std::span<const double> scores, size_t n);

// Test data with small integer values (so every double sum over them is exact).
// A random sparse vector of width d: each latent is present with probability `density`, with a value drawn
// uniformly from 1..max_value; l1 is the exact sum.
SparseVec random_int_sparse(std::mt19937_64& rng, int64_t d, double density, int max_value);
// Random CSR codes [n_rows, d]: each row holds up to max_nnz_per_row distinct ascending latents (fewer when d is
// small), values uniform in 1..max_value.
SparseCodes random_int_codes(std::mt19937_64& rng, int64_t n_rows, int64_t d, int64_t max_nnz_per_row, int max_value);

}  // namespace mona::reference
