#!/usr/bin/env bash
# The hardening half of CI (docs/reliability.md): a fuzz smoke of every libFuzzer harness, then the test suite
# built with AddressSanitizer + UndefinedBehaviorSanitizer (mona and the vendored llama.cpp alike).
#
#   scripts/ci_hardening.sh            both steps, after scripts/setup.sh (needs clang and third_party/llama.cpp)
#
# Environment: MONA_FUZZ_SMOKE_SECONDS (per harness, default 10; 0 skips the fuzz smoke), MONA_ASAN_BUILD_DIR
# (default build-asan), MONA_SANITIZED_TESTS (a ctest -R regex to run a subset; default: the whole suite),
# MONA_SANITIZED_TESTS_EXCLUDE (a ctest -E regex), MONA_SANITIZE_LLAMA (ON: llama.cpp instrumented too),
# MONA_ASAN_BUILD_TYPE (default RelWithDebInfo), MONA_JOBS (default: nproc). Exit 0 when both steps pass;
# prints each step's wall time. The subset docs/reliability.md names for a CI short of time:
#   MONA_SANITIZED_TESTS_EXCLUDE='EvalE2eTest|StoreE2eTest.Killed|StoreE2eTest.Mpirun' scripts/ci_hardening.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs="${MONA_JOBS:-$(nproc)}"
seconds="${MONA_FUZZ_SMOKE_SECONDS:-10}"
build="${MONA_ASAN_BUILD_DIR:-$root/build-asan}"
step_start=$SECONDS

# clang with its libFuzzer and sanitizer runtimes (Debian 12: clang 14).
missing=()
for p in clang libclang-rt-14-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "ci_hardening: installing Debian packages: ${missing[*]}" >&2
    sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
elapsed() { echo "ci_hardening: $1 took $((SECONDS - step_start)) s"; step_start=$SECONDS; }

if [[ "$seconds" -gt 0 ]]; then
    echo "ci_hardening: fuzz smoke, ${seconds} s per harness"
    MONA_JOBS="$jobs" scripts/fuzz.sh "$seconds"
    elapsed "fuzz smoke (build included)"
fi

echo "ci_hardening: test suite under ASan + UBSan ($build)"
# MONA_SANITIZE_LLAMA=OFF (what .ci/run uses, for time): llama.cpp is compiled as in the normal build (Release,
# same flags), so ccache hands back scripts/setup.sh's objects; mona itself is still fully instrumented.
launcher=()
if command -v ccache >/dev/null; then
    export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}"
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE="${MONA_ASAN_BUILD_TYPE:-RelWithDebInfo}" \
    -DMONA_SANITIZE=address,undefined -DMONA_SANITIZE_LLAMA="${MONA_SANITIZE_LLAMA:-ON}" \
    -DMONA_MPI="${MONA_MPI:-AUTO}" -DMONA_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
cmake --build "$build" -j "$jobs" --target mona mona_unit_tests mona_integration_tests >/dev/null
elapsed "sanitized build"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_init_order=1:detect_stack_use_after_return=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/scripts/lsan.supp:print_suppressions=0}"
filter=()
[[ -n "${MONA_SANITIZED_TESTS:-}" ]] && filter+=(-R "$MONA_SANITIZED_TESTS")
[[ -n "${MONA_SANITIZED_TESTS_EXCLUDE:-}" ]] && filter+=(-E "$MONA_SANITIZED_TESTS_EXCLUDE")
ctest --test-dir "$build" -j "$jobs" --output-on-failure "${filter[@]}"
elapsed "sanitized test suite"
