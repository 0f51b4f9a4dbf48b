#!/usr/bin/env bash
# Trains the default SAE of the default model with `mona train-sae` (about 10 minutes on 2 cores) and installs
# it where mona looks for it ($MONA_HOME/saes/...). Idempotent: does nothing when the SAE is present.
#
# Recipe (docs/default-sae.md explains the choices): SmolLM2-135M-Instruct, HF layer 20 of 30 (llama.cpp
# l_out-19, sparsify layers.19), 4608 latents (8 x 576), k = 32, TopK + AuxK, trained on the project's own
# generated instruction corpus (800 chat-rendered documents) plus 400 records of the Debian `fortunes` package,
# at most 256 tokens per document, 5 epochs (epochs 2-5 replay the captured rows in memory). The chat documents
# are rendered without a system turn (--system-prompt none: ChatML as mona rendered before it ran the model's Jinja
# template, which would add SmolLM2's default system prompt to every document), so the recipe and its measured
# FVU in docs/default-sae.md stay those of the SAE it documents.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mona="${MONA_BIN:-$root/build/bin/mona}"
home="${MONA_HOME:-$HOME/.cache/mona}"
name="smollm2-135m-instruct-4608x576-k32"
dest="$home/saes/$name"
[[ -f "$dest/layers.19/sae.safetensors" && -f "$dest/layers.19/cfg.json" ]] && exit 0
work="$home/saes/.train-$name"
mkdir -p "$work"
python3 "$root/scripts/make_sae_corpus.py" --out "$work/fortunes.jsonl" --max 400
resume=()
[[ -f "$work/checkpoint.bin" ]] && resume=(--resume)
echo "mona: training the default SAE (about 10 minutes on 2 cores; log in $work/train.log)" >&2
"$mona" train-sae --input builtin:demo-training:100 --input "$work/fortunes.jsonl" \
    --system-prompt none --layer 20 --latents 4608 --k 32 --epochs 5 --batch-size 256 \
    --doc-tokens 256 --warmup 100 --dead-tokens 100000 --seed 0 --log-every 200 \
    --out "$work" "${resume[@]}" 2> >(tee "$work/train.log" >&2)
mkdir -p "$dest"
cp "$work/metrics.json" "$work/train_log.tsv" "$dest/"
rm -rf "$dest/layers.19"
mv "$work/layers.19" "$dest/layers.19"
rm -rf "$work"
echo "mona: default SAE ready in $dest/layers.19" >&2
