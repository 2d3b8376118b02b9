"""Attaching images on the Chat page: real widgets offscreen over a real Workbench, the tiny model paired with the
tiny projector. Images go in through the paper-clip's file list, paste and drag and drop; the checks read back
what the core stored."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtWidgets import QApplication, QFileDialog

from tests.tinymodel import write_tiny_model
from tests.tinyvision import tiny_png, write_tiny_projector
from ui.main_window import MainWindow
from workbench.chat.media import Media

TEMPLATE = '"""{{ range .Messages }}<|{{ .Role }}|>{{ .Content }}<|end|>{{ end }}<|assistant|>"""'


@pytest.fixture
def window(qtbot, wb, tiny_model_path, tmp_path: Path):
    tiny = Path(shutil.copy(tiny_model_path, tmp_path / "tiny.gguf"))
    wb.library.import_file(tiny, name="tiny:F32", mmproj=write_tiny_projector(tmp_path / "mmproj.gguf"))
    wb.library.import_file(write_tiny_model(tmp_path / "blind.gguf", seed=1), name="blind:F32")  # no projector
    for name, model in (("seeing", "tiny:F32"), ("blind", "blind:F32")):
        wb.presets.create(name, f"FROM {model}\nTEMPLATE {TEMPLATE}\nPARAMETER num_predict 8\n")
    win = MainWindow(wb)
    qtbot.addWidget(win)
    win.errors = []
    win.show_error = lambda title, message, details="": win.errors.append(message)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


def _png(tmp_path: Path, seed: int) -> Path:
    path = tmp_path / f"picture-{seed}.png"
    path.write_bytes(tiny_png(seed))
    return path


def _drop(widget, mime: QMimeData) -> None:
    """A real drag-enter and drop on the widget's viewport, as a file manager's drag delivers them."""
    target = widget.viewport()
    point = QPoint(5, 5)
    enter = QDragEnterEvent(point, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    drop = QDropEvent(point.toPointF(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, drop)


def test_button_paste_and_drop_attach_and_send_stores_them(qtbot, window, tmp_path: Path, monkeypatch):
    wb, page = window.wb, window.pages["Chat"]
    assert window.open_chat("seeing")
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(_png(tmp_path, 1))], ""))
    qtbot.mouseClick(page.attachments.clip, Qt.MouseButton.LeftButton)
    clipboard = QMimeData()
    clipboard.setImageData(QImage.fromData(tiny_png(2)))
    QGuiApplication.clipboard().setMimeData(clipboard)
    page.input.paste()
    QGuiApplication.clipboard().clear()  # the clipboard owns the data: left there, Qt crashes tearing it down
    files = QMimeData()
    files.setUrls([QUrl.fromLocalFile(str(_png(tmp_path, 3)))])
    _drop(page.input, files)
    assert page.input.toPlainText() == "" and page.attachments.isVisible()
    assert page.attachments.note.text() == ""  # this model sees images
    attached = page.attachments.media()
    assert len(attached) == 3 and attached[0].data == tiny_png(1) and attached[2].data == tiny_png(3)
    assert QImage.fromData(attached[1].data).pixel(4, 4) == QImage.fromData(tiny_png(2)).pixel(4, 4)  # pasted pixels
    page.input.setPlainText("What is in these?")
    with qtbot.waitSignal(page.answer_finished, timeout=60000) as finished:
        qtbot.mouseClick(page.send_button, Qt.MouseButton.LeftButton)
    assert finished.args[0].status == "complete", window.errors
    user = wb.sessions.path(page.session_id)[0]
    assert [r.sha256 for r in user.media] == [m.sha256 for m in attached]
    assert page.attachments.media() == [] and page.attachments.isHidden()
    strip = page.views[user.id].thumbnails
    assert len([c for c in strip.children() if c.metaObject().className() == "QLabel"]) == 3


def test_a_non_image_is_refused_with_the_cores_message(qtbot, window, tmp_path: Path):
    page = window.pages["Chat"]
    notes = tmp_path / "notes.png"
    notes.write_text("meeting notes, not a picture")
    assert page.attachments.add_paths([str(notes), str(_png(tmp_path, 1))]) == 1
    assert len(window.errors) == 1 and "notes.png" in window.errors[0] and "not an image" in window.errors[0]
    assert [m.data for m in page.attachments.media()] == [tiny_png(1)]
    page.attachments.remove(page.attachments.media()[0].sha256)
    assert page.attachments.media() == [] and page.attachments.isHidden()


def test_an_image_for_a_model_without_projector_says_so_and_stores_nothing(qtbot, window, tmp_path: Path):
    wb, page = window.wb, window.pages["Chat"]
    assert window.open_chat("blind")
    page.attachments.add_paths([str(_png(tmp_path, 1))])
    assert "blind:F32 has no projector" in page.attachments.note.text()  # said when attached, before Send
    page.input.setPlainText("What is this?")
    qtbot.mouseClick(page.send_button, Qt.MouseButton.LeftButton)
    assert any("has no projector" in e and "--mmproj" in e for e in window.errors)
    assert wb.sessions.messages(page.session_id) == []
    assert page.input.toPlainText() == "What is this?" and len(page.attachments.media()) == 1  # kept to retry
    assert Media.from_bytes(tiny_png(1)).sha256 == page.attachments.media()[0].sha256


def test_compare_page_sends_an_attached_image_to_every_pane(qtbot, window, tmp_path: Path):
    page = window.show_page("Compare")
    page.panes[0].target.setCurrentText("seeing")
    page.panes[1].target.setCurrentText("blind")
    page.prompt.setPlainText("What is this?")
    assert page.attachments.add_paths([str(_png(tmp_path, 1))]) == 1
    with qtbot.waitSignal(page.compare_finished, timeout=60000) as done:
        page.run_button.click()
    seeing, blind = done.args[0].panes
    assert seeing.error is None and seeing.completion_tokens > 0
    assert "blind:F32 has no projector" in blind.error


def test_add_to_suite_carries_the_attached_image_beside_the_suite(qtbot, window, tmp_path: Path):
    from workbench.evals import load_suite

    suite_file = tmp_path / "suites" / "vision.yaml"
    suite_file.parent.mkdir()
    suite_file.write_text("prompts: ['{{question}}']\ntargets: [seeing]\ntests:\n  - vars: {question: hi}\n")
    page = window.show_page("Compare")
    page.prompt.setPlainText("What is this?")
    page.attachments.add_paths([str(_png(tmp_path, 4))])
    dialog = page.add_to_suite()
    dialog.path.setText(str(suite_file))
    dialog.suite_chosen()
    assert dialog.add() == suite_file
    added = load_suite(suite_file).tests[-1]
    sha = Media.from_bytes(tiny_png(4)).sha256
    assert added.vars == {"question": "What is this?", "image": f"file://image-{sha[:12]}.png"}
    assert (suite_file.parent / f"image-{sha[:12]}.png").read_bytes() == tiny_png(4)
    page.attachments.add_paths([str(_png(tmp_path, 5))])
    second = page.add_to_suite()
    second.path.setText(str(suite_file))
    second.suite_chosen()
    assert second.add() is None and "one image" in second.message.text()


def test_library_page_pairs_a_projector_and_shows_what_the_model_takes(qtbot, wb, tiny_model_path, tmp_path: Path):
    from tests.projector_samples import write_projector
    from tests.ui_helpers import open_page, wait_done

    window, page = open_page(qtbot, wb, "Library")
    errors = []
    window.show_error = lambda title, message, details="": errors.append(message)
    wait_done(qtbot, page.import_path(tiny_model_path, copy=False))
    name = wb.library.list()[0].name
    wait_done(qtbot, page.pair_projector(name, Path(shutil.copy(tiny_model_path, tmp_path / "text-model.gguf"))))
    assert errors and "is not a projector" in errors[0] and wb.library.get(name).projector_path is None
    wait_done(qtbot, page.pair_projector(name, write_projector(tmp_path / "mmproj.gguf", audio=True)))
    assert page.status.text() == f"{name} now takes vision,audio"
    page.table.selectRow(0)
    assert page.detail("input") == "text / vision / audio"
    window.close()


def test_the_bundle_dialog_carries_a_chat_session(qtbot, wb, tiny_model_path, tmp_path: Path):
    from PySide6.QtCore import Qt as QtFlags

    from tests.ui_helpers import open_page, wait_done
    from ui.widgets.bundle_dialog import BundleExportDialog
    from workbench.app import Workbench
    from workbench.paths import Paths

    wb.library.import_file(tiny_model_path, name="tiny:F32")
    session = wb.sessions.create(model_name="tiny:F32", title="about a picture")
    wb.sessions.add_message(session.id, None, "user", "what is this?", images=[tiny_png(1)])
    window, page = open_page(qtbot, wb, "Library")
    dialog = BundleExportDialog(page, wb)
    qtbot.addWidget(dialog)
    dialog.session_list.item(0).setCheckState(QtFlags.CheckState.Checked)
    assert dialog.sessions() == [session.id]
    assert dialog.summary.text().startswith("1 model(s), 0 preset(s), 1 session(s)")  # it brings its model
    path = tmp_path / "chat.wbundle"
    wait_done(qtbot, page.export_bundle(path, dialog.models(), dialog.presets(), sessions=dialog.sessions()))
    root = tmp_path / "airgapped"
    with Workbench(Paths(data=root / "data", config=root / "config", cache=root / "cache", logs=root / "logs")) as far:
        far_window, far_page = open_page(qtbot, far, "Library")
        wait_done(qtbot, far_page.import_bundle(path))
        assert far_page.status.text() == "Imported from chat.wbundle: tiny:F32, session about a picture"
        [here] = far.sessions.list()
        assert far.sessions.images(far.sessions.messages(here.id)[0])[0].data == tiny_png(1)
        far_window.close()
    window.close()
