#!/usr/bin/env bash
# Creates .venv (once) and installs Workbench into it with the given extras, e.g. `scripts/setup.sh model,dev`.
# llama-cpp-python compiles llama.cpp from source on first install (about 5 minutes on 2 cores; pip caches
# the wheel afterwards). Set CMAKE_ARGS before the first install for Metal or CUDA (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
extras="${1:-model}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Workbench needs Python 3.11 or newer")'
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${extras}]"
