#!/usr/bin/env python3
"""Precision@n of `mona select` on the shared real-data bench, next to random selection.

For every target set in <bench>/targets/<task>.jsonl, precision@n is the share of the n selected pool samples
whose `task` label equals <task>; all targets share one `mona select` run (one model pass over the pool).
Random is reported two ways: its expectation (the task's share of the pool) and one seeded draw of n samples.

The pool is subsampled deterministically (record index % --every < --keep; default 3 of every 10, i.e. 30 %)
so that a CPU run stays near half an hour; pass --every 1 --keep 1 for the whole pool.

    python3 bench/real_data_precision.py --out runs/bench-real
"""
import argparse
import csv
import json
import os
import random
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=os.path.join(HERE, "..", "..", "shared", "data", "bench"))
    ap.add_argument("--mona", default=os.path.join(HERE, "..", "build", "bin", "mona"))
    ap.add_argument("--out", default="runs/bench-real")
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--keep", type=int, default=3)
    ap.add_argument("--ratio", type=float, default=0.05)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reuse", action="store_true", help="only re-read an existing run's scores.tsv")
    ap.add_argument("mona_args", nargs="*", help="extra flags for mona select (after --)")
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    pool = os.path.join(args.out, "pool_subsample.jsonl")
    labels = []
    with open(os.path.join(args.bench, "pool.jsonl"), encoding="utf-8") as src, open(pool, "w", encoding="utf-8") as dst:
        for idx, line in enumerate(src):
            if idx % args.every < args.keep:
                dst.write(line)
                labels.append(json.loads(line)["task"])
    targets = sorted(f[:-6] for f in os.listdir(os.path.join(args.bench, "targets")) if f.endswith(".jsonl"))
    cmd = [args.mona, "select", "--pool", pool, "--ratio", str(args.ratio), "--max-tokens", str(args.max_tokens),
           "--out", os.path.join(args.out, "run")] + args.mona_args
    for t in targets:
        cmd += ["--target", f"{t}={os.path.join(args.bench, 'targets', t + '.jsonl')}"]
    if not args.reuse:
        print("running:", " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True)

    n_pool = len(labels)
    rng = random.Random(args.seed)
    rows = []
    for t in targets:
        with open(os.path.join(args.out, "run", t, "scores.tsv"), encoding="utf-8") as f:
            sel = [r for r in csv.DictReader(f, delimiter="\t") if r["selected"] == "1"]
        n = len(sel)
        hits = sum(r["task"] == t for r in sel)
        share = labels.count(t) / n_pool
        draw = rng.sample(range(n_pool), n)
        draw_hits = sum(labels[i] == t for i in draw)
        rows.append((t, labels.count(t), n, hits / n, share, draw_hits / n))
    out = ["| target | in pool | n | mona precision@n | random (expected) | random (seeded draw) |",
           "|---|---:|---:|---:|---:|---:|"]
    for t, k, n, p, e, d in rows:
        out.append(f"| {t} | {k} | {n} | {p:.3f} | {e:.3f} | {d:.3f} |")
    mean = lambda i: sum(r[i] for r in rows) / len(rows)
    out.append(f"| **mean** | | | **{mean(3):.3f}** | {mean(4):.3f} | {mean(5):.3f} |")
    table = "\n".join(out)
    with open(os.path.join(args.out, "precision.md"), "w", encoding="utf-8") as f:
        f.write(f"pool: {n_pool} samples ({args.keep} of every {args.every} records); command: {' '.join(cmd)}\n\n")
        f.write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
