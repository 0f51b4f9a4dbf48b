"""Shared pieces of the real-data bench scripts: their common flags, the deterministic pool subsample and the
target sets of ../shared/data/bench."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def add_common_args(ap, out, keep, max_tokens):
    """The flags every bench script takes: where the bench and the binary are, the subsample, n and the cap."""
    ap.add_argument("--bench", default=os.path.join(HERE, "..", "..", "shared", "data", "bench"))
    ap.add_argument("--mona", default=os.path.join(HERE, "..", "build", "bin", "mona"))
    ap.add_argument("--out", default=out)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--keep", type=int, default=keep)
    ap.add_argument("--ratio", type=float, default=0.05)
    ap.add_argument("--max-tokens", type=int, default=max_tokens)


def write_subsample(args):
    """Writes <out>/pool_subsample.jsonl (records whose 0-based index % every < keep); returns (path, labels)."""
    os.makedirs(args.out, exist_ok=True)
    pool = os.path.join(args.out, "pool_subsample.jsonl")
    labels = []
    with open(os.path.join(args.bench, "pool.jsonl"), encoding="utf-8") as src, \
            open(pool, "w", encoding="utf-8") as dst:
        for idx, line in enumerate(src):
            if idx % args.every < args.keep:
                dst.write(line)
                labels.append(json.loads(line)["task"])
    return pool, labels


def target_flags(args):
    """The task names of <bench>/targets/*.jsonl (sorted) and the matching `--target NAME=FILE` flags."""
    targets = sorted(f[:-6] for f in os.listdir(os.path.join(args.bench, "targets")) if f.endswith(".jsonl"))
    flags = []
    for t in targets:
        flags += ["--target", f"{t}={os.path.join(args.bench, 'targets', t + '.jsonl')}"]
    return targets, flags
