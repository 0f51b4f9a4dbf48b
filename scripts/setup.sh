#!/usr/bin/env bash
# One-command set-up of mona on a fresh Debian 12 machine: system packages, the pinned llama.cpp source, the
# default model, the build, and the default SAE. Safe to re-run: every step skips work already done.
#
#   scripts/setup.sh            # then: build/bin/mona demo
#
# Environment: MONA_HOME (default ~/.cache/mona) for the model and SAE; MONA_BUILD_DIR (default build);
# MONA_JOBS (default: number of cores). The Python package's build and test dependencies (python/requirements.txt,
# pinned by sha256) go into a virtual environment, <build>/venv, which the build uses for the module mona._mona.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build="${MONA_BUILD_DIR:-build}"
jobs="${MONA_JOBS:-$(nproc)}"

packages=(build-essential cmake git pkg-config python3 python3-pip zlib1g-dev libopenblas-dev nlohmann-json3-dev
          libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev fortunes openmpi-bin libopenmpi-dev ccache
          python3-venv python3-dev)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if ((${#missing[@]})); then
    echo "mona: installing Debian packages: ${missing[*]}" >&2
    sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v python3 >/dev/null || { echo "mona: error: python3 is required by the set-up scripts" >&2; exit 1; }

scripts/fetch_llama.sh
scripts/fetch_model.sh

# MONA_MPI=ON: the MPI packages above are installed, so `mpirun -n N mona embed|score` works and is tested.
# ccache: a rebuild (or scripts/ci_hardening.sh's sanitized build, whose llama.cpp is compiled identically)
# reuses the objects. CCACHE_BASEDIR makes the cache hit across checkouts.
launcher=()
if command -v ccache >/dev/null; then
    export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}"
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
# Python: a venv in the build folder with exactly the pinned wheels (--require-hashes), then the module built by
# the same CMake project (MONA_PYTHON=ON; scripts/test.sh runs its pytest suite; `pip install ./python` for use).
mkdir -p "$build"
venv="$(cd "$build" && pwd)/venv"
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --require-hashes --only-binary=:all: \
    -r python/requirements.txt
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DMONA_MPI=ON "${launcher[@]}" \
      -DMONA_PYTHON=ON -DPython_EXECUTABLE="$venv/bin/python" >/dev/null
cmake --build "$build" -j "$jobs" --target mona mona_unit_tests mona_integration_tests _mona mona_py_fixtures

MONA_BIN="$root/$build/bin/mona" scripts/train_default_sae.sh
echo "mona: set-up done. Try: $build/bin/mona demo" >&2
