"""The chat service (`wb.chat`) on the tiny model: answers streamed into real SQLite sessions with provenance.

Streaming and saving, stop, regenerate/edit/switch, overrides, failures saved and raised, re-run with the
recorded seed, a session surviving a restart, and a kill -9 mid-answer.
"""

from __future__ import annotations

import ast
import hashlib
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from workbench.app import Workbench
from workbench.chat import service as answers
from workbench.errors import ContextLengthExceeded, InvalidParameter, NotFound, TemplateError
from workbench.paths import default_paths

TEMPLATE = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}<|end|>{% endfor %}<|assistant|>"


def modelfile(*parameters: str, template: str = TEMPLATE, system: str | None = None) -> str:
    # one thread: the tiny model is fastest that way, and the shared CI cores are not oversubscribed
    lines = ["FROM tiny:F32", f'TEMPLATE """{template}"""', "PARAMETER num_thread 1", *parameters]
    if system:
        lines.append(f"SYSTEM {system}")
    return "\n".join(lines) + "\n"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def tiny(wb, tiny_model_path):
    return wb.library.import_file(tiny_model_path, name="tiny:F32")


@pytest.fixture
def session(wb, tiny):
    wb.presets.create("helper", modelfile("PARAMETER num_predict 12", "PARAMETER temperature 0.9"))
    return wb.sessions.create(preset_ref="helper")


def test_an_answer_streams_into_the_session_with_its_provenance(wb, tiny, session):
    stream = wb.chat.send(session.id, "hello")
    assert stream.user_message.content == "hello" and stream.user_message.role == "user"
    placeholder = wb.sessions.message(stream.assistant_id)
    assert (placeholder.status, placeholder.content, placeholder.parent_id) == ("streaming", "", stream.user_message.id)
    pieces = list(stream)
    message = stream.result
    assert message.id == stream.assistant_id and message.status == "complete"
    assert message.content == "".join(pieces) == stream.text and len(pieces) >= 2
    assert wb.sessions.message(message.id) == message
    assert [m.id for m in wb.sessions.path(session.id)] == [stream.user_message.id, message.id]

    p = message.provenance
    version = wb.presets.get("helper")
    assert (p["model"], p["model_sha256"]) == ("tiny:F32", tiny.sha256)
    assert (p["preset"], p["preset_version"], p["preset_sha256"]) == ("helper", 1, version.content_sha256)
    prompt = "<|user|>hello<|end|><|assistant|>"
    assert p["prompt_sha256"] == sha(prompt) and p["template_sha256"] == sha(TEMPLATE)
    assert p["parameters"] == {"num_thread": 1, "num_predict": 12, "temperature": 0.9}
    assert isinstance(p["seed"], int) and p["reproducible"] is True and p["n_ctx"] == 4096
    loaded = wb.runtime.acquire(tiny)
    assert p["prompt_tokens"] == len(loaded.tokenize(prompt, parse_special=True))
    assert (p["completion_tokens"], p["finish_reason"], p["error"]) == (12, "length", None)
    assert p["ttft_seconds"] > 0 and p["tokens_per_second"] > 0
    info = wb.runtime.backend_info()
    assert p["engine"]["backend"] == info.backend and p["engine"]["llama_cpp_python"] == info.llama_cpp_python
    assert p["engine"]["ggml_commit"] == info.ggml_commit
    assert p["started_at"] <= p["finished_at"] and p["rerun_of"] is None


def test_text_is_saved_while_streaming_not_only_at_the_end(wb, session, monkeypatch):
    monkeypatch.setattr(answers, "SAVE_INTERVAL", 0.0)  # every piece: so the test needs no clock
    stream = wb.chat.send(session.id, "hello")
    seen = [next(stream) for _ in range(3)]
    with sqlite3.connect(default_paths().db) as other:  # another connection, as a crash would leave it
        row = other.execute("SELECT content, status FROM messages WHERE id = ?", (stream.assistant_id,)).fetchone()
    assert row == ("".join(seen), "streaming")
    assert stream.collect().status == "complete"


