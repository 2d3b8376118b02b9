"""Retention on a real SQLite file: what the keep_* limits exclude leaves for real (rows, search index, the file's
bytes, stored files), dry runs touch nothing, and the audit trail keeps verifying after its own pruning."""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tests.test_cli_library import run
from workbench.app import Workbench
from workbench.files import utc_naive_now, utc_text
from workbench.records import DownloadState
from workbench.retention import ORPHAN_GRACE_SECONDS

MARKER = "zanzibar-quokka-{}"  # words no page of SQLite or FTS would hold by chance


def age(wb: Workbench, sql: str, days: int, *ids: int) -> None:
    """Set a timestamp column into the past, as time passing would (the services always write now)."""
    moment = (utc_naive_now() - timedelta(days=days)).isoformat(sep=" ")
    with sqlite3.connect(wb.paths.db) as conn:
        for row_id in ids:
            conn.execute(sql, (moment, row_id))


def chat(wb: Workbench, n: int) -> int:
    session = wb.sessions.create(model_name="tiny:F32", title=f"session {n}")
    user = wb.sessions.add_message(session.id, None, "user", MARKER.format(n) + " question")
    wb.sessions.add_message(session.id, user.id, "assistant", MARKER.format(n) + " answer " + "x" * 4000)
    return session.id


def database_bytes(wb: Workbench) -> bytes:
    return b"".join(p.read_bytes() for p in wb.paths.db.parent.glob(wb.paths.db.name + "*"))


@pytest.fixture
def tiny_wb(wb: Workbench, tiny_model_path: Path) -> Workbench:
    wb.library.import_file(tiny_model_path, name="tiny:F32")
    return wb


def test_old_sessions_leave_the_rows_the_search_index_and_the_files_bytes(tiny_wb: Workbench):
    wb = tiny_wb
    ids = [chat(wb, n) for n in range(6)]
    age(wb, "UPDATE sessions SET updated_at = ? WHERE id = ?", 40, *ids[:4])
    wb.update_settings(keep_sessions_days=30, vacuum_free_share=1.0)  # first without compacting the file
    assert MARKER.format(0).encode() in database_bytes(wb)

    plan = wb.retention.plan()
    assert (plan.dry_run, plan.sessions, plan.chat_messages) == (True, 4, 8)
    assert len(wb.sessions.list()) == 6  # a dry run touches nothing

    report = wb.retention.apply()
    assert (report.sessions, report.chat_messages) == (4, 8) and not report.vacuumed
    assert sorted(s.id for s in wb.sessions.list()) == ids[4:]
    assert wb.sessions.search(MARKER.format(1)) == [] and len(wb.sessions.search(MARKER.format(5))) == 2
    raw = database_bytes(wb)
    assert all(MARKER.format(n).encode() not in raw for n in range(4))  # not in free pages, the WAL, the index
    assert MARKER.format(4).encode() in raw

    size = wb.paths.db.stat().st_size
    wb.update_settings(keep_sessions_days=None, keep_sessions_count=1, vacuum_free_share=0.05)
    report = wb.retention.apply()
    assert report.sessions == 1 and [s.id for s in wb.sessions.list()] == [ids[5]]
    assert report.free_share > 0.05 and report.vacuumed and wb.paths.db.stat().st_size < size
    assert wb.retention.apply().free_share < 0.05
    (event,) = wb.audit.list(kind="retention.applied", limit=5)[-1:]
    assert event.details["sessions"] == 1 and "quokka" not in str(event.details)  # counts, never content


SUITE = """
description: retention
prompts: ["Say {{word}}"]
targets: [{id: "tiny:F32", config: {num_predict: 2, temperature: 0}}]
tests:
  - vars: {word: a}
    assert: [{type: max-tokens, value: 5}]
"""


def test_old_eval_runs_go_but_a_tagged_one_stays(tiny_wb: Workbench, tmp_path: Path):
    wb = tiny_wb
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    runs = [wb.evals.run(suite).id for _ in range(3)]
    wb.evals.tag(runs[0], "baseline")
    age(wb, "UPDATE eval_runs SET created_at = ? WHERE id = ?", 100, *runs[:2])
    wb.update_settings(keep_eval_runs_days=30)
    report = wb.retention.apply()
    assert (report.eval_runs, report.eval_cells, report.eval_suites) == (1, 1, 0)
    assert [r.id for r in wb.evals.runs()] == [runs[2], runs[0]]
    wb.update_settings(keep_eval_runs_days=None, keep_eval_runs_count=0)
    wb.evals.untag("baseline")
    report = wb.retention.apply()
    assert (report.eval_runs, report.eval_suites) == (2, 1) and wb.evals.runs() == []  # the suite text went too


