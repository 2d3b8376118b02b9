"""The polish a new user sees, on real widgets offscreen with the tiny model: sessions named after their first
question, the empty state, Markdown code blocks in monospace with a working Copy link, the app icon, the style
sheets per theme, and files opened with the app (`workbench gui FILE`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QSize, Qt
from PySide6.QtGui import QFontInfo, QGuiApplication, QTextCursor
from PySide6.QtWidgets import QApplication
from workbench.resources import ICON_SIZES

from ui.file_handoff import FileHandoff
from ui.main import acquire_instance_lock
from ui.main_window import MainWindow
from ui.theme import apply_theme, style_for
from ui.widgets.chat_message import MarkdownView
from ui.widgets.open_file_dialog import OpenFileDialog
from workbench.bundle.service import export_bundle
from workbench.chat.titles import title_from_question

TEMPLATE = '"""{{ range .Messages }}<|{{ .Role }}|>{{ .Content }}<|end|>{{ end }}<|assistant|>"""'


@pytest.fixture
def window(qtbot, wb, tiny_model_path):
    wb.library.import_file(tiny_model_path, name="tiny:F32")
    wb.presets.create("short", f"FROM tiny:F32\nTEMPLATE {TEMPLATE}\nPARAMETER num_predict 4\n")
    win = MainWindow(wb)
    qtbot.addWidget(win)
    win.errors = []
    win.show_error = lambda title, message, details="": win.errors.append(message)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
    apply_theme("system")


def _send(qtbot, page, text: str):
    page.input.setPlainText(text)
    with qtbot.waitSignal(page.answer_finished, timeout=60000) as done:
        page.send_button.click()
    return done.args[0]


def test_title_from_question_takes_the_first_line_and_cuts_at_a_word():
    assert title_from_question("\n  What is   a GGUF file?\nMore detail") == "What is a GGUF file?"
    long = "Explain how the batching scheduler shares one model between many clients at once please"
    title = title_from_question(long)
    assert title.endswith("…") and len(title) <= 61 and long.startswith(title[:-1])
    assert " " not in title[-2:]  # cut between words, not inside one


def test_a_session_is_named_after_its_first_question_and_keeps_a_given_name(qtbot, window):
    wb, page = window.wb, window.pages["Chat"]
    page.open_preset("short@1")
    assert wb.sessions.get(page.session_id).title == "short@1"
    _send(qtbot, page, "How do quantizations differ?")
    assert wb.sessions.get(page.session_id).title == "How do quantizations differ?"
    assert page.sessions.item(0).text().startswith("How do quantizations differ?")
    _send(qtbot, page, "And the second question?")
    assert wb.sessions.get(page.session_id).title == "How do quantizations differ?"  # only the first names it
    page.open_preset("short@1")
    page.rename_session("My own name")
    _send(qtbot, page, "Does this rename it?")
    assert wb.sessions.get(page.session_id).title == "My own name"


def test_the_empty_state_says_what_to_do_and_goes_away_with_the_first_message(qtbot, window):
    page = window.pages["Chat"]
    assert page.empty_state.isVisible() and "Ctrl+Enter" in page.empty_state.body.text()
    page.empty_state.link_activated.emit("Hub")
    assert window.current_page() is window.pages["Hub"]
    window.show_page("Chat")
    page.open_preset("short@1")
    assert page.empty_state.isVisible()  # a new session has no message yet
    _send(qtbot, page, "Hello")
    assert not page.empty_state.isVisible()
    window.wb.library.remove("tiny:F32")
    page.delete_session()
    window.library_changed()
    assert page.empty_state.isVisible() and "no model in the library" in page.empty_state.body.text()


def test_code_blocks_are_monospace_and_copy_puts_the_code_on_the_clipboard(qtbot):
    view = MarkdownView()
    qtbot.addWidget(view)
    view.resize(600, 300)
    code = 'def greet(name):\n    return f"<b>{name}</b> & more"'
    view.show_markdown(f"Here it is:\n\n```python\n{code}\n```\n\nand `inline` too.")
    view.show()
    qtbot.waitExposed(view)
    found = view.document().find("greet")
    assert QFontInfo(found.charFormat().font()).fixedPitch()
    prose = view.document().find("Here")
    assert not QFontInfo(prose.charFormat().font()).fixedPitch()
    QGuiApplication.clipboard().clear()
    link = view.document().find("Copy")
    start = QTextCursor(view.document())
    start.setPosition(link.selectionStart() + 1)
    point = view.cursorRect(start).center() + QPoint(2, 0)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    qtbot.waitUntil(lambda: QGuiApplication.clipboard().text() == code, timeout=5000)


def test_the_window_carries_the_app_icon_in_every_size(qtbot, window):
    sizes = window.windowIcon().availableSizes()
    assert all(QSize(size, size) in sizes for size in ICON_SIZES)


def _message_background_lightness(qtbot, page) -> int:
    view = next(v for v in page.views.values() if v.message.role == "assistant")
    image = view.grab().toImage()
    return image.pixelColor(image.width() - 6, image.height() // 2).lightness()


def test_light_and_dark_style_sheets_colour_the_transcript(qtbot, window):
    page = window.pages["Chat"]
    page.open_preset("short@1")
    _send(qtbot, page, "Hi")
    apply_theme("dark")
    qtbot.waitUntil(lambda: _message_background_lightness(qtbot, page) < 80)
    apply_theme("light")
    qtbot.waitUntil(lambda: _message_background_lightness(qtbot, page) > 200)
    assert "#eaf0fd" in QApplication.instance().styleSheet()  # light.qss after base.qss


def test_the_platform_style_stays_unless_it_ignores_palettes():
    assert style_for("dark", "macOS") == "macOS" and style_for("light", "windows11") == "windows11"
    assert style_for("dark", "windowsvista") == "Fusion" and style_for("system", "windowsvista") == "windowsvista"


def test_opening_a_gguf_offers_to_import_it(qtbot, window, tiny_model_path, tmp_path):
    model = shutil.copy(tiny_model_path, tmp_path / "opened-model.gguf")
    window.wb.library.remove("tiny:F32")
    dialog = window.open_file(model)
    assert dialog.isVisible() and "opened-model.gguf" in dialog.summary.text()
    dialog.import_button.click()
    assert window.current_page() is window.pages["Library"]
    qtbot.waitUntil(lambda: len(window.wb.library.list()) == 1, timeout=30000)
    assert not window.errors


def test_opening_a_bundle_shows_its_contents_and_imports_it(qtbot, window, tmp_path):
    bundle = tmp_path / "models.wbundle"
    export_bundle(window.wb, bundle, models=["tiny:F32"])
    window.wb.library.remove("tiny:F32")
    dialog = window.open_file(bundle)
    assert "tiny:F32" in dialog.summary.text() and not dialog.copy_box.isVisible()
    dialog.import_button.click()
    qtbot.waitUntil(lambda: "tiny:F32" in [m.name for m in window.wb.library.list()], timeout=30000)


def test_opening_a_damaged_bundle_says_why(qtbot, window, tmp_path):
    bundle = tmp_path / "broken.wbundle"
    bundle.write_bytes(b"not a bundle")
    assert window.open_file(bundle) is None
    assert window.errors and "broken.wbundle" in window.errors[0]


def test_a_second_start_with_a_file_hands_it_to_the_running_window(qtbot, window, tiny_model_path, tmp_path):
    """What a double-click on a .gguf does while the app runs: `workbench gui FILE` finds the data folder locked,
    sends FILE over the local socket and exits 0; the running window offers the import."""
    paths = window.wb.paths
    lock = acquire_instance_lock(paths)  # this process is "the running app"
    handoff = FileHandoff(paths.data, window)
    received = []
    handoff.file_received.connect(received.append)
    handoff.file_received.connect(window.open_file)
    model = shutil.copy(tiny_model_path, tmp_path / "double-clicked.gguf")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    second = subprocess.Popen([str(Path(sys.executable).with_name("workbench")), "gui", str(model)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    qtbot.waitUntil(lambda: bool(received), timeout=60000)
    _out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert received == [Path(model)]
    dialog = window.findChild(OpenFileDialog)
    assert dialog is not None and dialog.isVisible() and "double-clicked.gguf" in dialog.summary.text()
    lock.unlock()
