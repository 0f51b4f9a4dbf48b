// score/dedup.hpp: near-duplicate control of a selection (`--dedup T`, `--dedup-against FILE`), an option beyond
// the paper (docs/beyond.md).
//
// Rule. A selection is built by walking its candidates in selection order (the score order, or the MMR pick order
// with --diversity) and keeping each candidate unless
//   exact            its normalised text has the fingerprint of a sample already kept,
//   near             J(v, v_kept) >= T for a sample already kept (generalized Jaccard of the pooled vectors),
//   exact-reference  its normalised text has the fingerprint of a reference sample (--dedup-against),
//   near-reference   J(v, v_ref) >= T for a reference sample,
// checked in that order; a dropped candidate names the first kept (or reference) sample it duplicates, and the
// walk goes on until n are kept or the candidates run out. T = 1 still drops identical pooled vectors.
// Normalised text (normalize_for_dedup): every turn as "<role>: <content>" (or the plain text), ASCII letters
// lowercased, every run of whitespace one space, leading and trailing whitespace removed; its fingerprint is the
// first 8 bytes of its SHA-256 (a collision among 10^6 samples has probability ~3e-8).
//
// Cost: per candidate one Jaccard per kept sample and per reference sample, O((n + R) * nnz) each, so
// O(C * (n + R) * nnz) per target for C candidates and R reference samples.
//
// Thread-safety: a DedupFilter is not synchronised; the free functions are pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mona/types.hpp"
#include "text/formats.hpp"

namespace mona {

std::string normalize_for_dedup(const Sample& sample);
uint64_t dedup_fingerprint(std::string_view normalized);

enum class DropKind { kExact, kNear, kExactReference, kNearReference };
const char* drop_kind_name(DropKind kind);  // "exact", "near", "exact-reference", "near-reference"

struct DropReason {
    DropKind kind = DropKind::kExact;
    size_t other_idx = 0;     // the kept sample's id (as given to keep()) or the reference sample's index
    double similarity = 1.0;  // J for near and near-reference; 1 for exact ones
};

class DedupFilter {
   public:
    // threshold in (0, 1]; the reference samples (fingerprints and vectors, same length) must outlive the filter.
    DedupFilter(double threshold, const std::vector<uint64_t>* ref_fingerprints = nullptr,
                const std::vector<SparseVec>* ref_vecs = nullptr);

    // Why the sample would be dropped now, or nullopt when it may be kept.
    std::optional<DropReason> check(uint64_t fingerprint, const SparseVec& vec);
    // Records a kept sample; `vec` must outlive the filter.
    void keep(size_t id, uint64_t fingerprint, const SparseVec& vec);

    uint64_t n_jaccard() const { return n_jaccard_; }

   private:
    double threshold_;
    const std::vector<uint64_t>* ref_fingerprints_;
    const std::vector<SparseVec>* ref_vecs_;
    std::unordered_map<uint64_t, size_t> ref_by_fingerprint_;
    std::unordered_map<uint64_t, size_t> kept_by_fingerprint_;
    std::vector<std::pair<size_t, const SparseVec*>> kept_;
    uint64_t n_jaccard_ = 0;
};

}  // namespace mona
