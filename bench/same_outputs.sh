#!/usr/bin/env bash
# Checks that two mona binaries write the same files: `mona demo`, and `select` + `eval` on a 299-sample subsample
# of ../shared/data/bench (every 34th pool record, the first 20 exemplars of three targets, --max-tokens 128,
# top 10 %). For refactors that must not change outputs (issue 10). Every file is compared byte for byte; the
# manifests and eval.json are compared after dropping what names the run itself (command line, paths under the
# run folder, timings). Prints one line per file that differs; exit 1 if any does.
#
#   bench/same_outputs.sh OLD_MONA NEW_MONA [WORK_DIR]     # ~15 min on 2 idle cores (three model passes each)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
old=$1 new=$2 work=${3:-$(mktemp -d "${TMPDIR:-/tmp}/mona-same.XXXXXX")}
bench="${MONA_BENCH_DIR:-$root/../shared/data/bench}"
mkdir -p "$work/in"
awk 'NR % 34 == 1' "$bench/pool.jsonl" > "$work/in/pool.jsonl"
targets=()
for t in math_word_problems sentiment_classification code_generation; do
    head -20 "$bench/targets/$t.jsonl" > "$work/in/$t.jsonl"
    targets+=(--target "$t=$work/in/$t.jsonl")
done
run() {  # BIN OUT
    local bin=$1 out=$2
    rm -rf "$out" && mkdir -p "$out"
    "$bin" demo --out "$out/demo" --quiet > /dev/null
    "$bin" select --pool "$work/in/pool.jsonl" "${targets[@]}" --max-tokens 128 --ratio 0.1 --out "$out/select" \
        --quiet > /dev/null
    "$bin" eval --pool "$work/in/pool.jsonl" "${targets[@]}" --max-tokens 128 --ratio 0.1 --out "$out/eval" \
        --quiet > /dev/null
}
run "$old" "$work/old"
run "$new" "$work/new"
python3 - "$work/old" "$work/new" <<'PY'
import json, os, sys
old, new = sys.argv[1], sys.argv[2]
def files(d):
    return sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs)
def scrub(obj, run):
    if isinstance(obj, dict):
        return {k: scrub(v, run) for k, v in obj.items() if k not in ("command_line", "timings_s")}
    if isinstance(obj, list):
        return [scrub(v, run) for v in obj]
    if isinstance(obj, str):
        return obj.replace(run, "RUN")
    return obj
bad = 0
if files(old) != files(new):
    print("the two runs wrote different file lists"); bad += 1
for rel in files(old):
    a, b = open(os.path.join(old, rel), "rb").read(), open(os.path.join(new, rel), "rb").read() if os.path.exists(os.path.join(new, rel)) else None
    if a == b:
        continue
    if b is not None and (rel.endswith("manifest.json") or rel.endswith("eval.json")):
        if scrub(json.loads(a), old) == scrub(json.loads(b), new):
            continue
    if b is not None and rel.endswith(".html") and a.replace(old.encode(), b"RUN") == b.replace(new.encode(), b"RUN"):
        continue
    print("differs:", rel); bad += 1
print(f"same_outputs: {len(files(old))} files, {bad} differ")
sys.exit(1 if bad else 0)
PY
