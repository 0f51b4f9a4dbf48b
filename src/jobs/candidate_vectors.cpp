#include "jobs/candidate_vectors.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "store/feature_store.hpp"
#include "util/bytes.hpp"

namespace mona::detail {

namespace {

// This rank's share: the requested records found in its shards, packed as status, count, then per record its
// index, latent indices, values and l1.
std::string read_share(const std::vector<std::string>& store_dirs, const std::vector<uint64_t>& sorted_records,
                       const Comm& comm) {
    ByteWriter body;
    uint64_t n_found = 0;
    const Status status = [&]() -> Status {
        MONA_TRY(StoreSet stores, StoreSet::open(store_dirs));
        size_t unit_idx = 0;
        for (size_t store_idx = 0; store_idx < stores.n_stores(); ++store_idx) {
            const StoreReader& reader = stores.store(store_idx);
            for (size_t shard_idx = 0; shard_idx < reader.n_shards(); ++shard_idx, ++unit_idx) {
                if (unit_idx % static_cast<size_t>(comm.size()) != static_cast<size_t>(comm.rank())) continue;
                MONA_RETURN_IF_ERROR(reader.for_each_in_shard(shard_idx, [&](const StoredSample& stored) -> Status {
                    if (!std::binary_search(sorted_records.begin(), sorted_records.end(), stored.record_idx)) {
                        return Status();
                    }
                    body.put(stored.record_idx);
                    body.put_vector(stored.vec.idx);
                    body.put_vector(stored.vec.val);
                    body.put(stored.vec.l1);
                    ++n_found;
                    return Status();
                }));
            }
        }
        return Status();
    }();
    ByteWriter writer;
    writer.put<int32_t>(static_cast<int32_t>(status.code()));
    writer.put_string(status.message());
    writer.put<uint64_t>(status.ok() ? n_found : 0);
    std::string bytes = std::move(writer.bytes());
    if (status.ok()) bytes += body.bytes();
    return bytes;
}

}  // namespace

Status gather_candidate_vectors(const std::vector<std::string>& store_dirs, const std::vector<uint64_t>& records,
                                const Comm& comm, std::unordered_map<uint64_t, SparseVec>& vecs) {
    vecs.clear();
    std::string request;
    if (comm.is_root()) {
        std::vector<uint64_t> sorted = records;
        std::sort(sorted.begin(), sorted.end());
        sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
        ByteWriter writer;
        writer.put_vector(sorted);
        request = std::move(writer.bytes());
    }
    comm.broadcast(request);
    std::vector<uint64_t> sorted_records;
    {
        ByteReader reader(request);
        sorted_records = reader.get_vector<uint64_t>();
    }
    std::vector<std::string> shares = comm.gather(read_share(store_dirs, sorted_records, comm));
    Status status;
    if (comm.is_root()) {
        status = [&]() -> Status {
            for (size_t rank = 0; rank < shares.size(); ++rank) {
                ByteReader reader(shares[rank]);
                const auto code = static_cast<StatusCode>(reader.get<int32_t>());
                const std::string message = reader.get_string();
                if (code != StatusCode::kOk) {
                    const Status status(code, message);
                    return comm.size() > 1 ? status.with_context(fmt::format("rank {} of {}", rank, comm.size()))
                                           : status;
                }
                const uint64_t n_found = reader.get<uint64_t>();
                for (uint64_t found_idx = 0; found_idx < n_found; ++found_idx) {
                    const uint64_t record_idx = reader.get<uint64_t>();
                    SparseVec vec;
                    vec.idx = reader.get_vector<uint32_t>();
                    vec.val = reader.get_vector<float>();
                    vec.l1 = reader.get<double>();
                    vecs.emplace(record_idx, std::move(vec));
                }
                std::string().swap(shares[rank]);
            }
            for (uint64_t record_idx : sorted_records) {
                if (vecs.count(record_idx) == 0) {
                    return Status(StatusCode::kInternal,
                                  fmt::format("stores {} ...: scored record {} was not found when its vector was read "
                                              "back (did the store change during the run?)",
                                              store_dirs.front(), record_idx));
                }
            }
            return Status();
        }();
    }
    return comm.broadcast_status(status);
}

}  // namespace mona::detail
