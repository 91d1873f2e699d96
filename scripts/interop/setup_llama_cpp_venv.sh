#!/usr/bin/env bash
# Creates (once) the virtual environment in which llama.cpp generates with ep's control vectors
# (scripts/interop/check_llama_cpp_steering.py): llama-cpp-python built from its source distribution (it vendors
# llama.cpp; CPU only, no OpenMP, no curl), numpy and gguf-py. Cached in data/venv-llamacpp (git-ignored) and reused
# while its stamp names the same pins. Building llama.cpp takes minutes on a busy 2-core machine.
#
#   scripts/interop/setup_llama_cpp_venv.sh [VENV]     (default: data/venv-llamacpp)
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${1:-data/venv-llamacpp}
PINS="llama-cpp-python==0.3.36 gguf==0.19.0"
STAMP="$PINS"
if [ -f "$VENV/ep-stamp" ] && [ "$(cat "$VENV/ep-stamp")" = "$STAMP" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi
start=$(date +%s)
rm -rf "$VENV"
python3 -m venv "$VENV"
CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) CMAKE_ARGS="-DLLAMA_CURL=OFF -DGGML_OPENMP=OFF" \
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-binary llama-cpp-python $PINS numpy 2>&1 \
  | grep -v "Running pip as the 'root' user" >&2 || true
if ! "$VENV/bin/python" -c "import llama_cpp, gguf, numpy" 2>/dev/null; then
  echo "setup_llama_cpp_venv: installing $PINS into $VENV failed (see pip's messages above; PyPI must be reachable and a C/C++ compiler installed)" >&2
  exit 1
fi
echo "$STAMP" > "$VENV/ep-stamp"
echo "setup_llama_cpp_venv: $VENV created in $(( $(date +%s) - start )) s ($(du -sh "$VENV" | cut -f1))" >&2
