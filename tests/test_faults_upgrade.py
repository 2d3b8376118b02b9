"""Schema upgrades and damaged databases: a database left by every earlier schema version (built from the frozen
migrations, with rows in every table that version had) opens and migrates with its data intact; a newer one is
refused untouched; a corrupt one is named, moved aside with a timestamp, and the app still starts."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from tests.test_cli_library import assert_one_line_error, run
from workbench.app import Workbench
from workbench.paths import default_paths
from workbench.store.audit_repo import GENESIS, event_hash
from workbench.store.migrations import LATEST_VERSION, MIGRATIONS

SHA = "a" * 64
T = "2025-01-02 03:04:05"
MODELFILE = "FROM old:Q4_0\nSYSTEM Be brief.\nPARAMETER temperature 0.3\n"


def _audit_rows() -> list[tuple]:
    rows, prev = [], GENESIS
    for row_id, kind in ((1, "model.imported"), (2, "preset.saved")):
        at = f"2025-01-02T03:04:0{row_id}.000000+00:00"
        digest = event_hash(prev, row_id, at, "cli", "someone", 42, kind, "old", "{}")
        rows.append((row_id, at, "cli", "someone", 42, kind, "old", "{}", prev, digest))
        prev = digest
    return rows


# rows an older Workbench wrote, by the schema version that added their tables
DATA: dict[int, list[tuple[str, tuple]]] = {
    1: [("INSERT INTO models (name, sha256, path, in_place, size_bytes, architecture, added_at) "
         "VALUES ('old:Q4_0', ?, '/models/old.gguf', 1, 123, 'llama', ?)", (SHA, T))],
    2: [("INSERT INTO downloads (key, repo, revision, filename, url, size_bytes, partial_path, bytes_done, status, "
         "started_at, updated_at) VALUES ('k1', 'o/r', 'main', 'x.gguf', 'http://h/x', 10, '/p/k1', 5, 'paused', "
         "?, ?)", (T, T))],
    3: [("INSERT INTO presets (id, name, created_at) VALUES (1, 'helper', ?)", (T,)),
        ("INSERT INTO preset_versions (id, preset_id, number, content, content_sha256, message, model_sha256, "
         "created_at) VALUES (1, 1, 1, ?, ?, 'created', ?, ?)",
         (MODELFILE, hashlib.sha256(MODELFILE.encode()).hexdigest(), SHA, T)),
        ("INSERT INTO preset_tags (preset_id, tag, version_id) VALUES (1, 'stable', 1)", ()),
        ("INSERT INTO sessions (id, title, preset_version_id, created_at, updated_at, current_leaf_id) "
         "VALUES (1, 'old chat', 1, ?, ?, 2)", (T, T)),
        ("INSERT INTO messages (id, session_id, parent_id, role, content, created_at) "
         "VALUES (1, 1, NULL, 'user', 'tell me about platypuses', ?)", (T,)),
        ("INSERT INTO messages (id, session_id, parent_id, role, content, provenance, created_at) "
         "VALUES (2, 1, 1, 'assistant', 'platypuses lay eggs', '{\"seed\": 7}', ?)", (T,))],
    4: [("INSERT INTO audit_events (id, at, actor, os_user, pid, kind, subject, details, prev_hash, hash) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row) for row in _audit_rows()],
    5: [("INSERT INTO eval_suites (id, sha256, description, path, text, resolved, created_at) "
         "VALUES (1, ?, 'old suite', NULL, 'prompts: []', '{}', ?)", (SHA, T)),
        ("INSERT INTO eval_runs (id, suite_id, status, options, total_cells, created_at, finished_at) "
         "VALUES (1, 1, 'done', '{}', 1, ?, ?)", (T, T)),
        ("INSERT INTO eval_cells (run_id, key, prompt_index, target_index, test_index, repeat, prompt_label, "
         "target, test_description, status, output, score, finished_at) "
         "VALUES (1, 'c1', 0, 0, 0, 0, 'p', 'helper', 't', 'passed', 'Paris', 1.0, ?)", (T,)),
        ("INSERT INTO eval_tags (name, run_id, created_at) VALUES ('baseline', 1, ?)", (T,))],
    6: [("UPDATE messages SET thinking = 'eggs, surely' WHERE id = 2", ())],
    8: [("UPDATE models SET projector_path = '/models/mmproj.gguf', projector_sha256 = ?, "
         "projector_modalities = 'vision' WHERE name = 'old:Q4_0'", (SHA,)),
        ("INSERT INTO message_media (message_id, position, sha256, kind, mime, size_bytes) "
         "VALUES (1, 0, ?, 'image', 'image/png', 10)", (SHA,))],
}


def database_at(version: int, path: Path) -> Path:
    """A data folder's database as Workbench at schema `version` left it: its migrations, then its rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")  # as every Workbench has written it
        for migration in MIGRATIONS[:version]:
            for statement in migration.statements:
                conn.execute(statement)
            for sql, params in DATA.get(migration.version, []):
                conn.execute(sql, params)
        conn.execute(f"PRAGMA user_version = {version}")
    return path


