"""A text editor that validates as you type: problems underlined at their line and listed below the text.

`DiagnosticHighlighter` underlines every diagnostic's span (red wavy for errors, orange for warnings; anything
with 1-based `line`, `column`, `severity`, `message`); subclasses add syntax colours in `highlight_syntax`.
`ValidatingEditor` re-validates shortly after typing stops with its subclass's `check(text)`, which must be
pure and bounded, since it runs on the GUI thread. The Modelfile and eval-suite editors are the two kinds.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontDatabase, QSyntaxHighlighter, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QPlainTextEdit, QSplitter, QVBoxLayout, QWidget


def char_format(colour: str, *, bold: bool = False, italic: bool = False) -> QTextCharFormat:
    """A highlighter's text format: a colour, optionally bold or italic."""
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(colour))
    if bold:
        fmt.setFontWeight(QFont.Weight.Bold)
    fmt.setFontItalic(italic)
    return fmt


VALIDATE_DELAY_MS = 250
ERROR_COLOUR, WARNING_COLOUR = "#e5484d", "#f5a623"


class DiagnosticHighlighter(QSyntaxHighlighter):
    def __init__(self, document):
        super().__init__(document)
        self.diagnostics: dict[int, list] = {}  # 1-based line -> its problems
        self.refresh_formats()

    def refresh_formats(self) -> None:
        """Subclasses pick their colours here (called again when diagnostics change: the theme may have)."""

    def highlight_syntax(self, text: str) -> None:
        """Subclasses colour one block of text here."""

    def set_diagnostics(self, diagnostics: list) -> None:
        self.diagnostics = {}
        last = self._last_line_with_text()
        for d in diagnostics:  # a problem past the last text (an unclosed bracket at the end) marks the last line
            self.diagnostics.setdefault(min(d.line, last), []).append(d)
        self.refresh_formats()
        self.rehighlight()

    def _last_line_with_text(self) -> int:
        block = self.document().lastBlock()
        while block.isValid() and not block.text().strip() and block.blockNumber() > 0:
            block = block.previous()
        return block.blockNumber() + 1

    def highlightBlock(self, text: str) -> None:
        self.highlight_syntax(text)
        for d in self.diagnostics.get(self.currentBlock().blockNumber() + 1, []):
            column = max(0, d.column - 1)
            if column >= len(text):  # a problem at the end of the line (a missing value): mark the whole line
                column = 0
            for i in range(column, len(text)):
                fmt = self.format(i)
                fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
                fmt.setUnderlineColor(QColor(ERROR_COLOUR if d.severity == "error" else WARNING_COLOUR))
                fmt.setToolTip(d.message)
                self.setFormat(i, 1, fmt)


class ValidatingEditor(QWidget):
    """The text, its highlighter and the list of problems; `validated` carries the latest diagnostics."""

    validated = Signal(list)
    empty_hint = "Nothing to check yet."

    def __init__(self, highlighter_class: type[DiagnosticHighlighter]):
        super().__init__()
        self.text = QPlainTextEdit()
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.highlighter = highlighter_class(self.text.document())
        self.problems = QListWidget()
        self.problems.setMinimumHeight(48)
        self.problems.itemActivated.connect(self._jump)
        self.problems.itemClicked.connect(self._jump)
        self.diagnostics: list = []
        self._timer = QTimer(self, singleShot=True, interval=VALIDATE_DELAY_MS, timeout=self.validate_now)
        self.text.textChanged.connect(self._timer.start)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.text)
        split.addWidget(self.problems)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)

    def check(self, text: str) -> list:
        """Every problem in `text` (not empty): subclasses validate here."""
        raise NotImplementedError

    def set_text(self, text: str) -> None:
        self.text.setPlainText(text)
        self.validate_now()

    def plain_text(self) -> str:
        return self.text.toPlainText()

    @property
    def errors(self) -> list:
        return [d for d in self.diagnostics if d.severity == "error"]

    def validate_now(self) -> list:
        self._timer.stop()
        text = self.plain_text()
        self.diagnostics = self.check(text) if text.strip() else []
        self.highlighter.set_diagnostics(self.diagnostics)
        self.problems.clear()
        for d in self.diagnostics:
            item = QListWidgetItem(f"line {d.line}, column {d.column}: {d.severity}: {d.message}")
            item.setData(Qt.ItemDataRole.UserRole, (d.line, d.column))
            item.setForeground(QColor(ERROR_COLOUR if d.severity == "error" else "#c77d00"))
            self.problems.addItem(item)
        if not self.diagnostics:
            self.problems.addItem("No problems found." if text.strip() else self.empty_hint)
        self.validated.emit(self.diagnostics)
        return self.diagnostics

    def underlined_lines(self) -> list[int]:
        """1-based numbers of the lines that carry an underline now (what the user sees marked)."""
        lines, block = [], self.text.document().firstBlock()
        while block.isValid():
            if any(r.format.underlineStyle() == QTextCharFormat.UnderlineStyle.WaveUnderline
                   for r in block.layout().formats()):
                lines.append(block.blockNumber() + 1)
            block = block.next()
        return lines

    def _jump(self, item: QListWidgetItem) -> None:
        where = item.data(Qt.ItemDataRole.UserRole)
        if not where:
            return
        line, column = where
        block = self.text.document().findBlockByNumber(line - 1)
        cursor = QTextCursor(block)
        cursor.movePosition(QTextCursor.MoveOperation.Right, n=max(0, min(column - 1, block.length() - 1)))
        self.text.setTextCursor(cursor)
        self.text.setFocus()
