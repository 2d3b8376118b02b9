"""Library page: the local models in a table, their GGUF metadata and chat template, import/verify/remove,
and air-gap bundles (workbench/bundle/).

Import (file dialog or drop), verify and bundles hash whole files, so they run on the TaskRunner with a progress
bar; the window's `library_changed()` then refreshes every page that lists models.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
)

from workbench.bundle import service as bundle
from workbench.errors import WorkbenchError
from workbench.library import facts
from workbench.records import LocalModel
from workbench.units import human_size

from ..widgets.bundle_dialog import BUNDLE_FILTER, ask_export
from ..widgets.layout import hrow
from .base import Page

COLUMNS = tuple(label for label, _ in facts.SUMMARY_COLUMNS)
VALUE_CHARS = 400  # a metadata cell shows this much; the chat template has its own tab


def metadata_rows(model: LocalModel) -> list[tuple[str, str]]:
    """The details panel's (key, value) rows: the library's facts, then every GGUF metadata key in file order."""
    rows = facts.detail_rows(model)
    rows += [(key, _cell(value)) for key, value in model.metadata.items()]
    return rows


def _cell(value) -> str:
    if isinstance(value, dict) and value.get("type") == "array":  # abbreviated big arrays (token lists)
        head = ", ".join(map(str, value.get("head", [])))
        return f"[{value.get('item_type', '')} × {value.get('length', 0):,}] {head}…"
    text = str(value)
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS] + "…"


class ModelTableModel(QAbstractTableModel):
    def __init__(self):
        super().__init__()
        self.models: list[LocalModel] = []
        self.rows: list[tuple[str, ...]] = []

    def set_models(self, models: list[LocalModel]) -> None:
        self.beginResetModel()
        self.models = list(models)
        self.rows = [facts.summary_row(m) for m in self.models]
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.models)

    def columnCount(self, parent=QModelIndex()) -> int:
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole or not index.isValid():
            return None
        return self.rows[index.row()][index.column()]


class LibraryPage(Page):
    name = "Library"
    models_changed = Signal()

    def __init__(self, window):
        super().__init__(window)
        self.setAcceptDrops(True)
        self.table_model = ModelTableModel()
        self.table = QTableView()
        self.table.setModel(self.table_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(self._show_selected)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self._build_details())
        self.progress = QProgressBar(visible=False)
        self.status = QLabel("Drop .gguf files here to import them.")
        layout = QVBoxLayout(self)
        layout.addLayout(self._build_buttons())
        layout.addWidget(split, 1)
        layout.addWidget(self.status)
        self.refresh()

    def _build_details(self) -> QTabWidget:
        self.details = QTableWidget(0, 2)
        self.details.setHorizontalHeaderLabels(["Key", "Value"])
        self.details.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.details.horizontalHeader().resizeSection(0, 280)
        self.details.verticalHeader().setVisible(False)
        self.details.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.details.setWordWrap(False)
        self.template = QPlainTextEdit(readOnly=True)
        tabs = QTabWidget()
        tabs.addTab(self.details, "Metadata")
        tabs.addTab(self.template, "Chat template")
        return tabs

    def _build_buttons(self):
        self.import_button = QPushButton("Import GGUF…")
        self.copy_box = QCheckBox("Copy into the library")
        self.copy_box.setToolTip("Off: the file is used where it is. On: it is copied into the content-addressed "
                                 "store, so moving the original later does not break the model.")
        self.verify_button = QPushButton("Verify")
        self.projector_button = QPushButton("Pair projector…", clicked=self.choose_projector)
        self.projector_button.setToolTip("The model's mmproj-*.gguf (image encoder): the model can then see images")
        self.remove_button = QPushButton("Remove")
        self.export_bundle_button = QPushButton("Export bundle…")
        self.export_bundle_button.setToolTip("Models and presets in one file, to carry to a machine with no network")
        self.import_bundle_button = QPushButton("Import bundle…")
        self.import_button.clicked.connect(self.choose_import)
        self.verify_button.clicked.connect(self.verify_selected)
        self.remove_button.clicked.connect(self.remove_selected)
        self.export_bundle_button.clicked.connect(self.choose_export_bundle)
        self.import_bundle_button.clicked.connect(self.choose_import_bundle)
        buttons = hrow(self.import_button, self.copy_box, self.verify_button, self.projector_button, self.remove_button,
                       self.export_bundle_button, self.import_bundle_button, self.progress)
        buttons.addStretch()
        return buttons

    def library_changed(self) -> None:  # window hook
        self.refresh()

    def focus_search(self) -> None:  # window hook (Ctrl+F): the table has type-ahead search on the name
        self.table.setFocus()

    def refresh(self) -> None:
        """Reload the table, keeping the selected model selected."""
        selected = self.selected()
        self.table_model.set_models(self.wb.library.list())
        names = [m.name for m in self.table_model.models]
        if selected is not None and selected.name in names:
            self.table.selectRow(names.index(selected.name))
        self.models_changed.emit()

    def selected(self) -> LocalModel | None:
        rows = self.table.selectionModel().selectedRows()
        return self.table_model.models[rows[0].row()] if rows else None

    def detail(self, key: str) -> str | None:
        """The details panel's value for `key` (a library fact or a GGUF metadata key), None when absent."""
        for row in range(self.details.rowCount()):
            if self.details.item(row, 0).text() == key:
                return self.details.item(row, 1).text()
        return None

    def _show_selected(self) -> None:
        model = self.selected()
        rows = metadata_rows(model) if model is not None else []
        self.details.setRowCount(len(rows))
        for row, (key, value) in enumerate(rows):
            self.details.setItem(row, 0, QTableWidgetItem(key))
            item = QTableWidgetItem(value)
            item.setToolTip(value)
            self.details.setItem(row, 1, item)
        if model is None:
            self.template.clear()
            return
        chat_template = model.metadata.get("tokenizer.chat_template")
        self.template.setPlainText(chat_template if isinstance(chat_template, str) else
                                   "This model has no chat template: set TEMPLATE in a preset to chat with it.")

    # -- actions -----------------------------------------------------------------------------------------
    def choose_import(self) -> None:
        start = self.wb.settings.models_dir or str(Path.home())
        files, _ = QFileDialog.getOpenFileNames(self, "Import GGUF models", start, "GGUF models (*.gguf)")
        for path in files:
            self.import_path(Path(path))

    def import_path(self, path: Path, copy: bool | None = None):
        copy = self.copy_box.isChecked() if copy is None else copy
        return self._run(f"Importing {path.name}", self.wb.library.import_file, path, copy=copy,
                         done=lambda m: self.status.setText(f"Imported {m.name}"))

    def choose_projector(self) -> None:
        model = self.selected()
        if model is None:
            return
        path, _ = QFileDialog.getOpenFileName(self, f"Projector for {model.name}", str(model.path.parent),
                                              "Projectors (mmproj*.gguf *.gguf)")
        if path:
            self.pair_projector(model.name, Path(path))

    def pair_projector(self, name: str, path: Path, copy: bool | None = None):
        """Pair an mmproj file with a model (library/projectors.py); a file that is none is refused, saying why."""
        copy = self.copy_box.isChecked() if copy is None else copy
        return self._run(f"Pairing {path.name} with {name}", self.wb.library.pair_projector, name, path, copy=copy,
                         done=lambda m: self.status.setText(f"{m.name} now takes {m.projector_modalities}"))

    def verify_selected(self):
        model = self.selected()
        if model is not None:
            return self._run(f"Verifying {model.name}", self.wb.library.verify, model.name,
                             done=lambda r: self.status.setText(f"{model.name}: {r}"))

    def remove_selected(self) -> None:
        model = self.selected()
        if model is None:
            return
        where = ("its file stays where it is" if model.in_place
                 else "its stored file is deleted if no other name uses it")
        answer = QMessageBox.question(self, "Remove model", f"Remove {model.name} from the library? ({where})")
        if answer == QMessageBox.StandardButton.Yes:
            self.remove_model(model.name)

    def remove_model(self, name: str) -> None:
        try:
            self.wb.library.remove(name)
        except WorkbenchError as exc:  # e.g. removed meanwhile from the CLI
            self.window_.show_error("Remove model", str(exc))
        self.status.setText(f"Removed {name}")
        self.window_.library_changed()

    def choose_export_bundle(self) -> None:
        selected = self.selected()
        choice = ask_export(self, self.wb, selected.name if selected else None)
        if choice is not None:
            path, models, presets, sessions = choice
            self.export_bundle(path, models, presets, overwrite=True, sessions=sessions)  # the dialog asked

    def export_bundle(self, path: Path, models: list[str], presets: list[str], overwrite: bool = False,
                      sessions: list[int] = ()):
        def done(manifest) -> None:
            self.status.setText(f"Bundle {path.name} written: {len(manifest.models)} model(s), "
                                f"{len(manifest.presets)} preset(s), {human_size(manifest.total_size)}")

        return self._run(f"Exporting {path.name}", bundle.export_bundle, self.wb, path, models=models,
                         presets=presets, sessions=sessions, overwrite=overwrite, done=done)

    def choose_import_bundle(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a bundle", str(Path.home()), BUNDLE_FILTER)
        if path:
            self.import_bundle(Path(path))

    def import_bundle(self, path: Path):
        def done(report) -> None:
            if not report.changed:
                self.status.setText(f"{path.name}: everything in it is here already")
                return
            added = [*report.models_added, *report.presets_created, *report.presets_updated,
                     *(f"session {title}" for title in report.sessions_added)]
            self.status.setText(f"Imported from {path.name}: {', '.join(added)}")

        return self._run(f"Importing {path.name}", bundle.import_bundle, self.wb, path, done=done)

    def _run(self, label: str, fn, *args, done, **kwargs):
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.status.setText(label + "…")
        task = self.window_.runner.submit(label, fn, *args, **kwargs)
        task.progress.connect(self._on_progress)
        task.finished.connect(done)
        task.failed.connect(lambda msg, details: self.window_.show_error(label, msg, details))
        task.done.connect(lambda: (self.progress.setVisible(False), self.window_.library_changed()))
        return task

    def _on_progress(self, p) -> None:
        if p.fraction is not None:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * p.fraction))

    # -- drag and drop -----------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if any(u.toLocalFile().endswith(".gguf") for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            if url.toLocalFile().endswith(".gguf"):
                self.import_path(Path(url.toLocalFile()))
