"""The evals' plain records: a run, its cells, their assertion results, per-target summaries and run diffs.

Frozen dataclasses with no database or engine behind them: the store returns them, the faces (CLI, app, reports)
read them. A cell is identified inside a run by its `key` (prompt, target, test, repeat), which is also how the
cells of two runs of one suite are matched in a diff.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CELL_STATUSES = ("passed", "failed", "error")
RUN_STATUSES = ("running", "complete", "cancelled", "interrupted")


@dataclass(frozen=True)
class AssertionResult:
    """One assertion's verdict on one output. `details` holds extra facts (a judge's verdict and provenance)."""

    type: str
    passed: bool
    score: float
    reason: str
    weight: float = 1.0
    value: Any = None  # the assertion's expected value as the suite gave it (for reports)
    metric: str | None = None
    details: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "passed": self.passed, "score": self.score, "reason": self.reason,
                "weight": self.weight, "value": self.value, "metric": self.metric, "details": self.details}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AssertionResult:
        return cls(type=data["type"], passed=bool(data["passed"]), score=float(data["score"]),
                   reason=data.get("reason", ""), weight=float(data.get("weight", 1.0)), value=data.get("value"),
                   metric=data.get("metric"), details=data.get("details") or {})


def cell_key(prompt: str, target: str, test: str, repeat: int) -> str:
    """How a cell is named in a run and matched across runs: prompt label, target label, test id, repeat."""
    return f"{prompt}\x1f{target}\x1f{test}\x1f{repeat}"


@dataclass(frozen=True)
class EvalCell:
    """One prompt × target × test × repeat: the output, its verdict and what produced it.

    status: passed / failed (an assertion failed) / error (the cell could not run: its target did not load, a
    variable was missing, the prompt was over the context…; `error` says why).
    """

    run_id: int
    key: str
    prompt_index: int
    target_index: int
    test_index: int
    repeat: int
    prompt_label: str
    target: str  # the target's label (what the suite named it)
    test_description: str
    vars: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    status: str = "passed"
    output: str = ""
    score: float = 0.0
    assertions: tuple[AssertionResult, ...] = ()
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_seconds: float | None = None
    tokens_per_second: float | None = None
    latency_ms: float | None = None
    finish_reason: str | None = None
    error: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    finished_at: datetime | None = None
    id: int | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass(frozen=True)
class TargetSummary:
    """One target's column of a run: counts, pass rate and mean speed over its finished cells."""

    target: str
    cells: int
    passed: int
    failed: int
    errors: int
    mean_tokens_per_second: float | None = None
    mean_ttft_seconds: float | None = None
    mean_latency_ms: float | None = None
    model: str | None = None  # the library model it ran (from the cells' provenance)

    @property
    def pass_rate(self) -> float:
        return self.passed / self.cells if self.cells else 0.0


@dataclass(frozen=True)
class EvalRun:
    """One run of a suite. `total_cells` is what the run will have when complete; `done_cells` what is stored."""

    id: int
    description: str
    suite_sha256: str
    suite_path: str | None
    status: str
    created_at: datetime
    finished_at: datetime | None
    total_cells: int
    done_cells: int
    passed: int
    failed: int
    errors: int
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)  # targets, repeat, concurrency…
    tags: tuple[str, ...] = ()
    targets: tuple[TargetSummary, ...] = ()
    baseline_run_id: int | None = None

    @property
    def pass_rate(self) -> float:
        return self.passed / self.done_cells if self.done_cells else 0.0

    @property
    def complete(self) -> bool:
        return self.status == "complete"


@dataclass(frozen=True)
class CellChange:
    """A cell present in both runs whose verdict or output changed. `diff` is a unified text diff of the outputs."""

    key: str
    target: str
    prompt_label: str
    test_description: str
    repeat: int
    before_status: str
    after_status: str
    before_output: str
    after_output: str
    diff: str = ""

    @property
    def regression(self) -> bool:
        return self.before_status == "passed" and self.after_status != "passed"

    @property
    def fix(self) -> bool:
        return self.before_status != "passed" and self.after_status == "passed"


@dataclass(frozen=True)
class TargetDelta:
    """A target's pass rate and speed in run A and run B (None where the target is absent from a run)."""

    target: str
    pass_rate_a: float | None
    pass_rate_b: float | None
    tokens_per_second_a: float | None
    tokens_per_second_b: float | None
    ttft_seconds_a: float | None = None
    ttft_seconds_b: float | None = None

    @property
    def pass_rate_delta(self) -> float | None:
        if self.pass_rate_a is None or self.pass_rate_b is None:
            return None
        return self.pass_rate_b - self.pass_rate_a


@dataclass(frozen=True)
class RunDiff:
    """Run B against run A (the baseline): regressions (pass→fail), fixes (fail→pass), changed outputs, deltas."""

    a: EvalRun
    b: EvalRun
    regressions: tuple[CellChange, ...] = ()
    fixes: tuple[CellChange, ...] = ()
    changed_outputs: tuple[CellChange, ...] = ()  # same verdict, different text
    only_in_a: tuple[str, ...] = ()  # cell keys
    only_in_b: tuple[str, ...] = ()
    targets: tuple[TargetDelta, ...] = ()

    @property
    def gate_passed(self) -> bool:
        """The regression gate: no cell that passed in A fails (or errors) in B."""
        return not self.regressions
