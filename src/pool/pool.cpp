#include "pool/pool.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace mona {

Result<PoolingMode> parse_pooling_mode(std::string_view name) {
    if (name == "mean") return PoolingMode::kMean;
    if (name == "sum") return PoolingMode::kSum;
    return invalid_input("pooling mode \"" + std::string(name) + "\": expected one of mean, sum");
}

const char* pooling_mode_name(PoolingMode mode) {
    switch (mode) {
        case PoolingMode::kMean: return "mean";
        case PoolingMode::kSum: return "sum";
    }
    return "unknown";
}

Pooler::Pooler(int64_t d_sae) : d_sae_(d_sae) {
    MONA_ASSERT(d_sae >= 0 && d_sae <= (int64_t{1} << 32), "Pooler: d_sae out of range [0, 2^32]");
    acc_.assign(static_cast<size_t>(d_sae), 0.0);
    seen_.assign(static_cast<size_t>(d_sae), 0);
}

SparseVec Pooler::pool(const SparseCodes& codes, int64_t row_begin, int64_t row_end, PoolingMode mode) {
    MONA_ASSERT(0 <= row_begin && row_begin <= row_end && row_end <= codes.n_rows(),
                "Pooler::pool: row range outside the codes");
    MONA_ASSERT(codes.idx.size() == codes.val.size() && codes.offsets.back() <= codes.idx.size(),
                "Pooler::pool: inconsistent CSR arrays");
    SparseVec out;
    const int64_t n_rows = row_end - row_begin;
    if (n_rows == 0) return out;

    touched_.clear();
    const uint64_t entry_begin = codes.offsets[static_cast<size_t>(row_begin)];
    const uint64_t entry_end = codes.offsets[static_cast<size_t>(row_end)];
    MONA_ASSERT(entry_begin <= entry_end, "Pooler::pool: CSR offsets decrease");
    for (uint64_t entry_idx = entry_begin; entry_idx < entry_end; ++entry_idx) {
        const uint32_t latent_idx = codes.idx[entry_idx];
        MONA_ASSERT(latent_idx < static_cast<uint64_t>(d_sae_), "Pooler::pool: latent index >= d_sae");
        if (!seen_[latent_idx]) {
            seen_[latent_idx] = 1;
            touched_.push_back(latent_idx);
        }
        acc_[latent_idx] += static_cast<double>(codes.val[entry_idx]);
    }
    // Sorting the touched list (not scanning d_sae) keeps the cost proportional to the sample's nnz.
    std::sort(touched_.begin(), touched_.end());

    const double divisor = mode == PoolingMode::kMean ? static_cast<double>(n_rows) : 1.0;
    out.idx.reserve(touched_.size());
    out.val.reserve(touched_.size());
    double l1 = 0.0;
    for (const uint32_t latent_idx : touched_) {
        const float value = static_cast<float>(acc_[latent_idx] / divisor);
        acc_[latent_idx] = 0.0;
        seen_[latent_idx] = 0;
        if (value == 0.0f) continue;
        out.idx.push_back(latent_idx);
        out.val.push_back(value);
        l1 += std::fabs(static_cast<double>(value));
    }
    out.l1 = l1;
    return out;
}

Prototype prototype_from_dense(std::vector<float> dense) {
    Prototype proto;
    proto.dense = std::move(dense);
    double l1 = 0.0;
    double sum_sq = 0.0;
    for (const float value : proto.dense) {
        const double v = static_cast<double>(value);
        l1 += std::fabs(v);
        sum_sq += v * v;
    }
    proto.l1 = l1;
    proto.l2 = std::sqrt(sum_sq);
    return proto;
}

Prototype make_prototype(std::span<const SparseVec> vecs, int64_t d_sae) {
    MONA_ASSERT(d_sae >= 0, "make_prototype: negative d_sae");
    std::vector<double> acc(static_cast<size_t>(d_sae), 0.0);
    for (const SparseVec& vec : vecs) {
        MONA_ASSERT(vec.idx.size() == vec.val.size(), "make_prototype: idx and val lengths differ");
        for (size_t entry_idx = 0; entry_idx < vec.idx.size(); ++entry_idx) {
            const uint32_t latent_idx = vec.idx[entry_idx];
            MONA_ASSERT(latent_idx < static_cast<uint64_t>(d_sae), "make_prototype: latent index >= d_sae");
            acc[latent_idx] += static_cast<double>(vec.val[entry_idx]);
        }
    }
    std::vector<float> dense(static_cast<size_t>(d_sae), 0.0f);
    if (!vecs.empty()) {
        const double n_vecs = static_cast<double>(vecs.size());
        for (size_t latent_idx = 0; latent_idx < dense.size(); ++latent_idx) {
            dense[latent_idx] = static_cast<float>(acc[latent_idx] / n_vecs);
        }
    }
    return prototype_from_dense(std::move(dense));
}

}  // namespace mona
