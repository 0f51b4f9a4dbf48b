#include "integration/tiny_model_util.hpp"

#include <fmt/format.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ggml.h"
#include "gguf.h"
#include "io/safetensors.hpp"

#ifndef MONA_LLAMA_VOCAB_DIR
#error "MONA_LLAMA_VOCAB_DIR must be defined by tests/CMakeLists.txt"
#endif

namespace mona::fixtures {

const char* const kChatMlTemplate =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

std::string vocab_dir() { return MONA_LLAMA_VOCAB_DIR; }

namespace {

// splitmix64: a tiny, portable generator, so fixtures are the same with every standard library.
class Rng {
   public:
    explicit Rng(uint64_t seed) : state_(seed) {}
    uint64_t next() {
        uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    // Uniform in [-1, 1).
    float uniform() { return static_cast<float>(static_cast<double>(next() >> 11) * 0x1.0p-53 * 2.0 - 1.0); }

   private:
    uint64_t state_;
};

// Per-tensor seed: the same tensor name gets the same values whatever else the spec changes.
uint64_t tensor_seed(uint64_t seed, const std::string& name) {
    uint64_t h = 1469598103934665603ull ^ seed;
    for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
    return h;
}

struct GgufDeleter {
    void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};
struct GgmlDeleter {
    void operator()(ggml_context* ctx) const { ggml_free(ctx); }
};

bool file_exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

Status write_tiny_llama_gguf(const std::string& out_path, const TinyModelSpec& spec) {
    const std::string vocab_path =
        spec.vocab_path.empty() ? vocab_dir() + "/ggml-vocab-llama-spm.gguf" : spec.vocab_path;
    if (!file_exists(vocab_path)) return not_found("vocab GGUF " + vocab_path + " does not exist");
    if (spec.n_layer < 1 || spec.n_embd < 1 || spec.n_head < 1 || spec.n_head_kv < 1 || spec.n_ff < 1 ||
        spec.n_embd % spec.n_head != 0 || spec.n_head % spec.n_head_kv != 0) {
        return invalid_input(fmt::format("bad tiny model spec: n_layer {} n_embd {} n_head {} n_head_kv {} n_ff {}",
                                         spec.n_layer, spec.n_embd, spec.n_head, spec.n_head_kv, spec.n_ff));
    }

    gguf_init_params vparams{/*no_alloc=*/true, /*ctx=*/nullptr};
    std::unique_ptr<gguf_context, GgufDeleter> vocab(gguf_init_from_file(vocab_path.c_str(), vparams));
    if (!vocab) return invalid_input("cannot read vocab GGUF " + vocab_path);
    const int64_t tokens_key = gguf_find_key(vocab.get(), "tokenizer.ggml.tokens");
    if (tokens_key < 0) return invalid_input(vocab_path + " has no tokenizer.ggml.tokens");
    const int64_t n_vocab = static_cast<int64_t>(gguf_get_arr_n(vocab.get(), tokens_key));

    std::unique_ptr<gguf_context, GgufDeleter> out(gguf_init_empty());
    // Copy every KV pair, then drop all but the tokenizer's (the vocab file describes a 32-layer model).
    gguf_set_kv(out.get(), vocab.get());
    std::vector<std::string> drop;
    for (int64_t key_idx = 0; key_idx < gguf_get_n_kv(out.get()); ++key_idx) {
        const std::string key = gguf_get_key(out.get(), key_idx);
        if (key.rfind("tokenizer.", 0) != 0) drop.push_back(key);
    }
    for (const auto& key : drop) gguf_remove_key(out.get(), key.c_str());

    gguf_context* g = out.get();
    gguf_set_val_str(g, "general.architecture", "llama");
    gguf_set_val_str(g, "general.name", spec.name.c_str());
    gguf_set_val_u32(g, "general.file_type", 0);  // LLAMA_FTYPE_ALL_F32
    gguf_set_val_u32(g, "llama.block_count", static_cast<uint32_t>(spec.n_layer));
    gguf_set_val_u32(g, "llama.context_length", static_cast<uint32_t>(spec.n_ctx_train));
    gguf_set_val_u32(g, "llama.embedding_length", static_cast<uint32_t>(spec.n_embd));
    gguf_set_val_u32(g, "llama.feed_forward_length", static_cast<uint32_t>(spec.n_ff));
    gguf_set_val_u32(g, "llama.attention.head_count", static_cast<uint32_t>(spec.n_head));
    gguf_set_val_u32(g, "llama.attention.head_count_kv", static_cast<uint32_t>(spec.n_head_kv));
    gguf_set_val_u32(g, "llama.rope.dimension_count", static_cast<uint32_t>(spec.n_embd / spec.n_head));
    gguf_set_val_f32(g, "llama.rope.freq_base", spec.rope_freq_base);
    gguf_set_val_f32(g, "llama.attention.layer_norm_rms_epsilon", spec.rms_eps);
    gguf_set_val_u32(g, "llama.vocab_size", static_cast<uint32_t>(n_vocab));
    if (spec.keep_vocab_chat_template) {
        // copied with the other tokenizer.* keys
    } else if (spec.chat_template) {
        gguf_set_val_str(g, "tokenizer.chat_template", spec.chat_template->c_str());
    } else {
        gguf_remove_key(g, "tokenizer.chat_template");
    }

    // Tensor list in ggml order: ne[0] is the fastest (input) dimension.
    struct Def {
        std::string name;
        int64_t ne0, ne1;
        enum class Kind { kEmbd, kNorm, kWeight, kZero } kind;
    };
    const int64_t n_embd = spec.n_embd;
    const int64_t n_embd_kv = spec.n_embd / spec.n_head * spec.n_head_kv;
    std::vector<Def> defs;
    defs.push_back({"token_embd.weight", n_embd, n_vocab, Def::Kind::kEmbd});
    defs.push_back({"output_norm.weight", n_embd, 1, Def::Kind::kNorm});
    defs.push_back({"output.weight", n_embd, n_vocab, Def::Kind::kWeight});
    for (int32_t layer_idx = 0; layer_idx < spec.n_layer; ++layer_idx) {
        const bool identity = std::find(spec.identity_blocks.begin(), spec.identity_blocks.end(), layer_idx) !=
                              spec.identity_blocks.end();
        const auto out_kind = identity ? Def::Kind::kZero : Def::Kind::kWeight;
        const std::string p = fmt::format("blk.{}.", layer_idx);
        defs.push_back({p + "attn_norm.weight", n_embd, 1, Def::Kind::kNorm});
        defs.push_back({p + "attn_q.weight", n_embd, n_embd, Def::Kind::kWeight});
        defs.push_back({p + "attn_k.weight", n_embd, n_embd_kv, Def::Kind::kWeight});
        defs.push_back({p + "attn_v.weight", n_embd, n_embd_kv, Def::Kind::kWeight});
        defs.push_back({p + "attn_output.weight", n_embd, n_embd, out_kind});
        defs.push_back({p + "ffn_norm.weight", n_embd, 1, Def::Kind::kNorm});
        defs.push_back({p + "ffn_gate.weight", n_embd, spec.n_ff, Def::Kind::kWeight});
        defs.push_back({p + "ffn_up.weight", n_embd, spec.n_ff, Def::Kind::kWeight});
        defs.push_back({p + "ffn_down.weight", spec.n_ff, n_embd, out_kind});
    }

    size_t mem = 0;
    for (const auto& def : defs) {
        mem += static_cast<size_t>(def.ne0 * def.ne1) * sizeof(float) + ggml_tensor_overhead() + 64;
    }
    ggml_init_params iparams{/*mem_size=*/mem, /*mem_buffer=*/nullptr, /*no_alloc=*/false};
    std::unique_ptr<ggml_context, GgmlDeleter> tctx(ggml_init(iparams));
    if (!tctx) return internal_error("ggml_init failed for the tiny model's tensors");
    for (const auto& def : defs) {
        ggml_tensor* t = def.ne1 == 1 ? ggml_new_tensor_1d(tctx.get(), GGML_TYPE_F32, def.ne0)
                                      : ggml_new_tensor_2d(tctx.get(), GGML_TYPE_F32, def.ne0, def.ne1);
        ggml_set_name(t, def.name.c_str());
        auto* data = static_cast<float*>(t->data);
        const int64_t n = def.ne0 * def.ne1;
        Rng rng(tensor_seed(spec.seed, def.name));
        for (int64_t idx = 0; idx < n; ++idx) {
            switch (def.kind) {
                case Def::Kind::kEmbd: data[idx] = spec.embd_scale * rng.uniform(); break;
                case Def::Kind::kNorm: data[idx] = 1.0f + 0.1f * rng.uniform(); break;
                case Def::Kind::kWeight: data[idx] = spec.weight_scale * rng.uniform(); break;
                case Def::Kind::kZero: data[idx] = 0.0f; break;
            }
        }
        gguf_add_tensor(g, t);
    }
    if (!gguf_write_to_file(g, out_path.c_str(), /*only_meta=*/false)) {
        return io_error("cannot write GGUF " + out_path);
    }
    return Status();
}

Result<std::vector<float>> read_gguf_tensor_f32(const std::string& path, const std::string& name,
                                                std::vector<int64_t>* ne) {
    ggml_context* raw_ctx = nullptr;
    gguf_init_params params{/*no_alloc=*/false, /*ctx=*/&raw_ctx};
    std::unique_ptr<gguf_context, GgufDeleter> gctx(gguf_init_from_file(path.c_str(), params));
    std::unique_ptr<ggml_context, GgmlDeleter> tctx(raw_ctx);
    if (!gctx || !tctx) return invalid_input("cannot read GGUF " + path);
    ggml_tensor* t = ggml_get_tensor(tctx.get(), name.c_str());
    if (t == nullptr) return not_found(path + " has no tensor " + name);
    if (t->type != GGML_TYPE_F32) return invalid_input(path + ": tensor " + name + " is not F32");
    if (ne) ne->assign(t->ne, t->ne + GGML_MAX_DIMS);
    const auto* data = static_cast<const float*>(t->data);
    return std::vector<float>(data, data + ggml_nelements(t));
}

Result<TinySae> write_tiny_sparsify_sae(const std::string& dir, int64_t d_in, int64_t d_sae, int32_t k, uint64_t seed,
                                        const std::string& layer_folder) {
    namespace fs = std::filesystem;
    const fs::path folder = layer_folder.empty() ? fs::path(dir) : fs::path(dir) / layer_folder;
    std::error_code ec;
    fs::create_directories(folder, ec);
    if (ec) return io_error("cannot create " + folder.string() + ": " + ec.message());

    Rng rng(seed);
    const float enc_scale = 1.0f / std::sqrt(static_cast<float>(d_in));
    std::vector<float> encoder(static_cast<size_t>(d_sae * d_in));  // [d_sae, d_in]
    for (auto& v : encoder) v = enc_scale * rng.uniform();
    std::vector<float> b_enc(static_cast<size_t>(d_sae));
    for (auto& v : b_enc) v = 0.05f * rng.uniform();
    std::vector<float> b_dec(static_cast<size_t>(d_in));
    for (auto& v : b_dec) v = 0.1f * rng.uniform();
    std::vector<float> w_dec(static_cast<size_t>(d_sae * d_in));  // [d_sae, d_in]; never read by mona
    for (auto& v : w_dec) v = enc_scale * rng.uniform();

    std::vector<TensorToWrite> tensors = {
        {"encoder.weight", {d_sae, d_in}, encoder.data()},
        {"encoder.bias", {d_sae}, b_enc.data()},
        {"b_dec", {d_in}, b_dec.data()},
        {"W_dec", {d_sae, d_in}, w_dec.data()},
    };
    MONA_RETURN_IF_ERROR(write_safetensors((folder / "sae.safetensors").string(), tensors));

    nlohmann::json cfg = {{"d_in", d_in},         {"num_latents", d_sae},    {"k", k},
                          {"activation", "topk"}, {"expansion_factor", 1},   {"normalize_decoder", true},
                          {"multi_topk", false},  {"skip_connection", false}};
    MONA_RETURN_IF_ERROR(write_lines((folder / "cfg.json").string(), {cfg.dump(2)}));

    TinySae sae;
    sae.folder = folder.string();
    SaeInfo& info = sae.params.info;
    info.path = folder.string();
    info.format = "sparsify";
    info.architecture = "topk";
    info.activation = SaeActivation::kTopK;
    info.norm = SaeNorm::kNone;
    info.d_in = d_in;
    info.d_sae = d_sae;
    info.k = k;
    info.subtract_b_dec = true;
    sae.params.w_enc.resize(static_cast<size_t>(d_in * d_sae));
    for (int64_t latent = 0; latent < d_sae; ++latent) {
        for (int64_t in_idx = 0; in_idx < d_in; ++in_idx) {
            sae.params.w_enc[static_cast<size_t>(in_idx * d_sae + latent)] =
                encoder[static_cast<size_t>(latent * d_in + in_idx)];
        }
    }
    sae.params.b_enc = b_enc;
    sae.params.b_dec = b_dec;
    return sae;
}

namespace {

LabelledSample make_sample(int family, int idx, bool target) {
    static const char* const kNumbersA[] = {"12", "7", "45", "31", "88", "19", "63", "5", "27", "54", "16", "72"};
    static const char* const kNumbersB[] = {"3", "14", "9", "26", "41", "8", "35", "17", "60", "22", "11", "49"};
    static const char* const kFoods[] = {"chicken thighs", "salmon fillets", "sweet potatoes", "a loaf of bread",
                                         "carrots",        "pork chops",     "a lemon cake",   "mushrooms",
                                         "cauliflower",    "lamb shoulder",  "zucchini",       "apple pie"};
    static const char* const kFunctions[] = {"total_sum",  "find_max",     "count_even", "reverse_list",
                                             "average_of", "unique_items", "sort_desc",  "first_positive",
                                             "min_value",  "flatten_once", "last_item",  "join_words"};
    static const char* const kCountries[] = {"France",  "Hungary", "Egypt",  "Germany", "Austria", "Iraq",
                                             "England", "Serbia",  "Poland", "Italy",   "Russia",  "Portugal"};
    static const char* const kCities[] = {"Paris",  "Budapest", "Cairo",  "Berlin", "Vienna", "Baghdad",
                                          "London", "Belgrade", "Warsaw", "Rome",   "Moscow", "Lisbon"};
    static const char* const kRivers[] = {"Seine",  "Danube", "Nile",    "Spree", "Danube", "Tigris",
                                          "Thames", "Sava",   "Vistula", "Tiber", "Moskva", "Tagus"};
    const size_t pick = static_cast<size_t>(idx) % 12;
    const int a = std::stoi(kNumbersA[pick]);
    const int b = std::stoi(kNumbersB[pick]);
    LabelledSample s;
    switch (family) {
        case 0:
            s.task = "math";
            if (target) {
                s.user = fmt::format("Compute {} multiplied by {} and explain the arithmetic step by step.", a, b);
                s.assistant =
                    fmt::format("Multiply {} by {}: {} x {} = {}. The product equals {}.", a, b, a, b, a * b, a * b);
            } else {
                s.user = fmt::format("What is {} plus {}? Please add the two numbers and show the sum.", a, b);
                s.assistant = fmt::format("To add {} and {} we combine them: {} + {} = {}. The sum is {}.", a, b, a, b,
                                          a + b, a + b);
            }
            break;
        case 1:
            s.task = "cooking";
            if (target) {
                s.user = fmt::format("Give me a simple recipe for roasting {} with garlic and butter.", kFoods[pick]);
                s.assistant = fmt::format(
                    "Rub the {} with garlic, butter, salt and thyme, then roast in a hot oven "
                    "for {} minutes and rest before serving.",
                    kFoods[pick], 20 + b);
            } else {
                s.user = fmt::format("How long should I bake {} in the oven at {} degrees?", kFoods[pick], 150 + a);
                s.assistant = fmt::format(
                    "Preheat the oven, season the {} with salt, pepper and olive oil, then bake "
                    "for about {} minutes until golden and tender.",
                    kFoods[pick], 15 + b);
            }
            break;
        case 2:
            s.task = "code";
            s.user =
                fmt::format("Write a Python function named {} that processes a list of integers.", kFunctions[pick]);
            s.assistant = fmt::format("def {}(items):\n    result = [x for x in items if x > {}]\n    return result\n",
                                      kFunctions[pick], b);
            break;
        default:
            s.task = "geography";
            s.user = fmt::format("What is the capital city of {}, and which river flows through it?", kCountries[pick]);
            s.assistant = fmt::format("The capital of {} is {}. The {} river runs through the city.", kCountries[pick],
                                      kCities[pick], kRivers[pick]);
            break;
    }
    return s;
}

}  // namespace

std::vector<LabelledSample> make_labelled_pool(int n_per_family) {
    std::vector<LabelledSample> out;
    for (int idx = 0; idx < 4 * n_per_family; ++idx) {
        const int family = idx % 4;
        LabelledSample s = make_sample(family, idx / 4, /*target=*/false);
        if (idx / 4 == 0) {
            // A long sample (well over 64 tokens) so that small --batch-tokens runs it alone.
            std::string extra;
            for (int rep = 1; rep <= 4; ++rep) {
                extra += ' ';
                extra += make_sample(family, rep + 5, false).assistant;
            }
            s.assistant += extra;
        }
        s.id = fmt::format("pool-{}", idx);
        out.push_back(std::move(s));
    }
    return out;
}

std::vector<LabelledSample> make_target_exemplars(const std::string& task, int n) {
    const int family = task == "math" ? 0 : task == "cooking" ? 1 : task == "code" ? 2 : 3;
    std::vector<LabelledSample> out;
    for (int idx = 0; idx < n; ++idx) {
        LabelledSample s = make_sample(family, idx + 3, /*target=*/true);
        s.id = fmt::format("{}-target-{}", task, idx);
        out.push_back(std::move(s));
    }
    return out;
}

std::string sample_json_line(const LabelledSample& sample) {
    nlohmann::json record = {
        {"id", sample.id},
        {"task", sample.task},
        {"messages", nlohmann::json::array({{{"role", "user"}, {"content", sample.user}},
                                            {{"role", "assistant"}, {"content", sample.assistant}}})}};
    return record.dump();
}

Result<std::vector<std::string>> write_jsonl(const std::string& path, const std::vector<LabelledSample>& samples) {
    std::vector<std::string> lines;
    for (const auto& s : samples) lines.push_back(sample_json_line(s));
    MONA_RETURN_IF_ERROR(write_lines(path, lines));
    return lines;
}

Status write_lines(const std::string& path, const std::vector<std::string>& lines) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) return io_error("cannot open " + path + " for writing");
    for (const auto& line : lines) out << line << '\n';
    out.close();
    if (!out) return io_error("cannot write " + path);
    return Status();
}

std::string make_temp_dir(const std::string& prefix) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + prefix + "-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) return "";
    return std::string(buf.data());
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace mona::fixtures
