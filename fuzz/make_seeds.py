#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<harness>/ (small inputs modelled on the unit and integration tests'
fixtures). Deterministic: rerunning it rewrites the same bytes. Usage: fuzz/make_seeds.py [OUT_DIR]"""
import gzip
import json
import os
import struct
import sys
import zlib
import hashlib

out_root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(harness, name, data):
    d = os.path.join(out_root, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- records: the formats of text/formats.hpp, as in tests/unit/formats_test.cpp ----
records = [
    '{"id": "tulu_1", "task": "flan", "messages": [{"role": "system", "content": "Be brief."}, '
    '{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}',
    '{"id": 42, "conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "q"}, '
    '{"from": "gpt", "value": "a"}]}',
    '{"instruction": "Translate.", "input": "Bonjour", "output": "Hello"}',
    '{"prompt": "Q?", "completion": "A."}',
    '{"text": "plain pretraining-style text", "id": -7}',
    '{"id": 18446744073709551615, "text": "x", "task": "t"}',
    '{"messages": [{"role": "user", "content": "a\\u00e9\\ud83d\\ude00"}, {"role": "assistant", "content": "b"}]}',
]
for idx, rec in enumerate(records):
    put("formats", f"r{idx}", bytes([idx % 6]) + rec.encode())
put("formats", "bad_type", b"\x01" + b'{"messages": [{"role": "user", "content": 3}]}')

jsonl = "\n".join(records) + "\n"
put("record_reader", "pool.jsonl", jsonl)
put("record_reader", "crlf_blank.jsonl", "\r\n".join(records[:3]) + "\r\n  \t\r\n" + records[3] + "\r\n")
put("record_reader", "array.json", "\ufeff[\n " + ",\n ".join(records[:4]) + "\n]\n")
put("record_reader", "array_escapes.json", '[{"text": "a ] , \\" [ {"}, {"text": "b"}]')
put("record_reader", "pool.jsonl.gz", gzip.compress(jsonl.encode(), mtime=0))
put("record_reader", "array.json.gz", gzip.compress(("[" + ",".join(records[2:5]) + "]").encode(), mtime=0))
put("record_reader", "unterminated.json", '[{"text": "a"}, {"text": ')


# ---- safetensors ----
def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw bytes)"""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    offset = 0
    body = b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        body += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + body


def f32(values):
    return struct.pack(f"<{len(values)}f", *values)


def f16(values):
    return struct.pack(f"<{len(values)}e", *values)


def bf16(values):
    return b"".join(struct.pack("<f", v)[2:] for v in values)


put("safetensors", "f32.safetensors",
    safetensors([("a", "F32", [2, 3], f32([1, 2, 3, 4, 5, 6])), ("b", "F32", [3], f32([0.5, -1, 2]))],
                {"hookpoint": "layers.3"}))
put("safetensors", "f16_bf16.safetensors",
    safetensors([("h", "F16", [2, 2], f16([1, -2, 0.5, 65504])), ("g", "BF16", [4], bf16([1, -2, 0.5, 3]))]))
put("safetensors", "ints.safetensors",
    safetensors([("i", "I64", [2], struct.pack("<2q", 3, -4)), ("j", "I32", [1, 1], struct.pack("<i", 7)),
                 ("s", "F32", [], f32([1.0]))]))

# ---- SAE folders (tests/unit/sae_test.cpp's tiny SAE: d_in 3, d_sae 5) ----
d_in, d_sae = 3, 5
w = [float((i * 7) % 5 - 2) for i in range(d_in * d_sae)]
b5 = [0.5, -0.25, 0.0, 1.0, -1.0]
b3 = [0.1, 0.0, -0.1]
sparsify_cfg = {"expansion_factor": 32, "normalize_decoder": True, "num_latents": 5, "k": 2, "signed": False,
                "d_in": 3}
sparsify_w = safetensors([("encoder.weight", "F32", [d_sae, d_in], f32(w)), ("encoder.bias", "F32", [d_sae], f32(b5)),
                          ("W_dec", "F32", [d_sae, d_in], f32(w)), ("b_dec", "F32", [d_in], f32(b3))])
sep = b"\n--weights--\n"
put("sae", "sparsify", b"\x00" + json.dumps(sparsify_cfg).encode() + sep + sparsify_w)
put("sae", "sparsify_f16", b"\x00" + json.dumps(dict(sparsify_cfg, transcode=True)).encode() + sep + safetensors(
    [("encoder.weight", "F16", [d_in, d_sae], f16(w)), ("encoder.bias", "F16", [d_sae], f16(b5)),
     ("b_dec", "F16", [d_in], f16(b3))]))