def test_cancel_from_another_thread_stops_and_keeps_the_text(wb, session):
    wb.sessions.set_overrides(session.id, parameters={"num_predict": -1})  # would run to the end of the context
    stream = wb.chat.send(session.id, "go on forever")
    first = next(stream)
    canceller = threading.Thread(target=stream.cancel)
    canceller.start()
    canceller.join()
    rest = list(stream)
    message = stream.result
    assert message.status == "stopped" and message.content == first + "".join(rest)
    assert message.provenance["finish_reason"] == "cancelled" and message.provenance["completion_tokens"] < 4000

    with pytest.raises(BrokenPipeError), wb.chat.send(session.id, "and then") as dropped:
        next(dropped)
        raise BrokenPipeError  # the consumer dies half-way (a closed pipe): leaving `with` still stores it
    assert dropped.result.status == "stopped" and wb.sessions.message(dropped.assistant_id).content == dropped.text

    early = wb.chat.send(session.id, "never mind")
    early.cancel()  # before anything ran: ended at once
    assert list(early) == [] and early.result.status == "stopped" and early.result.content == ""
    assert wb.sessions.message(early.assistant_id).status == "stopped"


def test_regenerate_edit_and_switch_between_siblings(wb, session):
    first = wb.chat.send(session.id, "hello").collect()
    user = wb.sessions.message(first.parent_id)
    second = wb.chat.regenerate(first.id).collect()
    assert second.parent_id == user.id and [m.id for m in wb.sessions.siblings(first.id)] == [first.id, second.id]
    assert wb.sessions.get(session.id).current_leaf_id == second.id
    follow = wb.chat.send(session.id, "and then?").collect()
    assert [m.role for m in wb.sessions.path(session.id)] == ["user", "assistant", "user", "assistant"]
    assert wb.sessions.path(session.id)[1].id == second.id

    edited = wb.chat.edit(user.id, "hi instead")
    branch = edited.collect()
    assert edited.user_message.parent_id is None and edited.user_message.content == "hi instead"
    assert [m.content for m in wb.sessions.siblings(user.id)] == ["hello", "hi instead"]
    assert [m.id for m in wb.sessions.path(session.id)] == [edited.user_message.id, branch.id]
    assert branch.provenance["prompt_sha256"] == sha("<|user|>hi instead<|end|><|assistant|>")

    wb.sessions.switch_to(user.id)  # back to the first branch: its newest answers down to the leaf
    assert [m.id for m in wb.sessions.path(session.id)] == [user.id, second.id, follow.parent_id, follow.id]
    third = wb.chat.send(session.id, "more", parent_id=first.id).collect()  # continue under an older sibling
    assert [m.id for m in wb.sessions.path(session.id)][:2] == [user.id, first.id] and third.status == "complete"


def test_history_and_overrides_shape_the_prompt_and_are_recorded(wb, session):
    first = wb.chat.send(session.id, "hello").collect()
    wb.sessions.set_overrides(session.id, system="Be terse.", parameters={"num_predict": 3, "top_k": 5})
    second = wb.chat.send(session.id, "again").collect()
    p = second.provenance
    assert p["prompt_sha256"] == sha(f"<|system|>Be terse.<|end|><|user|>hello<|end|><|assistant|>{first.content}"
                                     "<|end|><|user|>again<|end|><|assistant|>")
    assert p["completion_tokens"] == 3 and p["parameters"]["num_predict"] == 3 and p["parameters"]["top_k"] == 5
    assert p["system_override"] == "Be terse." and p["parameter_overrides"] == {"num_predict": 3, "top_k": 5}


