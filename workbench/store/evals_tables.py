"""Eval suites, runs, cells and run tags: migration 5's frozen DDL and the ORM classes that mirror it.

A suite row is keyed by the hash of what runs (file:// contents included) and keeps the YAML text beside the
resolved JSON a resume rebuilds the suite from. A cell row is written once, when the cell is finished (so a
killed run keeps exactly its finished cells); `(run_id, key)` is unique, which is what makes resume idempotent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .tables import Base

EVALS = (
    """
    CREATE TABLE eval_suites (
        id INTEGER PRIMARY KEY,
        sha256 VARCHAR(64) NOT NULL UNIQUE,
        description TEXT NOT NULL,
        path TEXT,
        text TEXT NOT NULL,
        resolved TEXT NOT NULL,
        created_at DATETIME NOT NULL
    )
    """,
    """
    CREATE TABLE eval_runs (
        id INTEGER PRIMARY KEY,
        suite_id INTEGER NOT NULL REFERENCES eval_suites (id) ON DELETE RESTRICT,
        status VARCHAR(16) NOT NULL,
        options TEXT NOT NULL DEFAULT '{}',
        total_cells INTEGER NOT NULL,
        baseline_run_id INTEGER REFERENCES eval_runs (id) ON DELETE SET NULL,
        writer TEXT,
        created_at DATETIME NOT NULL,
        finished_at DATETIME
    )
    """,
    "CREATE INDEX ix_eval_runs_suite_id ON eval_runs (suite_id)",
    """
    CREATE TABLE eval_cells (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES eval_runs (id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        prompt_index INTEGER NOT NULL,
        target_index INTEGER NOT NULL,
        test_index INTEGER NOT NULL,
        repeat INTEGER NOT NULL,
        prompt_label TEXT NOT NULL,
        target TEXT NOT NULL,
        test_description TEXT NOT NULL,
        vars TEXT NOT NULL DEFAULT '{}',
        status VARCHAR(16) NOT NULL,
        output TEXT NOT NULL,
        score FLOAT NOT NULL,
        assertions TEXT NOT NULL DEFAULT '[]',
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        ttft_seconds FLOAT,
        tokens_per_second FLOAT,
        latency_ms FLOAT,
        finish_reason VARCHAR(16),
        error TEXT,
        provenance TEXT NOT NULL DEFAULT '{}',
        finished_at DATETIME NOT NULL,
        UNIQUE (run_id, key)
    )
    """,
    """
    CREATE TABLE eval_tags (
        name VARCHAR(128) PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES eval_runs (id) ON DELETE CASCADE,
        created_at DATETIME NOT NULL
    )
    """,
)


class EvalSuiteRow(Base):
    __tablename__ = "eval_suites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text)
    path: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    resolved: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class EvalRunRow(Base):
    __tablename__ = "eval_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    suite_id: Mapped[int] = mapped_column(ForeignKey("eval_suites.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    options: Mapped[str] = mapped_column(Text, default="{}")
    total_cells: Mapped[int] = mapped_column(Integer)
    baseline_run_id: Mapped[int | None] = mapped_column(ForeignKey("eval_runs.id", ondelete="SET NULL"))
    writer: Mapped[str | None] = mapped_column(Text)  # the process running it (chat.service.writer_identity)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class EvalCellRow(Base):
    __tablename__ = "eval_cells"
    __table_args__ = (UniqueConstraint("run_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("eval_runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(Text)
    prompt_index: Mapped[int] = mapped_column(Integer)
    target_index: Mapped[int] = mapped_column(Integer)
    test_index: Mapped[int] = mapped_column(Integer)
    repeat: Mapped[int] = mapped_column(Integer)
    prompt_label: Mapped[str] = mapped_column(Text)
    target: Mapped[str] = mapped_column(Text)
    test_description: Mapped[str] = mapped_column(Text)
    vars: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(16))
    output: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Float)
    assertions: Mapped[str] = mapped_column(Text, default="[]")
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    ttft_seconds: Mapped[float | None] = mapped_column(Float)
    tokens_per_second: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    finish_reason: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    provenance: Mapped[str] = mapped_column(Text, default="{}")
    finished_at: Mapped[datetime] = mapped_column(DateTime)


class EvalTagRow(Base):
    __tablename__ = "eval_tags"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("eval_runs.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
