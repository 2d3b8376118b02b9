"""Ordered schema migrations, tracked in SQLite's `PRAGMA user_version`; each step is frozen DDL text.

To change the schema, append a step with the next version number; never edit a released one. Why not Alembic,
and the whole recipe: docs/design.md §9. `tests/test_store.py` checks that the ORM classes agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from .audit_tables import AUDIT_CHECKPOINTS, AUDIT_EVENTS
from .evals_tables import EVALS
from .media_tables import PROJECTORS_AND_MESSAGE_MEDIA
from .schema_v3 import PRESETS_AND_SESSIONS


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "models", (
        """
        CREATE TABLE models (
            id INTEGER PRIMARY KEY,
            name VARCHAR(200) NOT NULL UNIQUE,
            sha256 VARCHAR(64) NOT NULL,
            path TEXT NOT NULL,
            in_place BOOLEAN NOT NULL,
            size_bytes BIGINT NOT NULL,
            architecture VARCHAR(64),
            parameter_count BIGINT,
            quantization VARCHAR(32),
            context_length INTEGER,
            embedding_length INTEGER,
            block_count INTEGER,
            head_count INTEGER,
            head_count_kv INTEGER,
            tokenizer_model VARCHAR(64),
            chat_template_sha256 VARCHAR(64),
            license TEXT,
            general_name TEXT,
            tensor_count INTEGER,
            split_paths TEXT NOT NULL DEFAULT '[]',
            split_sha256 TEXT NOT NULL DEFAULT '[]',
            metadata_json TEXT NOT NULL DEFAULT '{}',
            source_repo TEXT,
            source_revision VARCHAR(64),
            source_file TEXT,
            parent_sha256 VARCHAR(64),
            requantized BOOLEAN NOT NULL DEFAULT 0,
            added_at DATETIME NOT NULL
        )
        """,
        "CREATE INDEX ix_models_sha256 ON models (sha256)",
    )),
    Migration(2, "downloads", (
        """
        CREATE TABLE downloads (
            id INTEGER PRIMARY KEY,
            key VARCHAR(64) NOT NULL UNIQUE,
            repo TEXT NOT NULL,
            revision VARCHAR(64) NOT NULL,
            filename TEXT NOT NULL,
            url TEXT NOT NULL,
            expected_sha256 VARCHAR(64),
            etag TEXT,
            size_bytes BIGINT,
            partial_path TEXT NOT NULL,
            bytes_done BIGINT NOT NULL DEFAULT 0,
            status VARCHAR(16) NOT NULL,
            error TEXT,
            started_at DATETIME NOT NULL,
            updated_at DATETIME NOT NULL
        )
        """,
        "CREATE INDEX ix_downloads_repo_filename ON downloads (repo, filename)",
    )),
    Migration(3, "presets and sessions", PRESETS_AND_SESSIONS),
    Migration(4, "audit trail", AUDIT_EVENTS),
    Migration(5, "eval suites, runs, cells and tags", EVALS),
    Migration(6, "an answer's thinking, apart from its text", (
        "ALTER TABLE messages ADD COLUMN thinking TEXT",
    )),
    Migration(7, "audit checkpoints: retention prunes events only behind one", AUDIT_CHECKPOINTS),
    Migration(8, "a model's paired projector; the images a message carries", PROJECTORS_AND_MESSAGE_MEDIA),
)

LATEST_VERSION = max(m.version for m in MIGRATIONS)
assert sorted(m.version for m in MIGRATIONS) == list(range(1, LATEST_VERSION + 1)), "migration numbers must be 1..N"