def test_rerun_with_the_recorded_seed_gives_the_same_text(wb, session):
    original = wb.chat.send(session.id, "hello").collect()
    # num_predict -1: the busy answer runs until its context is full, far longer than the re-run
    wb.sessions.set_overrides(session.id, system="Changed since", parameters={"temperature": 0.1, "num_predict": -1})
    busy = wb.chat.send(session.id, "keep the engine busy", parent_id=original.id)
    next(busy)  # another answer in flight beside the re-run: reproducible mode makes that irrelevant
    again = wb.chat.rerun(original.id).collect()
    busy.cancel()
    assert busy.collect().status == "stopped"  # it was still running when the re-run ended
    assert original.provenance["batch_sequences"] == 1 and again.provenance["batch_sequences"] > 1
    assert again.content == original.content and again.parent_id == original.parent_id
    p, q = original.provenance, again.provenance
    assert q["rerun_of"] == original.id and q["seed"] == p["seed"] and q["prompt_sha256"] == p["prompt_sha256"]
    assert q["parameters"] == {**p["parameters"], "seed": p["seed"]}
    assert q["system_override"] is None  # the recorded state, not the session's later overrides
    assert wb.chat.rerun(again.id).collect().content == original.content


def test_a_prompt_session_continues_the_raw_text_without_a_template(wb, tiny):
    s = wb.sessions.create(model_name="tiny:F32", kind="prompt", parameter_overrides={"num_predict": 5})
    answer = wb.chat.send(s.id, "Once upon a time").collect()
    p = answer.provenance
    assert p["prompt_sha256"] == sha("Once upon a time") and p["template_sha256"] is None
    assert (p["preset"], p["completion_tokens"], answer.status) == (None, 5, "complete")


def test_a_prompt_over_the_context_is_saved_failed_and_raised(wb, tiny):
    wb.presets.create("small", modelfile("PARAMETER num_ctx 64"))
    s = wb.sessions.create(preset_ref="small")
    stream = wb.chat.send(s.id, "x" * 200)
    with pytest.raises(ContextLengthExceeded, match="context holds 64"):
        next(stream)
    failed = wb.sessions.message(stream.assistant_id)
    assert failed.status == "failed" and stream.result == failed
    assert failed.provenance["error_type"] == "ContextLengthExceeded" and "64" in failed.provenance["error"]
    assert failed.provenance["model_sha256"] == tiny.sha256
    assert wb.sessions.message(stream.user_message.id).content == "x" * 200  # the question is kept
    with pytest.raises(InvalidParameter, match="no recorded seed"):
        wb.chat.rerun(failed.id)
    assert list(stream) == []  # ended: iterating again is just empty


def test_a_template_error_is_saved_failed_and_raised(wb, tiny):
    wb.presets.create("broken", modelfile(template="{{ raise_exception('roles must alternate') }}"))
    s = wb.sessions.create(preset_ref="broken")
    stream = wb.chat.send(s.id, "hello")
    with pytest.raises(TemplateError, match="roles must alternate"):
        stream.collect()
    assert wb.sessions.message(stream.assistant_id).status == "failed"


def test_bad_requests_save_nothing(wb, session):
    with pytest.raises(InvalidParameter, match="cannot be empty"):
        wb.chat.send(session.id, "   ")
    with pytest.raises(NotFound):
        wb.chat.send(9999, "hello")
    answer = wb.chat.send(session.id, "hello").collect()
    with pytest.raises(InvalidParameter, match="needs a user message"):
        wb.chat.edit(answer.id, "x")
    with pytest.raises(InvalidParameter, match="needs an assistant message"):
        wb.chat.regenerate(answer.parent_id)
    with pytest.raises(NotFound):
        wb.chat.send(session.id, "hello", parent_id=12345)
    assert len(wb.sessions.messages(session.id)) == 2


