#include "score/dedup.hpp"

#include <cstring>

#include "score/jaccard.hpp"
#include "util/sha256.hpp"

namespace mona {

namespace {

void append_normalised(std::string& out, std::string_view text) {
    bool space = !out.empty();  // one space between parts, none at the start
    for (char ch : text) {
        const bool is_space = ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
        if (is_space) {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        out += (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
    }
}

}  // namespace

std::string normalize_for_dedup(const Sample& sample) {
    std::string out;
    if (sample.turns.empty()) {
        append_normalised(out, sample.text);
        return out;
    }
    for (const Turn& turn : sample.turns) {
        append_normalised(out, role_name(turn.role));
        out += ':';
        append_normalised(out, turn.content);
    }
    return out;
}

uint64_t dedup_fingerprint(std::string_view normalized) {
    const std::string hex = sha256_hex(normalized);
    return std::stoull(hex.substr(0, 16), nullptr, 16);
}

const char* drop_kind_name(DropKind kind) {
    switch (kind) {
        case DropKind::kExact: return "exact";
        case DropKind::kNear: return "near";
        case DropKind::kExactReference: return "exact-reference";
        case DropKind::kNearReference: return "near-reference";
    }
    return "?";
}

DedupFilter::DedupFilter(double threshold, const std::vector<uint64_t>* ref_fingerprints,
                         const std::vector<SparseVec>* ref_vecs)
    : threshold_(threshold), ref_fingerprints_(ref_fingerprints), ref_vecs_(ref_vecs) {
    if (ref_fingerprints_ != nullptr) {
        for (size_t ref_idx = 0; ref_idx < ref_fingerprints_->size(); ++ref_idx) {
            ref_by_fingerprint_.emplace((*ref_fingerprints_)[ref_idx], ref_idx);  // the first of equal ones
        }
    }
}

std::optional<DropReason> DedupFilter::check(uint64_t fingerprint, const SparseVec& vec) {
    if (auto it = kept_by_fingerprint_.find(fingerprint); it != kept_by_fingerprint_.end()) {
        return DropReason{DropKind::kExact, it->second, 1.0};
    }
    for (const auto& [id, kept] : kept_) {
        ++n_jaccard_;
        const double sim = jaccard(vec, *kept);
        if (sim >= threshold_) return DropReason{DropKind::kNear, id, sim};
    }
    if (auto it = ref_by_fingerprint_.find(fingerprint); it != ref_by_fingerprint_.end()) {
        return DropReason{DropKind::kExactReference, it->second, 1.0};
    }
    if (ref_vecs_ != nullptr) {
        for (size_t ref_idx = 0; ref_idx < ref_vecs_->size(); ++ref_idx) {
            ++n_jaccard_;
            const double sim = jaccard(vec, (*ref_vecs_)[ref_idx]);
            if (sim >= threshold_) return DropReason{DropKind::kNearReference, ref_idx, sim};
        }
    }
    return std::nullopt;
}

void DedupFilter::keep(size_t id, uint64_t fingerprint, const SparseVec& vec) {
    kept_by_fingerprint_.emplace(fingerprint, id);
    kept_.emplace_back(id, &vec);
}

}  // namespace mona
