// jobs/candidate_vectors.hpp: the pooled vectors of a few chosen pool samples, read back from the feature store
// after scoring, for the selection steps that compare samples with each other (--diversity: score/diversity.hpp).
// Scoring keeps only scores; only the candidates' vectors (each target's top c*n) are needed afterwards.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "mona/status.hpp"
#include "mona/types.hpp"
#include "util/comm.hpp"

namespace mona::detail {

// Collective over `comm` (every rank calls it; only rank 0's `records` are read): rank 0 sends the record indices
// to every rank, rank r reads the store shards numbered unit_idx % N == r (stores in slice order, then their
// shards: the scoring's own split) and sends back the vectors of those records it finds; rank 0 puts them all in
// `vecs` (record_idx -> vector), other ranks leave it empty. Every rank returns the same status. A requested record
// that no store holds is kInternal (the records come from the scores of the same stores). Cost: one more read of the
// stores; memory on rank 0: the requested vectors.
Status gather_candidate_vectors(const std::vector<std::string>& store_dirs, const std::vector<uint64_t>& records,
                                const Comm& comm, std::unordered_map<uint64_t, SparseVec>& vecs);

}  // namespace mona::detail
