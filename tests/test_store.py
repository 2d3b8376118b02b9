"""The SQLite store on real files: pragmas, migrations (idempotent, upgrade, refusal), ORM ↔ schema agreement."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.dialects import sqlite as sqlite_dialect

from workbench.errors import AlreadyExists, NotFound, WorkbenchError
from workbench.records import LocalModel
from workbench.store import Store
from workbench.store.db import DatabaseError
from workbench.store.migrations import LATEST_VERSION, MIGRATIONS
from workbench.store.tables import Base


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "wb.db"


def _schema(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()


def test_wal_and_foreign_keys_are_on(db: Path):
    store = Store(db)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 1000
    store.close()
    with sqlite3.connect(db) as conn:  # WAL is a property of the file: another program sees it too
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrations_run_once_and_are_idempotent(db: Path):
    store = Store(db)
    assert store.schema_version() == LATEST_VERSION == max(m.version for m in MIGRATIONS)
    before = _schema(db)
    store.migrate()
    store.close()
    Store(db).close()
    assert _schema(db) == before
    assert Store(db).integrity_check() == "ok"


def test_upgrade_from_the_first_schema_keeps_data(db: Path):
    """A database left at version 1 by an older Workbench is migrated forward with its rows intact."""
    with sqlite3.connect(db) as conn:
        for statement in MIGRATIONS[0].statements:
            conn.execute(statement)
        conn.execute("INSERT INTO models (name, sha256, path, in_place, size_bytes, added_at) "
                     "VALUES ('old:Q4_0', ?, '/models/old.gguf', 1, 123, '2025-01-02 03:04:05')", ("a" * 64,))
        conn.execute("PRAGMA user_version = 1")
    store = Store(db)
    assert store.schema_version() == LATEST_VERSION
    model = store.models.get("old:Q4_0")
    assert model.sha256 == "a" * 64 and model.path == Path("/models/old.gguf") and model.split_paths == ()
    assert model.added_at == datetime(2025, 1, 2, 3, 4, 5) and model.metadata == {}
    store.close()


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_newer_schema_is_refused_and_left_alone(db: Path):
    Store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    digest = _file_digest(db)
    with pytest.raises(DatabaseError, match=rf"written by a newer Workbench \(schema {LATEST_VERSION + 1} > "
                                            rf"{LATEST_VERSION}\): upgrade Workbench"):
        Store(db)
    assert _file_digest(db) == digest
    assert issubclass(DatabaseError, WorkbenchError)  # the callers print it as one line


@pytest.mark.parametrize("content", [b"this is not a database" * 100, b"SQLite format 3\x00" + b"\xff" * 200])
def test_non_database_file_is_a_clear_error(db: Path, content: bytes):
    db.write_bytes(content)
    with pytest.raises(DatabaseError, match=r"is not a readable Workbench database"):
        Store(db)
    assert db.read_bytes() == content  # never overwritten


def _db_columns(path: Path, table: str) -> dict[str, tuple]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(f"PRAGMA table_info({table})").fetchall()
    return {name: (ctype.upper(), bool(notnull) or bool(pk), bool(pk)) for _, name, ctype, notnull, _, pk in rows}


def _orm_columns(table) -> dict[str, tuple]:
    dialect = sqlite_dialect.dialect()
    return {c.name: (c.type.compile(dialect=dialect).upper(), not c.nullable or c.primary_key, c.primary_key)
            for c in table.columns}


def _db_foreign_keys(path: Path, table: str) -> set[tuple]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(f"PRAGMA foreign_key_list({table})").fetchall()
    return {(r[3], r[2], r[4]) for r in rows}  # (from column, target table, target column)


def _orm_foreign_keys(table) -> set[tuple]:
    return {(fk.parent.name, fk.column.table.name, fk.column.name) for fk in table.foreign_keys}


def test_orm_metadata_agrees_with_the_migrated_schema(db: Path):
    """tables.py describes the latest schema; migrations.py creates it. Columns, types, NOT NULL, keys agree."""
    Store(db).close()
    with sqlite3.connect(db) as conn:
        db_tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL TABLE%'")}
    shadow = {t for t in db_tables if t.endswith(("_fts_data", "_fts_idx", "_fts_docsize", "_fts_config"))}
    assert set(Base.metadata.tables) == db_tables - shadow
    for name, table in Base.metadata.tables.items():
        assert _orm_columns(table) == _db_columns(db, name), name
        assert _orm_foreign_keys(table) == _db_foreign_keys(db, name), name


def _model(name: str = "m:Q4_0", **changes) -> LocalModel:
    values = dict(name=name, sha256="b" * 64, path=Path("/m/first.gguf"), in_place=True, size_bytes=10,
                  added_at=datetime(2026, 1, 1), split_paths=(Path("/m/2.gguf"),), split_sha256=("c" * 64,),
                  metadata={"general.name": "M", "tokenizer.ggml.tokens": {"type": "array", "length": 3}})
    values.update(changes)
    return LocalModel(**values)


def test_model_repository_round_trip(db: Path):
    store = Store(db)
    added = store.models.add(_model())
    assert added.id is not None and added == _model(id=added.id)
    assert added.metadata["tokenizer.ggml.tokens"]["length"] == 3 and added.split_sha256 == ("c" * 64,)
    with pytest.raises(AlreadyExists):
        store.models.add(_model())
    store.models.update(_model(quantization="Q4_0", id=added.id))
    assert store.models.get("m:Q4_0").quantization == "Q4_0"
    assert [m.name for m in store.models.by_sha256("b" * 64)] == ["m:Q4_0"]
    store.models.remove("m:Q4_0")
    with pytest.raises(NotFound):
        store.models.get("m:Q4_0")
    store.close()
