"""Eval suites: promptfoo-compatible YAML → a `Suite` (prompts, targets, test cases with assertions, options).

`parse_suite(text, base_dir)` raises `SuiteError` carrying every `Diagnostic` (line, column, message) so an
editor can underline each problem; `validate_suite` returns them; `load_suite(path)` reads a file. Unknown keys
are reported, never skipped silently; `file://` paths resolve inside the suite's folder (suite_files.py);
`{{var}}` placeholders are checked against each test's vars here and rendered in the engine's Jinja sandbox.
Targets are preset references, library models, or promptfoo ids mapped onto them (targets.py).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidParameter
from .suite_types import (
    DEFAULT_MAX_TOKENS,
    AssertionSpec,
    Diagnostic,
    PromptSpec,
    Suite,
    SuiteError,
    TestCase,
    placeholders,
    render,
)

__all__ = ["DEFAULT_MAX_TOKENS", "AssertionSpec", "Diagnostic", "PromptSpec", "Suite", "SuiteError", "TestCase",
           "load_suite", "parse_suite", "placeholders", "render", "validate_suite"]


def parse_suite(text: str, base_dir: Path, *, path: Path | None = None) -> Suite:
    """The Suite, or SuiteError with every problem found (warnings alone do not stop it)."""
    from .suite_parse import SuiteParser

    parser = SuiteParser(Path(base_dir))
    suite = parser.parse(text)
    errors = [d for d in parser.diagnostics if d.severity == "error"]
    if errors or suite is None:
        raise SuiteError(parser.diagnostics or [Diagnostic(1, 1, 2, "the suite is empty")],
                         str(path) if path else "suite")
    warnings = tuple(d for d in parser.diagnostics if d.severity == "warning")
    from dataclasses import replace

    return replace(suite, text=text, path=str(path) if path else None, warnings=warnings)


def validate_suite(text: str, base_dir: Path) -> list[Diagnostic]:
    """Every problem in a suite's text, for an editor: errors and warnings, sorted by position."""
    from .suite_parse import SuiteParser

    parser = SuiteParser(Path(base_dir))
    parser.parse(text)
    return sorted(parser.diagnostics, key=lambda d: (d.line, d.column))


def load_suite(path: Path | str) -> Suite:
    """Read and parse a suite file; NotFound when it does not exist."""
    from ..errors import NotFound

    path = Path(path).expanduser()
    if not path.is_file():
        raise NotFound(f"no suite file at {path} (`workbench eval init` writes an example)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidParameter(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_suite(text, path.resolve().parent, path=path)
