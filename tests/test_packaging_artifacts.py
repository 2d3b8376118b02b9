"""The installable artefacts, built for real and run the way a user would (opt-in: each takes minutes).

`pytest -m frozen_app`: builds the one-folder app with packaging/build-linux.sh (or reuses the build cached
under ~/.cache/workbench-tests for the same sources) and runs it from another folder with a clean environment:
`version`, `list`, a one-shot answer from the bundled model, the GUI under Xvfb showing its window and closing
on SIGTERM, and its startup check with no display.

`pytest -m offline_kit`: builds the offline kit with packaging/offline-kit.sh --model (cached the same way) and
installs it into a fresh venv inside a network namespace with no interfaces (`unshare -rn`), then runs
`workbench list`, a one-shot answer and `bundle import` there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from workbench.bundle.service import export_bundle

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("WORKBENCH_TEST_CACHE") or Path.home() / ".cache" / "workbench-tests")
QUESTION = "What is the capital of France?"


def sources_key() -> str:
    """A hash of everything a build is made from: a changed source means a new build."""
    digest = hashlib.sha256(sys.version.encode())
    for folder in ("workbench", "ui", "resources", "packaging"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    for name in ("pyproject.toml", "setup.py"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()[:16]


def fresh_cache_entry(prefix: str) -> Path:
    """This source state's cache folder; builds of earlier states are removed (each is hundreds of MB)."""
    target = CACHE / f"{prefix}-{sources_key()}"
    for old in CACHE.glob(f"{prefix}-*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    return target


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No venv, no PYTHONPATH, no project folder: only what any desktop session has, and a fresh data folder."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
            "WORKBENCH_HOME": str(tmp_path / "data"), **extra}


def run(args: list, env: dict, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-4000:])
    return result


# -- the one-folder app ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def frozen_app() -> Path:
    target = fresh_cache_entry("frozen")
    if not (target / "workbench" / "workbench").is_file():
        subprocess.run([ROOT / "packaging" / "build-linux.sh"], check=True, timeout=3600,
                       env={**os.environ, "WORKBENCH_DIST": str(target)})
    return target / "workbench"


@pytest.mark.frozen_app
@pytest.mark.timeout(1800)  # the first test builds the app (minutes on 2 cores)
def test_the_frozen_cli_lists_and_answers_from_another_folder(frozen_app, tmp_path):
    env = clean_env(tmp_path)
    assert run([frozen_app / "workbench", "--version"], env, tmp_path).stdout.startswith("workbench ")
    assert "gemma-3-270m:Q4_K_M" in run([frozen_app / "workbench", "list"], env, tmp_path).stdout
    answer = run([frozen_app / "workbench", "run", "default", QUESTION], env, tmp_path).stdout
    assert "Paris" in answer
    env["XDG_DATA_HOME"] = str(tmp_path / "share")  # the menu entry starts this app's own executable
    run([frozen_app / "workbench", "desktop-install"], env, tmp_path)
    entry = (tmp_path / "share" / "applications" / "workbench.desktop").read_text()
    assert f"Exec={frozen_app / 'workbench'} gui %f" in entry


def _start_xvfb() -> tuple[subprocess.Popen, str]:
    """Xvfb on a free display; it writes the display number to a pipe once it accepts clients."""
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x800x24", "-nolisten",
                             "tcp"], pass_fds=[write_end], stderr=subprocess.DEVNULL)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        number = pipe.readline().strip()
    assert number, "Xvfb did not start"
    return xvfb, f":{number}"


def _wait_for_line(path: Path, text: str, process: subprocess.Popen, seconds: float) -> bool:
    """Wait until `text` appears in the log file at `path` (or the process ends, or time runs out)."""
    ticker = threading.Event()
    for _ in range(int(seconds * 10)):
        if path.is_file() and text in path.read_text(errors="replace"):
            return True
        if process.poll() is not None:
            return False
        ticker.wait(0.1)
    return False


@pytest.mark.frozen_app
@pytest.mark.timeout(1800)  # the first test builds the app (minutes on 2 cores)
def test_the_frozen_gui_shows_its_window_under_xvfb_and_closes_on_sigterm(frozen_app, tmp_path):
    xvfb, display = _start_xvfb()
    try:
        env = clean_env(tmp_path, DISPLAY=display, WORKBENCH_NO_DEFAULT_MODEL="1")
        gui = subprocess.Popen([frozen_app / "workbench-gui"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        shown = _wait_for_line(tmp_path / "data" / "logs" / "workbench.log", "window shown", gui, 120)
        gui.send_signal(signal.SIGTERM)
        _out, err = gui.communicate(timeout=60)
        assert shown, err[-4000:]
        assert gui.returncode == 0, err[-4000:]
    finally:
        xvfb.terminate()
        xvfb.wait(30)


@pytest.mark.frozen_app
@pytest.mark.timeout(1800)  # the first test builds the app (minutes on 2 cores)
def test_the_frozen_gui_without_a_display_names_the_problem(frozen_app, tmp_path):
    result = subprocess.run([frozen_app / "workbench-gui"], env=clean_env(tmp_path), cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "xvfb-run" in result.stderr


# -- the offline kit ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def offline_kit() -> Path:
    target = fresh_cache_entry("kit")
    kits = sorted(target.glob("workbench-offline-kit-*.tar.gz"))
    if not kits:
        subprocess.run([ROOT / "packaging" / "offline-kit.sh", "--model"], check=True, timeout=3600,
                       env={**os.environ, "WORKBENCH_DIST": str(target)})
        kits = sorted(target.glob("workbench-offline-kit-*.tar.gz"))
    return kits[-1]


@pytest.mark.offline_kit
@pytest.mark.timeout(1800)  # builds the kit (downloads wheels once)
def test_the_offline_kit_installs_and_runs_with_the_network_gone(offline_kit, tmp_path, wb, tiny_model_path):
    wb.library.import_file(tiny_model_path, name="tiny:F32")
    bundle = tmp_path / "tiny.wbundle"
    export_bundle(wb, bundle, models=["tiny:F32"])
    with tarfile.open(offline_kit) as kit:
        kit.extractall(tmp_path, filter="data")
    target = tmp_path / "installed"
    bin_dir = target / "bin"
    script = f"""set -e
python3 -c 'import socket; socket.create_connection(("1.1.1.1", 443), timeout=3)' 2>/dev/null && exit 99
{tmp_path}/workbench-offline-kit/install.sh {target}
echo "== list"; {bin_dir}/workbench list
echo "== run"; {bin_dir}/workbench run default "{QUESTION}"
echo "== import"; {bin_dir}/workbench bundle import {bundle}
echo "== after"; {bin_dir}/workbench list
"""
    python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    env = clean_env(tmp_path, PYTHON=str(python), XDG_DATA_HOME=str(tmp_path / "share"))
    result = subprocess.run(["unshare", "-rn", "bash", "-c", script], env=env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=1800)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    listed, answer, imported, after = (part for part in result.stdout.split("== ")[1:])
    assert "gemma-3-270m:Q4_K_M" in listed
    assert "Paris" in answer
    assert "tiny:F32" in imported and "tiny:F32" in after
    entry = (tmp_path / "share" / "applications" / "workbench.desktop").read_text()  # install.sh added it
    assert f"Exec={bin_dir / 'workbench'} gui %f" in entry
