"""Migration 3's DDL: versioned presets, sessions and their message trees, and the FTS5 search index.

Kept apart from migrations.py only to keep that file short; the text is frozen like every migration step.
"""

PRESETS_AND_SESSIONS = (
    """
    CREATE TABLE presets (
        id INTEGER PRIMARY KEY,
        name VARCHAR(200) NOT NULL UNIQUE,
        created_at DATETIME NOT NULL
    )
    """,
    """
    CREATE TABLE preset_versions (
        id INTEGER PRIMARY KEY,
        preset_id INTEGER NOT NULL REFERENCES presets (id) ON DELETE CASCADE,
        number INTEGER NOT NULL,
        content TEXT NOT NULL,
        content_sha256 VARCHAR(64) NOT NULL,
        parent_id INTEGER REFERENCES preset_versions (id),
        message TEXT,
        model_sha256 VARCHAR(64),
        created_at DATETIME NOT NULL,
        UNIQUE (preset_id, number)
    )
    """,
    """
    CREATE TABLE preset_tags (
        preset_id INTEGER NOT NULL REFERENCES presets (id) ON DELETE CASCADE,
        tag VARCHAR(128) NOT NULL,
        version_id INTEGER NOT NULL REFERENCES preset_versions (id) ON DELETE CASCADE,
        PRIMARY KEY (preset_id, tag)
    )
    """,
    """
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,
        kind VARCHAR(16) NOT NULL DEFAULT 'chat',
        preset_version_id INTEGER REFERENCES preset_versions (id) ON DELETE RESTRICT,
        model_name VARCHAR(200),
        system_override TEXT,
        parameter_overrides TEXT NOT NULL DEFAULT '{}',
        current_leaf_id INTEGER,
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL
    )
    """,
    """
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        parent_id INTEGER REFERENCES messages (id) ON DELETE CASCADE,
        role VARCHAR(16) NOT NULL,
        content TEXT NOT NULL,
        status VARCHAR(16) NOT NULL DEFAULT 'complete',
        provenance TEXT,
        created_at DATETIME NOT NULL
    )
    """,
    "CREATE INDEX ix_messages_session ON messages (session_id, parent_id)",
    "CREATE INDEX ix_sessions_preset_version ON sessions (preset_version_id)",
    # External-content FTS5 index over message text, kept in step by triggers (SQLite's documented pattern).
    "CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages', content_rowid='id')",
    """
    CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
    END
    """,
    """
    CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
    END
    """,
    """
    CREATE TRIGGER messages_au AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
        INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
    END
    """,
)
