"""The dialog a file opened with the app shows (`workbench gui FILE`, a double-click on a .gguf or .wbundle):
what the file holds and an Import button. The import itself runs on the Library page, with its progress."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from workbench.bundle import service as bundle
from workbench.errors import WorkbenchError
from workbench.units import human_size


def describe(path: Path) -> str:
    """One paragraph on what importing `path` adds (a bundle's manifest is read, nothing is unpacked)."""
    size, name = human_size(path.stat().st_size), html.escape(path.name)  # names are user text, never markup
    if path.suffix.lower() == ".gguf":
        return f"Import the model <b>{name}</b> ({size}) into the library?"
    manifest = bundle.inspect_bundle(path)
    models = html.escape(", ".join(m.name for m in manifest.models) or "none")
    presets = html.escape(", ".join(p.name for p in manifest.presets) or "none")
    return f"Import the bundle <b>{name}</b> ({size})?<br>Models: {models}<br>Presets: {presets}"


class OpenFileDialog(QDialog):
    """Asks before importing; `copy_box` (models only) copies the file into the library's store."""

    def __init__(self, path: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.path = path
        self.setWindowTitle(f"Open {path.name}")
        layout = QVBoxLayout(self)
        self.summary = QLabel(wordWrap=True)
        self.summary.setText(describe(path))
        layout.addWidget(self.summary)
        self.copy_box = QCheckBox("Copy the file into the library (otherwise it is used where it is)")
        self.copy_box.setVisible(path.suffix.lower() == ".gguf")
        layout.addWidget(self.copy_box)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)


def open_file_dialog(path: Path, parent: QWidget | None = None) -> OpenFileDialog:
    """The dialog for `path`; WorkbenchError when the file cannot be read as what its name says."""
    try:
        return OpenFileDialog(path, parent)
    except OSError as exc:
        raise WorkbenchError(f"cannot open {path}: {exc.strerror or exc}") from exc
