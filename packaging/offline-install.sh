#!/usr/bin/env bash
# Installs Workbench from the wheels beside this script, with no network and no compiler:
#   ./install.sh [TARGET]      (default TARGET: ~/.local/share/workbench-app)
# then runs `workbench desktop-install` so the app is in the desktop's menu, and prints how to start it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="${1:-$HOME/.local/share/workbench-app}"
python="${PYTHON:-}"
wanted="$(ls "$here"/wheels/numpy-*.whl | sed -E 's/.*-cp([0-9])([0-9]+)-.*/\1.\2/')"
for candidate in "python$wanted" python3; do
  if [ -z "$python" ] && command -v "$candidate" >/dev/null &&
     [ "$("$candidate" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')" = "$wanted" ]; then
    python="$candidate"
  fi
done
if [ -z "$python" ]; then
  echo "This kit's wheels are for Python $wanted: install it (or set PYTHON=/path/to/python$wanted)." >&2
  exit 1
fi
extras="$(cat "$here/EXTRAS")"
"$python" -m venv "$target"
requirement="workbench"
[ "$extras" = model ] && requirement="workbench[model]"
"$target/bin/python" -m pip install --quiet --no-index --find-links "$here/wheels" "$requirement"
"$target/bin/workbench" desktop-install >/dev/null 2>&1 || true  # no desktop (a server): nothing to add
echo "Installed into $target. Start the app with: $target/bin/workbench gui   (CLI: $target/bin/workbench)"
