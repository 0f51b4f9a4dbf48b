#!/usr/bin/env python3
"""Inputs of bench/gpu/run.sh, written on the machine that runs it (nothing is downloaded there).

  model.gguf   a Llama-3-8B-shaped GGUF (d 4096, 32 heads / 8 KV heads, ffn 14336, vocab 128256) with random
               F16 weights (speed does not depend on them; one random block is reused for every layer) and the
               Llama-3 tokenizer copied from llama.cpp's models/ggml-vocab-llama-bpe.gguf (pinned source)
  sae/         a random sparsify TopK SAE: cfg.json + sae.safetensors (encoder.weight [d_sae, d_in] F16,
               encoder.bias, b_dec), d_sae 131072, k 192 by default
  pool.jsonl   synthetic text records, each long enough to fill --max-tokens after tokenisation

The shape is a flag, so the script is tested on a tiny shape without a GPU (bench/gpu/run.sh --tiny).
Needs numpy and gguf-py (the pinned llama.cpp's gguf-py on PYTHONPATH).
"""
import argparse
import json
import os
import struct

import numpy as np
import gguf


def write_model(path, vocab_gguf, n_layer, d, n_head, n_kv, d_ff, n_ctx, seed):
    rng = np.random.default_rng(seed)
    vocab = gguf.GGUFReader(vocab_gguf)
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("mona-bench-random-llama3-shape")
    w.add_context_length(n_ctx)
    w.add_embedding_length(d)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(d_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_rope_freq_base(500000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    n_vocab = 0
    # The tokenizer, copied field by field from the vocab-only GGUF.
    for field in vocab.fields.values():
        if not field.name.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            sub = field.types[-1]
            if sub == gguf.GGUFValueType.STRING:
                val = [bytes(field.parts[i]).decode("utf-8", errors="surrogateescape") for i in field.data]
            else:
                val = [field.parts[i].tolist()[0] for i in field.data]
            if field.name == "tokenizer.ggml.tokens":
                n_vocab = len(val)
            w.add_key_value(field.name, val, vtype, sub_type=sub)
        elif vtype == gguf.GGUFValueType.STRING:
            w.add_key_value(field.name, bytes(field.parts[-1]).decode("utf-8"), vtype)
        else:
            w.add_key_value(field.name, field.parts[-1].tolist()[0], vtype)
    head = d // n_head

    def rand(*shape, scale=0.02):
        return (rng.standard_normal(shape, dtype=np.float32) * scale).astype(np.float16)

    block = {
        "attn_norm.weight": np.ones(d, dtype=np.float32),
        "ffn_norm.weight": np.ones(d, dtype=np.float32),
        "attn_q.weight": rand(d, d),
        "attn_k.weight": rand(n_kv * head, d),
        "attn_v.weight": rand(n_kv * head, d),
        "attn_output.weight": rand(d, d),
        "ffn_gate.weight": rand(d_ff, d),
        "ffn_up.weight": rand(d_ff, d),
        "ffn_down.weight": rand(d, d_ff),
    }
    # One random 1024-row block tiled over the vocabulary (fast to make; values do not change the speed). No
    # output.weight: llama.cpp then ties it to token_embd, and the pass never reaches the output anyway.
    w.add_tensor("token_embd.weight", np.tile(rand(1024, d, scale=1.0), (-(-n_vocab // 1024), 1))[:n_vocab])
    w.add_tensor("output_norm.weight", np.ones(d, dtype=np.float32))
    for layer in range(n_layer):
        for name, value in block.items():
            w.add_tensor(f"blk.{layer}.{name}", value)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return n_vocab


def write_sae(folder, d_in, d_sae, k, layer, seed):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "cfg.json"), "w") as f:
        json.dump({"d_in": d_in, "num_latents": d_sae, "k": k, "activation": "topk", "expansion_factor": d_sae // d_in,
                   "hookpoint": f"layers.{layer - 1}"}, f)
    rng = np.random.default_rng(seed)
    tensors = {
        "encoder.weight": (rng.standard_normal((d_sae, d_in), dtype=np.float32) / np.sqrt(d_in)).astype(np.float16),
        "encoder.bias": np.zeros(d_sae, dtype=np.float16),
        "b_dec": np.zeros(d_in, dtype=np.float16),
    }
    header, offset = {}, 0
    for name, t in tensors.items():
        header[name] = {"dtype": "F16", "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with open(os.path.join(folder, "sae.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for t in tensors.values():
            f.write(t.tobytes())


def write_pool(path, n_samples, words_per_sample, seed):
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    with open(path, "w") as f:
        for i in range(n_samples):
            lengths = rng.integers(3, 9, size=words_per_sample)
            chars = letters[rng.integers(0, 26, size=int(lengths.sum()))]
            words, pos = [], 0
            for n in lengths:
                words.append("".join(chars[pos:pos + n]))
                pos += n
            f.write(json.dumps({"id": f"s{i}", "text": " ".join(words)}) + "\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--vocab", required=True, help="llama.cpp models/ggml-vocab-llama-bpe.gguf")
    p.add_argument("--n-layer", type=int, default=32)
    p.add_argument("--d", type=int, default=4096)
    p.add_argument("--n-head", type=int, default=32)
    p.add_argument("--n-kv", type=int, default=8)
    p.add_argument("--d-ff", type=int, default=14336)
    p.add_argument("--d-sae", type=int, default=131072)
    p.add_argument("--k", type=int, default=192)
    p.add_argument("--layer", type=int, default=31, help="HF hidden_states[L] the SAE reads")
    p.add_argument("--samples", type=int, default=400)
    p.add_argument("--words", type=int, default=600, help="words per sample (> max-tokens tokens)")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    n_vocab = write_model(os.path.join(a.out, "model.gguf"), a.vocab, a.n_layer, a.d, a.n_head, a.n_kv, a.d_ff, 8192, 1)
    write_sae(os.path.join(a.out, "sae"), a.d, a.d_sae, a.k, a.layer, 2)
    write_pool(os.path.join(a.out, "pool.jsonl"), a.samples, a.words, 3)
    print(json.dumps({"n_vocab": n_vocab, "n_layer": a.n_layer, "d": a.d, "d_sae": a.d_sae, "k": a.k}))


if __name__ == "__main__":
    main()
