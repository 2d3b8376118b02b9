"""One pane of the Compare page: a target picker, the streamed text, its figures, and the divergence mark.

The text is plain (what the model wrote, character for character, so the divergence index means exactly one
place); from the first character that differs from the reference pane on, it is highlighted. Quality figures
(perplexity, KL, same top token: workbench.measure.quality) join the stats line and stay while the pane's target does.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QComboBox, QFrame, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from workbench.measure.compare import PaneResult, divergence_text
from workbench.units import human_size

DIVERGED = QColor("#f9e0a8")


def pane_stats(pane: PaneResult) -> str:
    if pane.error:
        return f"error: {pane.error}"
    cached = f" ({pane.cached_tokens} of {pane.prompt_tokens} prompt tokens cached)" if pane.cached_tokens else ""
    parts = [f"{pane.completion_tokens} tokens", f"TTFT {pane.ttft_seconds or 0:.3f} s{cached}",
             f"{pane.tokens_per_second or 0:.1f} tok/s", human_size(pane.memory_bytes)]
    if pane.quantization:
        parts.append(pane.quantization)
    if pane.provenance.get("endpoint"):  # a remote pane: what its server said it is
        parts.append(f"served as {pane.provenance.get('reported_model') or '?'}")
    if pane.finish_reason not in (None, "stop", "length"):
        parts.append(pane.finish_reason)
    return " · ".join(parts)


class ComparePaneView(QFrame):
    def __init__(self, index: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.index = index
        self.result: PaneResult | None = None
        self.quality = None  # workbench.measure.quality.TargetQuality of `quality_target`
        self.quality_target = ""
        self.quality_line = ""
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        self.target = QComboBox()
        self.target.setToolTip("A preset or a library model (e.g. another quantization)")
        layout.addWidget(self.target)
        self.text = QPlainTextEdit(readOnly=True)
        layout.addWidget(self.text, 1)
        self.stats = QLabel(wordWrap=True)
        self.divergence = QLabel()
        layout.addWidget(self.stats)
        layout.addWidget(self.divergence)

    def set_targets(self, names: list[str], default: int) -> None:
        current = self.target.currentText()
        self.target.clear()
        self.target.addItems(names)
        if current in names:
            self.target.setCurrentText(current)
        elif names:
            self.target.setCurrentIndex(min(default, len(names) - 1))

    def reset(self) -> None:
        self.result = None
        self.text.clear()
        if self.quality_target != self.target.currentText():
            self.quality, self.quality_line = None, ""
        self.stats.setText("waiting…")
        self.divergence.clear()

    def set_quality(self, figures, line: str) -> None:
        """Quality figures (None while measuring or when stopped) and their text, shown after the run's figures."""
        self.quality, self.quality_line = figures, line
        self.quality_target = self.target.currentText()
        self._show_stats()

    def _show_stats(self) -> None:
        parts = [pane_stats(self.result)] if self.result is not None else []
        if self.quality_line:
            parts.append(self.quality_line)
        self.stats.setText(" · ".join(parts))

    def append(self, piece: str) -> None:
        cursor = self.text.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(piece)
        if self.stats.text() == "waiting…":
            self.stats.setText("streaming…")

    def finish(self, pane: PaneResult) -> None:
        """The pane's final state: the exact text, its figures and, if it diverges, the highlight."""
        self.result = pane
        self.text.setPlainText(pane.text)
        self._show_stats()
        self.divergence.setText(divergence_text(pane, self.index))
        if pane.diverge_char is not None and self.index > 0:
            self.highlight_from(pane.diverge_char)

    def highlight_from(self, start: int) -> None:
        cursor = self.text.textCursor()
        cursor.setPosition(min(start, len(self.text.toPlainText())))
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        marked = QTextCharFormat()
        marked.setBackground(DIVERGED)
        cursor.mergeCharFormat(marked)

    def marked(self) -> list[bool]:
        """For each character of the text: does it carry the divergence highlight? (newlines: False)"""
        text = self.text.toPlainText()
        cursor = QTextCursor(self.text.document())
        flags = []
        for index, char in enumerate(text):
            cursor.setPosition(index + 1)  # charFormat() is the format of the character before the cursor
            flags.append(char != "\n" and cursor.charFormat().background().color() == DIVERGED)
        return flags
