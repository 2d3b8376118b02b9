"""Presets page: the preset list, a Modelfile editor with live validation, versions, diff, rollback, "Try it",
and an eval suite run on one version or on two side by side (on the Evals page).

Every save is a new immutable version (`wb.presets.save`), run on the TaskRunner because FROM may import or pull
a model (Stop cancels it); a rejected or stopped save is reported inline and saves nothing. Rollback appends;
history is never rewritten.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import WorkbenchError
from workbench.presets import check_preset_name

from ..widgets.diff_view import DiffView
from ..widgets.layout import hrow, vcolumn
from ..widgets.modelfile_editor import ModelfileEditor
from .base import Page
from .evals_page import EvalsPage

STARTER = '''FROM {model}
PARAMETER temperature 0.7
PARAMETER num_ctx 4096
SYSTEM """You are a helpful assistant."""
'''


def save_preset(presets, name: str, text: str, message: str, new: bool, *, on_progress, cancel):
    """(version, saved): a new preset is created (a taken name is an error), an existing one gets a version."""
    if new:
        return presets.create(name, text, message=message or None, on_progress=on_progress, cancel=cancel), True
    return presets.save(name, text, message=message or None, on_progress=on_progress, cancel=cancel)


class PresetsPage(Page):
    name = "Presets"

    def __init__(self, window):
        super().__init__(window)
        self.current: str | None = None  # the preset in the editor
        self.new = False  # the editor holds a preset not saved yet
        self.versions: list = []  # PresetVersion, newest first
        self.save_task = None  # the running (or last) save: FROM may be pulled or imported first
        self.presets = QListWidget()
        self.presets.currentItemChanged.connect(self._preset_selected)
        new_button = QPushButton("New preset…")
        new_button.clicked.connect(self.ask_new_preset)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(vcolumn(QLabel("<b>Presets</b>"), (self.presets, 1), new_button))
        split.addWidget(self._build_editor())
        split.addWidget(self._build_history())
        split.setSizes([180, 560, 420])
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        self.refresh()

    def _build_editor(self) -> QWidget:
        self.title = QLabel("")
        self.editor = ModelfileEditor()
        self.editor.validated.connect(self._validated)
        self.message = QLineEdit(placeholderText="What changed (saved with the version)")
        self.message.returnPressed.connect(self.save)
        self.save_button = QPushButton("Save as new version")
        self.save_button.clicked.connect(self.save)
        self.try_button = QPushButton("Try it")
        self.try_button.setToolTip("Open a chat on the selected version (the newest when none is selected)")
        self.try_button.clicked.connect(self.try_it)
        self.stop_button = QPushButton("Stop", enabled=False)
        self.stop_button.setToolTip("Stop the save (a FROM being pulled or imported): nothing is saved, a pull "
                                    "resumes on the next save")
        self.stop_button.clicked.connect(self.stop_saving)
        self.status = QLabel("", wordWrap=True)
        actions = hrow((self.message, 1), self.save_button, self.stop_button, self.try_button)
        return vcolumn(self.title, (self.editor, 1), actions, self.status)

    def _build_history(self) -> QWidget:
        self.version_list = QListWidget()
        self.version_list.currentRowChanged.connect(self._version_selected)
        self.diff_a, self.diff_b = QComboBox(), QComboBox()
        diff_button = QPushButton("Diff")
        diff_button.clicked.connect(self.show_diff)
        self.rollback_button = QPushButton("Roll back to selected")
        self.rollback_button.clicked.connect(self.rollback_selected)
        load_button = QPushButton("Open selected in editor")
        load_button.clicked.connect(self.load_selected_version)
        self.diff = DiffView()
        pick = hrow(QLabel("from"), (self.diff_a, 1), QLabel("to"), (self.diff_b, 1), diff_button)
        actions = hrow(load_button, self.rollback_button)
        self.suite_button = QPushButton("Run a suite on this version…", clicked=lambda: self.run_suite_on_version())
        self.suite_button.setToolTip("Run an eval suite on the selected version (the newest when none is selected)")
        self.compare_suite_button = QPushButton("Compare the two on a suite…",
                                                clicked=lambda: self.compare_versions_on_suite())
        self.compare_suite_button.setToolTip("Run an eval suite on the 'from' and 'to' versions side by side")
        self.promote_button = QPushButton("Promote…", clicked=lambda: self.promote_selected())
        self.promote_button.setToolTip("Write the selected version (the newest when none is selected) out for "
                                       "vLLM, TGI, llama-server or Ollama")
        evals = hrow(self.suite_button, self.compare_suite_button, self.promote_button)
        return vcolumn(QLabel("<b>Versions</b>"), (self.version_list, 1), actions, pick, (self.diff, 2), evals)

    # -- window hooks ------------------------------------------------------------------------------------
    def library_changed(self) -> None:  # the default preset appears with the bundled model
        self.refresh()

    def focus_search(self) -> None:
        self.presets.setFocus()

    # -- list and selection ------------------------------------------------------------------------------
    def refresh(self, select: str | None = None) -> None:
        select = select or self.current
        self.presets.blockSignals(True)
        self.presets.clear()
        for preset in self.wb.presets.list():
            item = QListWidgetItem(f"{preset.name}  (v{preset.latest.number})")
            item.setData(Qt.ItemDataRole.UserRole, preset.name)
            self.presets.addItem(item)
            if preset.name == select:
                self.presets.setCurrentItem(item)
        self.presets.blockSignals(False)
        if select and not self.new and self.wb.presets.exists(select):
            self.open_preset(select, keep_text=True)
        elif self.current is None and self.presets.count():
            self.presets.setCurrentRow(0)
        self._update_buttons()

    def _preset_selected(self, item, _previous=None) -> None:
        if item is not None:
            self.open_preset(item.data(Qt.ItemDataRole.UserRole))

    def open_preset(self, name: str, keep_text: bool = False) -> None:
        """Show `name`: its newest text in the editor (unless keep_text) and its version history."""
        same = name == self.current and not self.new
        self.current, self.new = name, False
        self.versions = self.wb.presets.history(name)
        self.title.setText(f"<b>{name}</b> · {len(self.versions)} version(s)")
        if not (keep_text and same):
            self.editor.set_text(self.versions[0].content)
        self.version_list.clear()
        for v in self.versions:
            tags = f" [{', '.join(v.tags)}]" if v.tags else ""
            self.version_list.addItem(f"v{v.number}{tags} · {v.created_at:%Y-%m-%d %H:%M} · {v.message or ''}")
        for combo in (self.diff_a, self.diff_b):
            combo.clear()
            combo.addItems([f"v{v.number}" for v in self.versions])
        if len(self.versions) > 1:
            self.diff_a.setCurrentIndex(1)  # default: the previous version against the newest
        self._update_buttons()

    def ask_new_preset(self) -> None:
        name, ok = QInputDialog.getText(self, "New preset", "Name (lowercase letters, digits, '.', '_', '-'):")
        if ok and name.strip():
            self.new_preset(name.strip())

    def new_preset(self, name: str) -> bool:
        """Start an unsaved preset in the editor, from a starter Modelfile on the first library model."""
        try:
            check_preset_name(name)
        except WorkbenchError as exc:
            self.status.setText(str(exc))
            return False
        models = self.wb.library.list()
        self.current, self.new, self.versions = name, True, []
        self.title.setText(f"<b>{name}</b> · new, not saved yet")
        self.version_list.clear()
        self.diff_a.clear()
        self.diff_b.clear()
        self.diff.clear()
        self.editor.set_text(STARTER.format(model=models[0].name if models else "<a library model or .gguf path>"))
        self.status.setText("Edit the Modelfile, then save its first version.")
        self._update_buttons()
        return True

    # -- saving, versions, diff --------------------------------------------------------------------------
    def save(self):
        if self.current is None:
            self.status.setText("Pick a preset or make a new one first.")
            return None
        if self.editor.validate_now() and self.editor.errors:
            self.status.setText("Not saved: fix the problems marked in the editor first.")
            return None
        name, new = self.current, self.new
        self.status.setText(f"Saving {name}…")
        task = self.window_.runner.submit(f"Saving preset {name}", save_preset, self.wb.presets, name,
                                          self.editor.plain_text(), self.message.text().strip(), new)
        task.finished.connect(lambda result: self._saved(name, *result))
        task.failed.connect(self._save_failed)
        task.cancelled.connect(lambda: self.status.setText(
            f"Not saved: stopped. Nothing of {name} was written; a pull FROM the Hub resumes on the next save."))
        self.save_task = task
        self.stop_button.setEnabled(True)
        task.done.connect(lambda: self.stop_button.setEnabled(False))
        return task

    def stop_saving(self) -> None:
        if self.save_task is not None and self.save_task.running:
            self.save_task.cancel()

    def _saved(self, name: str, version, saved: bool) -> None:
        self.new = False
        self.message.clear()
        self.status.setText(f"Saved {version.ref}." if saved else
                            f"Nothing to save: the text is the same as {version.ref}.")
        self.current = name
        self.refresh(select=name)

    def _save_failed(self, message: str, details: str) -> None:
        self.status.setText(f"Not saved: {message}")
        if details:
            self.window_.show_error("Saving the preset failed", message, details)

    def selected_version(self):
        row = self.version_list.currentRow()
        return self.versions[row] if 0 <= row < len(self.versions) else None

    def _version_selected(self, _row: int) -> None:
        self._update_buttons()

    def load_selected_version(self) -> None:
        version = self.selected_version()
        if version is not None:
            self.editor.set_text(version.content)
            self.status.setText(f"Editing from {version.ref}: saving makes a new version.")

    def show_diff(self) -> str:
        if self.current is None or self.new or not self.versions:
            return ""
        a, b = (int(c.currentText().lstrip("v")) for c in (self.diff_a, self.diff_b))
        text = self.wb.presets.diff(self.current, a, b)
        self.diff.show_diff(text)
        return text

    def rollback_selected(self):
        version = self.selected_version()
        if version is None or self.current is None:
            return None
        try:
            new = self.wb.presets.rollback(self.current, version.number)
        except WorkbenchError as exc:
            self.status.setText(f"Rollback failed: {exc}")
            return None
        self.status.setText(f"Rolled back: {new.ref} holds the text of v{version.number}.")
        self.editor.set_text(new.content)
        self.refresh(select=self.current)
        return new

    def try_it(self) -> bool:
        if self.current is None or self.new:
            return False
        version = self.selected_version() or self.versions[0]
        return self.window_.open_chat(version.ref)

    # -- eval suites (run on the Evals page) --------------------------------------------------------------
    def run_suite_on_version(self, suite_path: Path | None = None):
        """Run a suite on the selected version (the newest when none is selected); the Evals page shows it."""
        if self.current is None or self.new:
            return None
        version = self.selected_version() or self.versions[0]
        return self._run_suite([version.ref], suite_path)

    def compare_versions_on_suite(self, suite_path: Path | None = None):
        """Run a suite on the 'from' and 'to' versions as two targets (name@A, name@B) of one run."""
        if self.current is None or self.new or len(self.versions) < 2:
            return None
        refs = [f"{self.current}@{combo.currentText().lstrip('v')}" for combo in (self.diff_a, self.diff_b)]
        if refs[0] == refs[1]:
            self.status.setText("Pick two different versions to compare on a suite.")
            return None
        return self._run_suite(refs, suite_path)

    def _run_suite(self, targets: list[str], suite_path: Path | None):
        evals = self.window_.pages[EvalsPage.name]
        if suite_path is None:
            chosen, _ = QFileDialog.getOpenFileName(self, "Run a suite", str(evals.suites_dir), "Suites (*.yaml *.yml)")
            if not chosen:
                return None
            suite_path = Path(chosen)
        self.window_.show_page(EvalsPage.name)
        return evals.run_suite_file(suite_path, targets)

    def promote_selected(self, show: bool = True):
        """The "Promote…" dialog (ui/widgets/promote_dialog.py) on the selected version; returned for tests."""
        from ..widgets.promote_dialog import PromoteDialog

        version = self.selected_version()
        dialog = PromoteDialog(self.wb, version.ref if version is not None else self.current, self)
        if show:
            dialog.open()
        return dialog

    def _validated(self, diagnostics: list) -> None:
        self._update_buttons()

    def _update_buttons(self) -> None:
        saved = self.current is not None and not self.new
        self.try_button.setEnabled(saved)
        self.rollback_button.setEnabled(saved and self.selected_version() is not None)
        self.suite_button.setEnabled(saved)
        self.compare_suite_button.setEnabled(saved and len(self.versions) > 1)
        self.promote_button.setEnabled(saved)
        self.save_button.setEnabled(self.current is not None and not self.editor.errors)