def old_event(wb: Workbench, kind: str, days: int, subject: str = "tiny:F32") -> None:
    at = utc_text(time.time() - days * 86_400, timespec="microseconds")
    wb.store.audit.append([wb.audit.event(kind, subject, {"status": 200}, caller="endpoint", at=at)])


def test_the_request_log_and_old_audit_events_are_pruned_behind_verified_checkpoints(wb: Workbench, capsys):
    for days in (50, 50, 40):
        old_event(wb, "endpoint.request", days)
    anchor = wb.audit.verify().head_hash  # kept elsewhere back then: event 3's hash
    old_event(wb, "model.loaded", 40)
    old_event(wb, "endpoint.request", 40)
    old_event(wb, "endpoint.refused", 2)
    wb.update_settings(keep_request_log_days=7)  # a settings.changed event, now
    assert wb.audit.prunable(None, ("endpoint.request",), utc_naive_now() - timedelta(days=7)) == \
        {"endpoint.request": 4}

    report = wb.retention.apply()
    assert report.audit_events == {"endpoint.request": 4}
    kinds = [e.kind for e in wb.audit.list(limit=100)]
    assert kinds == ["model.loaded", "endpoint.refused", "settings.changed", "audit.pruned", "retention.applied"]
    result = wb.audit.verify()
    assert result.ok and result.pruned == 4, result
    assert run(capsys, "audit", "verify")[0] == 0  # the CLI agrees (it reads the same data folder)
    missing = wb.audit.verify(anchor)
    assert not missing.ok and "retention pruned it" in missing.problem  # an anchor that retention pruned
    signed = wb.audit.list(kind="audit.pruned")[0].details
    assert signed["events"] == 4 and len(signed["checkpoints"]) == 2  # ids 1-3 and 5: one checkpoint per run

    wb.update_settings(keep_audit_days=30)
    assert wb.retention.apply().audit_events == {"model.loaded": 1}
    assert wb.audit.verify().ok


def test_the_trail_stays_tamper_evident_after_pruning(wb: Workbench):
    for days in (50, 50, 1, 1):
        old_event(wb, "endpoint.request", days)
    wb.update_settings(keep_request_log_days=7)
    wb.retention.apply()
    with sqlite3.connect(wb.paths.db) as conn:
        for sql in ("DELETE FROM audit_events WHERE id = 3", "DELETE FROM audit_checkpoints",
                    "UPDATE audit_checkpoints SET events = 1"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)
        # a forged checkpoint lets a DELETE through, but it does not chain: verify names it
        conn.execute("INSERT INTO audit_checkpoints (at, first_event_id, last_event_id, last_event_hash, events, "
                     "kinds, prev_hash, hash) VALUES ('x', 3, 3, 'h', 1, '{}', 'p', 'q')")
        conn.execute("DELETE FROM audit_events WHERE id = 3")
    result = wb.audit.verify()
    assert not result.ok and "checkpoint 2 was changed or replaced" in result.problem


