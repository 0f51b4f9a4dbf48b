#!/usr/bin/env bash
# Runs every libFuzzer harness in fuzz/ for SECONDS each, one at a time (docs/reliability.md, "Fuzzing").
#
#   scripts/fuzz.sh SECONDS [HARNESS...]      e.g. scripts/fuzz.sh 10, scripts/fuzz.sh 600 sae gguf
#
# Builds the harnesses first when needed (clang, -DMONA_FUZZ=ON, into $MONA_FUZZ_BUILD_DIR, default build-fuzz).
# Each harness starts from its seed corpus fuzz/corpus/<harness>/ (never modified) plus the inputs earlier runs
# found ($MONA_FUZZ_OUT/corpus/<harness>/). A crash, hang (>10 s per input), leak, UB or memory blow-up
# (>2 GB) is copied to $MONA_FUZZ_OUT/crashes/<harness>/ and makes the script exit 1 after the other harnesses
# have run; reproduce it with build-fuzz/bin/fuzz_<harness> FILE. Logs: $MONA_FUZZ_OUT/logs/<harness>.log.
# MONA_FUZZ_RUNS=N also stops each harness after N executions (whichever comes first). Exit 0: no finding.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ $# -lt 1 || ! "$1" =~ ^[0-9]+$ ]]; then
    echo "usage: scripts/fuzz.sh SECONDS [HARNESS...]" >&2
    exit 2
fi
seconds=$1
shift
build="${MONA_FUZZ_BUILD_DIR:-$root/build-fuzz}"
out="${MONA_FUZZ_OUT:-$build/fuzz-out}"
all=(record_reader formats safetensors sae store_manifest store_shard train_checkpoint train_state flags gguf)
harnesses=("$@")
[[ ${#harnesses[@]} -eq 0 ]] && harnesses=("${all[@]}")

if [[ ! -f "$build/CMakeCache.txt" ]]; then
    CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMONA_FUZZ=ON \
        -DMONA_WITH_LLAMA=OFF -DMONA_BUILD_TESTS=OFF -DMONA_BUILD_BENCH=OFF -DMONA_MPI=OFF -DMONA_NATIVE=OFF >/dev/null
fi
cmake --build "$build" -j "${MONA_JOBS:-$(nproc)}" --target mona_fuzz >/dev/null

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
printf '%-18s %12s %10s  %s\n' harness executions exec/s result
for harness in "${harnesses[@]}"; do
    bin="$build/bin/fuzz_$harness"
    [[ -x "$bin" ]] || { echo "scripts/fuzz.sh: no harness $harness ($bin)" >&2; exit 2; }
    mkdir -p "$out/corpus/$harness" "$out/crashes/$harness" "$out/logs"
    max_len=4096
    case $harness in record_reader | gguf | sae) max_len=16384 ;; esac
    dict=()
    case $harness in record_reader | formats | safetensors | sae | store_manifest | train_state)
        dict=(-dict="$root/fuzz/json.dict") ;;
    esac
    runs=()
    [[ -n "${MONA_FUZZ_RUNS:-}" ]] && runs=(-runs="$MONA_FUZZ_RUNS")
    log="$out/logs/$harness.log"
    rc=0
    touch "$out/logs/.start-$harness"
    "$bin" -max_total_time="$seconds" "${runs[@]}" -max_len="$max_len" -rss_limit_mb=2048 -malloc_limit_mb=2048 \
        -timeout=10 -print_final_stats=1 "${dict[@]}" -artifact_prefix="$out/crashes/$harness/" \
        "$out/corpus/$harness" "$root/fuzz/corpus/$harness" >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    result=ok
    if [[ $rc -ne 0 || -n $(find "$out/crashes/$harness" -type f -newer "$out/logs/.start-$harness") ]]; then
        result="FAILED (exit $rc; see $log, inputs in $out/crashes/$harness/)"
        failed+=("$harness")
    fi
    printf '%-18s %12s %10s  %s\n' "$harness" "${execs:-?}" "${rate:-?}" "$result"
done
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "scripts/fuzz.sh: findings in: ${failed[*]}" >&2
    exit 1
fi
