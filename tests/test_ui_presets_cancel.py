"""The Presets page's long task — a save whose FROM is pulled from the (fake) Hub or imported from a file —
stopped part-way, offscreen on a real Workbench: no preset version, no half-registered model, the status says so;
a stopped pull keeps its partial file and the next save resumes it from there."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.fakehub import FakeHub, fake_hub  # noqa: F401  (fixture)
from tests.ui_helpers import open_page, wait_done

REPO = "alice/tiny-GGUF"


@pytest.fixture
def served(fake_hub: FakeHub, tiny_model_path: Path) -> FakeHub:  # noqa: F811
    fake_hub.add_repo(REPO, {"tiny-Q8_0.gguf": tiny_model_path.read_bytes()})
    return fake_hub


@pytest.fixture
def page(qtbot, wb):
    window, page = open_page(qtbot, wb, "Presets")
    yield page
    window.close()


def _write_big_gguf(path: Path) -> Path:
    """A GGUF of a few MB (several read chunks), so an import reports progress before it ends."""
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("token_embd.weight", np.zeros((1024, 1024), np.float32))  # 4 MiB
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _start_save(page, name: str, text: str):
    assert page.new_preset(name)
    page.editor.set_text(text)
    task = page.save()
    assert task is not None and page.stop_button.isEnabled(), page.status.text()
    return task


def test_a_save_stopped_while_its_from_is_pulled_saves_nothing_and_the_next_save_resumes(qtbot, wb, page, served):
    text = f"FROM hf.co/{REPO}:Q8_0\nPARAMETER temperature 0\n"
    gate = served.pause_at(100_000)
    task = _start_save(page, "pulled", text)
    qtbot.waitUntil(gate.reached.is_set, timeout=30_000)
    with qtbot.waitSignal(task.done, timeout=30_000):
        page.stop_button.click()
        gate.release()
    assert page.status.text().startswith("Not saved: stopped.") and not page.stop_button.isEnabled()
    assert wb.presets.list() == [] and wb.library.list() == []
    (partial,) = wb.hub.pending_downloads()
    assert partial.status == "paused" and partial.bytes_done >= 100_000

    wait_done(qtbot, page.save())  # the same text again: the pull continues where it stopped
    assert page.status.text() == "Saved pulled@1."
    assert served.ranges_seen()[-1] == f"bytes={partial.bytes_done}-"
    assert len(wb.library.list()) == 1 and wb.hub.pending_downloads() == []


def test_a_save_stopped_while_its_from_file_is_imported_registers_nothing(qtbot, wb, page, tmp_path):
    big = _write_big_gguf(tmp_path / "big.gguf")
    task = _start_save(page, "imported", f"FROM {big}\n")
    # stopped from the worker's own thread at its first progress report, so it is part-way for sure
    task.progress.connect(lambda _progress: task.cancel(), Qt.ConnectionType.DirectConnection)
    wait_done(qtbot, task)
    assert page.status.text().startswith("Not saved: stopped.")
    assert wb.presets.list() == [] and wb.library.list() == []
    assert big.exists()  # imported in place: the user's file is untouched
