#!/usr/bin/env bash
# Runs every test (unit + integration; the integration tests write their own tiny GGUF model and SAE), the Python
# package's pytest suite (python/tests, on the same tiny fixtures, in the venv scripts/setup.sh made), then
# checks the installed package: libmona, include/mona/ and monaConfig.cmake installed into a temporary prefix,
# and examples/select_example built against it with find_package(mona) (public headers only) and run.
#
# Environment: MONA_BUILD_DIR (default build), MONA_JOBS (default: number of cores), MONA_FATAL_WARNINGS=ON
# (reconfigures the build with warnings as errors first; CI sets it), MONA_SKIP_INSTALL_CHECK=1 (tests only).
# Arguments are passed to ctest (e.g. -R Store -E BatchInvariance); pytest and the install check run only without
# them. MONA_SKIP_PYTHON=1: no pytest (a build folder not configured by scripts/setup.sh has no Python module).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${MONA_BUILD_DIR:-$root/build}"
jobs="${MONA_JOBS:-$(nproc)}"
if [[ -n "${MONA_FATAL_WARNINGS:-}" ]]; then
    cmake -S "$root" -B "$build" -DMONA_FATAL_WARNINGS="$MONA_FATAL_WARNINGS" >/dev/null
fi
cmake --build "$build" -j "$jobs" --target mona mona_unit_tests mona_integration_tests
ctest --test-dir "$build" --output-on-failure -j "$jobs" "$@"
if [[ $# -gt 0 ]]; then exit 0; fi

if [[ -z "${MONA_SKIP_PYTHON:-}" ]]; then
    python=$(sed -n 's/^Python_EXECUTABLE:[A-Z]*=//p' "$build/CMakeCache.txt")
    if ! grep -q '^MONA_PYTHON:BOOL=ON' "$build/CMakeCache.txt" || [[ -z "$python" ]]; then
        echo "test.sh: $build has no Python module (MONA_PYTHON): run scripts/setup.sh, or set MONA_SKIP_PYTHON=1" >&2
        exit 1
    fi
    cmake --build "$build" -j "$jobs" --target _mona mona_py_fixtures
    PYTHONPATH="$build/python" MONA_BIN="$build/bin/mona" MONA_PY_FIXTURES="$build/bin/mona_py_fixtures" \
        "$python" -m pytest -q -p no:cacheprovider "$root/python/tests"
fi

if [[ -n "${MONA_SKIP_INSTALL_CHECK:-}" ]]; then exit 0; fi
cmake --build "$build" -j "$jobs" --target mona_lib
prefix=$(mktemp -d "${TMPDIR:-/tmp}/mona-install.XXXXXX")
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix/usr" >/dev/null
# The installed headers must stand alone: nothing under include/mona/ may reach into src/.
if grep -rn '#include "' "$prefix/usr/include/mona" | grep -v '#include "mona/'; then
    echo "test.sh: an installed header includes a non-public header" >&2
    exit 1
fi
cmake -S "$root/examples" -B "$prefix/examples" -DCMAKE_PREFIX_PATH="$prefix/usr" >/dev/null
cmake --build "$prefix/examples" -j "$jobs"
"$prefix/examples/select_example" "$prefix/store"
echo "test.sh: installed package OK (find_package(mona), examples/select_example)" >&2
