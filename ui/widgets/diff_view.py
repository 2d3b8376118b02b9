"""A read-only view of a unified diff (`Presets.diff`) with added lines green, removed lines red, hunks blue."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFontDatabase, QSyntaxHighlighter, QTextCharFormat
from PySide6.QtWidgets import QPlainTextEdit

from ..theme import is_dark


def line_kind(line: str) -> str | None:
    if line.startswith(("+++", "---")):
        return "header"
    if line.startswith("@@"):
        return "hunk"
    if line.startswith("+"):
        return "added"
    if line.startswith("-"):
        return "removed"
    return None


class DiffHighlighter(QSyntaxHighlighter):
    def __init__(self, document):
        super().__init__(document)
        self.refresh_colours()

    def refresh_colours(self) -> None:
        dark = is_dark()
        colours = {"added": ("#d7f5dd", "#1f4d2b"), "removed": ("#fadada", "#5c2626"),
                   "hunk": ("#dde8fb", "#233a5e"), "header": ("#eeeeee", "#3a3c41")}
        self.formats = {}
        for kind, (light, deep) in colours.items():
            fmt = QTextCharFormat()
            fmt.setBackground(QColor(deep if dark else light))
            self.formats[kind] = fmt

    def highlightBlock(self, text: str) -> None:
        kind = line_kind(text)
        if kind is not None:
            self.setFormat(0, len(text), self.formats[kind])


class DiffView(QPlainTextEdit):
    def __init__(self):
        super().__init__(readOnly=True)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.highlighter = DiffHighlighter(self.document())

    def show_diff(self, diff: str) -> None:
        self.highlighter.refresh_colours()
        self.setPlainText(diff or "The two versions are identical.")

    def line_kinds(self) -> list[str | None]:
        """The kind of every shown line, as coloured (tests and screenshots read it)."""
        return [line_kind(line) for line in self.toPlainText().split("\n")]
