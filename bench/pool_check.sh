#!/usr/bin/env bash
# bench/pool_check.sh: how long the parse-only pool check (the pass before the model pass of select, eval and
# embed) takes on a 100K-line pool, against a Python reference that reads and json-parses the same lines, both
# measured in this run on this machine.
#
# usage: bench/pool_check.sh [MONA_BIN] [SOURCE_POOL]
#   MONA_BIN     default build/bin/mona
#   SOURCE_POOL  records repeated to 100,000 lines; default ../shared/data/bench/pool.jsonl
# The check is timed through `mona embed` with a model path that does not exist: the check runs first, then the
# model fails to open, so the run's time is the check's (plus process start, ~0.1 s).
set -euo pipefail
bin=${1:-build/bin/mona}
src=${2:-$(dirname "$0")/../../shared/data/bench/pool.jsonl}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pool=$tmp/pool100k.jsonl
: > "$pool"
while [ "$(wc -l < "$pool")" -lt 100000 ]; do cat "$src" >> "$pool"; done
head -n 100000 "$pool" > "$tmp/p" && mv "$tmp/p" "$pool"
echo "pool: $(wc -l < "$pool") lines, $(du -m "$pool" | cut -f1) MB"
t0=$(date +%s.%N)
"$bin" embed --pool "$pool" --out "$tmp/store" --model /nonexistent/model.gguf --quiet 2> "$tmp/err" || true
t1=$(date +%s.%N)
grep -q "nonexistent/model.gguf" "$tmp/err" || { echo "unexpected: $(cat "$tmp/err")"; exit 1; }
python3 - "$pool" <<'PY' > "$tmp/py"
import json, sys, time
t = time.time()
with open(sys.argv[1], "rb") as f:
    n = sum(1 for line in f if json.loads(line) is not None)
print(time.time() - t)
PY
mona_s=$(echo "$t1 - $t0" | bc -l)
py_s=$(cat "$tmp/py")
printf 'mona pool check: %.2f s; python json.loads reference: %.2f s; ratio mona/python: %.2f\n' \
  "$mona_s" "$py_s" "$(echo "$mona_s / $py_s" | bc -l)"
