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
import os
import random
import subprocess
import sys

from bench_data import add_common_args, target_flags, write_subsample


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(ap, out="runs/bench-real", keep=3, max_tokens=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reuse", action="store_true", help="only re-read an existing run's scores.tsv")
    ap.add_argument("mona_args", nargs="*", help="extra flags for mona select (after --)")
    args = ap.parse_args()

    pool, labels = write_subsample(args)
    targets, flags = target_flags(args)
    cmd = [args.mona, "select", "--pool", pool, "--ratio", str(args.ratio), "--max-tokens", str(args.max_tokens),
           "--out", os.path.join(args.out, "run")] + args.mona_args + flags
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
