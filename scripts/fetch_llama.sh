#!/usr/bin/env bash
# Fetches the pinned llama.cpp source (vendored inside the llama-cpp-python sdist on PyPI), verifies its
# sha256 and unpacks it to third_party/llama.cpp. Idempotent: does nothing when the pinned tree is present.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/deps.env"
dest="$root/third_party/llama.cpp"
stamp="$root/third_party/llama.cpp.version"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$LLAMA_CPP_PYTHON_VERSION" && -f "$dest/CMakeLists.txt" ]]; then
    exit 0
fi
cache="${MONA_HOME:-$HOME/.cache/mona}/downloads"
mkdir -p "$cache" "$root/third_party"
sdist="$cache/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
if [[ ! -f "$sdist" ]] || ! echo "$LLAMA_CPP_PYTHON_SHA256  $sdist" | sha256sum -c --status; then
    echo "mona: fetching llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION sdist (llama.cpp source) from PyPI" >&2
    python3 -m pip download --quiet --no-deps --no-binary :all: --no-build-isolation \
        "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -d "$cache" 2>/dev/null ||
    python3 -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -d "$cache"
fi
echo "$LLAMA_CPP_PYTHON_SHA256  $sdist" | sha256sum -c --status || {
    echo "mona: error: sha256 mismatch for $sdist" >&2; exit 1; }
tmp=$(mktemp -d "$root/third_party/.unpack.XXXXXX")
tar -xzf "$sdist" -C "$tmp" "llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
rm -rf "$dest"
mv "$tmp/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp" "$dest"
rm -rf "$tmp"
echo "$LLAMA_CPP_PYTHON_VERSION" > "$stamp"
echo "mona: llama.cpp source ready in $dest" >&2