@pytest.mark.parametrize("version", range(1, LATEST_VERSION))
def test_a_database_from_every_earlier_version_migrates_with_its_data(version: int, workbench_home: Path):
    database_at(version, default_paths().db)
    with Workbench() as wb:
        assert wb.store.schema_version() == LATEST_VERSION and wb.store.integrity_check() == "ok"
        model = wb.library.get("old:Q4_0")
        assert (model.sha256, model.path, model.size_bytes, model.architecture) == \
            (SHA, Path("/models/old.gguf"), 123, "llama")
        if version >= 2:
            assert wb.store.downloads.get("k1").bytes_done == 5
        if version >= 3:
            assert wb.presets.get("helper:stable").content == MODELFILE
            user, answer = wb.sessions.path(1)
            assert (user.content, answer.content, answer.provenance["seed"]) == \
                ("tell me about platypuses", "platypuses lay eggs", 7)
            assert {hit.message_id for hit in wb.sessions.search("platypuses")} == {1, 2}  # the FTS index too
        if version >= 4:
            result = wb.audit.verify()
            assert result.ok and result.checked == 2, result
        if version >= 5:
            (old_run,) = wb.evals.runs()
            assert old_run.tags == ("baseline",) and wb.evals.cells(old_run.id)[0].output == "Paris"
        if version >= 6:
            assert wb.sessions.path(1)[1].thinking == "eggs, surely"
        if version >= 8:
            assert (model.projector_path, model.modalities) == ("/models/mmproj.gguf", ("vision",))
            assert wb.sessions.path(1)[0].media[0].sha256 == SHA
        wb.update_settings(keep_sessions_count=0)  # and the newest code works on it: retention, a new preset
        assert wb.retention.apply().sessions == (1 if version >= 3 else 0)
        with sqlite3.connect(wb.paths.db) as conn:
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_a_newer_database_is_refused_untouched_with_a_clear_message(capsys, workbench_home: Path):
    db = default_paths().db
    database_at(LATEST_VERSION, db)
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    before = db.read_bytes()
    code, out, err = run(capsys, "list")
    assert code == 1 and out == ""
    assert_one_line_error(err, f"{db} was written by a newer Workbench (schema {LATEST_VERSION + 1} > "
                               f"{LATEST_VERSION}): upgrade Workbench")
    assert db.read_bytes() == before and list(db.parent.glob("*.corrupt-*")) == []


@pytest.mark.parametrize("content", [b"this is not a database" * 100, b"SQLite format 3\x00" + b"\xff" * 4000])
def test_a_corrupt_database_is_named_moved_aside_and_the_app_still_starts(capsys, workbench_home: Path,
                                                                          content: bytes):
    import os
    import signal
    import subprocess
    import sys

    from tests.test_engine_mechanics import wait_until

    paths = default_paths().ensure()
    paths.db.write_bytes(content)
    code, _, err = run(capsys, "list")  # the command line names it and leaves it be
    assert code == 1
    assert_one_line_error(err, f"{paths.db} is not a readable Workbench database")
    assert paths.db.read_bytes() == content

    app = subprocess.Popen([sys.executable, "-c", "import sys; from ui.main import main; sys.exit(main([]))"],
                           env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, stderr=subprocess.PIPE, text=True)
    log = paths.logs / "workbench.log"
    try:
        assert wait_until(lambda: log.exists() and "window shown" in log.read_text(), timeout=120)
    finally:
        app.send_signal(signal.SIGTERM)  # closes the window the normal way
        _, stderr = app.communicate(timeout=60)
    assert app.returncode == 0, stderr
    (moved,) = paths.db.parent.glob("workbench.db.corrupt-*")
    assert moved.read_bytes() == content  # nothing of it is lost
    with Workbench() as wb:
        assert wb.store.integrity_check() == "ok"
        (event,) = wb.audit.list(kind="store.recovered")
        assert event.details["moved_to"] == str(moved)