for arch in ["standard", "topk", "jumprelu"]:
    cfg = {"architecture": arch, "d_in": 3, "d_sae": 5, "dtype": "float32", "apply_b_dec_to_input": True,
           "normalize_activations": "constant_norm_rescale" if arch == "standard" else "none",
           "reshape_activations": "none", "k": 2,
           "metadata": {"hook_name": "blocks.4.hook_resid_post", "sae_lens_version": "6.5.0"}}
    weights = safetensors([("W_enc", "F32", [d_in, d_sae], f32(w)), ("b_enc", "F32", [d_sae], f32(b5)),
                           ("W_dec", "F32", [d_sae, d_in], f32(w)), ("b_dec", "F32", [d_in], f32(b3)),
                           ("threshold", "F32", [d_sae], f32([0.1] * d_sae))])
    put("sae", "saelens_" + arch, b"\x01" + json.dumps(cfg).encode() + sep + weights)
pre6 = {"d_in": 3, "d_sae": 5, "activation_fn_str": "topk", "activation_fn_kwargs": {"k": 2},
        "hook_name": "blocks.2.hook_resid_pre", "hook_layer": 2, "apply_b_dec_to_input": False}
put("sae", "saelens_pre6", b"\x01" + json.dumps(pre6).encode() + sep + safetensors(
    [("W_enc", "BF16", [d_sae, d_in], bf16(w)), ("b_enc", "BF16", [d_sae], bf16(b5))]))

# ---- feature store manifest ----
manifest = {"complete": True, "format": "mona-feature-store", "format_version": 1, "keep": 0, "n_samples": 3,
            "params": {"layer": 3, "model": {"sha256": "ab"}}, "shard_rows": 2,
            "shards": [{"bytes": 100, "crc32": "0badf00d", "file": "shard-00000.bin", "first_record_idx": 0,
                        "last_record_idx": 1, "n_rows": 2, "sha256": "0" * 64},
                       {"bytes": 60, "crc32": "00000001", "file": "shard-00001.bin", "first_record_idx": 2,
                        "last_record_idx": 2, "n_rows": 1, "sha256": "f" * 64}],
            "slice": {"count": 1, "index": 0}}
