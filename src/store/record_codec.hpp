// store/record_codec.hpp: one stored sample's bytes in a shard (the record layout of mona/feature_store.hpp), for
// the store itself and its tests. Defined in store/feature_store.cpp.
#pragma once

#include <cstdint>
#include <string>

#include "mona/feature_store.hpp"
#include "util/bytes.hpp"

namespace mona::store_detail {

// The fields before the latent indices (record_idx, source_pos, n_tokens, id, l1).
void encode_record_head(std::string& out, const StoredSample& sample, double l1);
// The latent indices of `vec` as format `version` writes them (format 3: the bitmap when it is smaller).
void encode_indices(std::string& out, const SparseVec& vec, uint32_t version);
// A whole record: head, indices, the value block of `values`.
void encode_record(std::string& out, const StoredSample& sample, const SparseVec& vec, ValueEncoding values,
                   uint32_t version);
// Decodes one record of format `version`; returns the name of the field that could not be read (e.g. "nnz",
// "latent bitmap"), or nullptr on success.
const char* decode_record(ByteReader& in, StoredSample& out, ValueEncoding values, uint32_t version);

}  // namespace mona::store_detail
