// mona activations: per-sample token ids, residual rows at one layer and (with --sae) SAE codes and pooled
// vectors of a small input, written to one safetensors file. For inspection, for training SAEs elsewhere and for
// checking mona against other implementations (HF transformers hidden_states[L]).
//
// Tensors, for sample i (0-based record order):
//   sample.<i>.tokens          I32 [n_tokens]
//   sample.<i>.residual        F32 [n_tokens, n_embd]    hidden_states[L] of every token
//   sample.<i>.code_offsets    I64 [n_tokens + 1]        (with --sae) CSR row offsets of the per-token codes
//   sample.<i>.code_indices    I32 [nnz]                 (with --sae) latent indices
//   sample.<i>.code_values     F32 [nnz]                 (with --sae) latent values
//   sample.<i>.pooled_indices  I32 [nnz_pooled]          (with --sae) pooled vector over the --tokens rows
//   sample.<i>.pooled_values   F32 [nnz_pooled]
// Metadata: model, layer, llama_tensor, n_samples, tokens mode, and per sample its id and n_prompt.
#include <fmt/format.h>

#include <deque>
#include <optional>

#include "capture/session.hpp"
#include "commands.hpp"
#include "embed/embedder.hpp"
#include "io/safetensors.hpp"
#include "io/sample_reader.hpp"
#include "jobs/engine.hpp"
#include "sae/sae.hpp"

namespace mona::cli {

namespace {

struct Dumped {
    std::string id;
    int32_t n_prompt = 0;
    std::vector<int32_t> tokens;
    std::vector<float> rows;
    std::vector<int64_t> offsets;
    std::vector<int32_t> code_idx;
    std::vector<float> code_val;
    std::vector<int32_t> pooled_idx;
    std::vector<float> pooled_val;
};

// Without --layer and --sae: the layer `mona select` reads with the same --model. For the built-in model that
// is the built-in SAE's layer (when the SAE is installed), else the model's n_layer - 1.
Result<int32_t> default_layer(const ParsedArgs& args, const ModelInfo& model) {
    if (!args.has("model")) {
        MONA_TRY(std::optional<int32_t> layer, default_sae_layer());
        if (layer) return *layer;
    }
    return model.n_layer - 1;
}

Status run_activations(const ParsedArgs& args) {
    MONA_TRY(SessionOptions sopts, session_options_from_args(args, "max-tokens"));
    MONA_TRY(InputFormat format, parse_input_format(args.get("format")));
    MONA_TRY(TokenMode token_mode, parse_token_mode(args.get("tokens")));
    MONA_TRY(Session session, Session::open(sopts));
    const ModelInfo& mi = session.info();

    std::optional<SaeModel> sae;
    int32_t layer = args.has("layer") ? args.get_int<int32_t>("layer") : -1;  // -1: as resolve_layer picks
    if (args.has("sae")) {
        MONA_TRY(SaeModel loaded, SaeModel::open({args.get("sae")}));
        MONA_TRY(layer, resolve_layer(layer, mi, loaded.info()));
        sae.emplace(std::move(loaded));
    } else if (layer < 0) {
        MONA_TRY(layer, default_layer(args, mi));
    }
    MONA_TRY(std::string tensor_name, layer_tensor_name(layer, mi.n_layer, mi.path));

    // The pipeline's own stage: with --sae the CPU backend's codes and mean-pooled vectors, else rows only.
    std::deque<Dumped> dumped;
    EmbedOptions eopts;
    eopts.layer = layer;
    eopts.token_mode = token_mode;
    eopts.pooling = PoolingMode::kMean;
    eopts.keep_rows = true;
    Embedder embedder(make_cpu_backend(session, sae ? &*sae : nullptr, eopts), [&](EmbeddedSample& item) -> Status {
        Dumped& d = dumped[item.tag];
        d.rows = std::move(item.rows);
        if (sae) {
            d.offsets.assign(item.codes.offsets.begin(), item.codes.offsets.end());
            d.code_idx.assign(item.codes.idx.begin(), item.codes.idx.end());
            d.code_val = std::move(item.codes.val);
            d.pooled_idx.assign(item.pooled.idx.begin(), item.pooled.idx.end());
            d.pooled_val = std::move(item.pooled.val);
        }
        return Status();
    });
    const std::string input = args.get("input");
    MONA_TRY(RecordReader reader, RecordReader::open(input));
    RawRecord record;
    while (true) {
        MONA_TRY(bool more, reader.next(record));
        if (!more) break;
        MONA_TRY(Sample sample, parse_sample(record.bytes, format, {input, record.line_no, record.record_idx}));
        auto tokens = session.tokenize(sample);
        if (!tokens.ok()) return tokens.status().with_context(fmt::format("{}:{}", input, record.line_no));
        Dumped d;
        d.id = sample.id;
        d.n_prompt = tokens->n_prompt;
        d.tokens = tokens->tokens;
        dumped.push_back(std::move(d));
        MONA_RETURN_IF_ERROR(embedder.add(dumped.size() - 1, std::move(tokens.value())));
    }
    MONA_RETURN_IF_ERROR(embedder.flush());

    std::vector<TensorToWrite> tensors;
    std::map<std::string, std::string> meta = {{"model", mi.path},
                                               {"layer", std::to_string(layer)},
                                               {"llama_tensor", tensor_name},
                                               {"n_embd", std::to_string(mi.n_embd)},
                                               {"n_samples", std::to_string(dumped.size())},
                                               {"tokens", token_mode_name(token_mode)}};
    if (sae) meta["sae"] = sae->info().path;
    for (size_t sample_idx = 0; sample_idx < dumped.size(); ++sample_idx) {
        const Dumped& d = dumped[sample_idx];
        const std::string p = fmt::format("sample.{}.", sample_idx);
        const auto n = static_cast<int64_t>(d.tokens.size());
        meta[p + "id"] = d.id;
        meta[p + "n_prompt"] = std::to_string(d.n_prompt);
        tensors.push_back({p + "tokens", {n}, nullptr, "I32", d.tokens.data()});
        tensors.push_back({p + "residual", {n, mi.n_embd}, d.rows.data(), "F32", nullptr});
        if (sae) {
            tensors.push_back({p + "code_offsets", {n + 1}, nullptr, "I64", d.offsets.data()});
            tensors.push_back(
                {p + "code_indices", {static_cast<int64_t>(d.code_idx.size())}, nullptr, "I32", d.code_idx.data()});
            tensors.push_back(
                {p + "code_values", {static_cast<int64_t>(d.code_val.size())}, d.code_val.data(), "F32", nullptr});
            tensors.push_back({p + "pooled_indices",
                               {static_cast<int64_t>(d.pooled_idx.size())},
                               nullptr,
                               "I32",
                               d.pooled_idx.data()});
            tensors.push_back({p + "pooled_values",
                               {static_cast<int64_t>(d.pooled_val.size())},
                               d.pooled_val.data(),
                               "F32",
                               nullptr});
        }
    }
    MONA_RETURN_IF_ERROR(write_safetensors(args.get("out"), tensors, meta));
    if (!args.on("quiet")) {
        std::fprintf(stderr, "mona: wrote %zu samples of layer %d (%s) to %s\n", dumped.size(), layer,
                     tensor_name.c_str(), args.get("out").c_str());
    }
    return Status();
}

}  // namespace

CommandResult cmd_activations(const ParsedArgs& args) { return run_activations(args); }

}  // namespace mona::cli
