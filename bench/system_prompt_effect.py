#!/usr/bin/env python3
"""The selection effect of the template's default system prompt (issue 9): `mona select` on a deterministic
subsample of ../shared/data/bench, once as HF renders the samples (SmolLM2's template writes its default system
prompt into every sample without one) and once with `--system-prompt none`; per target, the overlap of the two
selections, each one's precision@n for the target's own task label, and the correlation of the two score columns.

    python3 bench/system_prompt_effect.py [--every 34 --keep 1] [--targets math_word_problems,...]
"""
import argparse
import csv
import math
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_data  # noqa: E402


def read_scores(path):
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return {r["record"]: r for r in rows}


def ranks(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    idx = 0
    while idx < len(order):
        end = idx
        while end + 1 < len(order) and values[order[end + 1]] == values[order[idx]]:
            end += 1
        for k in range(idx, end + 1):
            out[order[k]] = (idx + end) / 2.0
        idx = end + 1
    return out


def pearson(a, b):
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    va = math.sqrt(sum((x - ma) ** 2 for x in a))
    vb = math.sqrt(sum((y - mb) ** 2 for y in b))
    return cov / (va * vb) if va > 0 and vb > 0 else float("nan")


def main():
    ap = argparse.ArgumentParser()
    bench_data.add_common_args(ap, out="runs/system-prompt-effect", keep=1, max_tokens=256)
    ap.set_defaults(every=34, ratio=0.1)
    ap.add_argument("--targets", default="math_word_problems,sentiment_classification,knowledge_mc")
    ap.add_argument("--exemplars", type=int, default=0, help="first N exemplars of each target (0 = all)")
    ap.add_argument("--sae", default="", help="SAE folder (default: mona's default SAE)")
    args = ap.parse_args()
    pool, labels = bench_data.write_subsample(args)
    targets = args.targets.split(",")
    target_files = {}
    for t in targets:
        src = os.path.join(args.bench, "targets", t + ".jsonl")
        if args.exemplars > 0:
            dst = os.path.join(args.out, f"target_{t}.jsonl")
            with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as g:
                g.writelines(f.readlines()[:args.exemplars])
            src = dst
        target_files[t] = src
    runs = {"template": [], "none": ["--system-prompt", "none"]}
    seconds = {}
    for name, extra in runs.items():
        cmd = [args.mona, "select", "--pool", pool, "--ratio", str(args.ratio), "--max-tokens", str(args.max_tokens),
               "--out", os.path.join(args.out, name), "--quiet"] + extra
        if args.sae:
            cmd += ["--sae", args.sae]
        for t in targets:
            cmd += ["--target", f"{t}={target_files[t]}"]
        start = time.time()
        subprocess.run(cmd, check=True)
        seconds[name] = time.time() - start
    print(f"pool: {len(labels)} samples (every {args.every}th of bench/pool.jsonl), ratio {args.ratio}, "
          f"exemplars per target: {args.exemplars or 'all'}, "
          f"--max-tokens {args.max_tokens}; model time {seconds['template']:.0f} s + {seconds['none']:.0f} s\n")
    print("| target | n | precision@n default | precision@n none | overlap | Spearman | Pearson |")
    print("|---|---|---|---|---|---|---|")
    for t in targets:
        a = read_scores(os.path.join(args.out, "template", t, "scores.tsv"))
        b = read_scores(os.path.join(args.out, "none", t, "scores.tsv"))
        keys = sorted(a)
        sel_a = {k for k in keys if a[k]["selected"] == "1"}
        sel_b = {k for k in keys if b[k]["selected"] == "1"}
        n = len(sel_a)
        prec_a = sum(a[k]["task"] == t for k in sel_a) / n
        prec_b = sum(b[k]["task"] == t for k in sel_b) / n
        sa = [float(a[k]["score"]) for k in keys]
        sb = [float(b[k]["score"]) for k in keys]
        print(f"| {t} | {n} | {prec_a:.3f} | {prec_b:.3f} | {len(sel_a & sel_b) / n:.3f} | "
              f"{pearson(ranks(sa), ranks(sb)):.3f} | {pearson(sa, sb):.3f} |")


if __name__ == "__main__":
    main()
