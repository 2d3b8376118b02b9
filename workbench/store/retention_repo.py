"""What retention deletes from the database: old sessions (their messages and search-index rows with them), old
eval runs and the suites no run uses any more; then the search index merged and the file compacted.

The choice of what is old lives in workbench/retention.py; this module only counts and deletes by id.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, text

from .evals_tables import EvalCellRow, EvalRunRow, EvalSuiteRow, EvalTagRow
from .sessions_tables import MessageRow, SessionRow

CHUNK = 500  # ids per DELETE … IN (…): well under SQLite's bound-parameter limit


class RetentionRepository:
    def __init__(self, store):
        self._store = store

    # -- choosing --------------------------------------------------------------------------------------------
    def old_sessions(self, before: datetime | None, keep: int | None) -> list[int]:
        """Sessions last changed before `before`, and those beyond the newest `keep` (None: no such limit)."""
        with self._store.session() as s:
            newest_first = list(s.execute(select(SessionRow.id, SessionRow.updated_at)
                                          .order_by(SessionRow.updated_at.desc(), SessionRow.id.desc())))
        return [r.id for i, r in enumerate(newest_first)
                if (before is not None and r.updated_at < before) or (keep is not None and i >= keep)]

    def old_eval_runs(self, before: datetime | None, keep: int | None) -> list[int]:
        """Finished (or cancelled) runs created before `before` or beyond the newest `keep`; a tagged run (a
        baseline someone named) and a running one are never chosen."""
        with self._store.session() as s:
            tagged = set(s.scalars(select(EvalTagRow.run_id)))
            newest_first = list(s.execute(select(EvalRunRow.id, EvalRunRow.created_at, EvalRunRow.status)
                                          .order_by(EvalRunRow.id.desc())))
        return [r.id for i, r in enumerate(newest_first)
                if r.id not in tagged and r.status != "running"
                and ((before is not None and r.created_at < before) or (keep is not None and i >= keep))]

    def count_messages(self, session_ids: Sequence[int]) -> int:
        return self._count(MessageRow.session_id, session_ids)

    def count_cells(self, run_ids: Sequence[int]) -> int:
        return self._count(EvalCellRow.run_id, run_ids)

    def _count(self, column, ids: Sequence[int]) -> int:
        total = 0
        with self._store.session() as s:
            for i in range(0, len(ids), CHUNK):
                total += s.scalar(select(func.count()).where(column.in_(ids[i:i + CHUNK])))
        return total

    # -- deleting --------------------------------------------------------------------------------------------
    def delete_sessions(self, session_ids: Sequence[int]) -> None:
        """Sessions go with their messages (ON DELETE CASCADE) and those messages' FTS rows (the trigger)."""
        self._delete(SessionRow.id, session_ids)

    def delete_eval_runs(self, run_ids: Sequence[int]) -> int:
        """Runs go with their cells and tags; then the suites no run refers to. Returns how many suites went."""
        self._delete(EvalRunRow.id, run_ids)
        with self._store.session() as s:
            used = select(EvalRunRow.suite_id)
            return s.execute(delete(EvalSuiteRow).where(EvalSuiteRow.id.not_in(used))).rowcount

    def unused_suites(self, going_runs: Sequence[int]) -> int:
        """How many suites no run would use once `going_runs` are deleted."""
        with self._store.session() as s:
            kept = select(EvalRunRow.suite_id).where(EvalRunRow.id.not_in(list(going_runs)))
            return s.scalar(select(func.count()).select_from(EvalSuiteRow).where(EvalSuiteRow.id.not_in(kept)))

    def _delete(self, column, ids: Sequence[int]) -> None:
        with self._store.session() as s:
            for i in range(0, len(ids), CHUNK):
                s.execute(delete(column.table).where(column.in_(ids[i:i + CHUNK])))

    # -- compacting ------------------------------------------------------------------------------------------
    def merge_search_index(self) -> None:
        """Merge the FTS5 index's segments: terms of deleted messages leave the index's pages (with
        secure_delete on, the freed pages are overwritten)."""
        with self._store.session() as s:
            s.execute(text("INSERT INTO messages_fts (messages_fts) VALUES ('optimize')"))

    def free_share(self) -> float:
        """The share of the file's pages that are free (what VACUUM would give back)."""
        with self._store.engine.connect() as conn:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
            free = conn.exec_driver_sql("PRAGMA freelist_count").scalar_one()
        return free / pages if pages else 0.0

    def vacuum(self) -> bool:
        """Rewrite the file without its free pages, then empty the write-ahead log (old page images). False
        when another connection kept it from running (it is tried again at the next start)."""
        try:
            self._outside_transaction("VACUUM")
        except sqlite3.OperationalError:  # busy past the timeout, or a reader in another process
            return False
        self.checkpoint()
        return True

    def checkpoint(self) -> None:
        with contextlib.suppress(sqlite3.OperationalError):  # a busy log is truncated at a later checkpoint
            self._outside_transaction("PRAGMA wal_checkpoint(TRUNCATE)")

    def _outside_transaction(self, sql: str) -> None:
        # the DBAPI connection directly: SQLAlchemy would wrap the statement in BEGIN IMMEDIATE (db.py), and
        # VACUUM refuses to run inside a transaction
        raw = self._store.engine.raw_connection()
        try:
            raw.execute(sql).fetchall()
        finally:
            raw.close()
