"""The app's first start: the bundled model is prepared in the background, then a notice says it is a tiny base
model for trying things out and points to the Hub page (real window offscreen, real gemma file)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.ui_helpers import wait_done
from ui.main_window import MainWindow
from workbench.library.bundled import DISABLE_ENV


def started_window(qtbot, wb) -> MainWindow:
    window = MainWindow(wb)
    qtbot.addWidget(window)
    window.show()
    wait_done(qtbot, window.start_background_setup(), timeout=300_000)
    return window


@pytest.mark.gemma
def test_the_first_start_notice_says_tiny_base_model_and_points_to_the_hub(qtbot, wb, monkeypatch, gemma_model_path):
    monkeypatch.delenv(DISABLE_ENV)
    wb.library.import_file(gemma_model_path, name="gemma-3-270m:Q4_K_M")  # the bytes are in; no preset yet
    window = started_window(qtbot, wb)
    assert wb.presets.exists("default")
    notice = window.notice
    assert notice.isVisible()
    text = notice.text.text()
    assert "tiny <i>base</i> model for trying things out" in text and "<b>Hub</b> page" in text
    qtbot.mouseClick(notice.hub_button, Qt.MouseButton.LeftButton)
    assert window.current_page().name == "Hub" and not notice.isVisible()

    again = started_window(qtbot, wb)  # a later start has nothing to prepare: no notice
    assert not again.notice.isVisible()
