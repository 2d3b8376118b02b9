"""The main window: a page list on the left, pages on the right, a status bar with runtime facts.

The pages are `ui.pages.PAGES` in that order; the window calls the hooks of `ui.pages.base.Page` on them, and
Ctrl+N and the Presets page's "Try it" go to the Chat page. Window geometry and the last page live in
`<config>/window.ini`, so each data folder (and each test) keeps its own.
"""

from __future__ import annotations

from pathlib import Path

import psutil
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QMainWindow, QStackedWidget, QVBoxLayout, QWidget

from workbench.app import Workbench
from workbench.errors import WorkbenchError
from workbench.units import human_size

from .errors import show_error
from .pages import PAGES, ChatPage, Page
from .task_runner import TaskRunner
from .theme import app_icon, apply_theme
from .widgets.first_start_notice import FirstStartNotice
from .widgets.open_file_dialog import OpenFileDialog, open_file_dialog


class MainWindow(QMainWindow):
    def __init__(self, wb: Workbench, log_file: str = ""):
        super().__init__()
        self.wb = wb
        self.log_file = log_file
        self.runner = TaskRunner()
        self.endpoint = None  # the running EndpointServer; the Server page sets and clears it
        self.setWindowTitle("Workbench")
        self.setWindowIcon(app_icon())
        self.resize(1200, 800)
        self.nav = QListWidget()
        self.nav.setFixedWidth(150)
        self.nav.setObjectName("nav")  # resources/styles give it its size and spacing
        self.stack = QStackedWidget()
        self.pages: dict[str, Page] = {}
        apply_theme(wb.settings.theme)
        for page_class in PAGES:
            self.add_page(page_class(self))
        self.chat = next(page for page in self.pages.values() if isinstance(page, ChatPage))  # Ctrl+N, "Try it"
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.setCurrentRow(0)
        self.notice = FirstStartNotice(open_hub=lambda: self.show_page("Hub"))
        central = QWidget()
        column = QVBoxLayout(central)
        column.addWidget(self.notice)
        layout = QHBoxLayout()
        layout.addWidget(self.nav)
        layout.addWidget(self.stack, 1)
        column.addLayout(layout, 1)
        self.setCentralWidget(central)
        self._build_status_bar()
        self._build_shortcuts()
        self._restore_state()
        self.update_status()

    def add_page(self, page: Page) -> None:
        self.pages[page.name] = page
        self.nav.addItem(page.name)
        self.stack.addWidget(page)

    def show_page(self, name: str) -> Page:
        self.nav.setCurrentRow(list(self.pages).index(name))
        return self.pages[name]

    def current_page(self) -> Page | None:
        page = self.stack.currentWidget()
        return page if isinstance(page, Page) else None

    def show_error(self, title: str, message: str, details: str = "") -> None:
        show_error(self, title, message, details, self.log_file)

    def open_chat(self, preset_ref: str) -> bool:
        """Open a chat on a preset version (the Presets page's "Try it"); False when that failed (it says why)."""
        self.show_page(ChatPage.name)
        return self.chat.open_preset(preset_ref) is not None

    def open_file(self, path: Path) -> OpenFileDialog | None:
        """A .gguf or .wbundle opened with the app: say what it holds and import it on the Library page when
        the person agrees (the dialog is returned open; None when the file cannot be read)."""
        try:
            dialog = open_file_dialog(Path(path), self)
        except WorkbenchError as exc:
            self.show_error("Open file", str(exc))
            return None
        library = self.pages["Library"]

        def accepted() -> None:
            self.show_page("Library")
            if dialog.path.suffix.lower() == ".gguf":
                library.import_path(dialog.path, copy=dialog.copy_box.isChecked())
            else:
                library.import_bundle(dialog.path)

        dialog.accepted.connect(accepted)
        dialog.open()
        return dialog

    # -- start-up ----------------------------------------------------------------------------------------
    def start_background_setup(self):
        """Prepare the bundled default model (and its preset) off the GUI thread; pages refresh when ready."""
        from workbench.library.bundled import DEFAULT_PRESET, default_model_pending, ensure_default_model

        pending = default_model_pending(self.wb)
        if pending:
            self.statusBar().showMessage("Preparing the bundled default model…")
        task = self.runner.submit("Preparing the default model", ensure_default_model, self.wb)
        task.finished.connect(lambda _model: self.library_changed())
        task.finished.connect(lambda _model: self.preload(DEFAULT_PRESET) if self.wb.presets.exists(DEFAULT_PRESET)
                              else None)  # the first answer then need not wait for the load
        task.finished.connect(lambda model: self._first_start_ready(model) if pending else None)
        task.failed.connect(lambda msg, details: self.show_error("Default model", msg, details))
        return task

    def preload(self, name: str):
        """Load the model behind a preset or model name on a worker thread, before anyone asks it anything; a
        failure is left for the answer to report (it would say the same)."""
        return self.runner.submit(f"Loading {name}", self.wb.chat.preload, name, progress=False)

    def start_retention(self):
        """Apply the retention limits off the GUI thread (each start); what went is in the audit trail."""
        task = self.runner.submit("Applying retention", self.wb.retention.apply)
        task.finished.connect(self._retention_done)
        task.failed.connect(lambda message, _details: self.statusBar().showMessage(
            f"Retention was not applied: {message}", 10000))
        return task

    def _retention_done(self, report) -> None:
        if report.sessions:
            self.chat.refresh_sessions()
        if report.removed_anything:
            self.statusBar().showMessage(
                f"Retention removed {report.sessions} session(s), {report.eval_runs} eval run(s), "
                f"{sum(report.audit_events.values())} audit event(s), {report.partial_pulls} partial pull(s)", 10000)

    def _first_start_ready(self, model) -> None:
        self.statusBar().showMessage("Default model ready", 5000)
        if model is not None:
            self.notice.show()  # the bundled model is a tiny base model: say so, and where a real one is

    # -- notifications between pages ---------------------------------------------------------------------
    def settings_changed(self) -> None:
        apply_theme(self.wb.settings.theme)
        for page in self.pages.values():
            page.settings_changed()
        self.update_status()

    def library_changed(self) -> None:
        """The library changed (import, pull, remove, default model): every page that lists models refreshes."""
        for page in self.pages.values():
            page.library_changed()

    # -- status bar --------------------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        self.status_models = QLabel()
        self.status_backend = QLabel()
        self.status_memory = QLabel()
        self.status_endpoint = QLabel()
        for label in (self.status_models, self.status_backend, self.status_memory, self.status_endpoint):
            self.statusBar().addPermanentWidget(label)
        self._process = psutil.Process()
        self._status_timer = QTimer(self, interval=2000, timeout=self.update_status)
        self._status_timer.start()

    def update_status(self) -> None:
        runtime = self.wb.__dict__.get("runtime")  # never load llama.cpp just to draw the status bar
        loaded = runtime.loaded() if runtime is not None else []
        self.status_models.setText(f"Loaded: {', '.join(m.name for m in loaded) or 'none'}")
        backend = runtime.backend_info().backend if runtime is not None else "not started"
        self.status_backend.setText(f"Backend: {backend}")
        models = f"models {human_size(sum(m.memory_bytes for m in loaded))} · " if loaded else ""
        self.status_memory.setText(f"Memory: {models}app {human_size(self._process.memory_info().rss)}")
        server = self.endpoint
        self.status_endpoint.setText(f"Endpoint: {server.url}" if server is not None else "Endpoint: off")

    # -- shortcuts and state -----------------------------------------------------------------------------
    def _build_shortcuts(self) -> None:
        def action(text: str, keys, slot) -> None:
            act = QAction(text, self, shortcut=QKeySequence(keys), triggered=slot)
            self.addAction(act)

        quit_keys = QKeySequence.StandardKey.Quit
        action("Quit", quit_keys if QKeySequence.keyBindings(quit_keys) else "Ctrl+Q", self.close)
        action("New session", "Ctrl+N", self.new_session)
        action("Search", "Ctrl+F", self.focus_search)
        for number, name in enumerate(self.pages, start=1):
            action(f"Go to {name}", f"Ctrl+{number}", lambda _=False, n=name: self.show_page(n))

    def new_session(self) -> None:
        self.show_page(ChatPage.name)
        self.chat.new_session()

    def focus_search(self) -> None:
        page = self.current_page()
        if page is not None:
            page.focus_search()

    def window_settings(self) -> QSettings:
        return QSettings(str(self.wb.paths.config / "window.ini"), QSettings.Format.IniFormat)

    def _restore_state(self) -> None:
        settings = self.window_settings()
        geometry = settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        page = settings.value("window/page")
        if page in self.pages:
            self.show_page(page)

    def closeEvent(self, event) -> None:
        settings = self.window_settings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/page", self.nav.currentItem().text() if self.nav.currentItem() else "")
        for page in self.pages.values():  # pages stop what they own (e.g. the endpoint) before the core closes
            page.window_closing()
        self.runner.cancel_all()
        self.runner.wait(10000)  # the core is closed by whoever opened it (ui.main), after the event loop
        super().closeEvent(event)
