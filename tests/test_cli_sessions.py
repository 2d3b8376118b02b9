"""`workbench run` (one-shot and interactive) and `workbench sessions …` through the real CLI entry point.

The interactive session is driven through stdin of a real subprocess; Ctrl-C is a real SIGINT sent to this
process while an answer streams (from the stdout the answer is written to, so it lands mid-answer).
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_answers import modelfile
from tests.test_cli_library import assert_one_line_error, run
from workbench.app import Workbench
from workbench.paths import default_paths

CLI = "import sys; from workbench.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture
def helper(tiny_model_path: Path) -> str:
    with Workbench(default_paths()) as wb:
        wb.library.import_file(tiny_model_path, name="tiny:F32")
        wb.presets.create("helper", modelfile("PARAMETER num_predict 6", "PARAMETER num_ctx 256"))
    return "helper"


def stored() -> list:
    with Workbench(default_paths()) as wb:
        return [(s, wb.sessions.messages(s.id)) for s in reversed(wb.sessions.list())]


def test_interactive_run_driven_through_stdin(helper):
    script = "\n".join([
        "hello", "/set parameter num_predict 3", "/set parameter stop zz yy", "/set system Be brief.",
        "/show parameters", '"""first line', 'second line"""', "/retry", "/bogus", "/set parameter top_k -3",
        "/save saved", "/clear", "fresh start", "/bye", "never sent",
    ]) + "\n"
    done = subprocess.run([sys.executable, "-c", CLI, "run", helper, "--verbose"], input=script,
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    assert "Set parameter 'num_predict' to '3'" in done.stdout and "Set parameter 'stop' to 'zz, yy'" in done.stdout
    assert "num_predict          3 (session)" in done.stdout and "Saved as preset saved@1" in done.stdout
    assert "Unknown command '/bogus'" in done.stderr and "error: top_k -3 is out of range" in done.stderr
    assert "Traceback" not in done.stderr

    ((session, messages),) = stored()
    assert session.title == "hello" and session.system_override == "Be brief."
    assert session.parameter_overrides == {"num_predict": 3, "stop": ["zz", "yy"]}
    users = [m for m in messages if m.role == "user"]
    assert [m.content for m in users] == ["hello", "first line\nsecond line", "fresh start"]
    assert users[2].parent_id is None  # /clear: a new root; the old branch is kept
    first, second, retried, fresh = (m for m in messages if m.role == "assistant")
    assert session.current_leaf_id == fresh.id and fresh.parent_id == users[2].id
    assert first.provenance["completion_tokens"] == 6 and first.provenance["parameter_overrides"] == {}
    for answer in (second, retried):  # after /set: recorded with the session's overrides
        assert answer.provenance["completion_tokens"] == 3 and answer.provenance["system_override"] == "Be brief."
        assert answer.content in done.stdout
    assert retried.parent_id == second.parent_id and done.stderr.count(" tokens · prompt ") == 4
    with Workbench(default_paths()) as wb:
        saved = wb.presets.resolve("saved").modelfile
    assert saved.system == "Be brief." and ("num_predict", 3) in saved.parameters
    assert [m.content for m in saved.messages] == ["hello", first.content, "first line\nsecond line", retried.content]


class _InterruptingStdout(io.StringIO):
    """stdout that sends this process a real SIGINT at the first write after `after` has been written."""

    def __init__(self, after: str):
        super().__init__()
        self.after, self.sent = after, False

    def write(self, text: str) -> int:
        armed = not self.sent and self.after in self.getvalue()
        written = super().write(text)
        if armed and text:
            self.sent = True
            os.kill(os.getpid(), signal.SIGINT)
        return written


def test_ctrl_c_stops_the_answer_not_the_session(helper, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("/set parameter num_predict -1\nwrite forever\n/show\n/bye\n"))
    out = _InterruptingStdout(after="to '-1'\n")  # then the answer streams
    monkeypatch.setattr(sys, "stdout", out)
    from workbench.cli import main

    assert main(["run", helper]) == 0
    assert out.sent and "session 1 · helper@1" in out.getvalue()  # /show ran after the stopped answer
    ((_, (_, answer)),) = stored()
    assert answer.status == "stopped" and answer.provenance["finish_reason"] == "cancelled"
    assert answer.content and answer.content in out.getvalue() and answer.provenance["completion_tokens"] < 200
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler was put back


def test_one_shot_ctrl_c_exits_130_with_the_answer_stored_stopped(helper, monkeypatch, capsys):
    with Workbench(default_paths()) as wb:
        wb.presets.save("helper", modelfile("PARAMETER num_predict -1", "PARAMETER num_ctx 256"))
    out = _InterruptingStdout(after="")
    monkeypatch.setattr(sys, "stdout", out)
    from workbench.cli import main

    assert main(["run", helper, "go"]) == 130
    ((_, (_, answer)),) = stored()
    assert answer.status == "stopped" and out.getvalue() == answer.content + "\n"


def test_sessions_list_show_search_export_import_rename_rm(helper, capsys, tmp_path):
    assert run(capsys, "run", helper, "tell me about otters")[0] == 0
    code, out, _ = run(capsys, "run", helper, "[bold]not markup[/bold]")
    assert code == 0
    with Workbench(default_paths()) as wb:
        first = wb.sessions.list()[-1]
        answer = wb.sessions.path(first.id)[1]
        wb.chat.regenerate(answer.id).collect()

    rows = [line.split() for line in run(capsys, "sessions")[1].splitlines()]
    assert rows[0] == ["ID", "TITLE", "ON", "MESSAGES", "UPDATED"] and [r[0] for r in rows[1:]] == ["1", "2"]
    code, out, _ = run(capsys, "sessions", "show", "2")
    assert code == 0 and "[bold]not markup[/bold]" in out  # user text is never read as rich markup
    code, out, _ = run(capsys, "sessions", "show", "1", "--tree")
    tree = [line for line in out.splitlines() if "#" in line]
    assert len(tree) == 3 and tree[0].lstrip().startswith("* #1 user: tell me about otters")
    assert f"#{answer.id} assistant" in tree[1] and "*" not in tree[1].split("#")[0]  # the older sibling
    assert tree[2].lstrip("└─├│ ").startswith("* #")
    code, out, _ = run(capsys, "sessions", "switch", str(answer.id))
    assert code == 0 and f"leaf #{answer.id}" in out
    assert run(capsys, "run", "--session", "1", helper, "continue")[0] == 0
    with Workbench(default_paths()) as wb:
        branch = wb.sessions.path(1)
    assert [m.id for m in branch[:2]] == [branch[0].id, answer.id] and branch[2].content == "continue"
    code, out, _ = run(capsys, "sessions", "show", "1", "--provenance")
    assert code == 0 and "model_sha256" in out and "prompt_sha256" in out and "tokens_per_second" in out

    code, out, _ = run(capsys, "sessions", "search", "otters")
    assert code == 0 and out.splitlines()[1].split()[:2] == ["1", "tell"] and "[otters]" in out
    assert "no message matches" in run(capsys, "sessions", "search", "zebras")[2]

    code, out, _ = run(capsys, "sessions", "export", "1", "--format", "md")
    assert code == 0 and out.startswith("# tell me about otters\n") and "## Assistant" in out
    target = tmp_path / "s1.json"
    assert run(capsys, "sessions", "export", "1", "--format", "json", "-o", target)[0] == 0
    exported = json.loads(target.read_text())
    assert len(exported["messages"]) == 5 and exported["messages"][1]["provenance"]["seed"] is not None
    code, out, _ = run(capsys, "sessions", "import", target)
    assert code == 0 and "imported session 3 (tell me about otters, 5 messages)" in out
    assert run(capsys, "sessions", "rename", "3", "otters again")[0] == 0
    assert run(capsys, "sessions", "rm", "2")[0] == 0
    assert [s.title for s, _ in stored()] == ["tell me about otters", "otters again"]

    target.write_text('{"format": "workbench.session/1", "session": {"title": "x"}, "messages": [{"id": 1}]}')
    code, _, err = run(capsys, "sessions", "import", target)
    assert code == 1
    assert_one_line_error(err, "incomplete or malformed")
    assert len(stored()) == 2  # nothing half-imported


def test_session_errors_exit_1_with_one_line(helper, capsys):
    code, _, err = run(capsys, "run", helper, "x" * 400)  # the preset's context is 256 tokens
    assert code == 1
    assert_one_line_error(err, "the context holds 256")
    ((_, (user, failed)),) = stored()
    assert failed.status == "failed" and user.content == "x" * 400
    for argv, text in ((("sessions", "show", "99"), "no session with id 99"),
                       (("sessions", "export", "1", "--format", "pdf"), "md or json"),
                       (("sessions", "rename", "1", " "), "cannot be empty"),
                       (("run", "--session", "42", helper, "hi"), "no session with id 42")):
        code, _, err = run(capsys, *argv)
        assert code == 1, argv
        assert_one_line_error(err, text)


@pytest.mark.gemma
def test_a_newcomer_chats_offline_on_the_bundled_default(monkeypatch, capsys):
    monkeypatch.delenv("WORKBENCH_NO_DEFAULT_MODEL")
    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    monkeypatch.setattr(sys, "stdin", io.StringIO("/set parameter num_predict 8\nHello!\n/bye\n"))
    from workbench.cli import main

    assert main(["run"]) == 0  # no name: the `default` preset, created with the bundled model on first start
    ((session, (user, answer)),) = stored()
    assert session.preset_ref == "default@1" and user.content == "Hello!"
    assert answer.status == "complete" and answer.provenance["completion_tokens"] <= 8
    assert answer.provenance["model"] == "gemma-3-270m:Q4_K_M" and answer.content in capsys.readouterr().out


def test_run_raw_is_a_prompt_session_the_model_continues_without_a_template(helper, capsys):
    import hashlib

    code, out, _ = run(capsys, "run", helper, "--raw", "Once upon")
    assert code == 0 and out.strip()
    code, _, _ = run(capsys, "run", helper, "Once upon")  # the same text as a chat turn, for contrast
    with Workbench(default_paths()) as wb:
        raw_session, chat_session = sorted(wb.sessions.list(), key=lambda s: s.id)
        raw_answer = wb.sessions.path(raw_session.id)[1].provenance
        chat_answer = wb.sessions.path(chat_session.id)[1].provenance
    assert raw_session.kind == "prompt" and chat_session.kind == "chat"
    assert raw_answer["prompt_sha256"] == hashlib.sha256(b"Once upon").hexdigest()  # sent as-is
    assert raw_answer["prompt_tokens"] < chat_answer["prompt_tokens"]  # no template around it
    assert raw_answer["completion_tokens"] == 6  # the preset's PARAMETER num_predict still applies
