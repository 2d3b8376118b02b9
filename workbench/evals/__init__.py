"""Evals: prompt test suites (promptfoo-compatible YAML) run across presets, models and quantizations.

A package of its own beside `measure/` (which answers one prompt at a time): a suite is parsed (`suite.py`),
expanded into cells (prompt × target × test × repeat) that the runner pushes through the engine's slots
(`runner.py`), checked by assertions (`assertions.py`), stored cell by cell (store/evals_repo.py), compared and
gated (`service.Evals.diff`) and reported (`report.py`). `wb.evals` is the service every face uses.
"""

from .records import AssertionResult, CellChange, EvalCell, EvalRun, RunDiff, TargetDelta, TargetSummary
from .suite import Diagnostic, Suite, SuiteError, load_suite, parse_suite, validate_suite

__all__ = [
    "AssertionResult",
    "CellChange",
    "Diagnostic",
    "EvalCell",
    "EvalRun",
    "RunDiff",
    "Suite",
    "SuiteError",
    "TargetDelta",
    "TargetSummary",
    "load_suite",
    "parse_suite",
    "validate_suite",
]
