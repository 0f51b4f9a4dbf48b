#include "reference/score_reference.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace mona::reference {

std::vector<float> to_dense(const SparseVec& vec, int64_t d) {
    std::vector<float> dense(static_cast<size_t>(d), 0.0f);
    for (size_t entry = 0; entry < vec.idx.size(); ++entry) dense[vec.idx[entry]] = vec.val[entry];
    return dense;
}

std::vector<std::vector<float>> dense_rows(const SparseCodes& codes, int64_t row_begin, int64_t row_end, int64_t d) {
    std::vector<std::vector<float>> rows;
    for (int64_t row = row_begin; row < row_end; ++row) {
        std::vector<float> dense(static_cast<size_t>(d), 0.0f);
        for (uint64_t entry = codes.offsets[row]; entry < codes.offsets[row + 1]; ++entry) {
            dense[codes.idx[entry]] += codes.val[entry];
        }
        rows.push_back(std::move(dense));
    }
    return rows;
}

std::vector<float> pool_dense(const std::vector<std::vector<float>>& rows, int64_t d, bool mean) {
    std::vector<float> out(static_cast<size_t>(d), 0.0f);
    if (rows.empty()) return out;
    for (int64_t k = 0; k < d; ++k) {
        double sum = 0.0;
        for (const std::vector<float>& row : rows) sum += row[k];
        if (mean) sum /= static_cast<double>(rows.size());
        out[k] = static_cast<float>(sum);
    }
    return out;
}

double l1_dense(std::span<const float> v) {
    double sum = 0.0;
    for (float x : v) sum += std::fabs(static_cast<double>(x));
    return sum;
}

double jaccard_dense(std::span<const float> a, std::span<const float> b) {
    if (a.size() != b.size()) std::abort();
    double sum_min = 0.0;
    double sum_max = 0.0;
    for (size_t k = 0; k < a.size(); ++k) {
        sum_min += std::min(static_cast<double>(a[k]), static_cast<double>(b[k]));
        sum_max += std::max(static_cast<double>(a[k]), static_cast<double>(b[k]));
    }
    if (sum_max == 0.0) return 0.0;
    return sum_min / sum_max;
}

double cosine_dense(std::span<const float> a, std::span<const float> b) {
    if (a.size() != b.size()) std::abort();
    double dot = 0.0;
    double sum_sq_a = 0.0;
    double sum_sq_b = 0.0;
    for (size_t k = 0; k < a.size(); ++k) {
        dot += static_cast<double>(a[k]) * static_cast<double>(b[k]);
        sum_sq_a += static_cast<double>(a[k]) * static_cast<double>(a[k]);
        sum_sq_b += static_cast<double>(b[k]) * static_cast<double>(b[k]);
    }
    const double norm_a = std::sqrt(sum_sq_a);
    const double norm_b = std::sqrt(sum_sq_b);
    if (norm_a == 0.0 || norm_b == 0.0) return 0.0;
    return dot / (norm_a * norm_b);
}

std::vector<uint64_t> top_n_full_sort(std::span<const double> scores, size_t n) {
    std::vector<uint64_t> positions;
    for (uint64_t pos = 0; pos < scores.size(); ++pos) positions.push_back(pos);
    // stable_sort keeps equal scores (and all NaNs) in position order.
    std::stable_sort(positions.begin(), positions.end(), [&](uint64_t a, uint64_t b) {
        const double sa = scores[a];
        const double sb = scores[b];
        if (std::isnan(sa)) return false;
        if (std::isnan(sb)) return true;
        return sa > sb;
    });
    if (n < positions.size()) positions.resize(n);
    return positions;
}

SparseVec random_int_sparse(std::mt19937_64& rng, int64_t d, double density, int max_value) {
    std::bernoulli_distribution present(density);
    std::uniform_int_distribution<int> value(1, max_value);
    SparseVec vec;
    for (int64_t k = 0; k < d; ++k) {
        if (!present(rng)) continue;
        const float v = static_cast<float>(value(rng));
        vec.idx.push_back(static_cast<uint32_t>(k));
        vec.val.push_back(v);
        vec.l1 += v;
    }
    return vec;
}

SparseCodes random_int_codes(std::mt19937_64& rng, int64_t n_rows, int64_t d, int64_t max_nnz_per_row, int max_value) {
    std::uniform_int_distribution<int> value(1, max_value);
    SparseCodes codes;
    for (int64_t row = 0; row < n_rows; ++row) {
        std::vector<uint32_t> latents;
        if (d > 0) {
            std::uniform_int_distribution<int64_t> count(0, std::min(max_nnz_per_row, d));
            std::uniform_int_distribution<uint32_t> latent(0, static_cast<uint32_t>(d - 1));
            const int64_t n_wanted = count(rng);
            while (static_cast<int64_t>(latents.size()) < n_wanted) {
                const uint32_t candidate = latent(rng);
                if (std::find(latents.begin(), latents.end(), candidate) == latents.end()) latents.push_back(candidate);
            }
        }
        std::sort(latents.begin(), latents.end());
        for (uint32_t latent_idx : latents) {
            codes.idx.push_back(latent_idx);
            codes.val.push_back(static_cast<float>(value(rng)));
        }
        codes.offsets.push_back(codes.idx.size());
    }
    return codes;
}

}  // namespace mona::reference
