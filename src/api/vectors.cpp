// The public pooling and Jaccard helpers (mona/vectors.hpp): the jobs' own code behind input checks, so that bad
// arrays from a caller come back as kInvalidInput instead of reaching the internal asserts.
#include "mona/vectors.hpp"

#include <fmt/format.h>

#include "pool/pool.hpp"
#include "score/jaccard.hpp"

namespace mona {

Result<SparseVec> pool_codes(const SparseCodes& codes, int64_t row_begin, int64_t row_end, int64_t d_sae,
                             std::string_view pooling) {
    MONA_TRY(const PoolingMode mode, parse_pooling_mode(pooling));
    if (d_sae < 0 || d_sae > (int64_t{1} << 32)) {
        return invalid_input(fmt::format("d_sae: {} is outside [0, 2^32]", d_sae));
    }
    if (codes.offsets.empty() || codes.offsets.front() != 0) return invalid_input("offsets: must start with 0");
    if (codes.idx.size() != codes.val.size()) {
        return invalid_input(
            fmt::format("indices and values differ in length ({} vs {})", codes.idx.size(), codes.val.size()));
    }
    for (size_t r = 1; r < codes.offsets.size(); ++r) {
        if (codes.offsets[r] < codes.offsets[r - 1]) {
            return invalid_input(fmt::format("offsets: decrease at row {}", r - 1));
        }
    }
    if (codes.offsets.back() > codes.idx.size()) {
        return invalid_input(
            fmt::format("offsets: end at {} but there are {} entries", codes.offsets.back(), codes.idx.size()));
    }
    if (row_begin < 0 || row_begin > row_end || row_end > codes.n_rows()) {
        return invalid_input(
            fmt::format("rows [{}, {}) outside the {} rows of the codes", row_begin, row_end, codes.n_rows()));
    }
    for (uint64_t e = codes.offsets[row_begin]; e < codes.offsets[row_end]; ++e) {
        if (codes.idx[e] >= static_cast<uint64_t>(d_sae)) {
            return invalid_input(fmt::format("indices: latent {} >= d_sae {}", codes.idx[e], d_sae));
        }
    }
    Pooler pooler(d_sae);
    return pooler.pool(codes, row_begin, row_end, mode);
}

}  // namespace mona
