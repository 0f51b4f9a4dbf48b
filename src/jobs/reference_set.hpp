// jobs/reference_set.hpp: the reference samples of `--dedup-against FILE` (contamination control, e.g. a
// benchmark's test split): each sample's normalised-text fingerprint and pooled vector (score/dedup.hpp), embedded
// with the run's own model, SAE and settings, as a target is.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "jobs/engine.hpp"
#include "jobs/run_support.hpp"
#include "mona/status.hpp"
#include "mona/types.hpp"

namespace mona::detail {

struct ReferenceSet {
    std::vector<uint64_t> fingerprints;  // dedup_fingerprint(normalize_for_dedup(sample))
    std::vector<SparseVec> vecs;         // pooled vectors, same order
    std::vector<uint64_t> line_nos;      // where each sample starts in the file (1-based)
};

// Embeds every record of `path` (bad records: an error, or skipped into `skipped` with config.skip_bad). An empty
// file is an error. Cost: one model pass over the file.
Status embed_reference(const std::string& path, const SelectConfig& config, SelectEngine& engine,
                       std::vector<SkipRow>& skipped, ReferenceSet& out);

}  // namespace mona::detail
