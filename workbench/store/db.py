"""Opening the SQLite file: pragmas, migrations, sessions, repositories."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import DiskFull, WorkbenchError
from . import (  # noqa: F401  (register their tables on Base.metadata)
    audit_tables,
    evals_tables,
    media_tables,
    presets_tables,
    sessions_tables,
)
from .migrations import LATEST_VERSION, MIGRATIONS


class DatabaseError(WorkbenchError):
    """The database file is newer than this program, unreadable or corrupt."""


class CorruptDatabase(DatabaseError):
    """The file is not a readable SQLite database (damaged, truncated, or another kind of file)."""


def move_aside(path: Path) -> Path:
    """Rename a damaged database (and its -wal/-shm files) to `<name>.corrupt-<UTC time>`, so a new one can be
    made in its place and nothing in it is lost; returns the new name of the main file."""
    from ..files import utc_text

    stamp = utc_text(timespec="seconds").replace("+00:00", "Z").replace(":", "")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("-wal", "-shm", ""):  # the main file last: a crash in between leaves it where it was
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.rename(target.with_name(target.name + suffix))
    return target


def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    # Python's sqlite3 opens transactions implicitly, which defeats BEGIN IMMEDIATE; let SQLAlchemy drive them.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app crashes, fast commits
    cursor.execute("PRAGMA busy_timeout=10000")  # CLI, GUI and server may open the same file at once
    cursor.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten, not left in free pages (retention)
    cursor.close()


def _on_begin(connection) -> None:
    # Writers take the lock up front: no "database is locked" upgrade failures between concurrent processes.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class DatabaseBusy(DatabaseError):
    """Another process kept the database locked longer than the busy timeout."""

    http_status = 503
    code = "database_busy"


SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL = 5, 6, 13


def _storage_error(path: Path, exc: OperationalError) -> Exception:
    """SQLite's full-disk and lock errors as WorkbenchErrors naming the file; anything else as it was."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    text = str(exc.orig)
    if code == SQLITE_FULL or "disk is full" in text:
        return DiskFull(f"the disk holding {path} is full: the change was not saved (nothing saved before is "
                        "lost); free some space and try again")
    if code in (SQLITE_BUSY, SQLITE_LOCKED) or "database is locked" in text:
        return DatabaseBusy(f"{path} stayed locked by another Workbench process (the app, the CLI or the "
                            "endpoint) for longer than 10 s: nothing was changed; try again")
    return exc


class Store:
    """One SQLite database. Thread-safe: each unit of work gets its own SQLAlchemy session."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
        event.listen(self.engine, "connect", _on_connect)
        event.listen(self.engine, "begin", _on_begin)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.migrate()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any exception. A full disk and a database
        another process keeps locked past the busy timeout become errors that say so (nothing saved is lost:
        the unit of work is rolled back whole)."""
        try:
            with self._sessions() as session, session.begin():
                yield session
        except OperationalError as exc:
            raise _storage_error(self.path, exc) from exc

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return conn.exec_driver_sql("PRAGMA user_version").scalar_one()

    def migrate(self) -> None:
        try:
            current = self.schema_version()
        except Exception as exc:  # sqlite3 raises DatabaseError for a non-database file
            self.engine.dispose()
            reason = getattr(exc, "orig", None) or exc  # sqlite3's own words, without SQLAlchemy's wrapping
            raise CorruptDatabase(f"{self.path} is not a readable Workbench database: {reason}") from exc
        if current > LATEST_VERSION:
            raise DatabaseError(
                f"{self.path} was written by a newer Workbench (schema {current} > {LATEST_VERSION}): "
                "upgrade Workbench or point WORKBENCH_HOME elsewhere"
            )
        for migration in sorted(MIGRATIONS, key=lambda m: m.version):
            if migration.version <= current:
                continue
            with self.engine.begin() as conn:
                for statement in migration.statements:
                    conn.exec_driver_sql(statement)
                conn.exec_driver_sql(f"PRAGMA user_version = {int(migration.version)}")

    def integrity_check(self) -> str:
        with self.engine.connect() as conn:
            return conn.exec_driver_sql("PRAGMA integrity_check").scalar_one()

    @cached_property
    def models(self):
        from .models_repo import ModelRepository

        return ModelRepository(self)

    @cached_property
    def presets(self):
        from .presets_repo import PresetRepository

        return PresetRepository(self)

    @cached_property
    def sessions(self):
        from .sessions_repo import SessionRepository

        return SessionRepository(self)

    @cached_property
    def downloads(self):
        from .downloads_repo import DownloadRepository

        return DownloadRepository(self)

    @cached_property
    def audit(self):
        from .audit_repo import AuditRepository

        return AuditRepository(self)

    @cached_property
    def retention(self):
        from .retention_repo import RetentionRepository

        return RetentionRepository(self)

    @cached_property
    def evals(self):
        from .evals_repo import EvalRepository

        return EvalRepository(self)

    def close(self) -> None:
        self.engine.dispose()
