#!/usr/bin/env bash
# Installs the Python package (python/, `pip install ./python`) into a throw-away virtual environment and runs its
# pytest suite (python/tests) against the given ep executable. Run by `make test`.
#
#   bash scripts/check_python_package.sh [PATH_TO_EP]     (default: .build/debug/ep)
#
# The environment sees the system's site packages (numpy, safetensors and pytest, which scripts/setup.sh installs);
# pip fetches from PyPI whatever is still missing. pytest's exit status 5 (no tests collected) is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
EP="$(realpath "${1:-.build/debug/ep}")"
[ -x "$EP" ] || { echo "check_python_package: no ep executable at $EP (run swift build first)" >&2; exit 1; }
venv="$(mktemp -d "${TMPDIR:-/tmp}/ep-python-venv.XXXXXX")"
# pip's setuptools build leaves python/build and the egg-info in the source tree: remove them with the environment.
trap 'rm -rf "$venv" python/build python/src/exemplar_partitioning.egg-info' EXIT
python3 -m venv --system-site-packages "$venv"
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
# Build without an isolated environment when setuptools (61 or later, with wheel before 70.1) is already there: no
# network needed then. Otherwise pip sets up its own build environment from PyPI.
if "$venv/bin/python" - 2>/dev/null <<'PY'
import importlib.util, sys, setuptools
version = tuple(int(p) for p in setuptools.__version__.split(".")[:2])
sys.exit(0 if version >= (70, 1) or (version >= (61, 0) and importlib.util.find_spec("wheel")) else 1)
PY
then
  pip+=(--no-build-isolation)
fi
"${pip[@]}" ./python 2>&1 | grep -v "Running pip as the 'root' user" >&2 || true
"$venv/bin/python" -c "import exemplar_partitioning" || { echo "check_python_package: pip install ./python failed" >&2; exit 1; }
"$venv/bin/python" -c "import pytest" 2>/dev/null || "${pip[@]}" pytest
status=0
(cd python && EP_BINARY="$EP" "$venv/bin/python" -m pytest -q -p no:cacheprovider tests) || status=$?
if [ "$status" = 5 ]; then
  echo "check_python_package: pytest collected no tests in python/tests" >&2
  exit 1
fi
exit "$status"
