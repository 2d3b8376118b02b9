"""The Library page on real widgets over a real Workbench: import (button path and drag and drop), the details
panel with every GGUF metadata key and the chat template, verify, remove, and a bad file reported plainly."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from tests.ui_helpers import open_page, wait_done
from workbench.gguf.info import read_gguf_header
from workbench.library import facts


def test_import_shows_the_model_with_all_its_metadata_and_template(qtbot, wb, tiny_model_path):
    window, page = open_page(qtbot, wb, "Library")
    wait_done(qtbot, page.import_path(tiny_model_path))
    (model,) = page.table_model.models
    assert model.path == tiny_model_path and page.status.text() == f"Imported {model.name}"
    row = [page.table_model.index(0, c).data() for c in range(8)]
    assert row[:2] == [model.name, "llama"] and row[3] == model.quantization and row[5] == "4,096"
    assert row[6] == "in place" and tuple(row) == facts.summary_row(model)  # the CLI's `list` row too
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


def test_a_bundle_exported_from_the_page_imports_on_another_machines_page(qtbot, wb, tiny_model_path, tmp_path,
                                                                          monkeypatch):
    """Export bundle… (the dialog's ticks and size, then the export task) and Import bundle… on a second data dir
    with the network off: the model and the preset with its history arrive, a second import changes nothing."""
    from ui.widgets.bundle_dialog import BundleExportDialog
    from workbench.app import Workbench
    from workbench.paths import Paths

    wb.library.import_file(tiny_model_path, name="tiny:F32")
    wb.presets.create("helper", "FROM tiny:F32\nPARAMETER temperature 0.2\n", message="first")
    wb.presets.save("helper", "FROM tiny:F32\nPARAMETER temperature 0.7\n", message="warmer")
    window, page = open_page(qtbot, wb, "Library")
    dialog = BundleExportDialog(page, wb)
    qtbot.addWidget(dialog)
    ok = dialog.buttons.buttons()[0]
    assert not ok.isEnabled() and "at least one" in dialog.summary.text()  # nothing ticked yet
    dialog.preset_list.item(0).setCheckState(Qt.CheckState.Checked)
    assert ok.isEnabled() and dialog.presets() == ["helper"] and dialog.models() == []
    assert dialog.summary.text().startswith("1 model(s), 1 preset(s)")  # the preset brings its model
    path = tmp_path / "carry.wbundle"
    wait_done(qtbot, page.export_bundle(path, dialog.models(), dialog.presets()))
    assert path.is_file() and page.status.text().startswith("Bundle carry.wbundle written: 1 model(s), 1 preset(s)")

    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    root = tmp_path / "airgapped"
    with Workbench(Paths(data=root / "data", config=root / "config", cache=root / "cache", logs=root / "logs")) as far:
        far_window, far_page = open_page(qtbot, far, "Library")
        wait_done(qtbot, far_page.import_bundle(path))
        assert far_page.status.text() == "Imported from carry.wbundle: tiny:F32, helper"
        assert [m.name for m in far_page.table_model.models] == ["tiny:F32"]
        assert [v.message for v in far.presets.history("helper")] == ["warmer", "first"]
        presets_page = far_window.pages["Presets"]
        assert [presets_page.presets.item(i).text() for i in range(presets_page.presets.count())] == ["helper  (v2)"]
        wait_done(qtbot, far_page.import_bundle(path))
        assert far_page.status.text() == "carry.wbundle: everything in it is here already"
        far_window.close()
    window.close()
