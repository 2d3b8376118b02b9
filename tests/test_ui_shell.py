"""The app shell on real widgets offscreen: page order, shortcuts, status bar, theme, settings, window state."""

from __future__ import annotations

import socket
import sys

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from ui.main_window import MainWindow
from ui.pages import PAGES, Page
from workbench.app import Workbench
from workbench.paths import default_paths
from workbench.settings import load_settings


def open_window(qtbot, wb) -> MainWindow:
    window = MainWindow(wb)
    qtbot.addWidget(window)
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    return window


def test_pages_come_in_the_documented_order(qtbot, wb):
    window = open_window(qtbot, wb)
    expected = ["Chat", "Library", "Hub", "Presets", "Compare", "Evals", "Server", "Settings"]  # the README's order
    assert [page.name for page in PAGES] == list(window.pages) == expected
    assert [window.nav.item(i).text() for i in range(window.nav.count())] == expected
    assert all(isinstance(page, Page) for page in window.pages.values())
    window.close()


def test_ctrl_number_switches_pages_and_ctrl_f_focuses_the_page_search(qtbot, wb):
    window = open_window(qtbot, wb)
    names = list(window.pages)
    hub_key = Qt.Key(Qt.Key.Key_1 + names.index("Hub"))
    qtbot.keyClick(window, hub_key, Qt.KeyboardModifier.ControlModifier)
    assert window.current_page() is window.pages["Hub"]
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.pages["Hub"].query.hasFocus())
    window.close()


def test_status_bar_reports_without_loading_llama_cpp(qtbot, wb):
    window = open_window(qtbot, wb)
    window.update_status()
    assert "runtime" not in wb.__dict__
    assert window.status_models.text() == "Loaded: none"
    assert window.status_endpoint.text() == "Endpoint: off"
    assert window.status_memory.text().startswith("Memory: app ")

    class Endpoint:  # what the Server page assigns: anything with a .url
        url = "http://127.0.0.1:11434"

    window.endpoint = Endpoint()
    window.update_status()
    assert window.status_endpoint.text() == "Endpoint: http://127.0.0.1:11434"
    window.close()


def test_status_bar_shows_a_loaded_model_and_its_backend(qtbot, wb, tiny_model_path):
    model = wb.library.import_file(tiny_model_path)
    window = open_window(qtbot, wb)
    wb.runtime.acquire(model)
    window.update_status()
    assert window.status_models.text() == f"Loaded: {model.name}"
    assert window.status_backend.text() == f"Backend: {wb.runtime.backend_info().backend}"
    assert "models " in window.status_memory.text()
    window.close()


def test_settings_page_saves_to_the_settings_file(qtbot, wb, tmp_path):
    window = open_window(qtbot, wb)
    page = window.show_page("Settings")
    page.context.setValue(8192)
    page.offline.setChecked(True)
    page.models_dir.setText(str(tmp_path))
    page.save()
    saved = load_settings(wb.paths.settings_file)
    assert saved.default_context == 8192 and saved.offline and saved.models_dir == str(tmp_path)
    window.close()


def test_a_missing_models_folder_is_refused_and_nothing_is_saved(qtbot, wb, tmp_path):
    window = open_window(qtbot, wb)
    page = window.show_page("Settings")
    page.context.setValue(2048)
    page.models_dir.setText(str(tmp_path / "nope"))
    page.save()
    assert "does not exist" in page.saved.text()
    assert not wb.paths.settings_file.exists() and wb.settings.default_context != 2048
    window.close()


def test_theme_applies_live_and_persists(qtbot, wb):
    app = QApplication.instance()
    window = open_window(qtbot, wb)
    page = window.show_page("Settings")
    try:
        page.theme.setCurrentText("dark")
        assert app.palette().color(QPalette.ColorRole.Window).lightness() < 128
        page.save()
        assert load_settings(wb.paths.settings_file).theme == "dark"
        page.theme.setCurrentText("light")
        assert app.palette().color(QPalette.ColorRole.Window).lightness() > 128
    finally:
        page.theme.setCurrentText("system")
        window.close()


