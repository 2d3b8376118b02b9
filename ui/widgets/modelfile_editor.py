"""A Modelfile editor: syntax highlighting, live validation with errors underlined at their line, a problem list.

`ModelfileHighlighter` colours instructions, PARAMETER names, quoted values (`"…"` and multi-line `\"\"\"…\"\"\"`)
and `#` comments, and underlines the span of every Diagnostic from `workbench.modelfile.validate` (red wavy for
errors, orange for warnings). `ModelfileEditor` re-validates shortly after typing stops; validation is pure and
bounded (the template renderer has its own size and time caps), so it runs on the GUI thread.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontDatabase, QSyntaxHighlighter, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QPlainTextEdit, QSplitter, QVBoxLayout, QWidget

from workbench.modelfile import parser as modelfile

from ..theme import is_dark

VALIDATE_DELAY_MS = 250
IN_TRIPLE = 1  # block state: the block ends inside a """ value
_INSTRUCTION = re.compile(r"^\s*(" + "|".join(modelfile.INSTRUCTIONS + modelfile.OLLAMA_ONLY) + r")\b", re.I)
_ARGUMENT = re.compile(r"^\s*(?:PARAMETER|MESSAGE)\s+(\w+)", re.I)
_QUOTED = re.compile(r'"""|"[^"]*"?')


def _format(colour: str, *, bold: bool = False, italic: bool = False) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(colour))
    if bold:
        fmt.setFontWeight(QFont.Weight.Bold)
    fmt.setFontItalic(italic)
    return fmt


def _formats() -> dict[str, QTextCharFormat]:
    dark = is_dark()
    return {
        "instruction": _format("#7fb4ff" if dark else "#0b4fb3", bold=True),
        "argument": _format("#e0a458" if dark else "#8a4b00"),
        "string": _format("#9bd48b" if dark else "#1f7a1f"),
        "comment": _format("#8a8d93" if dark else "#7a7a7a", italic=True),
    }


class ModelfileHighlighter(QSyntaxHighlighter):
    def __init__(self, document):
        super().__init__(document)
        self.formats = _formats()
        self.diagnostics: dict[int, list[modelfile.Diagnostic]] = {}  # 1-based line -> its problems

    def set_diagnostics(self, diagnostics: list[modelfile.Diagnostic]) -> None:
        self.diagnostics = {}
        for d in diagnostics:
            self.diagnostics.setdefault(d.line, []).append(d)
        self.formats = _formats()  # the theme may have changed since
        self.rehighlight()

    def highlightBlock(self, text: str) -> None:
        start = 0
        if self.previousBlockState() == IN_TRIPLE:
            end = text.find('"""')
            if end < 0:
                self.setFormat(0, len(text), self.formats["string"])
                self.setCurrentBlockState(IN_TRIPLE)
                self._underline(text)
                return
            start = end + 3
            self.setFormat(0, start, self.formats["string"])
        self.setCurrentBlockState(0)
        if start == 0:
            self._line_start(text)
        self._strings(text, start)
        self._underline(text)

    def _line_start(self, text: str) -> None:
        if text.lstrip().startswith("#"):
            self.setFormat(0, len(text), self.formats["comment"])
            return
        match = _INSTRUCTION.match(text)
        if match:
            self.setFormat(match.start(1), len(match.group(1)), self.formats["instruction"])
        arg = _ARGUMENT.match(text)
        if arg:
            self.setFormat(arg.start(1), len(arg.group(1)), self.formats["argument"])

    def _strings(self, text: str, start: int) -> None:
        if text.lstrip().startswith("#") and start == 0:
            return
        pos = start
        while (match := _QUOTED.search(text, pos)) is not None:
            if match.group() == '"""':
                end = text.find('"""', match.end())
                if end < 0:  # the value runs on over the next lines
                    self.setFormat(match.start(), len(text) - match.start(), self.formats["string"])
                    self.setCurrentBlockState(IN_TRIPLE)
                    return
                self.setFormat(match.start(), end + 3 - match.start(), self.formats["string"])
                pos = end + 3
            else:
                self.setFormat(match.start(), len(match.group()), self.formats["string"])
                pos = match.end()

    def _underline(self, text: str) -> None:
        for d in self.diagnostics.get(self.currentBlock().blockNumber() + 1, []):
            column = max(0, d.column - 1)
            if column >= len(text):  # a problem at the end of the line (a missing value): mark the whole line
                column = 0
            for i in range(column, len(text)):
                fmt = self.format(i)
                fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
                fmt.setUnderlineColor(QColor("#e5484d" if d.severity == "error" else "#f5a623"))
                fmt.setToolTip(d.message)
                self.setFormat(i, 1, fmt)


class ModelfileEditor(QWidget):
    """The text, its highlighter and the list of problems; `validated` carries the latest Diagnostics."""

    validated = Signal(list)

    def __init__(self):
        super().__init__()
        self.text = QPlainTextEdit()
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.highlighter = ModelfileHighlighter(self.text.document())
        self.problems = QListWidget()
        self.problems.setMinimumHeight(48)
        self.problems.itemActivated.connect(self._jump)
        self.problems.itemClicked.connect(self._jump)
        self.diagnostics: list[modelfile.Diagnostic] = []
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

    def set_text(self, text: str) -> None:
        self.text.setPlainText(text)
        self.validate_now()

    def plain_text(self) -> str:
        return self.text.toPlainText()

    @property
    def errors(self) -> list[modelfile.Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    def validate_now(self) -> list[modelfile.Diagnostic]:
        self._timer.stop()
        text = self.plain_text()
        self.diagnostics = modelfile.validate(text) if text.strip() else []
        self.highlighter.set_diagnostics(self.diagnostics)
        self.problems.clear()
        for d in self.diagnostics:
            item = QListWidgetItem(f"line {d.line}, column {d.column}: {d.severity}: {d.message}")
            item.setData(Qt.ItemDataRole.UserRole, (d.line, d.column))
            item.setForeground(QColor("#e5484d" if d.severity == "error" else "#c77d00"))
            self.problems.addItem(item)
        if not self.diagnostics:
            self.problems.addItem("No problems found." if text.strip() else "Start with FROM <model>.")
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
