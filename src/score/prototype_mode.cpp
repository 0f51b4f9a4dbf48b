#include "score/prototype_mode.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace mona {

Result<PrototypeMode> parse_prototype_mode(std::string_view text) {
    if (text == "mean") return PrototypeMode{};
    constexpr std::string_view kContrast = "contrast:";
    auto bad = [&] {
        return invalid_input(fmt::format(
            "prototype '{}': expected mean or contrast:BETA with BETA a number > 0 (e.g. contrast:1.5)", text));
    };
    if (text.substr(0, kContrast.size()) != kContrast) return bad();
    const std::string value(text.substr(kContrast.size()));
    char* end = nullptr;
    errno = 0;
    const double beta = std::strtod(value.c_str(), &end);
    if (value.empty() || errno != 0 || *end != '\0' || !std::isfinite(beta) || !(beta > 0.0)) return bad();
    return PrototypeMode{beta};
}

std::string prototype_mode_name(const PrototypeMode& mode) {
    return mode.is_mean() ? std::string("mean") : fmt::format("contrast:{:g}", mode.contrast_beta);
}

PoolMean::PoolMean(int64_t d_sae) : sum_(static_cast<size_t>(std::max<int64_t>(d_sae, 0)), 0.0) {}

void PoolMean::add(const SparseVec& vec) {
    MONA_ASSERT(vec.idx.size() == vec.val.size(), "PoolMean: idx and val lengths differ");
    for (size_t entry = 0; entry < vec.idx.size(); ++entry) {
        MONA_ASSERT(vec.idx[entry] < sum_.size(), "PoolMean: latent index >= d_sae");
        sum_[vec.idx[entry]] += static_cast<double>(vec.val[entry]);
    }
    ++n_;
}

Prototype PoolMean::mean() const {
    // The arithmetic of make_prototype(): one division in double, one cast to float.
    std::vector<float> dense(sum_.size(), 0.0f);
    if (n_ > 0) {
        const double n = static_cast<double>(n_);
        for (size_t k = 0; k < dense.size(); ++k) dense[k] = static_cast<float>(sum_[k] / n);
    }
    return prototype_from_dense(std::move(dense));
}

Prototype apply_prototype_mode(const Prototype& proto, const Prototype& pool_mean, const PrototypeMode& mode) {
    if (mode.is_mean()) return proto;
    MONA_ASSERT(pool_mean.dense.size() == proto.dense.size(), "contrast prototype: pool mean of another width");
    // In double, one rounding to float at the end: the result does not depend on whether the compiler fuses the
    // multiply and the subtraction (an FMA in float would change the last bit, and with it near ties).
    std::vector<float> dense(proto.dense.size());
    for (size_t k = 0; k < dense.size(); ++k) {
        const double v =
            static_cast<double>(proto.dense[k]) - mode.contrast_beta * static_cast<double>(pool_mean.dense[k]);
        dense[k] = v > 0.0 ? static_cast<float>(v) : 0.0f;
    }
    return prototype_from_dense(std::move(dense));
}

}  // namespace mona
