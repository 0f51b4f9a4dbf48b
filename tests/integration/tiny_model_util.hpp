// integration/tiny_model_util.hpp: fixtures the integration tests build for themselves.
//
// Nothing here is committed as a binary: every test writes what it needs into a temporary folder.
//   write_tiny_llama_gguf     a random-weight `llama` GGUF (2-4 layers, n_embd 64) whose tokenizer is copied from
//                             one of llama.cpp's vocab-only GGUFs (default: ggml-vocab-llama-spm.gguf, 32000
//                             tokens, adds BOS), with a ChatML chat template. All tensors are F32.
//   read_gguf_tensor_f32      reads one tensor back through ggml's gguf reader (to compare against captures).
//   write_tiny_sparsify_sae   an EleutherAI-sparsify TopK SAE folder (cfg.json + sae.safetensors), returning the
//                             parameters in the form tests/reference/sae_reference.hpp takes.
//   pool / target writers     small labelled JSONL files in the messages format.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mona/status.hpp"
#include "reference/sae_reference.hpp"

namespace mona::fixtures {

// The ChatML template; llama.cpp recognises it by the `<|im_start|>` substring.
extern const char* const kChatMlTemplate;

// Folder of llama.cpp's vocab-only GGUFs (compile definition MONA_LLAMA_VOCAB_DIR).
std::string vocab_dir();

struct TinyModelSpec {
    std::string vocab_path;  // vocab-only GGUF to copy tokenizer.* from; "" = <vocab_dir>/ggml-vocab-llama-spm.gguf
    int32_t n_layer = 3;     // 2..4 is what the tests use
    int32_t n_embd = 64;
    int32_t n_head = 4;
    int32_t n_head_kv = 2;  // GQA when < n_head
    int32_t n_ff = 128;
    int32_t n_ctx_train = 2048;
    float rope_freq_base = 10000.0f;
    float rms_eps = 1e-5f;
    uint64_t seed = 1234;
    float embd_scale = 0.5f;     // token_embd values ~ U(-embd_scale, embd_scale)
    float weight_scale = 0.08f;  // projection matrices ~ U(-weight_scale, weight_scale)
    std::string name = "mona-tiny-llama";
    // Blocks whose attn_output and ffn_down are all zero: such a block leaves the residual stream unchanged, so
    // hidden_states[b + 1] == hidden_states[b] exactly (used to pin down the layer numbering).
    std::vector<int32_t> identity_blocks;
    std::optional<std::string> chat_template = std::string(kChatMlTemplate);  // nullopt: no template key
    bool keep_vocab_chat_template =
        false;  // true: the vocab GGUF's own tokenizer.chat_template (chat_template ignored)
};

// Writes the model to out_path. Errors: kNotFound/kInvalidInput when the vocab GGUF cannot be read,
// kInvalidInput for a spec llama.cpp cannot load (n_embd not divisible by n_head, ...), kIo on write failure.
Status write_tiny_llama_gguf(const std::string& out_path, const TinyModelSpec& spec);

// A tensor of a GGUF as f32 values in ggml order (ne[0] fastest); `ne` receives the 4 dims when given.
Result<std::vector<float>> read_gguf_tensor_f32(const std::string& path, const std::string& name,
                                                std::vector<int64_t>* ne = nullptr);

struct TinySae {
    std::string folder;                    // the folder to pass as --sae (dir/layer_folder)
    reference::SaeReferenceParams params;  // w_enc [d_in, d_sae] (transposed from encoder.weight), b_enc, b_dec
};

// Writes dir/layer_folder/{cfg.json, sae.safetensors}: a sparsify TopK SAE with encoder.weight [d_sae, d_in],
// encoder.bias [d_sae], b_dec [d_in], W_dec [d_sae, d_in], random F32 values from `seed`. layer_folder "" writes
// into dir itself. layer_folder "layers.N" records HF layer N+1.
Result<TinySae> write_tiny_sparsify_sae(const std::string& dir, int64_t d_in, int64_t d_sae, int32_t k, uint64_t seed,
                                        const std::string& layer_folder);

// One chat sample of the labelled pool.
struct LabelledSample {
    std::string id;
    std::string task;  // family label
    std::string user;
    std::string assistant;
};

// Four families (math, cooking, code, geography) with distinct wording, n_per_family each, interleaved
// (sample i is family i % 4). Sample 0 of every family is long (> 80 tokens with the llama-spm vocab).
std::vector<LabelledSample> make_labelled_pool(int n_per_family);
// Exemplars of one family (by label), worded differently from the pool's.
std::vector<LabelledSample> make_target_exemplars(const std::string& task, int n);

// {"id": ..., "task": ..., "messages": [{"role": "user", ...}, {"role": "assistant", ...}]}
std::string sample_json_line(const LabelledSample& sample);
// Writes one line per sample (each ending in '\n'); returns the lines without '\n'.
Result<std::vector<std::string>> write_jsonl(const std::string& path, const std::vector<LabelledSample>& samples);
Status write_lines(const std::string& path, const std::vector<std::string>& lines);

// A fresh temporary folder (mkdtemp under $TMPDIR or /tmp), removed by the caller.
std::string make_temp_dir(const std::string& prefix);
std::string read_file(const std::string& path);

}  // namespace mona::fixtures
