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

# llama.cpp's AMX matrix kernel (compiled in by -march=native on Sapphire Rapids and newer) crashes on Q4_K
# models with several sequences (llama.cpp issue #20824): on x86-64 build without it unless CMAKE_ARGS is set.
no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
if [ -z "${CMAKE_ARGS:-}" ] && [ "$(uname -m)" = x86_64 ] && echo | "${CC:-cc}" $no_amx -E - >/dev/null 2>&1; then
  export CFLAGS="${CFLAGS:-} $no_amx" CXXFLAGS="${CXXFLAGS:-} $no_amx"
fi

.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${extras}]"

# A wheel pip cached before this rule existed may still carry AMX: rebuild it once (the new wheel is cached).
if [ -n "${CFLAGS:-}" ] && .venv/bin/python -c 'import sys, llama_cpp
sys.exit(0 if b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info() else 1)' 2>/dev/null; then
  echo "Rebuilding llama-cpp-python without AMX (about 5 minutes)..."
  version="$(.venv/bin/python -c 'import llama_cpp; print(llama_cpp.__version__)')"
  .venv/bin/python -m pip cache remove 'llama_cpp_python*' >/dev/null 2>&1 || true
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps \
    --no-binary llama-cpp-python "llama-cpp-python==${version}"
fi

# The tests start the one-folder app's window under Xvfb; Qt's xcb plugin needs these X libraries. Installed
# when the system's package manager can (Debian/Ubuntu as root); otherwise the test names what is missing.
if [[ ",${extras}," == *",dev,"* ]] && ! command -v Xvfb >/dev/null && command -v apt-get >/dev/null \
    && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && apt-get install -y -qq xvfb libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 >/dev/null
fi
