"""The app's file dialogs driven as a person would (Qt's own, non-native dialogs, offscreen): import a model,
export a bundle, import it elsewhere, cancel a dialog; and the Library page's long tasks cancelled part-way leave
nothing half-done (the other pages' Stop buttons are tested with their pages)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QLineEdit

from tests.serve_support import open_workbench
from tests.ui_helpers import open_page, wait_done


@pytest.fixture(autouse=True)
def qt_dialogs(qapp):
    """Qt's own dialogs, which a test can reach (a native one lives outside Qt)."""
    qapp.setAttribute(Qt.ApplicationAttribute.AA_DontUseNativeDialogs, True)
    yield
    qapp.setAttribute(Qt.ApplicationAttribute.AA_DontUseNativeDialogs, False)


def answer_dialogs(*steps: Callable[[QDialog], None]) -> QTimer:
    """Answer the next modal dialogs in turn, each by its step, as they open (a timer polls the event loop the
    dialogs run)."""
    pending, seen = list(steps), []  # the dialogs themselves: an id() could be reused by the next one
    timer = QTimer(interval=20)

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None or any(dialog is d for d in seen) or not pending:
            return
        seen.append(dialog)
        pending.pop(0)(dialog)
        if not pending:
            timer.stop()
    timer.timeout.connect(poll)
    timer.start()
    return timer


def choose(path: Path) -> Callable[[QDialog], None]:
    def step(dialog: QDialog) -> None:
        assert isinstance(dialog, QFileDialog), dialog  # Qt's own dialog widget: a native one is never seen here
        dialog.findChild(QLineEdit, "fileNameEdit").setText(str(path))  # typed, as a person would
        dialog.accept()
    return step


def accept(dialog: QDialog) -> None:
    dialog.accept()


def reject(dialog: QDialog) -> None:
    dialog.reject()


def test_import_through_the_file_dialog(qtbot, wb, tiny_model_path):
    _window, page = open_page(qtbot, wb, "Library")
    timer = answer_dialogs(choose(tiny_model_path))
    page.choose_import()
    assert not timer.isActive()  # the dialog was answered
    qtbot.waitUntil(lambda: [m.name for m in wb.library.list()] == ["tiny-llama:F32"], timeout=30_000)
    answer_dialogs(reject)
    page.choose_import()  # cancelled: nothing happens
    assert len(wb.library.list()) == 1


def test_a_bundle_exported_and_imported_through_the_dialogs(qtbot, wb, tiny_model_path, tmp_path):
    wb.library.import_file(tiny_model_path, name="tiny:F32")
    wb.presets.create("helper", "FROM tiny:F32\nSYSTEM Be brief.\n")
    _window, page = open_page(qtbot, wb, "Library")
    page.refresh()
    page.table.selectRow(0)
    out = tmp_path / "carry.wbundle"
    answer_dialogs(reject)
    page.choose_export_bundle()  # the bundle dialog cancelled: no file dialog, no file
    assert not out.exists()
    answer_dialogs(accept, choose(out))  # the bundle dialog (the selected model ticked), then where to save
    page.choose_export_bundle()
    qtbot.waitUntil(lambda: "written" in page.status.text(), timeout=30_000)
    assert out.stat().st_size > tiny_model_path.stat().st_size

    elsewhere = open_workbench(tmp_path / "air-gapped")
    try:
        _, other = open_page(qtbot, elsewhere, "Library")
        answer_dialogs(choose(out))
        other.choose_import_bundle()
        qtbot.waitUntil(lambda: "Imported from carry.wbundle" in other.status.text(), timeout=30_000)
        assert [m.name for m in elsewhere.library.list()] == ["tiny:F32"]
    finally:
        elsewhere.close()


def cancelled_at_first_progress(qtbot, task) -> None:
    task.progress.connect(lambda _p: task.cancel())
    wait_done(qtbot, task, timeout=120_000)


@pytest.mark.gemma  # a file big enough to be cancelled part-way
def test_library_tasks_cancelled_part_way_leave_nothing_half_done(qtbot, wb, gemma_model_path, tmp_path):
    _window, page = open_page(qtbot, wb, "Library")
    cancelled_at_first_progress(qtbot, page.import_path(gemma_model_path, copy=True))
    assert wb.library.list() == [] and list(wb.paths.blobs.iterdir()) == []  # no record, no partial copy

    wb.library.import_file(gemma_model_path, name="gemma:Q4_K_M")
    out = tmp_path / "gemma.wbundle"
    cancelled_at_first_progress(qtbot, page.export_bundle(out, ["gemma:Q4_K_M"], []))
    assert list(tmp_path.glob("gemma.wbundle*")) == []  # no bundle, no partial one
    page.export_bundle(out, ["gemma:Q4_K_M"], [])
    qtbot.waitUntil(lambda: out.exists(), timeout=120_000)

    elsewhere = open_workbench(tmp_path / "air-gapped")
    try:
        _, other = open_page(qtbot, elsewhere, "Library")
        cancelled_at_first_progress(qtbot, other.import_bundle(out))
        assert elsewhere.library.list() == [] and list(elsewhere.paths.blobs.iterdir()) == []
    finally:
        elsewhere.close()
