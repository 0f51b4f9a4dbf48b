#!/usr/bin/env bash
# bench/gpu/run.sh: issue 11's device check. On a GPU machine (no downloads needed there), in one run:
#   1. mona built with -DMONA_CUDA=ON: $MONA (a binary), else the carried archive bench/gpu/mona-cuda.tar.* (its
#      bin/mona), else a fresh build from $LLAMA_SRC with nvcc (-j all cores);
#   2. inputs written here (bench/gpu/make_inputs.py): a random-weight F16 GGUF of the Llama-3-8B shape (32 blocks,
#      d 4096, GQA 32/8, ffn 14336, the Llama-3 tokenizer), a random sparsify TopK SAE 131,072 x 4,096, k 192, and a
#      synthetic pool of $SAMPLES text records of >= $SEQ tokens each;
#   3. mona embed --device auto (the GPU) --layer 31 on that pool (SAMPLES x SEQ >= 200K tokens), with the device
#      backend's breakdown (MONA_DEVICE_PROFILE=1);
#   4. the HF transformers + PyTorch pipeline on the same shape and token count (bench/gpu/hf_bench.py, bf16, sdpa,
#      batch 16 x SEQ, TopK SAE encode + mean pooling, pairs to the host);
#   5. both rates, the ratio mona / HF, and the breakdown.
# --tiny: the same steps on a tiny shape on the CPU (ggml's CPU device; HF on the CPU when torch is importable),
# to test the script without a GPU. Budget on an H200: writing the 15 GB GGUF ~1-2 min, mona ~2 min, HF ~1 min.
#
# Environment: MONA (binary), LLAMA_SRC (pinned llama.cpp source: gguf-py/ and models/ggml-vocab-llama-bpe.gguf;
# default third_party/llama.cpp), PYTHON (default python3; needs numpy, and torch + transformers for step 4),
# WORK (scratch folder, default /tmp/mona-gpu-bench), SAMPLES (400), SEQ (512).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TINY=0
if [ "${1:-}" = "--tiny" ]; then TINY=1; fi
WORK=${WORK:-/tmp/mona-gpu-bench}
LLAMA_SRC=${LLAMA_SRC:-$ROOT/third_party/llama.cpp}
PYTHON=${PYTHON:-python3}
SAMPLES=${SAMPLES:-400}
SEQ=${SEQ:-512}
mkdir -p "$WORK"
log() { echo "[run.sh $(date -u +%H:%M:%S)] $*" >&2; }

# 1. mona
if [ -z "${MONA:-}" ]; then
    archive=$(ls "$HERE"/mona-cuda.tar.* 2>/dev/null | head -1 || true)
    if [ -n "$archive" ]; then
        log "unpacking $archive"
        mkdir -p "$WORK/mona-cuda" && tar -xaf "$archive" -C "$WORK/mona-cuda"
        MONA=$WORK/mona-cuda/bin/mona
    elif [ $TINY = 1 ] && [ -x "$ROOT/build/bin/mona" ]; then
        MONA=$ROOT/build/bin/mona
    else
        log "building mona with -DMONA_CUDA=ON (nvcc, all cores)"
        cmake -S "$ROOT" -B "$WORK/build-cuda" -DCMAKE_BUILD_TYPE=Release -DMONA_CUDA=ON -DMONA_BUILD_TESTS=OFF \
              -DMONA_BUILD_BENCH=OFF -DMONA_LLAMA_SOURCE_DIR="$LLAMA_SRC" >"$WORK/cmake.log"
        cmake --build "$WORK/build-cuda" -j"$(nproc)" --target mona >"$WORK/build.log"
        MONA=$WORK/build-cuda/bin/mona
    fi
fi
export LD_LIBRARY_PATH="$(dirname "$MONA"):${LD_LIBRARY_PATH:-}"
"$MONA" version || true

# 2. inputs
if [ $TINY = 1 ]; then
    SHAPE=(--n-layer 4 --d 64 --n-head 4 --n-kv 2 --d-ff 128 --d-sae 1024 --k 16 --layer 3)
    HF_SHAPE=(--n-layer 4 --d 64 --n-head 4 --n-kv 2 --d-ff 128 --d-sae 1024 --k 16 --layer 3 --device cpu)
    LAYER=3; SAMPLES=${TINY_SAMPLES:-16}; SEQ=64; DEVICE=CPU; WORDS=120
else
    SHAPE=(); HF_SHAPE=(); LAYER=31; DEVICE=auto; WORDS=$((SEQ * 3 / 2))
fi
if [ ! -f "$WORK/inputs/pool.jsonl" ] || [ "${REMAKE:-0}" = 1 ]; then
    log "writing the inputs into $WORK/inputs"
    PYTHONPATH="$LLAMA_SRC/gguf-py:${PYTHONPATH:-}" "$PYTHON" "$HERE/make_inputs.py" --out "$WORK/inputs" \
        --vocab "$LLAMA_SRC/models/ggml-vocab-llama-bpe.gguf" --samples "$SAMPLES" --words "$WORDS" "${SHAPE[@]}"
fi

# 3. mona embed on the device
rm -rf "$WORK/store"
log "mona embed --device $DEVICE on $SAMPLES samples of $SEQ tokens"
start=$(date +%s.%N)
MONA_DEVICE_PROFILE=1 "$MONA" embed --model "$WORK/inputs/model.gguf" --sae "$WORK/inputs/sae" --layer "$LAYER" \
    --pool "$WORK/inputs/pool.jsonl" --out "$WORK/store" --template plain --format text --max-tokens "$SEQ" \
    --batch-tokens 8192 --device "$DEVICE" --sae-dtype f16 --threads "$(nproc)" 2>"$WORK/mona.log"
wall=$(echo "$(date +%s.%N) - $start" | bc)
cat "$WORK/mona.log" >&2
pass=$(grep -o '[0-9]* tokens, [0-9]* tokens/s' "$WORK/mona.log" | tail -1)
mona_tokens=$(echo "$pass" | awk '{print $1}')
mona_rate=$(echo "$pass" | awk '{print $3}')
profile=$(grep 'device profile' "$WORK/mona.log" | tail -1 || true)

# 4. HF + PyTorch on the same shape and token count
hf_json=""
if "$PYTHON" -c "import torch, transformers" 2>/dev/null; then
    log "HF transformers + PyTorch pipeline"
    hf_json=$("$PYTHON" "$HERE/hf_bench.py" --tokens "$mona_tokens" --seq "$SEQ" "${HF_SHAPE[@]}" | tail -1)
else
    log "torch/transformers not importable with $PYTHON: the HF side is skipped"
fi

# 5. summary
echo "=== issue 11 device check ($(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || echo no GPU))"
echo "mona embed: $mona_tokens tokens, pass $mona_rate tokens/s (mona's progress line), wall $wall s incl. model and SAE load"
echo "mona breakdown: ${profile#mona: device profile: }"
if [ -n "$hf_json" ]; then
    echo "HF + PyTorch: $hf_json"
    hf_rate=$(echo "$hf_json" | "$PYTHON" -c "import json,sys; print(round(json.load(sys.stdin)['tokens_per_s']))")
    echo "ratio mona / HF: $(echo "scale=3; $mona_rate / $hf_rate" | bc)"
fi
