"""`Evals` (`wb.evals`): run suites, list and read runs, diff two runs, tag baselines, gate, export reports.

Every face goes through this class. Runs and cells are stored as they finish (store/evals_repo.py); a run whose
process died is found by `recover_interrupted` (its writer is gone) and finished by `run(resume=RUN)`. Runs are
named by id or by tag (`baseline`), wherever a run is asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidParameter, NotFound, WorkbenchError
from ..tasks import CancelToken, ProgressCallback, no_progress
from .records import EvalCell, EvalRun, RunDiff
from .suite import Suite, load_suite

if TYPE_CHECKING:
    from ..app import Workbench

LARGE_SUITE_CELLS = 10_000  # faces ask before running a suite this big (with the time estimate)
EXPORT_FORMATS = ("md", "html", "json", "csv", "junit")
RunRef = int | str


class CodeNotAllowed(InvalidParameter):
    """A suite with `python` assertions was run without allowing code."""


@dataclass(frozen=True)
class TargetEstimate:
    target: str
    cells: int
    seconds: float | None  # None: this target was never measured (or does not resolve)


@dataclass(frozen=True)
class Estimate:
    """How big a suite is and how long it should take, from each target's speed in earlier runs."""

    cells: int
    seconds: float | None  # None when any target has no measured speed
    targets: tuple[TargetEstimate, ...]

    @property
    def needs_confirmation(self) -> bool:
        return self.cells >= LARGE_SUITE_CELLS


