"""The audit trail's table: migration 4's frozen DDL (with its append-only triggers) and the ORM class.

Rows are never changed after insert: two triggers make SQLite itself refuse UPDATE and DELETE, whoever opens
the file. `at` is stored as text (ISO 8601, UTC) rather than DATETIME because each row's hash covers the exact
stored text; a driver that re-formatted a datetime would otherwise break the chain.
"""

from __future__ import annotations

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .tables import Base

APPEND_ONLY_TRIGGERS = ("audit_events_no_update", "audit_events_no_delete")

AUDIT_EVENTS = (
    """
    CREATE TABLE audit_events (
        id INTEGER PRIMARY KEY,
        at VARCHAR(40) NOT NULL,
        actor VARCHAR(16) NOT NULL,
        os_user TEXT NOT NULL,
        pid INTEGER NOT NULL,
        kind VARCHAR(64) NOT NULL,
        subject TEXT NOT NULL,
        details TEXT NOT NULL,
        prev_hash VARCHAR(64) NOT NULL,
        hash VARCHAR(64) NOT NULL
    )
    """,
    "CREATE INDEX ix_audit_events_kind ON audit_events (kind)",
    "CREATE INDEX ix_audit_events_at ON audit_events (at)",
    """
    CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: events cannot be changed'); END
    """,
    """
    CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: events cannot be deleted'); END
    """,
)


class AuditEventRow(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[str] = mapped_column(String(40), index=True)
    actor: Mapped[str] = mapped_column(String(16))  # the caller: cli, gui, endpoint (or api for library use)
    os_user: Mapped[str] = mapped_column(Text)
    pid: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text)  # canonical JSON, exactly the text the hash covers
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


CHECKPOINT_TRIGGERS = ("audit_checkpoints_no_update", "audit_checkpoints_no_delete")

# Migration 7: retention may delete events, but only behind a checkpoint written first in the same transaction
# (the range it covers, the hash of its last event); the checkpoints themselves are append-only and chained.
AUDIT_CHECKPOINTS = (
    """
    CREATE TABLE audit_checkpoints (
        id INTEGER PRIMARY KEY,
        at VARCHAR(40) NOT NULL,
        first_event_id INTEGER NOT NULL,
        last_event_id INTEGER NOT NULL,
        last_event_hash VARCHAR(64) NOT NULL,
        events INTEGER NOT NULL,
        kinds TEXT NOT NULL,
        prev_hash VARCHAR(64) NOT NULL,
        hash VARCHAR(64) NOT NULL
    )
    """,
    "CREATE UNIQUE INDEX ix_audit_checkpoints_first ON audit_checkpoints (first_event_id)",
    """
    CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
    BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only: checkpoints cannot be changed'); END
    """,
    """
    CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
    BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only: checkpoints cannot be deleted'); END
    """,
    "DROP TRIGGER audit_events_no_delete",
    """
    CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    WHEN NOT EXISTS (SELECT 1 FROM audit_checkpoints c WHERE old.id BETWEEN c.first_event_id AND c.last_event_id)
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: events cannot be deleted'); END
    """,
)


class AuditCheckpointRow(Base):
    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[str] = mapped_column(String(40))
    first_event_id: Mapped[int] = mapped_column(Integer, unique=True)
    last_event_id: Mapped[int] = mapped_column(Integer)
    last_event_hash: Mapped[str] = mapped_column(String(64))  # the next remaining event's prev_hash
    events: Mapped[int] = mapped_column(Integer)  # how many events the range held when it was pruned
    kinds: Mapped[str] = mapped_column(Text)  # canonical JSON {kind: count}: counts, never content
    prev_hash: Mapped[str] = mapped_column(String(64))  # the previous checkpoint's hash (zeros for the first)
    hash: Mapped[str] = mapped_column(String(64))