def test_recovery_leaves_answers_of_live_writers_alone(wb, session):
    stream = wb.chat.send(session.id, "hello")
    next(stream)
    writer = wb.sessions.message(stream.assistant_id).provenance["writer"]
    assert writer["pid"] == os.getpid() and answers.writer_alive(writer)
    assert wb.sessions.recover_interrupted() == 0  # this process is still writing it
    assert wb.sessions.message(stream.assistant_id).status == "streaming"
    assert stream.collect().status == "complete" and "writer" not in stream.result.provenance
    assert not answers.writer_alive({**writer, "started": writer["started"] - 3600})  # a reused pid
    assert not answers.writer_alive(None) and answers.writer_alive({**writer, "host": "elsewhere"})
    held = wb.chat.send(session.id, "again")
    next(held)
    assert wb.sessions.recover_interrupted(force=True) == 1  # for a caller that knows nothing else writes
    assert wb.sessions.message(held.assistant_id).status == "interrupted"
    assert held.collect().status == "complete"  # the live stream's own end still lands


def test_a_session_with_branches_survives_a_restart(workbench_home, tiny_model_path):
    with Workbench(default_paths()) as wb:
        wb.library.import_file(tiny_model_path, name="tiny:F32")
        wb.presets.create("helper", modelfile("PARAMETER num_predict 6"))
        s = wb.sessions.create(preset_ref="helper")
        first = wb.chat.send(s.id, "hello").collect()
        wb.chat.regenerate(first.id).collect()
        wb.chat.edit(first.parent_id, "other").collect()
        before = wb.sessions.messages(s.id)
        leaf = wb.sessions.get(s.id).current_leaf_id
    with Workbench(default_paths()) as wb:
        assert wb.sessions.messages(s.id) == before and wb.sessions.get(s.id).current_leaf_id == leaf
        assert [m.provenance for m in wb.sessions.messages(s.id)] == [m.provenance for m in before]
        assert wb.chat.send(s.id, "still here?").collect().status == "complete"
        assert len(wb.sessions.messages(s.id)) == len(before) + 2


_CHILD = textwrap.dedent("""
    import sys, threading
    from workbench.chat import service as answers
    from workbench.app import Workbench
    answers.SAVE_INTERVAL = 0.0  # every piece reaches the database before it is handed out
    wb = Workbench()
    wb.library.import_file(sys.argv[1], name="tiny:F32")
    wb.presets.create("helper", sys.argv[2])
    s = wb.sessions.create(preset_ref="helper")
    for text in ("one", "two"):
        wb.chat.send(s.id, text).collect()
    wb.sessions.set_overrides(s.id, parameters={"num_predict": -1})
    stream = wb.chat.send(s.id, "a long answer")
    for _ in range(5):
        next(stream)
    other = wb.sessions.create(preset_ref="helper")
    wb.sessions.set_overrides(other.id, parameters={"num_predict": -1})
    writer = wb.chat.send(other.id, "keep writing")
    next(writer)
    threading.Thread(target=writer.collect, daemon=True).start()  # still committing when the kill lands
    print("READY", stream.assistant_id, repr(stream.text), flush=True)
    threading.Event().wait()
""")


def test_kill_9_mid_answer_keeps_everything_already_written(workbench_home, tiny_model_path):
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(tiny_model_path), modelfile("PARAMETER num_predict 8")],
                             stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent)
    try:
        line = child.stdout.readline()
    finally:
        child.kill()  # SIGKILL: no cleanup of any kind runs in the child
        child.wait()
    word, answer_id, text = line.split(" ", 2)
    assert word == "READY", line
    partial = ast.literal_eval(text.strip())  # the repr the child printed
    with sqlite3.connect(default_paths().db) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Workbench(default_paths()) as wb:
        half = wb.sessions.message(int(answer_id))
        assert half.status == "streaming" and half.content == partial and partial
        earlier = wb.sessions.path(half.session_id)[:-1]
        assert [(m.role, m.status) for m in earlier] == [("user", "complete"), ("assistant", "complete")] * 2 + [
            ("user", "complete")]
        assert [m.content for m in earlier[::2]] == ["one", "two", "a long answer"]
        assert all(m.content for m in earlier)
        assert wb.sessions.recover_interrupted() >= 1  # this answer (and the other session's, if still going)
        after = wb.sessions.message(half.id)
        assert after.status == "interrupted" and after.content == partial
        assert wb.sessions.search("long")[0].message_id == half.parent_id
