"""The app shell on real widgets offscreen: library page imports through the TaskRunner, settings persist."""

from __future__ import annotations

from ui.main_window import MainWindow
from workbench.settings import load_settings


def test_library_page_imports_and_verifies_a_model(qtbot, wb, tiny_model_path):
    window = MainWindow(wb)
    qtbot.addWidget(window)
    page = window.show_page("Library")
    task = page.import_path(tiny_model_path)
    with qtbot.waitSignal(task.done, timeout=30000):
        pass
    assert [m.path for m in page.table_model.models] == [tiny_model_path]
    page.table.selectRow(0)
    assert '"architecture": "llama"' in page.details.toPlainText()
    verify = page.verify_selected()
    with qtbot.waitSignal(verify.done, timeout=30000):
        pass
    name = page.selected().name
    assert page.status.text() == f"{name}: {wb.library.verify(name)}"
    window.close()


def test_import_of_a_bad_file_reports_the_problem_in_the_status(qtbot, wb, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf")
    window = MainWindow(wb)
    qtbot.addWidget(window)
    errors = []
    window.show_error = lambda title, message, details="": errors.append((message, details))
    task = window.pages["Library"].import_path(bad)
    with qtbot.waitSignal(task.done, timeout=30000):
        pass
    assert errors and "not a GGUF file" in errors[0][0] and errors[0][1] == ""
    window.close()


def test_settings_page_saves_to_the_settings_file(qtbot, wb):
    window = MainWindow(wb)
    qtbot.addWidget(window)
    page = window.show_page("Settings")
    page.context.setValue(8192)
    page.offline.setChecked(True)
    page.save()
    saved = load_settings(wb.paths.settings_file)
    assert saved.default_context == 8192 and saved.offline
    window.close()
