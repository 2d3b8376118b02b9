"""The main window: a page list on the left, pages on the right, a status bar with runtime facts."""

from __future__ import annotations

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QMainWindow, QStackedWidget, QWidget

from workbench.app import Workbench
from workbench.units import human_size

from .errors import show_error
from .pages.library_page import LibraryPage
from .pages.settings_page import SettingsPage
from .task_runner import TaskRunner


class MainWindow(QMainWindow):
    def __init__(self, wb: Workbench, log_file: str = ""):
        super().__init__()
        self.wb = wb
        self.log_file = log_file
        self.runner = TaskRunner()
        self.setWindowTitle("Workbench")
        self.resize(1200, 800)
        self.nav = QListWidget()
        self.nav.setFixedWidth(160)
        self.stack = QStackedWidget()
        self.pages: dict[str, QWidget] = {}
        self.add_page("Library", LibraryPage(self))
        self.add_page("Settings", SettingsPage(self))
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.setCurrentRow(0)
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.addWidget(self.nav)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.status_models = QLabel()
        self.status_backend = QLabel()
        self.status_endpoint = QLabel()
        for label in (self.status_models, self.status_backend, self.status_endpoint):
            self.statusBar().addPermanentWidget(label)
        self._status_timer = QTimer(self, interval=2000, timeout=self.update_status)
        self._status_timer.start()
        self._restore_state()
        self.update_status()
        quit_action = QAction("Quit", self, shortcut=QKeySequence.StandardKey.Quit, triggered=self.close)
        self.addAction(quit_action)

    def add_page(self, name: str, page: QWidget) -> None:
        self.pages[name] = page
        self.nav.addItem(name)
        self.stack.addWidget(page)

    def show_page(self, name: str) -> QWidget:
        self.nav.setCurrentRow(list(self.pages).index(name))
        return self.pages[name]

    def show_error(self, title: str, message: str, details: str = "") -> None:
        show_error(self, title, message, details, self.log_file)

    def start_background_setup(self):
        """Prepare the bundled default model off the GUI thread; the library refreshes when it is ready."""
        from workbench.defaults import ensure_default_model

        task = self.runner.submit("Preparing the default model", ensure_default_model, self.wb)
        task.finished.connect(lambda _model: self.pages["Library"].refresh())
        task.failed.connect(lambda msg, details: self.show_error("Default model", msg, details))
        return task

    def settings_changed(self) -> None:
        self.update_status()

    def update_status(self) -> None:
        runtime = self.wb.__dict__.get("runtime")  # never load llama.cpp just to draw the status bar
        loaded = runtime.loaded() if runtime is not None else []
        self.status_models.setText(f"Loaded: {', '.join(m.name for m in loaded) or 'none'}")
        if loaded:
            self.status_backend.setText(f"{loaded[0].backend} · {human_size(sum(m.memory_bytes for m in loaded))}")
        server = getattr(self, "endpoint", None)
        self.status_endpoint.setText(f"Endpoint: {server.url}" if server else "Endpoint: off")

    def _restore_state(self) -> None:
        settings = QSettings()
        geometry = settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        page = settings.value("window/page")
        if page in self.pages:
            self.show_page(page)

    def closeEvent(self, event) -> None:
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/page", self.nav.currentItem().text() if self.nav.currentItem() else "")
        self.runner.cancel_all()
        self.runner.wait(10000)
        self.wb.close()
        super().closeEvent(event)
