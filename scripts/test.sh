#!/usr/bin/env bash
# Runs every test (unit + integration; the integration tests write their own tiny GGUF model and SAE).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${MONA_BUILD_DIR:-$root/build}"
cmake --build "$build" -j "${MONA_JOBS:-$(nproc)}" --target mona mona_unit_tests mona_integration_tests
ctest --test-dir "$build" --output-on-failure -j "${MONA_JOBS:-$(nproc)}" "$@"
