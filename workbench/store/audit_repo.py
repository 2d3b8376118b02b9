"""Repository for the audit trail: hash-chained appends, filtered reads and a full-chain check.

Each event's hash is sha256(prev_hash + canonical JSON of its fields); an append runs in one BEGIN IMMEDIATE
transaction, so no two events claim the same predecessor (docs/design.md §11).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator, Sequence

from sqlalchemy import func, insert, select, text

from ..records import AuditEvent, AuditVerification
from .audit_tables import APPEND_ONLY_TRIGGERS, AuditEventRow

GENESIS = "0" * 64
VERIFY_BATCH = 2000


def canonical_json(value) -> str:
    """One text per value: sorted keys, no spaces, UTF-8 kept (what is hashed is what is stored)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash: str, row_id: int, at: str, actor: str, os_user: str, pid: int, kind: str,
               subject: str, details_text: str) -> str:
    body = canonical_json({"id": row_id, "at": at, "actor": actor, "os_user": os_user, "pid": pid, "kind": kind,
                           "subject": subject, "details": details_text})
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _row_hash(row, prev_hash: str) -> str:
    return event_hash(prev_hash, row.id, row.at, row.actor, row.os_user, row.pid, row.kind, row.subject,
                      row.details)


def _event(row) -> AuditEvent:
    try:
        details = json.loads(row.details)
    except ValueError:  # a hand-edited row: show it as it is, verify() names it
        details = {"unreadable": row.details}
    return AuditEvent(at=row.at, actor=row.actor, os_user=row.os_user, pid=row.pid, kind=row.kind,
                      subject=row.subject, details=details, id=row.id, prev_hash=row.prev_hash, hash=row.hash)


class AuditRepository:
    def __init__(self, store):
        self._store = store

    def append(self, events: Sequence[AuditEvent]) -> list[AuditEvent]:
        """Append events in order as one transaction; returns them with id, prev_hash and hash."""
        with self._store.session() as s:
            head = s.execute(select(AuditEventRow.id, AuditEventRow.hash)
                             .order_by(AuditEventRow.id.desc()).limit(1)).first()
            row_id, prev_hash = (head.id, head.hash) if head else (0, GENESIS)
            rows = []
            for e in events:
                row_id += 1
                details = canonical_json(e.details)
                digest = event_hash(prev_hash, row_id, e.at, e.actor, e.os_user, e.pid, e.kind, e.subject, details)
                rows.append(dict(id=row_id, at=e.at, actor=e.actor, os_user=e.os_user, pid=e.pid, kind=e.kind,
                                 subject=e.subject, details=details, prev_hash=prev_hash, hash=digest))
                prev_hash = digest
            # a Core insert: write-once rows need no unit of work (batched appends 2.3x faster, bench_audit.py)
            s.execute(insert(AuditEventRow), rows)
            return [dataclasses.replace(e, id=r["id"], prev_hash=r["prev_hash"], hash=r["hash"])
                    for e, r in zip(events, rows, strict=True)]

    def list(self, *, since: str | None = None, kind: str | None = None, limit: int = 100) -> list[AuditEvent]:
        """The newest `limit` events matching, oldest first. kind: exact, or a prefix ending in '.' (or a
        bare group name like 'preset', which means 'preset.')."""
        query = select(AuditEventRow)
        if since is not None:
            query = query.where(AuditEventRow.at >= since)
        if kind:
            prefix = kind if kind.endswith(".") else kind + "."
            # substr rather than LIKE: a kind holds '_', which LIKE would read as a wildcard
            query = query.where((AuditEventRow.kind == kind)
                                | (func.substr(AuditEventRow.kind, 1, len(prefix)) == prefix))
        with self._store.session() as s:
            rows = list(s.scalars(query.order_by(AuditEventRow.id.desc()).limit(limit)))
            return [_event(r) for r in reversed(rows)]

    def iterate(self) -> Iterator[AuditEvent]:
        """Every event, oldest first, read in batches (exports of long trails stay in bounded memory)."""
        for rows in self._batches():
            yield from (_event(r) for r in rows)

    def _batches(self) -> Iterator[list]:
        """Plain rows (attribute access like the ORM class, without building ORM objects), oldest first."""
        after, table = 0, AuditEventRow.__table__
        while True:
            with self._store.session() as s:
                rows = list(s.execute(select(table).where(table.c.id > after)
                                      .order_by(table.c.id).limit(VERIFY_BATCH)))
            if not rows:
                return
            yield rows
            after = rows[-1].id

    def missing_triggers(self) -> list[str]:
        with self._store.session() as s:
            present = set(s.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                         "AND tbl_name = 'audit_events'")))
        return [t for t in APPEND_ONLY_TRIGGERS if t not in present]

    def verify(self, anchor: str | None = None) -> AuditVerification:
        """Recompute the chain from the first event: the first event that breaks it and why.

        anchor: a head hash recorded earlier (elsewhere); the chain must still hold an event with it, which
        proves that nothing up to that event was removed, cut off or rewritten since.
        """
        checked, prev_id, prev_hash, anchored = 0, 0, GENESIS, anchor is None
        for rows in self._batches():
            for row in rows:
                problem = _chain_problem(row, prev_id, prev_hash)
                if problem:
                    return AuditVerification(False, checked, row.id, problem, prev_id or None,
                                             prev_hash if prev_id else None)
                checked, prev_id, prev_hash = checked + 1, row.id, row.hash
                anchored = anchored or row.hash == anchor
        head = (prev_id or None, prev_hash if prev_id else None)
        missing = self.missing_triggers()
        if missing:
            return AuditVerification(False, checked, None, "the append-only triggers are missing "
                                     f"({', '.join(missing)}): rows could have been changed or removed", *head)
        if not anchored:
            return AuditVerification(False, checked, None, f"no event has the recorded head hash {anchor}: events "
                                     "up to it were removed, cut off or the chain was rewritten", *head)
        return AuditVerification(True, checked, None, None, *head)


def _chain_problem(row, prev_id: int, prev_hash: str) -> str | None:
    if row.id != prev_id + 1:
        return (f"event {row.id} follows event {prev_id or '(none)'}: "
                f"{'events were removed before it' if row.id > prev_id + 1 else 'its id is out of order'}")
    if row.prev_hash != prev_hash:
        return (f"event {row.id} does not link to the event before it (prev_hash differs): the earlier event "
                "was changed or replaced")
    if _row_hash(row, prev_hash) != row.hash:
        return f"event {row.id}'s contents do not match its hash: it was changed after it was written"
    return None
