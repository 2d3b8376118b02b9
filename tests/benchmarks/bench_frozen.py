"""The installable artefacts, measured: the one-folder app's size with and without the bundled model, its cold
start to the first painted window next to the venv's, and the offline kit's size and install time.

    packaging/build-linux.sh && packaging/offline-kit.sh --model
    .venv/bin/python tests/benchmarks/bench_frozen.py [--runs 5] [--app dist/workbench] [--kit KIT.tar.gz]

Cold start: a fresh process per run, from spawn to the main window's first paint (the app prints the paint's
CLOCK_MONOTONIC time and quits when WORKBENCH_QUIT_AFTER_FIRST_PAINT is set: ui/main.py), the frozen
`workbench-gui` and the venv's `workbench gui` alternating, the venv's as the reference; median of --runs.
Both start the same way: the platform check, then the window. Offscreen unless DISPLAY is set.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def folder_size(path: Path, skip: str = "") -> int:
    return sum(f.stat().st_size for f in path.rglob("*")
               if f.is_file() and not f.is_symlink() and not (skip and any(p.startswith(skip) for p in f.parts)))


def mb(size: int) -> str:
    return f"{size / 1e6:,.0f} MB"


def cold_start(command: list[str], env: dict) -> float:
    started = time.monotonic()
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=True,
                         cwd=tempfile.gettempdir())
    line = next(line for line in out.stdout.splitlines() if line.startswith("first-paint "))
    return float(line.split()[1]) - started


def bench_start(app: Path, runs: int) -> None:
    home = tempfile.mkdtemp(prefix="workbench-bench-frozen-")
    env = {**os.environ, "WORKBENCH_HOME": home, "WORKBENCH_NO_DEFAULT_MODEL": "1",
           "WORKBENCH_QUIT_AFTER_FIRST_PAINT": "1"}
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    venv = [str(ROOT / ".venv" / "bin" / "workbench"), "gui"]
    frozen = [str(app / "workbench-gui")]
    cold_start(venv, env), cold_start(frozen, env)  # the first runs create the database and warm the file cache
    venv_times, frozen_times = [], []
    for _ in range(runs):
        venv_times.append(cold_start(venv, env))
        frozen_times.append(cold_start(frozen, env))
    v, f = statistics.median(venv_times), statistics.median(frozen_times)
    print(f"cold start to first paint, median of {runs} ({env.get('QT_QPA_PLATFORM', 'xcb')}):")
    print(f"  venv  `workbench gui`   {v * 1000:6.0f} ms   (reference)")
    print(f"  frozen `workbench-gui`  {f * 1000:6.0f} ms   ratio {f / v:.2f}")


def bench_kit(kit: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="workbench-bench-kit-"))
    try:
        with tarfile.open(kit) as archive:
            archive.extractall(work, filter="data")
        python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        env = {**os.environ, "PYTHON": str(python), "XDG_DATA_HOME": str(work / "share")}
        started = time.monotonic()
        subprocess.run([str(work / "workbench-offline-kit" / "install.sh"), str(work / "venv")], env=env, check=True,
                       capture_output=True, timeout=1800)
        took = time.monotonic() - started
        print(f"offline kit {kit.name}: {mb(kit.stat().st_size)}, installed (no index, fresh venv) in {took:.0f} s,"
              f" {mb(folder_size(work / 'venv'))} installed")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--app", type=Path, default=ROOT / "dist" / "workbench")
    parser.add_argument("--kit", type=Path, default=None)
    args = parser.parse_args()
    total = folder_size(args.app)
    model = total - folder_size(args.app, skip="gemma3_270m")
    print(f"one-folder app {args.app}: {mb(total)} ({mb(total - model)} without the bundled model)")
    bench_start(args.app, args.runs)
    kits = [args.kit] if args.kit else sorted((ROOT / "dist").glob("workbench-offline-kit-*.tar.gz"))
    if kits:
        bench_kit(kits[-1])


if __name__ == "__main__":
    main()
