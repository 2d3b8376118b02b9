"""The Library page's "Export bundle…" dialog: tick the models, presets and chat sessions to carry, see the size,
pick the file.

A preset brings the model its FROM resolves to (workbench/bundle/service.py), so the size shown counts that model too
— the figure comes from `plan_bundle`, the same plan the export writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
)

from workbench.bundle.service import plan_bundle
from workbench.errors import WorkbenchError
from workbench.units import human_size

from .layout import hrow, vcolumn

if TYPE_CHECKING:
    from workbench.app import Workbench

BUNDLE_FILTER = "Workbench bundles (*.wbundle);;All files (*)"


def _checklist(names: list[str], checked: set[str]) -> QListWidget:
    widget = QListWidget()
    for name in names:
        item = QListWidgetItem(name)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if name in checked else Qt.CheckState.Unchecked)
        widget.addItem(item)
    return widget


def _ticked(widget: QListWidget) -> list[str]:
    return [widget.item(i).text() for i in range(widget.count())
            if widget.item(i).checkState() == Qt.CheckState.Checked]


class BundleExportDialog(QDialog):
    """`models()` / `presets()` are the ticked names, `sessions()` the ticked session ids; OK is enabled only for a
    bundle that can be planned."""

    def __init__(self, parent, wb: Workbench, *, selected_model: str | None = None):
        super().__init__(parent)
        self.wb = wb
        self.setWindowTitle("Export an air-gap bundle")
        self.model_list = _checklist([m.name for m in wb.library.list()], {selected_model} if selected_model else set())
        self.preset_list = _checklist([p.name for p in wb.presets.list()], set())
        self.session_ids = {f"#{c.id} {c.title}": c.id for c in wb.sessions.list()}
        self.session_list = _checklist(list(self.session_ids), set())
        self.summary = QLabel()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lists = hrow(vcolumn(QLabel("Models"), self.model_list), vcolumn(QLabel("Presets (with their model)"),
                                                                          self.preset_list),
                     vcolumn(QLabel("Chat sessions (with images, preset or model)"), self.session_list))
        layout = QVBoxLayout(self)
        layout.addLayout(lists)
        layout.addWidget(self.summary)
        layout.addWidget(self.buttons)
        self.model_list.itemChanged.connect(self.update_summary)
        self.preset_list.itemChanged.connect(self.update_summary)
        self.session_list.itemChanged.connect(self.update_summary)
        self.update_summary()

    def models(self) -> list[str]:
        return _ticked(self.model_list)

    def presets(self) -> list[str]:
        return _ticked(self.preset_list)

    def sessions(self) -> list[int]:
        return [self.session_ids[label] for label in _ticked(self.session_list)]

    def update_summary(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        try:
            manifest, _sources = plan_bundle(self.wb, self.models(), self.presets(), sessions=self.sessions())
        except WorkbenchError as exc:  # nothing ticked, or a preset whose model is gone
            self.summary.setText(str(exc))
            ok.setEnabled(False)
            return
        self.summary.setText(f"{len(manifest.models)} model(s), {len(manifest.presets)} preset(s), "
                             f"{len(manifest.sessions)} session(s): "
                             f"{human_size(manifest.total_size)} in one file")
        ok.setEnabled(True)


def ask_export(parent, wb: Workbench,
               selected_model: str | None) -> tuple[Path, list[str], list[str], list[int]] | None:
    """The dialog, then the save-file dialog: (path, models, presets, session ids), or None when cancelled."""
    dialog = BundleExportDialog(parent, wb, selected_model=selected_model)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    path, _ = QFileDialog.getSaveFileName(parent, "Save the bundle", str(Path.home() / "models.wbundle"),
                                          BUNDLE_FILTER)
    return (Path(path), dialog.models(), dialog.presets(), dialog.sessions()) if path else None
