"""The eval-suite editor: YAML highlighting, live validation underlined at its line, open and save of suite files.

`SuiteHighlighter` colours keys, comments, quoted strings, `{{var}}` placeholders and `file://` references;
`SuiteEditor` checks the text with `workbench.evals.validate_suite` against the suite's folder (where its
`file://` references resolve; the data folder's `suites/` for a suite not saved yet) after typing stops.
"""

from __future__ import annotations

import re
from pathlib import Path

from workbench.evals import validate_suite
from workbench.files import atomic_write_text

from ..theme import is_dark
from .validating_editor import DiagnosticHighlighter, ValidatingEditor, char_format

STARTER = """\
description: My suite
prompts:
  - "Answer in a few words: {{question}}"
targets:
  - TARGET
tests:
  - description: capital of France
    vars:
      question: What is the capital of France?
    assert:
      - type: icontains
        value: paris
"""
_KEY = re.compile(r"^(\s*(?:-\s+)?)([\w$.-]+)\s*:(?=\s|$)")
_COMMENT = re.compile(r"(?:^|\s)(#.*)$")
_QUOTED = re.compile(r"\"(?:[^\"\\]|\\.)*\"?|'[^']*'?")
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}")
_FILE_REF = re.compile(r"file://\S+")




def starter_suite(target: str) -> str:
    """A small valid suite on `target`, for "New"."""
    return STARTER.replace("TARGET", target)


class SuiteHighlighter(DiagnosticHighlighter):
    def refresh_formats(self) -> None:
        dark = is_dark()
        self.formats = {
            "key": char_format("#7fb4ff" if dark else "#0b4fb3", bold=True),
            "string": char_format("#9bd48b" if dark else "#1f7a1f"),
            "placeholder": char_format("#e0a458" if dark else "#8a4b00", bold=True),
            "file": char_format("#c9a0ff" if dark else "#6b2fb3"),
            "comment": char_format("#8a8d93" if dark else "#7a7a7a", italic=True),
        }

    def highlight_syntax(self, text: str) -> None:
        comment = _COMMENT.search(text)
        code_end = comment.start(1) if comment and not self._inside_quotes(text, comment.start(1)) else len(text)
        key = _KEY.match(text)
        if key:
            self.setFormat(key.start(2), len(key.group(2)), self.formats["key"])
        for pattern, kind in ((_QUOTED, "string"), (_FILE_REF, "file"), (_PLACEHOLDER, "placeholder")):
            for match in pattern.finditer(text, 0, code_end):
                self.setFormat(match.start(), match.end() - match.start(), self.formats[kind])
        if code_end < len(text):
            self.setFormat(code_end, len(text) - code_end, self.formats["comment"])

    @staticmethod
    def _inside_quotes(text: str, position: int) -> bool:
        return any(m.start() < position < m.end() for m in _QUOTED.finditer(text))


class SuiteEditor(ValidatingEditor):
    """A suite's YAML; `path` is its file (None until saved), `base_dir` where its `file://` paths resolve."""

    empty_hint = "Start with prompts, targets and tests (New gives a commented example)."

    def __init__(self, default_dir: Path):
        self.default_dir = default_dir
        self.path: Path | None = None
        super().__init__(SuiteHighlighter)

    @property
    def base_dir(self) -> Path:
        return self.path.resolve().parent if self.path else self.default_dir

    def check(self, text: str) -> list:
        return validate_suite(text, self.base_dir)

    @property
    def modified(self) -> bool:
        return self.text.document().isModified()

    def new_suite(self, text: str) -> None:
        self.path = None
        self.set_text(text)
        self.text.document().setModified(False)

    def open_file(self, path: Path) -> None:
        """Read a suite file into the editor (OSError / UnicodeDecodeError for the caller to report)."""
        text = Path(path).read_text(encoding="utf-8")
        self.path = Path(path)
        self.set_text(text)
        self.text.document().setModified(False)

    def save_file(self, path: Path | None = None) -> Path:
        """Write the text to `path` (or the current file) through a temporary file, so a failed write keeps
        the old file whole."""
        target = Path(path or self.path or self.default_dir / "suite.yaml")
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, self.plain_text())
        self.path = target
        self.text.document().setModified(False)
        self.validate_now()  # file:// paths now resolve against the new folder
        return target
