"""Repository for eval suites, runs, cells and run tags; returns the plain records of workbench/evals/records.py."""

from __future__ import annotations

import json

from sqlalchemy import case, delete, func, select, update

from ..errors import InvalidName, NotFound
from ..evals.records import AssertionResult, EvalCell, EvalRun, TargetSummary
from ..files import utc_naive_now
from .evals_tables import EvalCellRow, EvalRunRow, EvalSuiteRow, EvalTagRow

_CELL_FIELDS = ("key", "prompt_index", "target_index", "test_index", "repeat", "prompt_label", "target",
                "test_description", "status", "output", "score", "prompt_tokens", "completion_tokens", "ttft_seconds",
                "tokens_per_second", "latency_ms", "finish_reason", "error")


def _cell(row: EvalCellRow) -> EvalCell:
    return EvalCell(run_id=row.run_id, id=row.id, finished_at=row.finished_at, vars=json.loads(row.vars),
                    assertions=tuple(AssertionResult.from_dict(a) for a in json.loads(row.assertions)),
                    provenance=json.loads(row.provenance), **{name: getattr(row, name) for name in _CELL_FIELDS})


class EvalRepository:
    def __init__(self, store):
        self._store = store

    # -- suites and runs ------------------------------------------------------------------------------
    def save_suite(self, sha256: str, description: str, path: str | None, text: str, resolved: str) -> int:
        """The id of the suite row with this hash, creating it the first time."""
        with self._store.session() as s:
            row = s.scalar(select(EvalSuiteRow).where(EvalSuiteRow.sha256 == sha256))
            if row is None:
                row = EvalSuiteRow(sha256=sha256, description=description, path=path, text=text, resolved=resolved,
                                   created_at=utc_naive_now())
                s.add(row)
                s.flush()
            elif path and row.path != path:
                row.path = path
            return row.id

    def create_run(self, suite_id: int, *, options: dict, total_cells: int, baseline_run_id: int | None,
                   writer: dict | None) -> EvalRun:
        with self._store.session() as s:
            row = EvalRunRow(suite_id=suite_id, status="running", options=json.dumps(options), total_cells=total_cells,
                             baseline_run_id=baseline_run_id, writer=json.dumps(writer) if writer else None,
                             created_at=utc_naive_now())
            s.add(row)
            s.flush()
            return self._run(s, row)

    def set_status(self, run_id: int, status: str, *, writer: dict | None = None) -> EvalRun:
        """running (with the writer now running it) / complete / cancelled / interrupted (finished_at set)."""
        with self._store.session() as s:
            row = self._row(s, run_id)
            row.status = status
            row.finished_at = None if status == "running" else utc_naive_now()
            if status == "running":
                row.writer = json.dumps(writer) if writer else None
            return self._run(s, row)

    def update_options(self, run_id: int, changes: dict) -> EvalRun:
        with self._store.session() as s:
            row = self._row(s, run_id)
            row.options = json.dumps({**json.loads(row.options), **changes})
            return self._run(s, row)

    def running(self) -> list[tuple[int, dict | None]]:
        """(run id, writer) of the runs stored as running (recovery decides whether their writer died)."""
        with self._store.session() as s:
            rows = s.execute(select(EvalRunRow.id, EvalRunRow.writer).where(EvalRunRow.status == "running"))
            return [(rid, json.loads(writer) if writer else None) for rid, writer in rows]

    def get(self, run_id: int) -> EvalRun:
        with self._store.session() as s:
            return self._run(s, self._row(s, run_id))

    def list(self, limit: int | None = None) -> list[EvalRun]:
        with self._store.session() as s:
            query = select(EvalRunRow).order_by(EvalRunRow.id.desc())
            if limit:
                query = query.limit(limit)
            return [self._run(s, row) for row in s.scalars(query)]

    def suite_of(self, run_id: int) -> tuple[str, str, str | None]:
        """(YAML text, resolved JSON, path) of the suite a run ran."""
        with self._store.session() as s:
            suite = s.get(EvalSuiteRow, self._row(s, run_id).suite_id)
            return suite.text, suite.resolved, suite.path

    def delete_run(self, run_id: int) -> None:
        with self._store.session() as s:
            s.delete(self._row(s, run_id))

    def _row(self, s, run_id: int) -> EvalRunRow:
        row = s.get(EvalRunRow, run_id)
        if row is None:
            raise NotFound(f"no eval run {run_id}: `workbench eval runs` lists them")
        return row

    def _run(self, s, row: EvalRunRow) -> EvalRun:
        suite = s.get(EvalSuiteRow, row.suite_id)
        targets = self._summaries(s, row.id)
        tags = tuple(s.scalars(select(EvalTagRow.name).where(EvalTagRow.run_id == row.id).order_by(EvalTagRow.name)))
        passed = sum(t.passed for t in targets)
        failed = sum(t.failed for t in targets)
        errors = sum(t.errors for t in targets)
        return EvalRun(id=row.id, description=suite.description, suite_sha256=suite.sha256, suite_path=suite.path,
                       status=row.status, created_at=row.created_at, finished_at=row.finished_at,
                       total_cells=row.total_cells, done_cells=passed + failed + errors, passed=passed, failed=failed,
                       errors=errors, options=json.loads(row.options), tags=tags, targets=targets,
                       baseline_run_id=row.baseline_run_id)

    def _summaries(self, s, run_id: int) -> tuple[TargetSummary, ...]:
        c = EvalCellRow
        def count(status: str):
            return func.sum(case((c.status == status, 1), else_=0))

        query = (select(c.target, func.min(c.target_index), func.count(), count("passed"), count("failed"),
                        count("error"), func.avg(c.tokens_per_second),
                        func.avg(c.ttft_seconds), func.avg(c.latency_ms),
                        func.max(func.json_extract(c.provenance, "$.model")))
                 .where(c.run_id == run_id).group_by(c.target).order_by(func.min(c.target_index)))
        return tuple(TargetSummary(target, count, int(passed or 0), int(failed or 0), int(errors or 0), tps, ttft,
                                   latency, model)
                     for target, _i, count, passed, failed, errors, tps, ttft, latency, model in s.execute(query))

    # -- cells ----------------------------------------------------------------------------------------
    def add_cell(self, cell: EvalCell) -> EvalCell:
        """Store one finished cell (its own transaction: a kill loses only cells not yet here)."""
        values = {name: getattr(cell, name) for name in _CELL_FIELDS}
        row = EvalCellRow(run_id=cell.run_id, vars=json.dumps(cell.vars, ensure_ascii=False, default=str),
                          assertions=json.dumps([a.as_dict() for a in cell.assertions], ensure_ascii=False,
                                                default=str),
                          provenance=json.dumps(cell.provenance, ensure_ascii=False, default=str),
                          finished_at=cell.finished_at or utc_naive_now(), **values)
        with self._store.session() as s:
            s.add(row)
            s.flush()
            return _cell(row)

    def cells(self, run_id: int) -> list[EvalCell]:
        with self._store.session() as s:
            self._row(s, run_id)
            query = select(EvalCellRow).where(EvalCellRow.run_id == run_id).order_by(
                EvalCellRow.test_index, EvalCellRow.prompt_index, EvalCellRow.target_index, EvalCellRow.repeat)
            return [_cell(row) for row in s.scalars(query)]

    def done_keys(self, run_id: int) -> set[str]:
        with self._store.session() as s:
            return set(s.scalars(select(EvalCellRow.key).where(EvalCellRow.run_id == run_id)))

    def seconds_per_cell(self, model_sha256: str) -> float | None:
        """Wall seconds per finished cell of this model in its latest run with two or more of them (the span from
        its first to its last finished cell, so concurrency counts): what a new suite's estimate uses."""
        c = EvalCellRow
        model = func.json_extract(c.provenance, "$.model_sha256") == model_sha256
        with self._store.session() as s:
            row = s.execute(select(func.min(c.finished_at), func.max(c.finished_at), func.count())
                            .where(model, c.status != "error").group_by(c.run_id).having(func.count() > 1)
                            .order_by(c.run_id.desc()).limit(1)).first()
        if row is None:
            return None
        first, last, count = row
        return max((last - first).total_seconds(), 0.0) / (count - 1)

    # -- tags -----------------------------------------------------------------------------------------
    def tag(self, run_id: int, name: str) -> None:
        """Point tag `name` at a run (moving it from any other run, like a git tag forced)."""
        if not name or len(name) > 128 or name.isdigit() or any(ch.isspace() for ch in name):
            raise InvalidName(f"{name!r} is not a tag name: 1–128 characters, no spaces, not only digits")
        with self._store.session() as s:
            self._row(s, run_id)
            s.execute(delete(EvalTagRow).where(EvalTagRow.name == name))
            s.add(EvalTagRow(name=name, run_id=run_id, created_at=utc_naive_now()))

    def untag(self, name: str) -> None:
        with self._store.session() as s:
            if s.execute(delete(EvalTagRow).where(EvalTagRow.name == name)).rowcount == 0:
                raise NotFound(f"no eval run is tagged {name!r}")

    def tagged(self, name: str) -> int:
        with self._store.session() as s:
            run_id = s.scalar(select(EvalTagRow.run_id).where(EvalTagRow.name == name))
        if run_id is None:
            raise NotFound(f"no eval run is tagged {name!r}: `workbench eval tag RUN {name}` sets it")
        return run_id

    def set_writer(self, run_id: int, writer: dict | None) -> None:
        with self._store.session() as s:
            s.execute(update(EvalRunRow).where(EvalRunRow.id == run_id).values(
                writer=json.dumps(writer) if writer else None))

