"""Remote endpoints: the registry, keys only in the keyring, offline refusal, streamed answers with provenance,
audit events without text, and a remote that drops mid-answer — against the project's own endpoint on another
port and a server that breaks off (tests/remote_support.py)."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest
from keyring.backends import fail

from tests.remote_support import MemoryKeyring, dropping_server, using_keyring
from tests.serve_support import serving, tiny_workbench
from workbench.cli import main
from workbench.errors import InvalidParameter, NotFound, OfflineError
from workbench.remote.client import RemoteError

KEY = "remote-secret-key-0123456789"


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_model_path):
    """The project's own endpoint, guarded by KEY, as the remote."""
    wb = tiny_workbench(tmp_path_factory.mktemp("remote-side"), tiny_model_path)
    with serving(wb, api_key=KEY) as server:
        yield server.url
    wb.close()


@pytest.fixture
def memory_keyring():
    with using_keyring(MemoryKeyring()) as backend:
        yield backend


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_answer_streams_with_provenance_and_an_audit_event_without_text(wb, served, memory_keyring, monkeypatch):
    monkeypatch.setenv("REMOTE_KEY", KEY)
    wb.remotes.add("side", served, "terse", key_env="REMOTE_KEY")
    pieces: list[str] = []
    answer = wb.remotes.chat("side", [{"role": "user", "content": "a secret question"}], {"num_predict": 4},
                             on_text=pieces.append)
    assert answer.text and "".join(pieces) == answer.text
    assert answer.completion_tokens == 4 and answer.finish_reason == "length"
    assert answer.provenance["endpoint"] == "side" and answer.provenance["reported_model"] == "terse"
    assert answer.provenance["system_fingerprint"]  # what the server said it is
    events = wb.audit.list(kind="remote.call")
    assert [e.details["status"] for e in events] == ["ok"]
    assert events[0].details["completion_tokens"] == 4 and events[0].subject == "side"
    assert "secret question" not in repr(events) and answer.text not in repr(events[0].details)


def test_the_key_is_only_in_the_keyring(wb, served, memory_keyring, monkeypatch, workbench_home, tmp_path):
    monkeypatch.setenv("REMOTE_KEY", KEY)
    endpoint = wb.remotes.add("side", served, "terse", key_env="REMOTE_KEY")
    assert endpoint.key_store == "keyring" and KEY in memory_keyring.secrets.values()
    wb.remotes.test("side")
    wb.audit.export(tmp_path / "audit.jsonl")
    assert _files_containing(workbench_home, KEY.encode()) == []
    assert KEY.encode() not in (tmp_path / "audit.jsonl").read_bytes()
    wb.remotes.remove("side")
    assert memory_keyring.secrets == {}


def test_without_a_keyring_the_key_goes_to_a_0600_file(wb, served, monkeypatch):
    monkeypatch.setenv("REMOTE_KEY", KEY)
    with using_keyring(fail.Keyring()):
        endpoint = wb.remotes.add("side", served, "terse", key_env="REMOTE_KEY")
        key_file = wb.paths.config / "remote-keys.json"
        assert endpoint.key_store == "file" and stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert wb.remotes.test("side").completion_tokens > 0  # the key from the file opened the endpoint
        assert KEY.encode() not in (wb.paths.config / "remotes.json").read_bytes()


def test_a_wrong_key_is_the_servers_refusal(wb, served, memory_keyring, monkeypatch):
    monkeypatch.setenv("REMOTE_KEY", "a-wrong-key-0123456789")
    wb.remotes.add("side", served, "terse", key_env="REMOTE_KEY")
    with pytest.raises(RemoteError, match="HTTP 401"):
        wb.remotes.test("side")
    assert [e.details["status"] for e in wb.audit.list(kind="remote.call")] == ["error"]


def test_offline_refuses_before_any_connection(wb):
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    with listener:
        wb.remotes.add("watched", f"http://127.0.0.1:{listener.getsockname()[1]}", "m")
        wb.update_settings(offline=True)
        with pytest.raises(OfflineError, match="offline mode is on"):
            wb.remotes.test("watched")
        with pytest.raises(BlockingIOError):  # nobody knocked
            listener.accept()


def test_a_remote_that_drops_mid_answer_is_an_error(wb):
    with dropping_server() as (url, seen):
        wb.remotes.add("dropper", url, "dropper")
        with pytest.raises(RemoteError, match="dropper"):
            wb.remotes.chat("dropper", [{"role": "user", "content": "hi"}], {"temperature": 0.5})
    assert seen[0]["authorization"] is None and seen[0]["body"]["temperature"] == 0.5


@pytest.mark.parametrize(("url", "problem"), [("ftp://x/v1", "not an http"), ("http://u:p@h/v1", "credentials"),
                                              ("http://h/v1?x=1", "query")])
def test_bad_urls_are_refused(wb, url, problem):
    with pytest.raises(InvalidParameter, match=problem):
        wb.remotes.add("bad", url, "m")
    assert wb.remotes.list() == []


def test_a_bare_host_gets_v1_and_unknown_names_say_what_exists(wb):
    assert wb.remotes.add("box", "http://gpu-box:8000", "m").base_url == "http://gpu-box:8000/v1"
    with pytest.raises(NotFound, match="registered: box"):
        wb.remotes.get("nope")


def test_cli_add_list_test_rm(served, memory_keyring, monkeypatch, capsys):
    monkeypatch.setenv("REMOTE_KEY", KEY)
    assert main(["remote", "add", "side", served, "--model", "terse", "--key-env", "REMOTE_KEY"]) == 0
    assert main(["remote", "list"]) == 0
    out = capsys.readouterr().out
    assert "side" in out and "keyring" in out and KEY not in out
    assert main(["remote", "test", "side"]) == 0
    out = capsys.readouterr().out
    assert "server model: terse" in out and "fingerprint:" in out
    assert main(["remote", "rm", "side"]) == 0
    assert main(["remote", "test", "side"]) == 1


def test_a_missing_key_variable_is_refused_and_nothing_is_registered(wb, monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    with pytest.raises(InvalidParameter, match="NO_SUCH_KEY is not set"):
        wb.remotes.add("side", "http://127.0.0.1:9/v1", "m", key_env="NO_SUCH_KEY")
    assert wb.remotes.list() == []


def test_cli_says_when_the_key_went_to_a_file(served, monkeypatch, capsys):
    monkeypatch.setenv("REMOTE_KEY", KEY)
    with using_keyring(fail.Keyring()):
        assert main(["remote", "add", "side", served, "--model", "terse", "--key-env", "REMOTE_KEY"]) == 0
    assert "no OS keyring is available here" in capsys.readouterr().err


def test_replacing_a_remote_without_a_key_drops_the_old_key(wb, memory_keyring, monkeypatch):
    monkeypatch.setenv("REMOTE_KEY", KEY)
    wb.remotes.add("side", "http://127.0.0.1:9/v1", "m", key_env="REMOTE_KEY")
    assert wb.remotes.add("side", "http://127.0.0.1:9/v1", "m2").key_store is None
    assert memory_keyring.secrets == {} and [r.model for r in wb.remotes.list()] == ["m2"]
