#include "eval/representations.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "eval/metrics.hpp"
#include "sae/gate_codes.hpp"

namespace mona {
namespace {

// The representation `spec` scores, with its checks. `main_k` is the k of the Embedder's own encode.
Result<Representation> representation_of(const EvalMethodSpec& spec, const RepDefaults& defaults, int32_t main_k,
                                         const SaeModel& sae, const ModelInfo& model) {
    Representation rep;
    rep.kind = spec.method->rep;
    rep.layer = spec.layer >= 0 ? spec.layer : defaults.layer;
    rep.pooling = spec.pooling.value_or(defaults.pooling);
    switch (rep.kind) {
        case RepKind::kSae: {
            if (rep.layer != defaults.layer) {
                return invalid_input(fmt::format(
                    "--method {}: the SAE {} reads layer {}; SAE features at layer {} need an SAE trained there "
                    "(raw-cosine and poly-jaccard take any layer)",
                    spec.name, sae.info().path, defaults.layer, rep.layer));
            }
            MONA_RETURN_IF_ERROR(check_sae_k(sae, spec.k, "--method " + spec.name + ":"));
            rep.k = spec.k > 0 ? spec.k : main_k;
            rep.tensor = layer_tensor_name(rep.layer, model.n_layer, defaults.model_path).value();
            rep.width = sae.info().d_sae;
            break;
        }
        case RepKind::kRaw: {
            rep.pooling = PoolingMode::kMean;
            MONA_TRY(rep.tensor, layer_tensor_name(rep.layer, model.n_layer, defaults.model_path));
            rep.width = model.n_embd;
            break;
        }
        case RepKind::kPoly: {
            MONA_TRY(rep.tensor, ffn_gate_tensor_name(rep.layer, model.n_layer, defaults.model_path));
            if (spec.k < 0) return invalid_input(fmt::format("--method {}: k must be >= 1", spec.name));
            rep.k = spec.k > 0 ? spec.k : main_k;
            if (rep.k < 1) {
                return invalid_input(
                    fmt::format("--method {}: the SAE {} has no TopK k to copy; give one, e.g. poly-jaccard:k=32",
                                spec.name, sae.info().path));
            }
            break;
        }
        case RepKind::kNone: break;
    }
    return rep;
}

}  // namespace

Status check_sae_k(const SaeModel& sae, int32_t k, const std::string& what) {
    if (k < 0 || (k > 0 && sae.info().k == 0)) {
        return invalid_input(fmt::format("{} k {} needs a TopK SAE with k >= 1; SAE {} is {}", what, k, sae.info().path,
                                         sae.info().architecture));
    }
    if (k > sae.info().d_sae) {
        return invalid_input(fmt::format("{} k {} is larger than the SAE width {}", what, k, sae.info().d_sae));
    }
    return Status();
}

Result<RepresentationSet> RepresentationSet::resolve(const std::vector<EvalMethodSpec>& specs,
                                                     const RepDefaults& defaults, const SaeModel* sae,
                                                     const ModelInfo& model) {
    RepresentationSet set;
    set.sae_ = sae;
    set.token_mode_ = defaults.token_mode;
    set.d_in_ = model.n_embd;
    set.embed_options_.layer = defaults.layer;
    set.embed_options_.k_override = defaults.k;
    set.embed_options_.token_mode = defaults.token_mode;
    set.embed_options_.pooling = defaults.pooling;
    const int32_t main_k = sae != nullptr ? (defaults.k > 0 ? defaults.k : sae->info().k) : 0;
    for (const EvalMethodSpec& spec : specs) {
        ResolvedMethod method{spec.method, spec.name, SIZE_MAX, spec};
        if (spec.method->rep != RepKind::kNone) {
            MONA_TRY(Representation rep, representation_of(spec, defaults, main_k, *sae, model));
            for (size_t rep_idx = 0; rep_idx < set.reps_.size(); ++rep_idx) {
                if (set.reps_[rep_idx].same_as(rep)) method.rep = rep_idx;
            }
            if (method.rep == SIZE_MAX) {
                // Where the rows come from: the Embedder's own layer rows, or an extra tensor of the same pass.
                EmbedOptions& eopts = set.embed_options_;
                if (rep.kind == RepKind::kSae) {
                    rep.main = rep.k == main_k && rep.pooling == defaults.pooling;
                    eopts.keep_rows = eopts.keep_rows || !rep.main;
                } else if (rep.kind == RepKind::kRaw && rep.layer == defaults.layer) {
                    eopts.keep_rows = true;
                } else {
                    auto it = std::find(eopts.extra_tensors.begin(), eopts.extra_tensors.end(), rep.tensor);
                    rep.extra_idx = static_cast<int32_t>(it - eopts.extra_tensors.begin());
                    if (it == eopts.extra_tensors.end()) eopts.extra_tensors.push_back(rep.tensor);
                }
                method.rep = set.reps_.size();
                set.reps_.push_back(std::move(rep));
            }
        }
        if (set.latent_rep_ == SIZE_MAX && spec.method->explains_latents) set.latent_rep_ = method.rep;
        set.methods_.push_back(std::move(method));
    }
    set.poolers_.resize(set.reps_.size());
    return set;
}

Status RepresentationSet::compute(EmbeddedSample& item, std::vector<RepVector>& out) {
    const auto [begin, end] = pooled_rows(item.tokens, token_mode_);
    out.resize(reps_.size());
    for (size_t rep_idx = 0; rep_idx < reps_.size(); ++rep_idx) {
        Representation& rep = reps_[rep_idx];
        switch (rep.kind) {
            case RepKind::kSae:
                if (rep.main) {
                    out[rep_idx].sparse = item.pooled;
                } else {
                    if (!poolers_[rep_idx]) poolers_[rep_idx].emplace(rep.width);
                    scratch_codes_.clear();
                    sae_->encode(item.rows.data() + begin * d_in_, end - begin, scratch_codes_, rep.k);
                    out[rep_idx].sparse = poolers_[rep_idx]->pool(scratch_codes_, 0, end - begin, rep.pooling);
                }
                break;
            case RepKind::kRaw:
                out[rep_idx].dense =
                    mean_rows(rep.extra_idx < 0 ? item.rows : item.extra[rep.extra_idx], d_in_, begin, end);
                break;
            case RepKind::kPoly: {
                const int64_t width = item.extra_width[rep.extra_idx];
                if (rep.width == 0) {
                    if (rep.k > width) {
                        return invalid_input(fmt::format("poly-jaccard k {} is larger than the MLP width {} of {}",
                                                         rep.k, width, rep.tensor));
                    }
                    rep.width = width;
                }
                if (!poolers_[rep_idx]) poolers_[rep_idx].emplace(rep.width);
                scratch_codes_.clear();
                gate_topk_codes(item.extra[rep.extra_idx].data() + begin * width, end - begin, width, rep.k,
                                scratch_codes_);
                out[rep_idx].sparse = poolers_[rep_idx]->pool(scratch_codes_, 0, end - begin, rep.pooling);
                break;
            }
            case RepKind::kNone: break;
        }
    }
    item.rows = {};
    item.codes = {};
    item.extra = {};
    return Status();
}

}  // namespace mona
