"""The audit trail through the real services on real SQLite files: hooks, the hash chain, tampering, concurrency,
the endpoint (real server, real openai client) and the CLI.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import httpx
import openai
import pytest

from tests.fakehub import FakeHub, fake_hub  # noqa: F401  (fixture)
from tests.serve_support import serving, tiny_workbench
from tests.test_cli_library import run
from tests.test_engine_mechanics import wait_until
from workbench import audit as audit_module
from workbench.app import Workbench
from workbench.audit import AuditWriteFailed
from workbench.paths import default_paths
from workbench.serve.config import ServeConfig
from workbench.serve.server import EndpointServer
from workbench.store.audit_repo import GENESIS, event_hash

KEY = "audit-test-key-0123456789"
TINY_PRESET = "FROM tiny:F32\nSYSTEM You are a careful assistant.\nPARAMETER num_predict 4\n"


@pytest.fixture
def tiny(tmp_path: Path, tiny_model_path: Path) -> Path:
    return Path(shutil.copy(tiny_model_path, tmp_path / "tiny.gguf"))


def kinds(wb: Workbench, **filters) -> list[tuple[str, str]]:
    return [(e.kind, e.subject) for e in wb.audit.list(limit=1000, **filters)]


def raw(wb: Workbench) -> sqlite3.Connection:
    return sqlite3.connect(wb.paths.db, isolation_level=None)


def db_bytes(wb: Workbench) -> bytes:
    """Everything SQLite has on disk for this database: the file and its WAL, if one is left."""
    parts = [wb.paths.db, wb.paths.db.with_name(wb.paths.db.name + "-wal")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


def test_every_hooked_action_leaves_its_event_and_the_chain_verifies(wb, tiny: Path) -> None:
    model = wb.library.import_file(tiny, name="tiny:F32")
    assert wb.library.verify("tiny:F32").ok
    wb.presets.create("helper", TINY_PRESET)
    wb.presets.save("helper", TINY_PRESET + "PARAMETER temperature 0\n", message="colder")
    wb.presets.save("helper", TINY_PRESET + "PARAMETER temperature 0\n")  # unchanged: nothing is saved
    wb.presets.rollback("helper", 1)
    wb.presets.tag("helper", "stable", 2)
    session = wb.sessions.create(preset_ref="helper")
    wb.sessions.add_message(session.id, None, "user", "the secret question")
    exported = wb.sessions.export_json(session.id)
    wb.sessions.export_markdown(session.id)
    copy = wb.sessions.import_json(exported)
    wb.sessions.delete(session.id)
    wb.presets.delete("helper", force=True)  # the imported copy still pins it
    wb.update_settings(threads=2, hf_token="hf_topsecret_token_value")
    wb.library.remove("tiny:F32")

    assert kinds(wb) == [
        ("model.imported", "tiny:F32"), ("model.verified", "tiny:F32"),
        ("preset.saved", "helper"), ("preset.saved", "helper"), ("preset.rolled_back", "helper"),
        ("preset.tagged", "helper"), ("session.exported", f"session {session.id}"),
        ("session.exported", f"session {session.id}"), ("session.imported", f"session {copy.id}"),
        ("session.deleted", f"session {session.id}"),
        ("preset.deleted", "helper"), ("settings.changed", "hf_token, threads"), ("model.removed", "tiny:F32"),
    ]
    events = wb.audit.list()
    imported, verified, created, saved, rolled, tagged, as_json, as_md, *_, deleted, settings, removed = events
    assert imported.details["sha256"] == model.sha256 and imported.details["in_place"] is True
    assert verified.details["status"] == "ok" and verified.details["files"] == ["ok"]
    assert (created.details["version"], created.details["created"]) == (1, True)
    assert (saved.details["version"], saved.details["created"]) == (2, False)
    assert (rolled.details["version"], rolled.details["to_version"]) == (3, 1)
    assert (tagged.details["tag"], tagged.details["version"]) == ("stable", 2)
    assert (as_json.details["format"], as_md.details["format"]) == ("json", "md")
    assert deleted.details == {"sessions_detached": 1, "force": True}
    assert settings.details == {"values": {"threads": [None, 2]}, "secrets": ["hf_token set"]}
    assert removed.details["files_deleted"] is False  # an in-place file is never deleted
    assert {(e.actor, e.os_user, e.pid) for e in events} == {("api", events[0].os_user, os.getpid())}

    result = wb.audit.verify()
    assert result.ok and result.checked == 13 and result.head_id == 13 and result.head_hash == events[-1].hash
    assert events[0].prev_hash == GENESIS and all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert b"hf_topsecret_token_value" not in db_bytes(wb)
    with raw(wb) as conn:  # the message text is in the messages table, but in no audit event

        details = " ".join(r[0] for r in conn.execute("SELECT details || subject FROM audit_events"))
    assert "hf_topsecret" not in details and "careful assistant" not in details and "secret question" not in details


def test_pull_is_recorded_with_its_source(wb, fake_hub: FakeHub, tiny_model_path: Path) -> None:  # noqa: F811
    fake_hub.add_repo("alice/tiny-GGUF", {"tiny-Q8_0.gguf": tiny_model_path.read_bytes()})
    model = wb.hub.pull("hf.co/alice/tiny-GGUF:Q8_0")
    wb.hub.pull("hf.co/alice/tiny-GGUF:Q8_0")
    first, again = wb.audit.list(kind="model.pulled")
    assert (first.subject, first.details["sha256"], first.details["already_present"]) == (model.name, model.sha256,
                                                                                          False)
    assert first.details["source"].startswith("alice/tiny-GGUF@") and first.details["ref"] == \
        "hf.co/alice/tiny-GGUF:Q8_0"
    assert again.details["already_present"] is True
    assert kinds(wb, kind="model.") == [("model.pulled", model.name)] * 2  # add_verified_file records nothing


def test_raw_update_and_delete_are_refused_by_sqlite(wb) -> None:
    wb.audit.record("settings.changed", "theme", {"values": {"theme": ["system", "dark"]}})
    with raw(wb) as conn:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE audit_events SET subject = 'nothing happened'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM audit_events")
    assert kinds(wb) == [("settings.changed", "theme")] and wb.audit.verify().ok


def _record_five(wb: Workbench) -> None:
    for i in range(1, 6):
        wb.audit.record("preset.deleted", f"p{i}", {"n": i})


TAMPERING = {  # (sql, the event verify names, how many verified before it, why)
    "details edited": ("UPDATE audit_events SET details = '{\"n\":99}' WHERE id = 3", 3, 2, "contents do not match"),
    "subject edited": ("UPDATE audit_events SET subject = 'other' WHERE id = 2", 2, 1, "contents do not match"),
    "hash edited": ("UPDATE audit_events SET hash = 'x' || substr(hash, 2) WHERE id = 4", 4, 3,
                    "contents do not match"),
    "event removed": ("DELETE FROM audit_events WHERE id = 3", 4, 2, "events were removed before it"),
}


@pytest.mark.parametrize("sql, bad_id, checked, why", TAMPERING.values(), ids=TAMPERING.keys())
def test_tampering_after_dropping_the_triggers_is_named(wb, capsys, sql: str, bad_id: int, checked: int,
                                                        why: str) -> None:
    _record_five(wb)
    with raw(wb) as conn:
        conn.execute("DROP TRIGGER audit_events_no_update")
        conn.execute("DROP TRIGGER audit_events_no_delete")
        conn.execute(sql)
    result = wb.audit.verify()
    assert not result.ok and (result.first_bad_id, result.checked) == (bad_id, checked) and why in result.problem
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and f"event {bad_id}:" in err and "broken" in err


def test_a_relinked_forgery_is_caught_at_the_next_event(wb) -> None:
    """Editing an event and recomputing its hash breaks the link the following event holds."""
    _record_five(wb)
    with raw(wb) as conn:
        conn.execute("DROP TRIGGER audit_events_no_update")
        row = conn.execute("SELECT id, at, actor, os_user, pid, kind, subject, prev_hash FROM audit_events "
                           "WHERE id = 2").fetchone()
        forged = event_hash(row[7], *row[:7], '{"n":0}')
        conn.execute("UPDATE audit_events SET details = '{\"n\":0}', hash = ? WHERE id = 2", (forged,))
    result = wb.audit.verify()
    assert (result.ok, result.first_bad_id, result.checked) == (False, 3, 2) and "prev_hash" in result.problem


def _rebuild_chain(conn: sqlite3.Connection) -> None:
    """What someone who knows the algorithm could do: recompute every hash after an edit."""
    prev = GENESIS
    rows = conn.execute("SELECT id, at, actor, os_user, pid, kind, subject, details FROM audit_events ORDER BY id")
    for row in rows.fetchall():
        digest = event_hash(prev, *row)
        conn.execute("UPDATE audit_events SET prev_hash = ?, hash = ? WHERE id = ?", (prev, digest, row[0]))
        prev = digest


def test_an_anchor_catches_a_cut_off_tail_and_a_rebuilt_chain(wb, capsys) -> None:
    _record_five(wb)
    anchor = wb.audit.verify().head_hash
    wb.audit.record("preset.deleted", "p6")
    assert wb.audit.verify(anchor).ok and wb.audit.verify(anchor.upper()).ok
    with raw(wb) as conn:
        conn.execute("DROP TRIGGER audit_events_no_update")
        conn.execute("DROP TRIGGER audit_events_no_delete")
        conn.execute("DELETE FROM audit_events WHERE id >= 5")
        conn.execute("CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
                     "BEGIN SELECT RAISE(ABORT, 'append-only'); END")
        conn.execute("UPDATE audit_events SET details = '{\"n\":0}' WHERE id = 2")
        _rebuild_chain(conn)
        conn.execute("CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
                     "BEGIN SELECT RAISE(ABORT, 'append-only'); END")
    assert wb.audit.verify().ok  # a consistent forgery: only the anchor kept elsewhere tells
    result = wb.audit.verify(anchor)
    assert not result.ok and result.checked == 4 and "no event has the recorded head hash" in result.problem
    code, _, err = run(capsys, "audit", "verify", "--anchor", anchor)
    assert code == 1 and "no event has the recorded head hash" in err
    code, _, err = run(capsys, "audit", "verify", "--anchor", "abc")
    assert code == 1 and "'abc' is not a head hash" in err

def test_missing_triggers_alone_fail_verification(wb) -> None:
    _record_five(wb)
    with raw(wb) as conn:
        conn.execute("DROP TRIGGER audit_events_no_delete")
    result = wb.audit.verify()
    assert not result.ok and result.first_bad_id is None and result.checked == 5
    assert "audit_events_no_delete" in result.problem


def test_two_threads_and_a_second_process_keep_one_unbroken_chain(wb) -> None:
    script = ("import sys; from workbench.app import Workbench\n"
              "with Workbench() as wb:\n"
              "    for i in range(150): wb.audit.record('model.verified', f'proc {i}')\n")
    child = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
    start = threading.Barrier(2)

    def append(name: str) -> None:
        start.wait()
        for i in range(150):
            wb.audit.record("model.verified", f"{name} {i}")

    threads = [threading.Thread(target=append, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert child.wait(timeout=120) == 0
    result = wb.audit.verify()
    assert result.ok and result.checked == 450
    subjects = [e.subject for e in wb.audit.list(limit=1000)]
    for name in ("a", "b", "proc"):  # each writer's own events keep their order inside the one chain
        assert [s for s in subjects if s.startswith(name + " ")] == [f"{name} {i}" for i in range(150)]
    assert len({e.pid for e in wb.audit.list(limit=1000)}) == 2


def test_queued_events_are_written_by_the_background_writer_in_one_chain(wb) -> None:
    def enqueue(name: str) -> None:
        for i in range(400):
            wb.audit.record_later("endpoint.request", name, {"n": i}, caller="endpoint")

    threads = [threading.Thread(target=enqueue, args=(n,)) for n in ("x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wb.audit.flush()
    events = wb.audit.list(limit=1000)
    assert len(events) == 800 and wb.audit.verify().ok
    assert [e.details["n"] for e in events if e.subject == "x"] == list(range(400))


def test_a_full_queue_drops_events_and_says_how_many(monkeypatch, workbench_home) -> None:
    monkeypatch.setattr(audit_module, "QUEUE_LIMIT", 5)
    monkeypatch.setattr(audit_module, "BATCH", 1)  # the writer takes one event at a time: it holds at most one
    with Workbench(default_paths()) as wb:
        wb.audit.record("model.verified", "before")
        with raw(wb) as blocker:
            blocker.execute("BEGIN IMMEDIATE")  # the writer waits on this lock (busy_timeout) with what it took
            for i in range(50):
                wb.audit.record_later("endpoint.request", f"r{i}", caller="endpoint")
            blocker.execute("COMMIT")
        assert wb.audit.flush()
        written = [int(e.subject[1:]) for e in wb.audit.list(kind="endpoint.request", limit=100)]
        dropped = [e.details["events"] for e in wb.audit.list(kind="audit.dropped")]
        # what fitted in the queue, plus the one the writer held, was written in order; every other event was
        # counted in an audit.dropped event (one, or two when the writer read the count while drops went on)
        assert len(written) in (5, 6) and written == sorted(written) and written[0] == 0
        assert 1 <= len(dropped) <= 2 and sum(dropped) + len(written) == 50 and wb.audit.verify().ok

def test_the_endpoint_records_start_requests_and_stop_but_no_text_or_key(tmp_path, tiny_model_path) -> None:
    secret_prompt = f"classified-{uuid.uuid4().hex}"
    wb = tiny_workbench(tmp_path, tiny_model_path)
    try:
        with serving(wb, api_key=KEY, cors_origins=("http://localhost:3000",), parallel=2) as server:
            client = openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0)
            intruder = openai.OpenAI(base_url=server.url + "/v1", api_key="wrong-key-0000000000", max_retries=0)
            with pytest.raises(openai.AuthenticationError):
                intruder.completions.create(model="tiny:F32", prompt=secret_prompt, max_tokens=3)
            done = client.completions.create(model="tiny:F32", prompt=secret_prompt, max_tokens=3)
            client.chat.completions.create(model="terse", messages=[{"role": "user", "content": secret_prompt}])
            port = server.bound_port
    finally:
        wb.close()
    wb = Workbench(wb.paths)
    try:
        events = wb.audit.list(kind="endpoint")
        assert [e.kind for e in events] == ["endpoint.started", "endpoint.refused", "endpoint.request",
                                            "endpoint.request", "endpoint.stopped"]
        started, refused, completion, chat, stopped = events
        assert (refused.subject, refused.details) == ("/v1/completions", {
            "client": "127.0.0.1", "status": 401, "reason": "invalid_api_key"})
        assert started.subject == stopped.subject == f"127.0.0.1:{port}" and started.actor == "endpoint"
        assert started.details["api_key_set"] is True and started.details["cors_origins"] == ["http://localhost:3000"]
        assert started.details["parallel"] == 2
        assert (completion.subject, completion.details["route"], completion.details["status"]) == \
            ("tiny:F32", "/v1/completions", 200)
        assert completion.details["completion_tokens"] == done.usage.completion_tokens == 3
        assert completion.details["prompt_tokens"] == done.usage.prompt_tokens
        assert completion.details["client"] == "127.0.0.1"
        assert (chat.subject, chat.details["route"]) == ("terse@1", "/v1/chat/completions")
        loads = wb.audit.list(kind="model.loaded")
        assert loads and {(e.subject, e.details["sha256"]) for e in loads} == {
            ("tiny:F32", wb.library.get("tiny:F32").sha256)}
        assert loads[0].details["n_parallel"] == 2 and loads[0].details["path"] == str(tiny_model_path)
        assert wb.audit.verify().ok
    finally:
        wb.close()
    stored = db_bytes(wb)
    assert b"endpoint.request" in stored  # the bytes read are the ones the events live in
    assert secret_prompt.encode() not in stored and KEY.encode() not in stored


def test_details_are_redacted_and_capped(wb) -> None:
    event = wb.audit.record("session.exported", "s", {
        "prompt": "tell me", "nested": {"api_key": "k" * 20, "count": 3}, "messages": [{"content": "x"}],
        "long": "a" * 1000, "fine": ["kept", 1, None, True]})
    assert event.details == {"prompt": "[redacted]", "nested": {"api_key": "[redacted]", "count": 3},
                             "messages": "[redacted]", "long": "a" * 300 + "…", "fine": ["kept", 1, None, True]}
    assert wb.audit.list()[0].details == event.details


def test_a_failed_audit_write_is_logged_or_fails_the_action_when_strict(wb, tiny: Path, caplog) -> None:
    wb.library.import_file(tiny, name="tiny:F32")
    with raw(wb) as conn:
        conn.execute("CREATE TRIGGER audit_broken BEFORE INSERT ON audit_events "
                     "BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
    with caplog.at_level(logging.ERROR, logger="workbench.audit"):
        version = wb.presets.create("helper", TINY_PRESET)
    assert version.number == 1 and "preset.saved (helper) was not written: " in caplog.text
    assert "disk says no" in caplog.text
    with raw(wb) as conn:
        conn.execute("DROP TRIGGER audit_broken")
    wb.update_settings(audit_strict=True)
    with raw(wb) as conn:
        conn.execute("CREATE TRIGGER audit_broken BEFORE INSERT ON audit_events "
                     "BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
    with pytest.raises(AuditWriteFailed, match=r"the action was done but its audit event preset\.tagged"):
        wb.presets.tag("helper", "stable", 1)
    assert wb.presets.get("helper:stable").number == 1  # the action happened; only its record is missing
    assert kinds(wb) == [("model.imported", "tiny:F32"), ("settings.changed", "audit_strict")]


def test_a_strict_endpoint_that_cannot_record_its_start_does_not_serve(tmp_path, tiny_model_path) -> None:
    wb = tiny_workbench(tmp_path, tiny_model_path, audit_strict=True)
    try:
        with raw(wb) as conn:
            conn.execute("CREATE TRIGGER audit_broken BEFORE INSERT ON audit_events "
                         "BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
        port = free_port()
        server = EndpointServer(wb, ServeConfig(port=port))
        with pytest.raises(AuditWriteFailed, match=r"endpoint\.started"):
            server.start()
        assert not server.running
        with pytest.raises(httpx.ConnectError):  # it did listen for a moment; it is closed again
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
    finally:
        wb.close()

def test_list_filters_by_kind_prefix_since_and_limit(wb) -> None:
    for kind in ("preset.saved", "preset.tagged", "preset_x.saved", "model.removed", "preset.saved"):
        wb.audit.record(kind, kind)
    assert [k for k, _ in kinds(wb, kind="preset.")] == ["preset.saved", "preset.tagged", "preset.saved"]
    assert [k for k, _ in kinds(wb, kind="preset")] == ["preset.saved", "preset.tagged", "preset.saved"]
    assert [k for k, _ in kinds(wb, kind="preset.saved")] == ["preset.saved", "preset.saved"]
    assert [e.id for e in wb.audit.list(limit=2)] == [4, 5]  # the newest, oldest first
    assert kinds(wb, since="2999-01-01") == [] and len(kinds(wb, since="2000-01-01T00:00")) == 5


def test_cli_lists_filters_exports_and_verifies(capsys, tmp_path: Path, tiny: Path) -> None:
    assert run(capsys, "import", tiny, "--name", "tiny:F32")[0] == 0
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(TINY_PRESET, encoding="utf-8")
    assert run(capsys, "create", "helper", "-f", modelfile)[0] == 0
    assert run(capsys, "presets", "tag", "helper", "stable", "1")[0] == 0

    code, out, _ = run(capsys, "audit")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:4] == ["ID", "TIME", "(UTC)", "ACTOR"]
    rows = [line.split() for line in lines[1:]]  # ID, date, time, caller, user, "pid", pid, KIND, SUBJECT, …
    assert [r[7] for r in rows] == ["model.imported", "preset.saved", "preset.tagged"]
    assert [(r[3], r[6]) for r in rows] == [("cli", str(os.getpid()))] * 3 and rows[2][8] == "helper"
    code, out, _ = run(capsys, "audit", "--kind", "preset.", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["kind"] for r in rows] == ["preset.saved", "preset.tagged"]
    assert rows[1]["details"]["tag"] == "stable" and rows[1]["prev_hash"] == rows[0]["hash"]
    assert run(capsys, "audit", "--since", "2999-01-01")[1].strip() == "no audit events match"
    code, _, err = run(capsys, "audit", "--since", "yesterday")
    assert code == 1 and "'yesterday' is not a date" in err

    code, out, _ = run(capsys, "audit", "verify")
    assert code == 0 and out.startswith("ok: 3 event(s) checked, the chain is unbroken (head event 3 ")
    exported = tmp_path / "audit.jsonl"
    code, out, _ = run(capsys, "audit", "export", exported)
    lines = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    assert code == 0 and out.strip() == f"exported 3 event(s) to {exported}"
    assert [r["kind"] for r in lines] == ["model.imported", "preset.saved", "preset.tagged"]
    prev = GENESIS
    for r in lines:  # the export alone is enough to re-check the chain elsewhere
        details = json.dumps(r["details"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert event_hash(prev, r["id"], r["at"], r["actor"], r["os_user"], r["pid"], r["kind"], r["subject"],
                          details) == r["hash"]
        prev = r["hash"]
    with Workbench(default_paths()) as wb:
        assert kinds(wb, kind="audit") == [("audit.exported", str(exported))]
    code, _, err = run(capsys, "audit", "export", tmp_path / "no-such-dir" / "a.jsonl")
    assert code == 1 and "cannot write the audit export" in err


def test_workbench_serve_in_the_foreground_records_its_start_and_stop(workbench_home, tiny_model_path) -> None:
    with Workbench(default_paths()) as wb:
        wb.library.import_file(tiny_model_path, name="tiny:F32")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from workbench.cli import entry; entry()", "serve", "--port",
                             str(port), "--api-key", KEY], env=os.environ.copy(), stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/generate"
    body = {"model": "tiny:F32", "prompt": "x", "stream": False, "options": {"num_predict": 2}}
    with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {KEY}"}) as http:
        try:
            assert wait_until(lambda: proc.poll() is not None or _answers(http, url, body), timeout=60)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
    with Workbench(default_paths()) as wb:
        events = wb.audit.list(kind="endpoint.")
        assert [e.kind for e in events] == ["endpoint.started", "endpoint.request", "endpoint.stopped"]
        assert {(e.actor, e.pid) for e in events} == {("endpoint", proc.pid)}
        assert events[0].subject == f"127.0.0.1:{port}" and events[0].details["api_key_set"] is True
        assert events[1].details["route"] == "/api/generate" and events[1].details["completion_tokens"] == 2
        assert wb.audit.verify().ok


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(http: httpx.Client, url: str, body: dict) -> bool:
    """One generate request once the endpoint is up (a refused connection means not yet)."""
    try:
        return http.post(url, json=body).status_code == 200
    except httpx.ConnectError:
        return False
