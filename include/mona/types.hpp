// mona/types.hpp: plain value types shared by every stage.
//
// A SparseVec is a pooled per-sample SAE vector: latent indices in increasing order with their (non-negative)
// values, plus the L1 norm of the vector it came from. The L1 norm is stored separately because a stored vector
// may later be truncated to its largest entries while Jaccard still needs the exact norm.
//
// SparseCodes holds per-token SAE codes for a run of tokens in CSR layout:
//   row r (token r) owns idx[offsets[r] .. offsets[r+1]) and val[same range]; indices within a row ascend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mona {

struct SparseVec {
    std::vector<uint32_t> idx;  // latent indices, strictly increasing
    std::vector<float> val;     // values, same length as idx, all >= 0 for MoNA features
    double l1 = 0.0;            // exact L1 norm of the full (untruncated) vector

    size_t nnz() const { return idx.size(); }
};

struct SparseCodes {
    std::vector<uint64_t> offsets{0};  // [n_rows + 1]
    std::vector<uint32_t> idx;         // [nnz]
    std::vector<float> val;            // [nnz]

    int64_t n_rows() const { return static_cast<int64_t>(offsets.size()) - 1; }
    void clear() {
        offsets.assign(1, 0);
        idx.clear();
        val.clear();
    }
};

}  // namespace mona
