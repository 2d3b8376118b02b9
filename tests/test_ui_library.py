"""The Library page on real widgets over a real Workbench: import (button path and drag and drop), the details
panel with every GGUF metadata key and the chat template, verify, remove, and a bad file reported plainly."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from tests.ui_helpers import open_page, wait_done
from workbench.gguf_info import read_gguf_header


def test_import_shows_the_model_with_all_its_metadata_and_template(qtbot, wb, tiny_model_path):
    window, page = open_page(qtbot, wb, "Library")
    wait_done(qtbot, page.import_path(tiny_model_path))
    (model,) = page.table_model.models
    assert model.path == tiny_model_path and page.status.text() == f"Imported {model.name}"
    row = [page.table_model.index(0, c).data() for c in range(8)]
    assert row[:2] == [model.name, "llama"] and row[3] == model.quantization and row[5] == "4,096"
    assert row[6] == "in place"
    page.table.selectRow(0)
    header = read_gguf_header(tiny_model_path)
    assert page.detail("architecture") == "llama" and page.detail("sha256") == model.sha256
    for key in header.metadata:  # every GGUF key is listed
        assert page.detail(key) is not None, key
    assert page.detail("tokenizer.ggml.tokens").startswith("[string × 263] ")
    assert page.template.toPlainText() == header.metadata["tokenizer.chat_template"]
    window.close()


@pytest.mark.filterwarnings("ignore:Function.*QDragEnterEvent:DeprecationWarning")  # its only constructor
def test_dropping_gguf_files_imports_them_and_ignores_other_files(qtbot, wb, tiny_model_path, tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("not a model")
    copy = tmp_path / "second.gguf"
    shutil.copyfile(tiny_model_path, copy)
    window, page = open_page(qtbot, wb, "Library")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(other)), QUrl.fromLocalFile(str(copy))])
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    page.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    page.dropEvent(drop)
    qtbot.waitUntil(lambda: len(page.table_model.models) == 1, timeout=30000)
    assert page.table_model.models[0].path == copy
    window.close()


def test_verify_reports_ok_then_changed(qtbot, wb, tiny_model_path, tmp_path):
    mine = tmp_path / "mine.gguf"
    shutil.copyfile(tiny_model_path, mine)
    window, page = open_page(qtbot, wb, "Library")
    wait_done(qtbot, page.import_path(mine))
    page.table.selectRow(0)
    name = page.selected().name
    wait_done(qtbot, page.verify_selected())
    assert page.status.text() == f"{name}: ok (the file matches its sha256)"
    data = bytearray(mine.read_bytes())
    data[-1] ^= 0xFF
    mine.write_bytes(bytes(data))
    wait_done(qtbot, page.verify_selected())
    assert page.status.text() == f"{name}: {mine} changed"
    window.close()


def test_remove_unregisters_and_keeps_an_in_place_file(qtbot, wb, tiny_model_path):
    window, page = open_page(qtbot, wb, "Library")
    wait_done(qtbot, page.import_path(tiny_model_path))
    name = page.table_model.models[0].name
    page.remove_model(name)
    assert page.table_model.models == [] and wb.library.list() == [] and tiny_model_path.exists()
    assert page.status.text() == f"Removed {name}"
    window.close()


def test_import_of_a_bad_file_reports_the_problem_plainly(qtbot, wb, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf")
    window, page = open_page(qtbot, wb, "Library")
    errors = []
    window.show_error = lambda title, message, details="": errors.append((message, details))
    wait_done(qtbot, page.import_path(bad))
    assert errors and "not a GGUF file" in errors[0][0] and errors[0][1] == ""  # a user error: no traceback
    assert wb.library.list() == []
    window.close()