def test_window_state_is_restored_from_the_data_folder(qtbot, wb):
    window = open_window(qtbot, wb)
    window.show_page("Presets")
    window.close()
    again = open_window(qtbot, wb)
    assert again.current_page() is again.pages["Presets"]
    again.close()


def test_importing_the_core_does_not_load_qt_and_the_gui_command_exists():
    import subprocess

    code = ("import sys; from workbench.cli import main, register_commands; register_commands(); "
            "from workbench.cli.common import app; "
            "names = [c.name for c in app.registered_commands]; "
            "assert 'gui' in names, names; assert 'PySide6' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_every_setting_round_trips_through_the_page(qtbot, wb):
    window = open_window(qtbot, wb)
    page = window.show_page("Settings")
    page.threads.setValue(3)
    page.gpu_layers.setValue(0)
    page.keep_alive.setValue(-1)
    page.slots.setValue(2)
    page.reproducible.setChecked(False)
    page.save()
    saved = load_settings(wb.paths.settings_file)
    assert (saved.threads, saved.gpu_layers, saved.keep_alive_seconds, saved.parallel_slots, saved.reproducible) \
        == (3, 0, -1, 2, False)
    window.close()
    again = open_window(qtbot, wb)  # a new window shows what was saved
    fresh = again.pages["Settings"]
    assert (fresh.threads.value(), fresh.gpu_layers.value(), fresh.keep_alive.value(), fresh.slots.value()) \
        == (3, 0, -1, 2)
    assert not fresh.reproducible.isChecked()
    again.close()


def test_unexpected_errors_show_details_and_the_log_file(qtbot, wb):
    window = MainWindow(wb, log_file="/tmp/wb.log")
    qtbot.addWidget(window)
    from ui.errors import show_error

    plain = show_error(window, "Import", "x.gguf is not a GGUF file")
    assert plain.detailedText() == "" and plain.informativeText() == ""
    bug = show_error(window, "Oops", "KeyError: 'x'", "Traceback …", window.log_file)
    assert bug.detailedText() == "Traceback …" and "/tmp/wb.log" in bug.informativeText()
    plain.close()
    bug.close()
    window.close()


def test_one_instance_per_data_folder_and_a_stale_lock_is_taken_over(wb):
    from ui.main import acquire_instance_lock

    first = acquire_instance_lock(wb.paths)
    assert first is not None
    assert acquire_instance_lock(wb.paths) is None  # a second window on the same data folder is refused
    first.unlock()
    dead = subprocess_pid_that_exited()
    (wb.paths.data / "app.lock").write_text(f"{dead}\nWorkbench\n{socket.gethostname()}\n")
    taken = acquire_instance_lock(wb.paths)  # left by a crashed process: taken over
    assert taken is not None
    taken.unlock()


def subprocess_pid_that_exited() -> int:
    import subprocess

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_workbench_gui_starts_the_app_and_sigterm_closes_it_cleanly(workbench_home, tiny_model_path):
    import os
    import signal
    import subprocess
    import threading
    import time

    with Workbench(default_paths()) as before:  # an answer a killed process left half-written
        before.library.import_file(tiny_model_path, name="tiny")
        session = before.sessions.create(model_name="tiny")
        question = before.sessions.add_message(session.id, None, "user", "hi")
        half = before.sessions.add_message(session.id, question.id, "assistant", "Hel", status="streaming")

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    cli = "import sys; from workbench.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", cli, "gui"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    log = workbench_home / "logs" / "workbench.log"
    try:
        deadline = time.monotonic() + 60
        while not (log.exists() and "window shown for" in log.read_text()):  # poll a real condition
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else ""
            threading.Event().wait(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (workbench_home / "config" / "window.ini").exists()  # closed the normal way: state saved
    assert not (workbench_home / "data" / "app.lock").exists()
    with Workbench(default_paths()) as after:  # the app's start-up marked it, keeping its text
        recovered = after.sessions.message(half.id)
        assert (recovered.status, recovered.content) == ("interrupted", "Hel")
