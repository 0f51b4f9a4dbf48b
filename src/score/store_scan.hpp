// score/store_scan.hpp: scoring feature-store shards against several targets on several threads (`mona score`).
//
// A unit is one shard of one store of a StoreSet. score_units() hands the units to `threads` worker threads
// (each takes the next unscored unit; one shard in memory per thread), scores every sample of a unit against
// every target with jaccard_block (the targets side by side, bit for bit the single-target jaccard), and returns
// the results per unit, in the order the units were given, so the output does not depend on the thread count or
// on which thread scored what.
//
// Thread-safety: StoreSet/StoreReader const methods are safe from many threads (feature_store.hpp); each worker
// has its own decode buffers; results are written to the unit's own slot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mona/feature_store.hpp"
#include "mona/status.hpp"
#include "score/jaccard.hpp"

namespace mona {

struct StoreUnit {
    size_t store_idx = 0;  // StoreSet::store(store_idx)
    size_t shard_idx = 0;
};

struct ScoredUnit {
    std::vector<uint64_t> record_idx;
    std::vector<uint64_t> source_pos;
    std::vector<uint32_t> n_tokens;
    std::vector<std::string> id;
    std::vector<double> scores;  // [row × n_targets + target]
};

// Scores `units` of `stores` against `block` on `threads` threads (0 = the machine's cores, capped at the number of
// units). out[u] holds unit u's samples in store order. Returns the first error of any unit (by unit order).
Status score_units(const StoreSet& stores, const std::vector<StoreUnit>& units, const PrototypeBlock& block,
                   int threads, std::vector<ScoredUnit>& out);

}  // namespace mona
