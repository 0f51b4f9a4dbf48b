#include "jobs/why_latents.hpp"

#include <algorithm>

#include "jobs/engine.hpp"
#include "jobs/run_support.hpp"

namespace mona::detail {

Result<std::unordered_map<uint64_t, RecordCodes>> embed_records_with_codes(const SelectConfig& config, Session& session,
                                                                           const SaeModel& sae, EmbedOptions options,
                                                                           const std::vector<uint64_t>& records) {
    std::unordered_map<uint64_t, RecordCodes> out;
    for (uint64_t record : records) out.emplace(record, RecordCodes());
    if (out.empty()) return out;
    std::unordered_map<uint64_t, bool> embedded;
    options.keep_rows = true;
    Embedder embedder(session, sae, options, [&](EmbeddedSample& item) -> Status {
        RecordCodes& record = out.at(item.tag);
        const auto [begin, end] = pooled_rows(item.tokens, options.token_mode);
        record.sample.row_begin = begin;
        record.sample.row_end = end;
        record.sample.pooled = std::move(item.pooled);
        record.sample.codes = std::move(item.codes);
        record.tokens = std::move(item.tokens.tokens);
        embedded[item.tag] = true;
        return Status();
    });
    std::vector<SkipRow> skipped;  // the pool pass counted these records already
    MONA_RETURN_IF_ERROR(stream_samples(
        config.pool_path, config, session, skipped,
        [&](const Sample& sample, TokenizedSample tokens) {
            out.at(sample.record_idx).id = sample.id;
            return embedder.add(sample.record_idx, std::move(tokens));
        },
        [&](uint64_t record_idx) { return out.count(record_idx) > 0; }));
    MONA_RETURN_IF_ERROR(embedder.flush());
    for (auto it = out.begin(); it != out.end();) it = embedded.count(it->first) ? std::next(it) : out.erase(it);
    return out;
}

ReportLatent::Context firing_context(const Session& session, const RecordCodes& record, const LatentFiring& firing) {
    const std::vector<int32_t>& toks = record.tokens;
    const auto text_of = [&](int64_t begin, int64_t end) {
        std::string text;
        for (int64_t i = std::max<int64_t>(0, begin); i < std::min<int64_t>(end, static_cast<int64_t>(toks.size()));
             ++i) {
            if (!session.is_special(toks[i])) text += session.token_text(toks[i]);
        }
        return text;
    };
    return {text_of(firing.row - kWhyTokensBefore, firing.row), text_of(firing.row, firing.row + 1),
            text_of(firing.row + 1, firing.row + 1 + kWhyTokensAfter), firing.value, record.id};
}

Result<WhyResult> explain_selections(const SelectConfig& config, SelectEngine& engine, const std::vector<PoolRow>& rows,
                                     const std::vector<std::vector<uint64_t>>& selected,
                                     const std::vector<Prototype>& prototypes) {
    const size_t n_targets = selected.size();
    WhyResult result;
    result.latents.resize(n_targets);
    result.n_samples.assign(n_targets, 0);
    if (n_targets == 0) return result;
    const size_t per_target = std::max<size_t>(1, std::min(kWhySamples, kWhyMaxSamples / n_targets));

    std::vector<std::vector<uint64_t>> target_records(n_targets);
    std::vector<uint64_t> all;
    for (size_t t = 0; t < n_targets; ++t) {
        for (size_t place = 0; place < std::min(per_target, selected[t].size()); ++place) {
            target_records[t].push_back(rows[selected[t][place]].record_idx);
            all.push_back(target_records[t].back());
        }
    }
    MONA_TRY(auto codes, embed_records_with_codes(config, engine.session, engine.sae, engine.eopts, all));

    for (size_t t = 0; t < n_targets && t < prototypes.size(); ++t) {
        std::vector<LatentWhySample> mine;
        std::vector<const RecordCodes*> records;
        for (uint64_t record : target_records[t]) {
            auto it = codes.find(record);
            if (it == codes.end()) continue;  // a record that no longer parses (the pool pass skipped it)
            mine.push_back(it->second.sample);
            records.push_back(&it->second);
        }
        result.n_samples[t] = mine.size();
        for (const LatentWhy& why : explain_latents(prototypes[t], mine)) {
            ReportLatent latent{why.latent, why.share, why.prototype_value, {}};
            for (const LatentFiring& firing : why.firings) {
                latent.contexts.push_back(firing_context(engine.session, *records[firing.sample], firing));
            }
            result.latents[t].push_back(std::move(latent));
        }
    }
    return result;
}

}  // namespace mona::detail
