#!/usr/bin/env python3
"""Writes the generic-text part of the default SAE's training corpus as JSONL ({"text": ...} per line).

Source: the Debian `fortunes` package (/usr/share/games/fortunes: quotations, jokes, definitions, computing
lore), which set-up installs. Deterministic: files in name order, records split on '%' lines, whitespace
normalised, 15..400 words kept, then every k-th record so that at most --max records remain.
"""
import argparse
import json
import os
import sys

SKIP = {"ascii-art", "art"}  # pictures, not text


def records(root):
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if "." in name or name in SKIP or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            chunk = []
            for line in f:
                if line.strip() == "%":
                    yield " ".join(" ".join(chunk).split())
                    chunk = []
                else:
                    chunk.append(line)
            if chunk:
                yield " ".join(" ".join(chunk).split())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="/usr/share/games/fortunes")
    ap.add_argument("--max", type=int, default=600)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if not os.path.isdir(args.root):
        sys.exit(f"make_sae_corpus: {args.root} not found (install the Debian package 'fortunes')")
    kept = [r for r in records(args.root) if 15 <= len(r.split()) <= 400]
    step = max(1, len(kept) // args.max)
    kept = kept[::step][: args.max]
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for idx, text in enumerate(kept):
            f.write(json.dumps({"id": f"fortunes-{idx}", "text": text}, ensure_ascii=False) + "\n")
    os.replace(tmp, args.out)
    print(f"make_sae_corpus: {len(kept)} records -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
