#!/usr/bin/env python3
"""The HF transformers + PyTorch pipeline of issue 11, on the shape bench/gpu/make_inputs.py writes: random
weights in bf16 (sdpa attention), the residual stream after block L-1 (HF hidden_states[L]) taken by a forward
hook on that block with the blocks after it dropped (as mona's graph stops after L), the TopK SAE encode on it,
mean pooling over each sample's tokens but the first, and the pooled vectors copied to the host as (latent, value)
pairs. Prints one JSON line: tokens/s end to end, and the forward alone.

  python hf_bench.py --tokens 204800 --seq 512 --batch 16 [--d 4096 --n-layer 32 ...] [--device cuda]
"""
import argparse
import json
import time

import torch
from transformers import LlamaConfig, LlamaModel


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tokens", type=int, default=204800)
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--d", type=int, default=4096)
    p.add_argument("--n-layer", type=int, default=32)
    p.add_argument("--n-head", type=int, default=32)
    p.add_argument("--n-kv", type=int, default=8)
    p.add_argument("--d-ff", type=int, default=14336)
    p.add_argument("--vocab", type=int, default=128256)
    p.add_argument("--layer", type=int, default=31)
    p.add_argument("--d-sae", type=int, default=131072)
    p.add_argument("--k", type=int, default=192)
    p.add_argument("--device", default="cuda")
    a = p.parse_args()
    dev = torch.device(a.device)
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    # Only the blocks up to the captured layer: hidden_states[L] is the output of block L-1.
    cfg = LlamaConfig(hidden_size=a.d, intermediate_size=a.d_ff, num_hidden_layers=a.layer, num_attention_heads=a.n_head,
                      num_key_value_heads=a.n_kv, vocab_size=a.vocab, max_position_embeddings=8192,
                      rope_theta=500000.0, attn_implementation="sdpa")
    with dev:
        model = LlamaModel._from_config(cfg, torch_dtype=dtype).eval()
        w_enc = (torch.randn(a.d, a.d_sae, dtype=torch.float32) / a.d ** 0.5).to(dtype)
        b_enc = torch.zeros(a.d_sae, dtype=dtype)
    captured = {}
    model.layers[a.layer - 1].register_forward_hook(
        lambda mod, inp, out: captured.__setitem__("x", out[0] if isinstance(out, tuple) else out))
    n_batches = max(1, a.tokens // (a.seq * a.batch))
    g = torch.Generator(device="cpu").manual_seed(0)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def run(with_sae):
        t_fwd = t_sae = t_host = 0.0
        for _ in range(n_batches):
            ids = torch.randint(0, a.vocab, (a.batch, a.seq), generator=g).to(dev, non_blocking=True)
            t0 = time.perf_counter()
            with torch.inference_mode():
                model(input_ids=ids, use_cache=False)
                x = captured["x"]
                sync()
                t1 = time.perf_counter()
                t_fwd += t1 - t0
                if not with_sae:
                    continue
                rows = x[:, 1:, :].reshape(-1, a.d)  # no-bos: every token but the first
                pre = rows @ w_enc + b_enc
                vals, idx = torch.relu(pre).topk(a.k, dim=-1)
                # Mean pooling per sample: scatter-add the kept (latent, value) pairs of its tokens, / n.
                pooled = torch.zeros(a.batch, a.d_sae, device=dev, dtype=torch.float32)
                pooled.scatter_add_(1, idx.view(a.batch, -1), vals.float().view(a.batch, -1))
                pooled /= a.seq - 1
                sync()
                t2 = time.perf_counter()
                t_sae += t2 - t1
                nz = pooled.nonzero(as_tuple=True)
                pairs = (nz[0].cpu(), nz[1].cpu(), pooled[nz].cpu())
                t_host += time.perf_counter() - t2
                del pairs
        return t_fwd, t_sae, t_host

    run(True)  # warm-up (cuBLAS heuristics, allocator)
    n_tok = n_batches * a.batch * a.seq
    f_only, _, _ = run(False)
    t_fwd, t_sae, t_host = run(True)
    total = t_fwd + t_sae + t_host
    print(json.dumps({"tokens": n_tok, "tokens_per_s": n_tok / total, "forward_only_tokens_per_s": n_tok / f_only,
                      "forward_s": t_fwd, "sae_encode_topk_pool_s": t_sae, "host_s": t_host,
                      "batch": a.batch, "seq": a.seq, "dtype": str(dtype)}))


if __name__ == "__main__":
    main()
