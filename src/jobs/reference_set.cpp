#include "jobs/reference_set.hpp"

#include <fmt/format.h>

#include "embed/embedder.hpp"
#include "score/dedup.hpp"

namespace mona::detail {

Status embed_reference(const std::string& path, const SelectConfig& config, SelectEngine& engine,
                       std::vector<SkipRow>& skipped, ReferenceSet& out) {
    out = ReferenceSet();
    // The Embedder hands samples back in the order they were added (tags 0, 1, ...), as embed_targets relies on.
    Embedder embedder(engine.session, engine.sae, engine.eopts, [&](EmbeddedSample& item) -> Status {
        if (item.tag != out.vecs.size()) {
            return internal_error(fmt::format("{}: sample {} came back as {}", path, out.vecs.size(), item.tag));
        }
        out.vecs.push_back(std::move(item.pooled));
        return Status();
    });
    MONA_RETURN_IF_ERROR(
        stream_samples(path, config, engine.session, skipped, [&](const Sample& sample, TokenizedSample tokens) {
            out.fingerprints.push_back(dedup_fingerprint(normalize_for_dedup(sample)));
            out.line_nos.push_back(sample.line_no);
            return embedder.add(out.line_nos.size() - 1, std::move(tokens));
        }));
    MONA_RETURN_IF_ERROR(embedder.flush());
    if (out.vecs.empty()) return invalid_input(fmt::format("--dedup-against {}: holds no usable sample", path));
    return Status();
}

}  // namespace mona::detail
