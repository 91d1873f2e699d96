#!/usr/bin/env bash
# Creates (once) the throw-away virtual environment in which SAELens itself loads ep's exports
# (scripts/interop/check_saelens.py): torch 2.13.0+cpu from the image's local wheel (an unpinned torch pulls about
# 5 GB of CUDA libraries), then sae-lens and transformer-lens pinned, from PyPI (about 1.9 GB in all). The venv is
# made once per machine in a cache outside the checkout (EP_VENV_CACHE, default ~/.cache/exemplar-partitioning, so
# that a fresh clone reuses it) and reused while its stamp file names the same pins; data/venv-saelens (git-ignored)
# links to it.
#
#   scripts/interop/setup_saelens_venv.sh [VENV]     (default: the cache's venv-saelens, linked as data/venv-saelens)
#
# Exits non-zero with the reason when a wheel cannot be had; the check then fails loudly rather than skipping.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ $# -ge 1 ]; then
  VENV=$1
else
  VENV=${EP_VENV_CACHE:-$HOME/.cache/exemplar-partitioning}/venv-saelens
  mkdir -p "$(dirname "$VENV")" data
  # data/venv-saelens names the cached venv (a link left by an earlier layout is replaced; a real folder is kept).
  if [ -L data/venv-saelens ] || [ ! -e data/venv-saelens ]; then ln -sfn "$VENV" data/venv-saelens; else VENV=data/venv-saelens; fi
fi
TORCH_WHEEL=${EP_TORCH_WHEEL:-/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl}
PINS="sae-lens==6.54.12 transformer-lens==3.9.0"
STAMP="torch=$(basename "$TORCH_WHEEL") $PINS"

if [ -f "$VENV/ep-stamp" ] && [ "$(cat "$VENV/ep-stamp")" = "$STAMP" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi
if [ ! -f "$TORCH_WHEEL" ]; then
  echo "setup_saelens_venv: the local torch wheel $TORCH_WHEEL is missing (set EP_TORCH_WHEEL to a torch 2.13.0+cpu wheel); without it pip would pull torch with about 5 GB of CUDA libraries" >&2
  exit 1
fi
start=$(date +%s)
rm -rf "$VENV"
python3 -m venv "$VENV"
pip_quiet() { "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" 2>&1 | grep -v "Running pip as the 'root' user" >&2 || true; }
pip_quiet "$TORCH_WHEEL"
# torch is already satisfied by the local wheel; pip keeps it (a constraint makes sure no other torch replaces it).
echo "torch==2.13.0+cpu" > "$VENV/constraints.txt"
pip_quiet -c "$VENV/constraints.txt" $PINS gguf
if ! "$VENV/bin/python" -c "import torch, sae_lens, transformer_lens, gguf" 2>/dev/null; then
  echo "setup_saelens_venv: installing $PINS into $VENV failed (see pip's messages above; PyPI must be reachable)" >&2
  exit 1
fi
echo "$STAMP" > "$VENV/ep-stamp"
echo "setup_saelens_venv: $VENV created in $(( $(date +%s) - start )) s ($(du -sh "$VENV" | cut -f1))" >&2