class Evals:
    def __init__(self, workbench: Workbench):
        self._wb = workbench
        self._repo = workbench.store.evals

    # -- suites ---------------------------------------------------------------------------------------
    def load(self, suite: Suite | Path | str) -> Suite:
        """A Suite as given, or parsed from a file path."""
        return suite if isinstance(suite, Suite) else load_suite(suite)

    def estimate(self, suite: Suite | Path | str, *, concurrency: int | None = None) -> Estimate:
        """Cells per target and the expected time (seconds per cell measured on that model before)."""
        from ..chat.prepare import resolve_target

        suite = self.load(suite)
        per_target = len(suite.prompts) * len(suite.tests) * suite.repeat
        rows = []
        for spec in suite.targets:
            try:
                model = resolve_target(self._wb, spec.ref).model
                seconds_per_cell = self._repo.seconds_per_cell(model.sha256)
            except WorkbenchError:
                seconds_per_cell = None
            rows.append(TargetEstimate(spec.label, per_target,
                                       None if seconds_per_cell is None else seconds_per_cell * per_target))
        known = [r.seconds for r in rows if r.seconds is not None]
        total = sum(known) if len(known) == len(rows) else None
        return Estimate(suite.cell_count, total, tuple(rows))

    # -- running --------------------------------------------------------------------------------------
    def run(self, suite: Suite | Path | str | None = None, *, targets: list[str] | None = None,
            repeat: int | None = None, concurrency: int | None = None, baseline: RunRef | None = None,
            resume: RunRef | None = None, allow_code: bool = False, judge: str | None = None,
            on_progress: ProgressCallback = no_progress, on_cell: Callable[[EvalCell], None] | None = None,
            cancel: CancelToken | None = None) -> EvalRun:
        """Run a suite (a Suite or a file) and return the stored run; or with `resume`, finish an unfinished run.

        targets/repeat/concurrency override the suite's; baseline (a run id or tag) is what the gate compares
        with (`gate(run)`); judge is the llm-rubric judge when an assertion names none. on_cell reports each stored
        cell (on worker threads, one call at a time). Cancelling keeps the finished cells: the run is `cancelled`,
        and resumable.
        """
        from ..chat.service import writer_identity
        from .runner import Runner

        if resume is not None:
            run, suite_obj = self._reopen(resume, concurrency, writer_identity(), allow_code)
        else:
            if suite is None:
                raise InvalidParameter("give a suite to run, or a run to resume")
            suite_obj = self.load(suite).with_options(targets=targets, repeat=repeat, concurrency=concurrency)
            _check_code(suite_obj, allow_code)
            run = self._create(suite_obj, baseline, allow_code, judge, writer_identity())
        options = run.options
        runner = Runner(self._wb, suite_obj, run.id, concurrency=options["concurrency"],
                        allow_code=bool(options.get("allow_code")), judge=options.get("judge"),
                        on_progress=on_progress, on_cell=on_cell, cancel=cancel)
        try:
            status = runner.execute()
        except BaseException:
            self._repo.set_status(run.id, "interrupted")
            raise
        return self._repo.set_status(run.id, status)

    def _create(self, suite: Suite, baseline: RunRef | None, allow_code: bool, judge: str | None,
                writer: dict) -> EvalRun:
        baseline_id = self.resolve_run(baseline) if baseline is not None else None
        suite_id = self._repo.save_suite(suite.sha256, suite.description, suite.path, suite.text, suite.to_json())
        concurrency = suite.concurrency or max(1, self._wb.settings.parallel_slots)
        options = {"targets": [t.label for t in suite.targets], "repeat": suite.repeat, "concurrency": concurrency,
                   "allow_code": allow_code, "judge": judge or suite.judge, "seed": suite.seed}
        return self._repo.create_run(suite_id, options=options, total_cells=suite.cell_count,
                                     baseline_run_id=baseline_id, writer=writer)

    def _reopen(self, ref: RunRef, concurrency: int | None, writer: dict,
                allow_code: bool) -> tuple[EvalRun, Suite]:
        self.recover_interrupted()
        run = self.get(ref)
        if run.status == "running":
            raise InvalidParameter(f"eval run {run.id} is still running in another process")
        if run.status == "complete" and run.done_cells >= run.total_cells:
            raise InvalidParameter(f"eval run {run.id} is already complete")
        text, resolved, path = self._repo.suite_of(run.id)
        suite = Suite.from_json(resolved, text=text, path=path)
        allowed = allow_code or bool(run.options.get("allow_code"))
        _check_code(suite, allowed)
        run = self._repo.set_status(run.id, "running", writer=writer)
        changes = {"allow_code": allowed} | ({"concurrency": concurrency} if concurrency is not None else {})
        return self._repo.update_options(run.id, changes), suite

    def recover_interrupted(self) -> list[int]:
        """Mark runs whose process is gone (killed, crashed) `interrupted`; returns their ids."""
        from ..chat.service import writer_alive

        dead = [run_id for run_id, writer in self._repo.running() if not writer_alive(writer)]
        for run_id in dead:
            self._repo.set_status(run_id, "interrupted")
        return dead

    # -- reading --------------------------------------------------------------------------------------
    def runs(self, limit: int | None = None) -> list[EvalRun]:
        self.recover_interrupted()
        return self._repo.list(limit)

    def resolve_run(self, ref: RunRef) -> int:
        """A run id from an id, a numeric string, `last`, or a tag name."""
        if isinstance(ref, int):
            return ref
        text = str(ref).strip()
        if text.isdigit():
            return int(text)
        if text == "last":
            runs = self._repo.list(1)
            if not runs:
                raise NotFound("there are no eval runs yet")
            return runs[0].id
        return self._repo.tagged(text)

    def get(self, ref: RunRef) -> EvalRun:
        return self._repo.get(self.resolve_run(ref))

    def cells(self, ref: RunRef) -> list[EvalCell]:
        return self._repo.cells(self.resolve_run(ref))

    def suite_of(self, ref: RunRef) -> Suite:
        """The suite a run ran, as it was then (file:// contents included)."""
        text, resolved, path = self._repo.suite_of(self.resolve_run(ref))
        return Suite.from_json(resolved, text=text, path=path)

    def delete(self, ref: RunRef) -> None:
        self._repo.delete_run(self.resolve_run(ref))

    # -- comparing and gating -------------------------------------------------------------------------
    def diff(self, a: RunRef, b: RunRef) -> RunDiff:
        """Run B against run A: pass→fail, fail→pass, changed outputs (text diffs), per-target deltas."""
        from .compare import diff_runs

        run_a, run_b = self.get(a), self.get(b)
        return diff_runs(run_a, self._repo.cells(run_a.id), run_b, self._repo.cells(run_b.id))

    def gate(self, ref: RunRef) -> RunDiff | None:
        """The run against its baseline (None when it has none): `gate_passed` is False on any regression."""
        run = self.get(ref)
        return None if run.baseline_run_id is None else self.diff(run.baseline_run_id, run.id)

    def tag(self, ref: RunRef, name: str) -> EvalRun:
        """Name a run (e.g. `baseline`); the name moves here from any run that had it."""
        run_id = self.resolve_run(ref)
        self._repo.tag(run_id, name)
        return self._repo.get(run_id)

    def untag(self, name: str) -> None:
        self._repo.untag(name)

    # -- reports --------------------------------------------------------------------------------------
    def export(self, ref: RunRef, fmt: str, path: Path | str | None = None, *,
               against: RunRef | None = None) -> str:
        """A run's report as md, html, json, csv or junit (JUnit XML); written to `path` when given.

        against: a run to diff with (md/html/junit show its regressions; default: the run's baseline)."""
        from . import report, report_html

        if fmt not in EXPORT_FORMATS:
            raise InvalidParameter(f"unknown report format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}")
        run = self.get(ref)
        cells = self._repo.cells(run.id)
        diff = self.diff(against, run.id) if against is not None else self.gate(run.id)
        render = {"md": report.markdown, "html": report_html.html_report, "json": report.as_json,
                  "junit": report.junit_xml, "csv": lambda run, cells, _diff: report.as_csv(cells)}[fmt]
        text = render(run, cells, diff)
        if path is not None:
            from ..files import atomic_write_text

            atomic_write_text(Path(path), text)
        return text


def _check_code(suite: Suite, allow_code: bool) -> None:
    if suite.needs_code() and not allow_code:
        raise CodeNotAllowed("this suite has python assertions, which run its author's code: run it with "
                             "--allow-code (the app: \"Allow code\") if you trust it")
