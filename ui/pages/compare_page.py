"""The Compare page: one prompt on 2–4 presets or models side by side, seed and sampler locked.

Runs `workbench.measure.compare` and "Measure quality" (`workbench.measure.quality`) on the TaskRunner
(docs/design.md §8): panes fill through a PieceBuffer and are highlighted from their first differing character;
a row makes another quantization to compare; the divergence view plots KL along the text and lists the worst
positions (widgets/divergence_view.py); "Export…" saves both as JSON, Markdown or HTML (measure/report.py);
"Add to suite…" appends the prompt to an eval suite as a test case (widgets/add_to_suite.py).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from workbench.errors import InvalidParameter
from workbench.measure.compare import MAX_TARGETS, MIN_TARGETS, CompareResult, compare
from workbench.measure.quality import QualityResult, figures_text, load_text, quality
from workbench.measure.report import write_report
from workbench.modelfile.parameters import parse_parameter

from ..widgets.add_to_suite import AddToSuiteDialog
from ..widgets.attachments import AttachmentBar
from ..widgets.chat_compare_pane import ComparePaneView
from ..widgets.chat_quantize import QuantizeRow
from ..widgets.chat_stream import PieceBuffer
from ..widgets.divergence_view import DivergenceView
from .base import Page
from .evals_page import EvalsPage


class ComparePage(Page):
    name = "Compare"
    pane_finished = Signal(int, object)  # emitted from the worker; queued to the GUI thread
    compare_finished = Signal(object)  # CompareResult, or None when it failed or was stopped
    quality_finished = Signal(object)  # QualityResult, or None when it failed or was stopped

    def __init__(self, window):
        super().__init__(window)
        self.task = None
        self.result: CompareResult | None = None
        self.quality: QualityResult | None = None
        self.buffer = PieceBuffer(self)
        self.buffer.flushed.connect(self._on_pieces)
        self.pane_finished.connect(self._on_pane)
        layout = QVBoxLayout(self)
        self.prompt = QPlainTextEdit(placeholderText="One prompt, sent to every pane")
        self.prompt.setMaximumHeight(90)
        layout.addWidget(self.prompt)
        self.attachments = AttachmentBar()  # an image sent with the prompt to every pane (vision models)
        self.attachments.rejected.connect(lambda message: self.window_.show_error("Attach image", message))
        layout.addWidget(self.attachments)
        layout.addLayout(self._build_controls())
        layout.addLayout(self._build_quality_row())
        self.quantize_row = QuantizeRow(window)
        self.quantize_row.created.connect(self._quantized)
        layout.addWidget(self.quantize_row)
        self.error = QLabel(wordWrap=True)
        self.error.setStyleSheet("color: #c0392b")
        layout.addWidget(self.error)
        self.panes_row = QHBoxLayout()
        layout.addLayout(self.panes_row, 1)
        self.divergence = DivergenceView()
        layout.addWidget(self.divergence, 1)
        self.panes: list[ComparePaneView] = []
        for _ in range(MIN_TARGETS):
            self.add_pane()
        self._set_running(False)

    def _build_controls(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.seed = QSpinBox(minimum=-1, maximum=2**31 - 1, value=-1, specialValueText="random")
        self.seed.setToolTip("The seed every pane uses (random: one seed drawn for the whole run)")
        self.temperature = QLineEdit(placeholderText="the first preset's")
        self.num_predict = QSpinBox(minimum=1, maximum=32768, value=256)
        self.raw = QCheckBox("raw prompt (no chat template)")
        self.add_button = QPushButton("Add pane", clicked=self.add_pane)
        self.remove_button = QPushButton("Remove pane", clicked=self.remove_pane)
        self.run_button = QPushButton("Compare", clicked=self.run)
        self.stop_button = QPushButton("Stop", clicked=self.stop)
        for label, widget in (("Seed", self.seed), ("Temperature", self.temperature), ("Max tokens", self.num_predict)):
            row.addWidget(QLabel(label))
            row.addWidget(widget)
        for widget in (self.raw, self.add_button, self.remove_button, self.attachments.clip):
            row.addWidget(widget)
        row.addStretch(1)
        self.export_button = QPushButton("Export…", clicked=self.choose_export)
        self.export_button.setToolTip("Save the last comparison and quality figures (JSON; Markdown for .md, HTML "
                                      "with the divergence plot for .html)")
        self.suite_button = QPushButton("Add to suite…", clicked=lambda: self.add_to_suite())
        self.suite_button.setToolTip("Append this prompt to an eval suite file as a new test case")
        row.addWidget(self.run_button)
        row.addWidget(self.stop_button)
        row.addWidget(self.export_button)
        row.addWidget(self.suite_button)
        return row

    def _build_quality_row(self) -> QHBoxLayout:
        self.quality_button = QPushButton("Measure quality", clicked=self.measure_quality)
        self.quality_button.setToolTip("Perplexity of each pane's model over the text, and KL divergence / "
                                       "same top token against the first pane (like llama-perplexity)")
        self.quality_text: Path | None = None  # None: the bundled text
        self.text_button = QPushButton("Text: bundled", clicked=self.choose_quality_text)
        self.text_button.setToolTip("The text quality is measured on (UTF-8); the bundled one is chapter 1 of "
                                    "Pride and Prejudice")
        self.folder_button = QPushButton("Folder…", clicked=self.choose_quality_folder)
        self.folder_button.setToolTip("A folder of UTF-8 files, scored as one corpus")
        self.window_size = QSpinBox(minimum=16, maximum=8192, value=512, singleStep=64, suffix=" tokens")
        self.window_size.setToolTip("Window size: each window is decoded whole and its second half scored")
        row = QHBoxLayout()
        for widget in (QLabel("Quality on"), self.text_button, self.folder_button, QLabel("in windows of"),
                       self.window_size,
                       self.quality_button):
            row.addWidget(widget)
        row.addStretch(1)
        return row

    # -- panes -------------------------------------------------------------------------------------------
    def target_names(self) -> list[str]:
        """Presets, library models, then registered remote endpoints (Settings › Remote endpoints) as remote:NAME."""
        return ([p.name for p in self.wb.presets.list()] + [m.name for m in self.wb.library.list()]
                + [r.ref for r in self.wb.remotes.list()])

    def add_pane(self) -> None:
        if len(self.panes) >= MAX_TARGETS:
            return
        pane = ComparePaneView(len(self.panes))
        pane.set_targets(self.target_names(), len(self.panes))
        self.panes.append(pane)
        self.panes_row.addWidget(pane, 1)
        self._update_pane_buttons()

    def remove_pane(self) -> None:
        if len(self.panes) > MIN_TARGETS and self.task is None:
            self.panes.pop().deleteLater()
            self._update_pane_buttons()

    def _update_pane_buttons(self) -> None:
        idle = self.task is None
        self.add_button.setEnabled(idle and len(self.panes) < MAX_TARGETS)
        self.remove_button.setEnabled(idle and len(self.panes) > MIN_TARGETS)

    def library_changed(self) -> None:
        names = self.target_names()
        for pane in self.panes:
            pane.set_targets(names, pane.index)
        self.quantize_row.refresh()

    def _quantized(self, model) -> None:
        """A new quantization: every page hears of it, and the last pane compares it."""
        self.window_.library_changed()
        if self.task is None:
            self.panes[-1].target.setCurrentText(model.name)

    def showEvent(self, event) -> None:  # presets made on the Presets page since: pick them up
        super().showEvent(event)
        if self.task is None:
            self.library_changed()

    def window_closing(self) -> None:
        self.stop()

    # -- running -----------------------------------------------------------------------------------------
    def parameters(self) -> dict:
        parameters = {"num_predict": self.num_predict.value()}
        if self.temperature.text().strip():
            parameters["temperature"] = parse_parameter("temperature", self.temperature.text())
        return parameters

    def run(self):
        if self.task is not None:
            return None
        try:
            parameters = self.parameters()
        except InvalidParameter as exc:
            self.error.setText(str(exc))
            return None
        self.error.clear()
        self.result = None
        for pane in self.panes:
            pane.reset()
        targets = [pane.target.currentText() for pane in self.panes]
        self.buffer.start()
        self.task = self.window_.runner.submit(
            "Compare", compare, self.wb, self.prompt.toPlainText(), targets, parameters=parameters,
            seed=self.seed.value(), raw=self.raw.isChecked(), on_text=self.buffer.append,
            on_pane=self.pane_finished.emit, images=self.attachments.media())
        self.task.finished.connect(self._finished)
        self.task.failed.connect(self._failed)
        self.task.done.connect(self._done)
        self._set_running(True)
        return self.task

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _on_pieces(self, pieces: dict) -> None:
        for index, text in pieces.items():
            if index < len(self.panes):
                self.panes[index].append(text)

    def _on_pane(self, index: int, pane) -> None:
        self.buffer.flush()  # this pane's last pieces were appended before it was reported
        self.panes[index].finish(pane)

    def _finished(self, result: CompareResult) -> None:
        self.result = result
        self.error.setText(f"seed {result.seed} · locked: "
                           + ", ".join(f"{k}={v}" for k, v in result.parameters.items()))
        self.error.setStyleSheet("")

    def _failed(self, message: str, details: str) -> None:
        self.error.setStyleSheet("color: #c0392b")
        self.error.setText(message)
        if details:
            self.window_.show_error("Compare", message, details)

    def _done(self) -> None:
        self.buffer.stop()
        self.task = None
        self._set_running(False)
        for pane in self.panes:
            if pane.result is None and pane.stats.text() in ("waiting…", "streaming…"):
                pane.stats.setText("stopped" if pane.stats.text() == "streaming…" else "not run")
        self.compare_finished.emit(self.result)

    # -- quality -----------------------------------------------------------------------------------------
    def measure_quality(self):
        if self.task is not None:
            return None
        self.error.setStyleSheet("")
        self.error.setText("Measuring quality…")
        self.quality = None
        targets = [pane.target.currentText() for pane in self.panes]
        for pane in self.panes:
            pane.set_quality(None, "measuring quality…")
        self.divergence.show_result(None)
        try:
            text = load_text(self.quality_text) if self.quality_text else None
        except InvalidParameter as exc:
            self.error.setText(str(exc))
            for pane in self.panes:
                pane.set_quality(None, "quality: not measured")
            return None
        self.task = self.window_.runner.submit("Measure quality", quality, self.wb, targets, text=text,
                                               window=self.window_size.value())
        self.task.progress.connect(self._quality_progress)
        self.task.finished.connect(self._quality_measured)
        self.task.failed.connect(self._failed)
        self.task.done.connect(self._quality_done)
        self._set_running(True)
        return self.task

    def _quality_progress(self, progress) -> None:
        self.error.setText(f"Measuring quality: {progress.message}, window {progress.completed} of {progress.total}")

    def _quality_measured(self, result: QualityResult) -> None:
        self.quality = result
        for index, (pane, figures) in enumerate(zip(self.panes, result.targets, strict=False)):
            pane.set_quality(figures, figures_text(figures, index))
        self.divergence.show_result(result)
        stored = "reused the stored reference" if result.reference.reused else "stored the reference"
        self.error.setText(f"Quality over {result.text_tokens} tokens ({result.windows} window(s) of "
                           f"{result.window}, second halves scored); KL against pane 1; {stored}")

    def _quality_done(self) -> None:
        self.task = None
        self._set_running(False)
        if self.quality is None:
            for pane in self.panes:
                pane.set_quality(None, "quality: not measured")
            if self.error.text().startswith("Measuring quality"):
                self.error.setText("Quality measurement stopped")
        self.quality_finished.emit(self.quality)

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.quality_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.export_button.setEnabled(not running and (self.result is not None or self.quality is not None))
        for pane in self.panes:
            pane.target.setEnabled(not running)
        self._update_pane_buttons()

    def choose_quality_text(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Text to measure quality on", str(Path.home()),
                                              "Text (*.txt *.md);;All files (*)")
        self.set_quality_text(Path(path) if path else None)

    def choose_quality_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of texts to measure quality on", str(Path.home()))
        self.set_quality_text(Path(path) if path else None)

    def set_quality_text(self, path: Path | None) -> None:
        """A file, a folder (its files as one corpus), or None: back to the bundled text."""
        self.quality_text = path
        kind = "Folder" if path is not None and path.is_dir() else "Text"
        self.text_button.setText(f"{kind}: {path.name}" if path else "Text: bundled")

    # -- eval suites ------------------------------------------------------------------------------------
    def add_to_suite(self) -> AddToSuiteDialog | None:
        """Ask which suite (and which of its variables) gets this prompt as a new test case."""
        prompt = self.prompt.toPlainText()
        if not prompt.strip():
            self.error.setText("Write a prompt first: it becomes the new test case.")
            return None
        evals = self.window_.pages[EvalsPage.name]
        dialog = AddToSuiteDialog(prompt, evals.suites_dir, self, images=self.attachments.media())
        dialog.accepted.connect(lambda: evals.suite_file_changed(dialog.written))
        dialog.accepted.connect(lambda: self.error.setText(f"Added the prompt to {dialog.written}"))
        dialog.open()
        return dialog

    # -- export ------------------------------------------------------------------------------------------
    def choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the comparison", str(Path.home() / "comparison.md"),
                                              "Markdown (*.md);;HTML (*.html);;JSON (*.json)")
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path) -> Path | None:
        try:
            written = write_report(path, compare=self.result, quality=self.quality)
        except (OSError, InvalidParameter) as exc:
            self.window_.show_error("Export the comparison", str(exc))
            return None
        self.error.setStyleSheet("")
        self.error.setText(f"Saved {written}")
        return written
