"""A Modelfile editor: syntax highlighting, live validation with errors underlined at their line, a problem list.

`ModelfileHighlighter` colours instructions, PARAMETER names, quoted values (`"…"` and multi-line `\"\"\"…\"\"\"`)
and `#` comments, and underlines the span of every Diagnostic from `workbench.modelfile.validate` (red wavy for
errors, orange for warnings). `ModelfileEditor` re-validates shortly after typing stops; validation is pure and
bounded (the template renderer has its own size and time caps), so it runs on the GUI thread. The underlining,
the problem list and the re-validation timer are shared with the suite editor (validating_editor.py).
"""

from __future__ import annotations

import re

from PySide6.QtGui import QTextCharFormat

from workbench.modelfile import parser as modelfile

from ..theme import is_dark
from .validating_editor import DiagnosticHighlighter, ValidatingEditor, char_format

IN_TRIPLE = 1  # block state: the block ends inside a """ value
_INSTRUCTION = re.compile(r"^\s*(" + "|".join(modelfile.INSTRUCTIONS + modelfile.OLLAMA_ONLY) + r")\b", re.I)
_ARGUMENT = re.compile(r"^\s*(?:PARAMETER|MESSAGE)\s+(\w+)", re.I)
_QUOTED = re.compile(r'"""|"[^"]*"?')




def _formats() -> dict[str, QTextCharFormat]:
    dark = is_dark()
    return {
        "instruction": char_format("#7fb4ff" if dark else "#0b4fb3", bold=True),
        "argument": char_format("#e0a458" if dark else "#8a4b00"),
        "string": char_format("#9bd48b" if dark else "#1f7a1f"),
        "comment": char_format("#8a8d93" if dark else "#7a7a7a", italic=True),
    }


class ModelfileHighlighter(DiagnosticHighlighter):
    def refresh_formats(self) -> None:
        self.formats = _formats()

    def highlight_syntax(self, text: str) -> None:
        start = 0
        if self.previousBlockState() == IN_TRIPLE:
            end = text.find('"""')
            if end < 0:
                self.setFormat(0, len(text), self.formats["string"])
                self.setCurrentBlockState(IN_TRIPLE)
                return
            start = end + 3
            self.setFormat(0, start, self.formats["string"])
        self.setCurrentBlockState(0)
        if start == 0:
            self._line_start(text)
        self._strings(text, start)

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


class ModelfileEditor(ValidatingEditor):
    """The Modelfile, its highlighter and the list of problems; `validated` carries the latest Diagnostics."""

    empty_hint = "Start with FROM <model>."

    def __init__(self):
        super().__init__(ModelfileHighlighter)

    def check(self, text: str) -> list[modelfile.Diagnostic]:
        return modelfile.validate(text)
