"""A chat session on a remote endpoint (`remote:NAME`): answers stream into the session with the remote's
provenance, a remote that drops mid-answer leaves a failed answer — through wb.chat and the
Chat page, against the project's own endpoint on another port."""

from __future__ import annotations

import pytest

from tests.remote_support import dropping_server, served_side
from tests.ui_helpers import open_page
from workbench.errors import InvalidParameter, NotFound, WorkbenchError


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_model_path):
    with served_side(tmp_path_factory.mktemp("remote-side"), tiny_model_path) as url:
        yield url


@pytest.fixture
def remote_wb(wb, served):
    wb.remotes.add("side", served, "terse")
    return wb


def test_a_remote_session_streams_answers_with_the_remotes_provenance(remote_wb):
    session = remote_wb.sessions.create(model_name="remote:side")
    remote_wb.sessions.set_overrides(session.id, system="Be brief.", parameters={"num_predict": 3})
    stream = remote_wb.chat.send(session.id, "Hi")
    pieces = list(stream)
    message = stream.result
    assert message.status == "complete" and message.content == "".join(pieces) and pieces
    record = message.provenance_record
    assert record.model == "remote:side" and record.completion_tokens == 3 and record.finish_reason == "length"
    assert record.extra["remote"]["reported_model"] == "terse" and record.extra["remote"]["system_fingerprint"]
    assert record.parameters == {"num_predict": 3} and record.system_override == "Be brief."
    second = remote_wb.chat.send(session.id, "And again").collect()  # the conversation goes along
    assert second.status == "complete"
    assert [e.details["status"] for e in remote_wb.audit.list(kind="remote.call")] == ["ok", "ok"]


def test_a_remote_that_drops_leaves_a_failed_answer(wb):
    with dropping_server() as (url, seen):
        wb.remotes.add("dropper", url, "dropper")
        session = wb.sessions.create(model_name="remote:dropper")
        stream = wb.chat.send(session.id, "Hi")
        with pytest.raises(WorkbenchError, match="dropper"):
            stream.collect()
    assert stream.result.status == "failed" and seen[0]["body"]["messages"][-1]["content"] == "Hi"


def test_unknown_remotes_and_local_only_actions_say_so(remote_wb):
    with pytest.raises(NotFound, match="no remote endpoint named 'ghost'"):
        remote_wb.sessions.create(model_name="remote:ghost")
    session = remote_wb.sessions.create(model_name="remote:side")
    with pytest.raises(InvalidParameter, match="remote endpoint"):
        remote_wb.chat.target(session)


def test_the_chat_page_offers_remotes_and_answers_from_one(qtbot, remote_wb):
    window, page = open_page(qtbot, remote_wb, "Chat")
    window.show_error = lambda title, message, details="": pytest.fail(message)
    page.refresh_targets()
    index = page.target_combo.findData("model:remote:side")
    assert index >= 0 and "Remote: side" in page.target_combo.itemText(index)
    page.target_combo.setCurrentIndex(index)
    page.new_session()
    assert remote_wb.sessions.get(page.session_id).model_name == "remote:side"
    page.input.setPlainText("Hi")
    with qtbot.waitSignal(page.answer_finished, timeout=60000) as done:
        page.send()
    message = done.args[0]
    assert message.status == "complete" and message.provenance_record.extra["remote"]["endpoint"] == "side"


def test_cli_run_on_a_remote(remote_wb, capsys):
    from workbench.cli import main

    remote_wb.close()
    assert main(["run", "remote:side", "Hi", "--verbose"]) == 0
    out = capsys.readouterr()
    assert out.out.strip()  # the answer streamed to stdout
    assert main(["run", "remote:side", "--raw", "Hi"]) == 1
    assert "raw prompt sessions" in capsys.readouterr().err


def test_the_remote_final_event_has_every_field_of_the_engines():
    """The chat service reads a remote answer's end like the engine's FinalEvent: a field added there must be
    added to RemoteFinal too (token ids excepted: a remote does not show them)."""
    import dataclasses

    from workbench.engine import FinalEvent
    from workbench.remote.chat_stream import RemoteFinal

    engine = {f.name for f in dataclasses.fields(FinalEvent)} - {"tokens"}
    assert engine - {f.name for f in dataclasses.fields(RemoteFinal)} == set()
