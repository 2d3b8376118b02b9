"""Repository for the audit trail: hash-chained appends, filtered reads and a full-chain check.

Each event's hash is sha256(prev_hash + canonical JSON of its fields); an append runs in one BEGIN IMMEDIATE
transaction, so no two events claim the same predecessor (docs/design.md §11). Retention prunes events only
behind a checkpoint (the range and the hash of its last event), which `verify` steps over.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator, Sequence

from sqlalchemy import delete, func, insert, or_, select, text

from ..records import AuditEvent, AuditVerification
from .audit_tables import APPEND_ONLY_TRIGGERS, CHECKPOINT_TRIGGERS, AuditCheckpointRow, AuditEventRow

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
                                         "AND tbl_name IN ('audit_events', 'audit_checkpoints')")))
        return [t for t in (*APPEND_ONLY_TRIGGERS, *CHECKPOINT_TRIGGERS) if t not in present]

    # -- retention -----------------------------------------------------------------------------------------
    def prunable(self, before: str | None, kinds_before: str | None, kinds: Sequence[str]) -> dict[str, int]:
        """{kind: count} of the events `prune` would remove (see there)."""
        condition = _prune_filter(before, kinds_before, kinds)
        if condition is None:
            return {}
        with self._store.session() as s:
            rows = s.execute(select(AuditEventRow.kind, func.count()).where(condition).group_by(AuditEventRow.kind))
            return {kind: count for kind, count in rows}

    def prune(self, before: str | None, kinds_before: str | None, kinds: Sequence[str], *, at: str) -> list[dict]:
        """Delete every event older than `before` (stored `at` text) and those of `kinds` older than
        `kinds_before` (None: no such limit), behind one checkpoint per run of consecutive ids, in one
        transaction. Returns the checkpoints written (as dicts); the caller appends the event that signs them off."""
        condition = _prune_filter(before, kinds_before, kinds)
        if condition is None:
            return []
        with self._store.session() as s:
            rows = list(s.execute(select(AuditEventRow.id, AuditEventRow.hash, AuditEventRow.kind)
                                  .where(condition).order_by(AuditEventRow.id)))
            last = s.execute(select(AuditCheckpointRow.hash).order_by(AuditCheckpointRow.id.desc()).limit(1)).first()
            prev_hash, written = (last.hash if last else GENESIS), []
            for run in _runs(rows):
                checkpoint = _checkpoint(run, prev_hash, at)
                s.execute(insert(AuditCheckpointRow), [checkpoint])
                s.execute(delete(AuditEventRow).where(AuditEventRow.id.between(run[0].id, run[-1].id)))
                prev_hash = checkpoint["hash"]
                written.append(checkpoint)
            return written

    def checkpoints(self) -> list[dict]:
        with self._store.session() as s:
            table = AuditCheckpointRow.__table__
            return [dict(r._mapping) for r in s.execute(select(table).order_by(table.c.id))]

    def verify(self, anchor: str | None = None) -> AuditVerification:
        """Recompute the chain from the first event: the first event that breaks it and why.

        anchor: a head hash recorded earlier (elsewhere); the chain must still hold an event with it, which
        proves that nothing up to that event was removed, cut off or rewritten since.
        """
        gaps, problem = _checkpoint_gaps(self.checkpoints())
        if problem:
            return AuditVerification(False, 0, None, problem)
        checked, prev_id, prev_hash, anchored = 0, 0, GENESIS, anchor is None
        for rows in self._batches():
            for row in rows:
                prev_id, prev_hash = _step_over(gaps, prev_id, prev_hash)
                problem = _chain_problem(row, prev_id, prev_hash)
                if problem:
                    return AuditVerification(False, checked, row.id, problem, prev_id or None,
                                             prev_hash if prev_id else None)
                checked, prev_id, prev_hash = checked + 1, row.id, row.hash
                anchored = anchored or row.hash == anchor
        prev_id, prev_hash = _step_over(gaps, prev_id, prev_hash)
        head = (prev_id or None, prev_hash if prev_id else None)
        missing = self.missing_triggers()
        if missing:
            return AuditVerification(False, checked, None, "the append-only triggers are missing "
                                     f"({', '.join(missing)}): rows could have been changed or removed", *head)
        if not anchored:
            pruned = " (or retention pruned it: give a newer anchor)" if gaps else ""
            return AuditVerification(False, checked, None, f"no event has the recorded head hash {anchor}: events "
                                     f"up to it were removed, cut off or the chain was rewritten{pruned}", *head)
        return AuditVerification(True, checked, None, None, *head,
                                 pruned=sum(cp["events"] for cp in gaps.values()))


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


def _prune_filter(before: str | None, kinds_before: str | None, kinds: Sequence[str]):
    """The SQL condition for what prune removes; None when nothing is to go."""
    conditions = [AuditEventRow.at < before] if before is not None else []
    if kinds and kinds_before is not None:
        conditions.append(AuditEventRow.kind.in_(list(kinds)) & (AuditEventRow.at < kinds_before))
    return or_(*conditions) if conditions else None


def _runs(rows: list) -> Iterator[list]:
    """Rows (id order) split into runs of consecutive ids: one checkpoint covers each."""
    run: list = []
    for row in rows:
        if run and row.id != run[-1].id + 1:
            yield run
            run = []
        run.append(row)
    if run:
        yield run


def _checkpoint(run: list, prev_hash: str, at: str) -> dict:
    kinds: dict[str, int] = {}
    for row in run:
        kinds[row.kind] = kinds.get(row.kind, 0) + 1
    fields = dict(at=at, first_event_id=run[0].id, last_event_id=run[-1].id, last_event_hash=run[-1].hash,
                  events=len(run), kinds=canonical_json(kinds))
    digest = hashlib.sha256((prev_hash + canonical_json(fields)).encode("utf-8")).hexdigest()
    return {**fields, "prev_hash": prev_hash, "hash": digest}


def _checkpoint_gaps(checkpoints: list[dict]) -> tuple[dict[int, dict], str | None]:
    """{first pruned id: checkpoint} after checking the checkpoints' own chain; or the problem found."""
    prev_hash, gaps = GENESIS, {}
    for cp in checkpoints:
        fields = {k: cp[k] for k in ("at", "first_event_id", "last_event_id", "last_event_hash", "events", "kinds")}
        if cp["prev_hash"] != prev_hash or \
                hashlib.sha256((prev_hash + canonical_json(fields)).encode("utf-8")).hexdigest() != cp["hash"]:
            return {}, f"audit checkpoint {cp['id']} was changed or replaced after retention wrote it"
        gaps[cp["first_event_id"]] = cp
        prev_hash = cp["hash"]
    return gaps, None


def _step_over(gaps: dict[int, dict], prev_id: int, prev_hash: str) -> tuple[int, str]:
    """Past the pruned ranges that start right after prev_id: the next event links to the last pruned one."""
    while (cp := gaps.get(prev_id + 1)) is not None:
        prev_id, prev_hash = cp["last_event_id"], cp["last_event_hash"]
    return prev_id, prev_hash
