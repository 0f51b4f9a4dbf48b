// score/store_scan.cpp: store shards scored on worker threads (score/store_scan.hpp).
#include "score/store_scan.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

namespace mona {

Status score_units(const StoreSet& stores, const std::vector<StoreUnit>& units, const PrototypeBlock& block,
                   int threads, std::vector<ScoredUnit>& out) {
    out.assign(units.size(), ScoredUnit());
    std::vector<Status> statuses(units.size());
    const size_t n_targets = block.n_targets;
    std::atomic<size_t> next{0};
    auto worker = [&]() {
        std::vector<double> scores(n_targets);
        std::string shard_buffer;  // reused for every shard this thread loads
        for (size_t u = next.fetch_add(1); u < units.size(); u = next.fetch_add(1)) {
            ScoredUnit& result = out[u];
            const StoreReader& reader = stores.store(units[u].store_idx);
            statuses[u] = reader.for_each_in_shard(
                units[u].shard_idx,
                [&](const StoredSample& s) -> Status {
                    result.record_idx.push_back(s.record_idx);
                    result.source_pos.push_back(s.source_pos);
                    result.n_tokens.push_back(s.n_tokens);
                    result.id.push_back(s.id);
                    jaccard_block(s.vec, block, scores.data());
                    result.scores.insert(result.scores.end(), scores.begin(), scores.end());
                    return Status();
                },
                shard_buffer);
        }
    };
    size_t n_threads = threads > 0 ? static_cast<size_t>(threads) : std::max(1u, std::thread::hardware_concurrency());
    n_threads = std::max<size_t>(1, std::min(n_threads, units.size()));
    std::vector<std::thread> pool;
    for (size_t i = 1; i < n_threads; ++i) pool.emplace_back(worker);
    worker();
    for (std::thread& thread : pool) thread.join();
    for (const Status& status : statuses) MONA_RETURN_IF_ERROR(status);
    return Status();
}

}  // namespace mona
