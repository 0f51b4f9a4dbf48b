#include "score/length_strata.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "mona/status.hpp"

namespace mona {

std::vector<double> length_stratified_scores(std::span<const double> scores, std::span<const int64_t> n_tokens,
                                             uint32_t n_strata) {
    MONA_ASSERT(scores.size() == n_tokens.size(), "length strata: one token count per score");
    MONA_ASSERT(n_strata >= 1, "length strata: at least one stratum");
    const size_t n = scores.size();
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return n_tokens[a] < n_tokens[b]; });
    std::vector<double> out(scores.begin(), scores.end());
    for (uint64_t g = 0; g < n_strata; ++g) {
        const size_t begin = static_cast<size_t>(g * n / n_strata);
        const size_t end = static_cast<size_t>((g + 1) * n / n_strata);
        double sum = 0.0;
        size_t count = 0;
        for (size_t place = begin; place < end; ++place) {
            const double s = scores[order[place]];
            if (std::isfinite(s)) sum += s, ++count;
        }
        if (count == 0) continue;
        const double mean = sum / static_cast<double>(count);
        double sq = 0.0;
        for (size_t place = begin; place < end; ++place) {
            const double s = scores[order[place]];
            if (std::isfinite(s)) sq += (s - mean) * (s - mean);
        }
        const double sd = std::sqrt(sq / static_cast<double>(count));
        for (size_t place = begin; place < end; ++place) {
            const double s = scores[order[place]];
            if (std::isfinite(s)) out[order[place]] = sd > 0.0 ? (s - mean) / sd : 0.0;
        }
    }
    return out;
}

}  // namespace mona
