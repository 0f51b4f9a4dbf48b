#!/usr/bin/env python3
"""Inputs of the docs/beyond.md table: a labelled pool subsample and the first exemplars of every bench target.

    python3 bench/beyond_inputs.py POOL2030.jsonl TARGETS_DIR OUT_DIR [EVERY=5] [EXEMPLARS=16]

Writes OUT_DIR/pool.jsonl (records of POOL2030 whose 0-based index % EVERY == 0) and OUT_DIR/targets.jsonl (the
first EXEMPLARS records of each TARGETS_DIR/<name>.jsonl, with "task" set to <name>, in name order), to embed with
`mona embed` and compare with bench/beyond_table.cpp.
"""
import glob
import json
import os
import sys


def main():
    pool_path, targets_dir, out_dir = sys.argv[1:4]
    every = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    n_exemplars = int(sys.argv[5]) if len(sys.argv) > 5 else 16
    os.makedirs(out_dir, exist_ok=True)
    with open(pool_path) as f:
        lines = f.read().splitlines()
    with open(os.path.join(out_dir, "pool.jsonl"), "w") as f:
        f.write("".join(line + "\n" for idx, line in enumerate(lines) if idx % every == 0))
    out = []
    for path in sorted(glob.glob(os.path.join(targets_dir, "*.jsonl"))):
        name = os.path.basename(path)[: -len(".jsonl")]
        with open(path) as f:
            for idx, line in enumerate(f.read().splitlines()[:n_exemplars]):
                record = json.loads(line)
                record["id"] = f"{name}:{idx}"
                record["task"] = name
                out.append(json.dumps(record))
    with open(os.path.join(out_dir, "targets.jsonl"), "w") as f:
        f.write("".join(line + "\n" for line in out))


if __name__ == "__main__":
    main()
