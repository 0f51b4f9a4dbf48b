// score/length_strata.hpp: `--length-strata B`, an option beyond the paper that removes the score's preference for
// a sample length (docs/beyond.md; issue 13 part 5). The default (B = 0) is the paper's score.
//
// Rule. The pool is split into B strata by model token count: the samples sorted by (n_tokens, position) and cut
// into B contiguous groups of sizes floor(N/B) or ceil(N/B) (group g holds sorted places [floor(g N / B),
// floor((g + 1) N / B))). Within each stratum every finite score s becomes the standard score
//     s' = (s - mean) / sd           (mean and population sd of the stratum's finite scores; s' = 0 when sd = 0)
// and non-finite scores stay as they are. The selection is then the top n of s' (same tie rule): each length band
// competes on how far a sample stands out from samples of about its own length, so no band is favoured for its
// length alone. B = 1 standardises the whole pool (same order as the raw scores). Cost: O(N log N) per target.
//
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace mona {

// The stratified standard scores of `scores` given each sample's token count (same length, asserted); B >= 1.
std::vector<double> length_stratified_scores(std::span<const double> scores, std::span<const int64_t> n_tokens,
                                             uint32_t n_strata);

}  // namespace mona
