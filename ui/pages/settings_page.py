"""Settings page: folders, threads, GPU layers, context, keep-alive, offline mode, strict audit, theme, data
retention (ui/widgets/retention_settings.py) and the read-only audit trail (ui/widgets/audit_panel.py).

Saving goes through `Workbench.update_settings` and tells the window (theme, the Hub page's offline state); the
theme previews live as soon as it is picked. Engine settings apply to models loaded after the save.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..theme import THEMES, apply_theme
from ..widgets.audit_panel import AuditPanel
from ..widgets.layout import hrow
from ..widgets.remote_endpoints import RemoteEndpoints
from ..widgets.retention_settings import RetentionSettings
from .base import Page


class SettingsPage(Page):
    name = "Settings"

    def __init__(self, window):
        super().__init__(window)
        self._build_fields(self.wb.settings)
        save = QPushButton("Save settings")
        save.clicked.connect(self.save)
        self.saved = QLabel("")
        self.audit = AuditPanel(self.wb, window.runner)
        panel = QWidget(maximumWidth=860)  # long fields read badly across a wide window
        inner = QVBoxLayout(panel)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addLayout(self._form())
        inner.addSpacing(8)
        inner.addLayout(hrow(save, (self.saved, 1)))
        self.retention = RetentionSettings(self.wb, window.runner)
        inner.addSpacing(12)
        inner.addWidget(self.retention)
        self.remotes = RemoteEndpoints(self.wb, window.runner)  # ui/widgets/remote_endpoints.py
        inner.addSpacing(12)
        inner.addWidget(self.remotes)
        layout = QVBoxLayout(self)
        layout.addWidget(panel)
        layout.addSpacing(12)
        layout.addWidget(self.audit, 1)

    def _build_fields(self, s) -> None:
        self.threads = QSpinBox(minimum=0, maximum=256, specialValueText="auto (physical cores)")
        self.threads.setValue(s.threads or 0)
        self.gpu_layers = QSpinBox(minimum=-1, maximum=999, specialValueText="auto (all when a GPU is present)")
        self.gpu_layers.setValue(s.gpu_layers)
        self.context = QSpinBox(minimum=256, maximum=1_048_576, singleStep=1024)
        self.context.setValue(min(s.default_context, self.context.maximum()))  # a hand-edited file may exceed it
        self.keep_alive = QDoubleSpinBox(minimum=-1, maximum=86_400, decimals=0, suffix=" s",
                                         specialValueText="never unload")
        self.keep_alive.setValue(s.keep_alive_seconds)
        self.slots = QSpinBox(minimum=1, maximum=64)
        self.slots.setValue(s.parallel_slots)
        self.reproducible = QCheckBox("Answers never depend on what else is running (slightly slower)")
        self.reproducible.setChecked(s.reproducible)
        self.offline = QCheckBox("Offline: never open a network connection")
        self.offline.setChecked(s.offline)
        self.audit_strict = QCheckBox("Strict audit: an action whose audit event cannot be written reports an error")
        self.audit_strict.setChecked(s.audit_strict)
        self.theme = QComboBox()
        self.theme.addItems(list(THEMES))
        self.theme.setCurrentText(s.theme)
        self.theme.currentTextChanged.connect(apply_theme)  # preview at once; Save keeps it
        self.models_dir = QLineEdit(s.models_dir or "", placeholderText="your home folder")

    def _form(self) -> QFormLayout:
        browse = QPushButton("Choose…")
        browse.clicked.connect(self.choose_models_dir)
        folder = QLabel(f"{self.wb.paths.data}  (set WORKBENCH_HOME to move everything)")
        folder.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form = QFormLayout()
        for label, field in (
            ("Data folder", folder), ("Models folder (import dialogs start here)", hrow((self.models_dir, 1), browse)),
            ("Threads", self.threads), ("GPU layers", self.gpu_layers), ("Default context", self.context),
            ("Keep models loaded for", self.keep_alive), ("Parallel slots per model", self.slots),
            ("", self.reproducible), ("", self.offline), ("", self.audit_strict), ("Theme", self.theme),
        ):
            form.addRow(label, field)
        return form

    def choose_models_dir(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Models folder", self.models_dir.text() or str(Path.home()))
        if folder:
            self.models_dir.setText(folder)

    def save(self) -> None:
        models_dir = self.models_dir.text().strip()
        if models_dir and not Path(models_dir).expanduser().is_dir():
            self.saved.setText(f"Not saved: the models folder {models_dir} does not exist.")
            return
        self.wb.update_settings(
            models_dir=str(Path(models_dir).expanduser()) if models_dir else None,
            threads=self.threads.value() or None, gpu_layers=self.gpu_layers.value(),
            default_context=self.context.value(), keep_alive_seconds=self.keep_alive.value(),
            parallel_slots=self.slots.value(), reproducible=self.reproducible.isChecked(),
            offline=self.offline.isChecked(), theme=self.theme.currentText(),
            audit_strict=self.audit_strict.isChecked())
        self.saved.setText("Saved. Models load with the new settings next time they load.")
        self.audit.refresh()  # the settings.changed event just written
        self.window_.settings_changed()