put("store_manifest", "two_shards.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
put("store_manifest", "empty.json", json.dumps(dict(manifest, n_samples=0, shards=[], complete=False,
                                                   slice={"count": 3, "index": 2}), sort_keys=True))


# ---- feature store shard records (store_shard harness: 6 settings bytes, then records) ----
def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def record(record_idx, source_pos, n_tokens, rid, l1, idx, val):
    out = varint(record_idx) + varint(source_pos) + varint(n_tokens) + varint(len(rid)) + rid.encode()
    out += struct.pack("<d", l1) + varint(len(idx))
    prev = 0
    for k, i in enumerate(idx):
        out += varint(i if k == 0 else i - prev - 1)
        prev = i
    return out + f32(val)


recs = record(0, 1, 12, "a", 3.0, [1, 2, 300], [1, 1.5, 0.5]) + record(2, 5, 7, "sample-2", 0.0, [], [])
recs += record(4, 9, 1, "", 2.0, [70000], [2.0])
put("store_shard", "three_rows", bytes([2, 0, 0, 0, 0, 4]) + recs)
put("store_shard", "sliced_keep", bytes([0, 2, 1, 1, 1, 1]) + record(1, 3, 4, "x", 5.0, [0, 9], [2.0, 3.0]))


def record_v3_q8(record_idx, rid, l1, idx, codes, lo, ratio, bitmap):
    """A format-3 q8 record: count varint (nnz << 1 | bitmap), the bitmap or the gaps, the grid and the codes."""
    out = varint(record_idx) + varint(0) + varint(len(idx)) + varint(len(rid)) + rid.encode()
    out += struct.pack("<d", l1) + varint(len(idx) << 1 | (1 if bitmap else 0))
    if bitmap:
        n_bytes = idx[-1] // 8 + 1
        bits = bytearray(n_bytes)
        for i in idx:
            bits[i // 8] |= 1 << (i % 8)
        out += varint(n_bytes) + bytes(bits)
    else:
        prev = 0
        for k, i in enumerate(idx):
            out += varint(i if k == 0 else i - prev - 1)
            prev = i
    return out + struct.pack("<ff", lo, ratio) + bytes(codes)


# data[1] = 16: keep 0, format 3 q8 (the harness's format table, index 4).
recs3 = record_v3_q8(0, "dense", 6.0, list(range(0, 24, 2)), [1] * 12, 0.5, 1.0, True)
recs3 += record_v3_q8(1, "sparse", 1.0, [5, 4000], [1, 1], 0.5, 1.0, False)
put("store_shard", "format3_q8_bitmap", bytes([1, 16, 0, 0, 0, 1]) + recs3)

# ---- trainer checkpoint (sae/train.hpp's format; the harness fixes the CRC) ----
def checkpoint(d, n, k):
    head = b"MONASAET" + struct.pack("<II", 1, 0)
    head += struct.pack("<qqiiqdqdqdQii", d, n, k, 0, 32, 1e-3, 10, 1.0, 1000, 1 / 32, 7, 1, 0)
    head += struct.pack("<qq", 3, 96)
    assert len(head) == 120, len(head)
    floats = 3 * (2 * n * d + n + d)
    body = f32([((i * 13) % 9 - 4) / 8 for i in range(floats)]) + struct.pack(f"<{n}q", *range(n))
    data = head + body
    return data + struct.pack("<I", zlib.crc32(data))


put("train_checkpoint", "d2_n3_k1.bin", checkpoint(2, 3, 1))
put("train_checkpoint", "d1_n1_k1.bin", checkpoint(1, 1, 1))

# ---- train-sae state file ----
config = {"model": "m.gguf", "layer": 3, "latents": 64, "k": 8, "inputs": ["a.jsonl"], "doc_tokens": 256,
          "batch_size": 32, "seed": 0, "template": "model"}
put("train_state", "match.json", json.dumps({"config": config, "epochs_done": 2, "step": 40, "tokens_seen": 1280},
                                           indent=2) + "\n")
put("train_state", "differs.json", json.dumps({"config": dict(config, layer=4), "epochs_done": 1}))
put("train_state", "odd_types.json", '{"config": [1], "epochs_done": "2"}')

# ---- flags: argv joined by NUL (tests/integration/cli_test.cpp's command lines) ----
argvs = [
    ["select", "--pool", "pool.jsonl", "--target", "gsm8k=t.jsonl", "--target", "code=c.jsonl", "--ratio", "0.05",
     "--out", "runs/r1", "--merge", "quota", "--quota", "gsm8k=3"],
    ["embed", "--pool", "p.jsonl", "--out", "store", "--keep", "64", "--shard", "1/4", "--threads", "2"],
    ["score", "--store", "s", "--target", "t=t.jsonl", "--count", "10", "--out", "o", "--skip-bad"],
    ["info", "--model", "m.gguf", "--json"],
    ["train-sae", "--model", "m.gguf", "--input", "a.jsonl", "--out", "o", "--latents", "64", "-k", "8", "--lr",
     "1e-3", "--resume"],
    ["eval", "--pool", "p.jsonl", "--target", "a=b", "--method", "mona:k=64", "--layer", "2"],
    ["help", "--markdown"],
]
for idx, argv in enumerate(argvs):
    put("flags", f"argv{idx}", "\0".join(argv))


# ---- GGUF headers (v3: KVs of each type, a tensor table) ----
def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf(kvs, tensors, version=3):
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for key, typ, payload in kvs:
        out += gstr(key) + struct.pack("<I", typ) + payload
    offset = 0
    data = b""
    for name, dims, ggml_type, raw in tensors:
        out += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ggml_type, offset)
        raw += b"\0" * (-len(raw) % 32)
        offset += len(raw)
        data += raw
    out += b"\0" * (-len(out) % 32)
    return out + data


T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64 = 4, 5, 6, 7, 8, 9, 10
kvs = [("general.architecture", T_STR, gstr("llama")), ("general.name", T_STR, gstr("tiny")),
       ("llama.block_count", T_U32, struct.pack("<I", 2)), ("llama.embedding_length", T_U32, struct.pack("<I", 8)),
       ("llama.rope.freq_base", T_F32, struct.pack("<f", 10000.0)), ("tokenizer.ggml.add_bos_token", T_BOOL, b"\1"),
       ("tokenizer.ggml.tokens", T_ARR, struct.pack("<IQ", T_STR, 3) + gstr("<s>") + gstr("a") + gstr("b")),
       ("tokenizer.ggml.token_type", T_ARR, struct.pack("<IQ", T_I32, 3) + struct.pack("<3i", 3, 1, 1)),
       ("tokenizer.chat_template", T_STR, gstr("{{ messages }}")), ("general.file_type", T_U64, struct.pack("<Q", 0))]
put("gguf", "tiny.gguf", gguf(kvs, [("token_embd.weight", [8, 3], 0, f32([0.5] * 24)),
                                    ("output_norm.weight", [8], 1, f16([1.0] * 8))]))
put("gguf", "kv_only.gguf", gguf(kvs[:3], []))
kvs_aligned = kvs[:2] + [("general.alignment", T_U32, struct.pack("<I", 64))]
put("gguf", "aligned.gguf", gguf(kvs_aligned, [("w", [4], 0, f32([1, 2, 3, 4]))]))
