// mona/activations.hpp: the values `mona activations` writes (tools/mona/cmd_activations.cpp, which dumps them to
// a safetensors file), from the same pieces: the Session of the job's options, resolve_layer, the Embedder's
// CPU backend with keep_rows. The Python binding's mona.activations calls this; the tests compare the two.
#include "mona/activations.hpp"

#include <fmt/format.h>

#include <deque>
#include <exception>
#include <new>
#include <optional>

#include "api/jobs.hpp"
#include "embed/embedder.hpp"
#include "io/sample_reader.hpp"
#include "jobs/engine.hpp"
#include "util/home.hpp"

namespace mona {

namespace {

Result<ActivationsResult> activations(const ActivationsJobOptions& options) {
    SelectJobOptions select;
    select.common = options.common;
    MONA_TRY(const SelectConfig config, api::to_select_config(select, /*fill_default_paths=*/true));
    MONA_TRY(Session session, Session::open(session_options(config)));
    const ModelInfo& mi = session.info();

    std::optional<SaeModel> sae;
    int32_t layer = config.layer;
    if (options.with_sae) {
        MONA_TRY(SaeModel loaded, SaeModel::open({config.sae_path}));
        MONA_TRY(layer, resolve_layer(layer, mi, loaded.info()));
        sae.emplace(std::move(loaded));
    } else if (layer < 0) {
        layer = mi.n_layer - 1;
    }
    ActivationsResult result;
    result.layer = layer;
    result.n_embd = mi.n_embd;
    MONA_TRY(result.llama_tensor, layer_tensor_name(layer, mi.n_layer, mi.path));

    std::deque<SampleActivations> samples;
    EmbedOptions eopts;
    eopts.layer = layer;
    eopts.token_mode = config.token_mode;
    eopts.pooling = PoolingMode::kMean;
    eopts.keep_rows = true;
    Embedder embedder(make_cpu_backend(session, sae ? &*sae : nullptr, eopts), [&](EmbeddedSample& item) -> Status {
        SampleActivations& s = samples[item.tag];
        s.residual = std::move(item.rows);
        if (sae) {
            s.codes = std::move(item.codes);
            s.pooled = std::move(item.pooled);
        }
        return Status();
    });
    const std::string& input = config.pool_path;
    MONA_TRY(RecordReader reader, RecordReader::open(input));
    RawRecord record;
    while (true) {
        if (config.cancelled && config.cancelled()) return Status(StatusCode::kCancelled, "cancelled");
        MONA_TRY(bool more, reader.next(record));
        if (!more) break;
        MONA_TRY(Sample sample, parse_sample(record.bytes, config.format, {input, record.line_no, record.record_idx}));
        auto tokens = session.tokenize(sample);
        if (!tokens.ok()) return tokens.status().with_context(fmt::format("{}:{}", input, record.line_no));
        SampleActivations& s = samples.emplace_back();
        s.id = sample.id;
        s.n_prompt = tokens->n_prompt;
        s.tokens = tokens->tokens;
        MONA_RETURN_IF_ERROR(embedder.add(samples.size() - 1, std::move(tokens.value())));
    }
    MONA_RETURN_IF_ERROR(embedder.flush());
    result.samples.assign(std::make_move_iterator(samples.begin()), std::make_move_iterator(samples.end()));
    return result;
}

}  // namespace

Result<ActivationsResult> run_activations_job(const ActivationsJobOptions& options) {
    try {
        return activations(options);
    } catch (const std::bad_alloc&) {
        return internal_error("activations: out of memory");
    } catch (const std::exception& e) {
        return internal_error(std::string("activations: ") + e.what());
    }
}

}  // namespace mona
