#include "reference/sae_reference.hpp"

#include <cmath>
#include <limits>

namespace mona::reference {

std::vector<double> sae_pre_reference(const SaeReferenceParams& params, const float* x) {
    const SaeInfo& info = params.info;
    std::vector<double> input(info.d_in);
    double scale = 1.0;
    if (info.norm == SaeNorm::kConstantNormRescale) {
        double sum_sq = 0.0;
        for (int64_t dim_idx = 0; dim_idx < info.d_in; ++dim_idx) sum_sq += double{x[dim_idx]} * x[dim_idx];
        if (sum_sq > 0.0) scale = std::sqrt(static_cast<double>(info.d_in)) / std::sqrt(sum_sq);
    }
    for (int64_t dim_idx = 0; dim_idx < info.d_in; ++dim_idx) {
        input[dim_idx] = x[dim_idx] * scale;
        if (info.subtract_b_dec) input[dim_idx] -= params.b_dec[dim_idx];
    }
    std::vector<double> pre(info.d_sae);
    for (int64_t latent_idx = 0; latent_idx < info.d_sae; ++latent_idx) {
        double sum = params.b_enc[latent_idx];
        for (int64_t dim_idx = 0; dim_idx < info.d_in; ++dim_idx) {
            sum += input[dim_idx] * params.w_enc[dim_idx * info.d_sae + latent_idx];
        }
        pre[latent_idx] = sum;
    }
    return pre;
}

namespace {

// Keeps the k largest entries of `values` (ties -> lower index) and zeroes the rest.
std::vector<double> keep_top_k(const std::vector<double>& values, int64_t k) {
    const double kTaken = -std::numeric_limits<double>::infinity();
    std::vector<double> remaining = values;
    std::vector<double> kept(values.size(), 0.0);
    for (int64_t round = 0; round < k && round < static_cast<int64_t>(values.size()); ++round) {
        size_t best = values.size();
        for (size_t latent_idx = 0; latent_idx < values.size(); ++latent_idx) {
            if (remaining[latent_idx] == kTaken) continue;
            if (best == values.size() || remaining[latent_idx] > remaining[best]) best = latent_idx;
        }
        if (best == values.size()) break;
        kept[best] = values[best];
        remaining[best] = kTaken;
    }
    return kept;
}

}  // namespace

std::vector<std::pair<uint32_t, double>> sae_encode_reference(const SaeReferenceParams& params, const float* x,
                                                              int32_t k_override) {
    const SaeInfo& info = params.info;
    const std::vector<double> pre = sae_pre_reference(params, x);
    const int64_t k = k_override > 0 ? k_override : info.k;
    std::vector<double> z(pre.size(), 0.0);
    switch (info.activation) {
        case SaeActivation::kTopK: {  // TopK(ReLU(pre))
            std::vector<double> relu(pre.size());
            for (size_t latent_idx = 0; latent_idx < pre.size(); ++latent_idx) {
                relu[latent_idx] = pre[latent_idx] > 0.0 ? pre[latent_idx] : 0.0;
            }
            z = keep_top_k(relu, k);
            break;
        }
        case SaeActivation::kReluTopK: {  // ReLU(TopK(pre))
            z = keep_top_k(pre, k);
            for (double& value : z) value = value > 0.0 ? value : 0.0;
            break;
        }
        case SaeActivation::kJumpRelu:
            for (size_t latent_idx = 0; latent_idx < pre.size(); ++latent_idx) {
                const double relu = pre[latent_idx] > 0.0 ? pre[latent_idx] : 0.0;
                z[latent_idx] = pre[latent_idx] > params.threshold[latent_idx] ? relu : 0.0;
            }
            break;
        case SaeActivation::kRelu:
            for (size_t latent_idx = 0; latent_idx < pre.size(); ++latent_idx) {
                z[latent_idx] = pre[latent_idx] > 0.0 ? pre[latent_idx] : 0.0;
            }
            break;
    }
    std::vector<std::pair<uint32_t, double>> codes;
    for (size_t latent_idx = 0; latent_idx < z.size(); ++latent_idx) {
        if (z[latent_idx] > 0.0) codes.emplace_back(static_cast<uint32_t>(latent_idx), z[latent_idx]);
    }
    return codes;
}

}  // namespace mona::reference
