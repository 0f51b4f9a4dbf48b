// reference/sae_reference.hpp: a deliberately naive SAE encoder, the specification SaeModel::encode is tested against.
//
// Plain loops in double precision, one token at a time, following the formula in sae/sae.hpp literally:
// normalise, subtract b_dec, dense matrix-vector product, then the activation with TopK done by k linear scans
// for the maximum (ties -> lower latent index). It is slow on purpose (O(k * d_sae) per token) and shares no
// code with the library.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "sae/sae.hpp"

namespace mona::reference {

struct SaeReferenceParams {
    SaeInfo info;                  // d_in, d_sae, activation, norm, k, subtract_b_dec are used
    std::vector<float> w_enc;      // [d_in, d_sae] row-major
    std::vector<float> b_enc;      // [d_sae]
    std::vector<float> b_dec;      // [d_in] (may be empty when !info.subtract_b_dec)
    std::vector<float> threshold;  // [d_sae] for kJumpRelu
};

// Dense pre-activations [d_sae] of one token x [d_in].
std::vector<double> sae_pre_reference(const SaeReferenceParams& params, const float* x);

// The non-zero (> 0) codes of one token as (latent index, value), indices ascending. k_override > 0 replaces k.
std::vector<std::pair<uint32_t, double>> sae_encode_reference(const SaeReferenceParams& params, const float* x,
                                                              int32_t k_override = 0);

}  // namespace mona::reference
