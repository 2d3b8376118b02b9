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