def test_stale_pulls_temp_files_and_unreferenced_stored_files_are_removed(tiny_wb: Workbench):
    wb = tiny_wb
    partial = wb.paths.downloads / "abc.partial"
    partial.write_bytes(b"\0" * 1000)
    now = utc_naive_now()
    for key, status in (("abc", "paused"), ("fresh", "paused")):
        wb.store.downloads.upsert(DownloadState(key, "o/r", "main", f"{key}.gguf", "http://x", None, None, 2000,
                                                str(partial if key == "abc" else partial.with_name("f.partial")),
                                                1000, status, now, now))
    age(wb, "UPDATE downloads SET updated_at = ? WHERE id = ?", 60, wb.store.downloads.get("abc").id)
    from workbench.files import _writer_tag

    host = _writer_tag().split("-")[0]
    dead = wb.paths.blobs / f".tmp-{host}-{os.getpid()}-1-{'0' * 32}.partial"  # our pid, another start time
    dead.write_bytes(b"x")
    old_orphan, new_orphan = (wb.paths.references / f"sha256-{c * 64}" for c in "ab")
    for folder in (old_orphan, new_orphan):
        folder.mkdir(parents=True)
        (folder / "text-w512.wbref").write_bytes(b"REF" * 100)
    past = time.time() - ORPHAN_GRACE_SECONDS - 60
    os.utime(old_orphan, (past, past))
    unregistered_model = wb.paths.blobs / f"sha256-{'c' * 64}.gguf"  # e.g. after a damaged database was reset
    unregistered_model.write_bytes(b"GGUF")
    os.utime(unregistered_model, (past, past))
    wb.update_settings(keep_partial_pulls_days=30)

    plan = wb.retention.plan()
    assert (plan.partial_pulls, plan.partial_bytes, plan.temp_files, plan.unreferenced_files) == (1, 1000, 1, 1)
    assert partial.exists() and dead.exists() and old_orphan.exists()
    report = wb.retention.apply()
    assert (report.partial_pulls, report.temp_files, report.unreferenced_files, report.unreferenced_bytes) == \
        (1, 1, 1, 300)
    assert not partial.exists() and not dead.exists() and not old_orphan.exists()
    assert new_orphan.exists()  # written moments ago: its model may be being imported right now
    assert unregistered_model.exists()  # model bytes are never retention's to delete
    assert [d.key for d in wb.store.downloads.list()] == ["fresh"]
    assert wb.library.get("tiny:F32").path.exists()  # a registered model is never touched


def test_the_command_line_shows_sets_and_applies(capsys, tiny_wb: Workbench):
    wb = tiny_wb
    ids = [chat(wb, n) for n in range(3)]
    age(wb, "UPDATE sessions SET updated_at = ? WHERE id = ?", 10, ids[0])
    wb.close()
    code, out, _ = run(capsys, "retention", "set", "sessions-days", "5")
    assert code == 0 and out.strip() == "sessions-days = 5"
    code, _, err = run(capsys, "retention", "set", "sessions-days", "--", "-1")
    assert code == 1 and "whole number" in err
    code, _, err = run(capsys, "retention", "set", "sessions-days", "ten")
    assert code == 1 and "not a number" in err
    code, out, _ = run(capsys, "retention")
    assert "sessions-days        5" in out and "would remove: 1 session(s) (2 messages)" in out
    code, out, _ = run(capsys, "retention", "apply", "--dry-run", "--json")
    assert code == 0 and '"sessions": 1' in out and '"dry_run": true' in out
    code, out, _ = run(capsys, "retention", "apply")
    assert code == 0 and out.startswith("removed: 1 session(s) (2 messages)")
    code, out, _ = run(capsys, "retention", "apply")
    assert out.startswith("removed: 0 session(s)")


def test_the_app_applies_retention_at_start(qtbot, tiny_wb: Workbench):
    from tests.ui_helpers import wait_done
    from ui.main_window import MainWindow

    wb = tiny_wb
    ids = [chat(wb, n) for n in range(2)]
    wb.update_settings(keep_sessions_count=1)
    window = MainWindow(wb)
    qtbot.addWidget(window)
    wait_done(qtbot, window.start_retention())
    assert [s.id for s in wb.sessions.list()] == [ids[1]]
    assert window.chat.sessions.count() == 1  # the Chat page's list was refreshed
    assert "Retention removed 1 session(s)" in window.statusBar().currentMessage()


def test_the_endpoint_applies_retention_at_start(tiny_wb: Workbench, workbench_home: Path):
    import subprocess
    import sys

    wb = tiny_wb
    ids = [chat(wb, n) for n in range(2)]
    wb.update_settings(keep_sessions_count=1)
    wb.close()
    env = {**os.environ, "WORKBENCH_HOME": str(workbench_home)}
    command = [sys.executable, "-c", "from workbench.cli import entry; entry()", "serve", "--port", "0"]
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in server.stderr:  # blocks until the server says it serves (or dies)
            lines.append(line)
            if line.startswith("serving on"):
                break
        assert any("retention removed 1 session(s)" in line for line in lines), lines
    finally:
        server.terminate()
        server.wait(timeout=60)
    with Workbench() as again:
        assert [s.id for s in again.sessions.list()] == [ids[1]]
