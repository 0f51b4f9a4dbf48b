#include "jobs/why_latents.hpp"

#include <algorithm>
#include <unordered_map>

#include "embed/embedder.hpp"
#include "jobs/engine.hpp"
#include "jobs/run_support.hpp"
#include "score/latent_why.hpp"

namespace mona::detail {

Result<WhyResult> explain_selections(const SelectConfig& config, SelectEngine& engine, const std::vector<PoolRow>& rows,
                                     const std::vector<std::vector<uint64_t>>& selected,
                                     const std::vector<Prototype>& prototypes) {
    const size_t n_targets = selected.size();
    WhyResult result;
    result.latents.resize(n_targets);
    result.n_samples.assign(n_targets, 0);
    if (n_targets == 0) return result;
    const size_t per_target = std::max<size_t>(1, std::min(kWhySamples, kWhyMaxSamples / n_targets));

    // The records to explain (a record two targets share is embedded once), in pool order as the reader meets them.
    std::unordered_map<uint64_t, size_t> slot_of;  // record_idx -> slot
    std::vector<std::vector<size_t>> slots(n_targets);
    for (size_t t = 0; t < n_targets; ++t) {
        for (size_t place = 0; place < std::min(per_target, selected[t].size()); ++place) {
            const uint64_t record = rows[selected[t][place]].record_idx;
            auto [it, added] = slot_of.emplace(record, slot_of.size());
            slots[t].push_back(it->second);
        }
    }
    std::vector<LatentWhySample> samples(slot_of.size());
    std::vector<std::vector<int32_t>> tokens(slot_of.size());
    std::vector<std::string> ids(slot_of.size());
    std::vector<char> embedded(slot_of.size(), 0);

    EmbedOptions options = engine.eopts;
    options.keep_rows = true;
    Embedder embedder(engine.session, engine.sae, options, [&](EmbeddedSample& item) -> Status {
        LatentWhySample& sample = samples[item.tag];
        const auto [begin, end] = pooled_rows(item.tokens, options.token_mode);
        sample.row_begin = begin;
        sample.row_end = end;
        sample.pooled = std::move(item.pooled);
        sample.codes = std::move(item.codes);
        tokens[item.tag] = std::move(item.tokens.tokens);
        embedded[item.tag] = 1;
        return Status();
    });
    std::vector<SkipRow> skipped;  // the pool pass counted these records already
    MONA_RETURN_IF_ERROR(stream_samples(
        config.pool_path, config, engine.session, skipped,
        [&](const Sample& sample, TokenizedSample tokenized) {
            const size_t slot = slot_of.at(sample.record_idx);
            ids[slot] = sample.id;
            return embedder.add(slot, std::move(tokenized));
        },
        [&](uint64_t record_idx) { return slot_of.count(record_idx) > 0; }));
    MONA_RETURN_IF_ERROR(embedder.flush());

    const Session& session = engine.session;
    const auto text_of = [&](const std::vector<int32_t>& toks, int64_t begin, int64_t end) {
        std::string text;
        for (int64_t i = std::max<int64_t>(0, begin); i < std::min<int64_t>(end, toks.size()); ++i) {
            if (!session.is_special(toks[i])) text += session.token_text(toks[i]);
        }
        return text;
    };
    for (size_t t = 0; t < n_targets; ++t) {
        std::vector<LatentWhySample> mine;
        std::vector<size_t> slot_of_mine;
        for (size_t slot : slots[t]) {
            if (!embedded[slot]) continue;  // a record that no longer parses (the pool pass skipped it)
            mine.push_back(samples[slot]);
            slot_of_mine.push_back(slot);
        }
        result.n_samples[t] = mine.size();
        if (t >= prototypes.size()) continue;
        for (const LatentWhy& why : explain_latents(prototypes[t], mine)) {
            ReportLatent latent{why.latent, why.share, why.prototype_value, {}};
            for (const LatentFiring& firing : why.firings) {
                const size_t slot = slot_of_mine[firing.sample];
                const std::vector<int32_t>& toks = tokens[slot];
                latent.contexts.push_back({text_of(toks, firing.row - kWhyTokensBefore, firing.row),
                                           text_of(toks, firing.row, firing.row + 1),
                                           text_of(toks, firing.row + 1, firing.row + 1 + kWhyTokensAfter),
                                           firing.value, ids[slot]});
            }
            result.latents[t].push_back(std::move(latent));
        }
    }
    return result;
}

}  // namespace mona::detail
