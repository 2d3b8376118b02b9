"""Answer provenance as a typed record (records.Provenance) on real SQLite with the tiny model: what the chat
service stores reads back field by field and writes back unchanged; an answer stored by an older version (fewer
keys, one this version does not know) still loads, shows in the CLI, the Markdown export and the Chat page's
stats, and re-runs with its recorded seed."""

from __future__ import annotations

import pytest

from tests.test_answers import modelfile, sha
from tests.test_cli_library import run
from ui.widgets.chat_message import provenance_lines, stats_text
from workbench.records import Provenance


@pytest.fixture
def session(wb, tiny_model_path):
    wb.library.import_file(tiny_model_path, name="tiny:F32")
    wb.presets.create("helper", modelfile("PARAMETER num_predict 12"))
    return wb.sessions.create(preset_ref="helper")


def old_answer(wb, session, tiny_sha256: str) -> dict:
    """An answer as the first chat service stored it: no writer, cached_tokens, n_ctx, engine, batch_sequences."""
    version = wb.presets.get("helper")
    return {
        "started_at": "2026-11-02T10:00:00.000Z", "rerun_of": None, "model": "tiny:F32", "model_sha256": tiny_sha256,
        "preset": "helper", "preset_version": 1, "preset_sha256": version.content_sha256,
        "preset_version_id": version.id, "prompt_sha256": sha("<|user|>hello<|end|><|assistant|>"),
        "template_sha256": "0" * 64, "parameters": {"num_thread": 1, "num_predict": 12, "temperature": 0.7},
        "ignored_parameters": {}, "system_override": None, "parameter_overrides": {}, "seed": 1234,
        "prompt_tokens": 9, "completion_tokens": 12, "ttft_seconds": 0.25, "tokens_per_second": 48.0,
        "finish_reason": "length", "stop_sequence": None, "error": None, "finished_at": "2026-11-02T10:00:01.000Z",
        "client_note": "kept as it was",  # a key this version does not know
    }


def test_what_the_chat_service_stores_reads_back_field_by_field(wb, session):
    answer = wb.chat.send(session.id, "hello").collect()
    record = answer.provenance_record
    assert (record.model, record.preset, record.completion_tokens, record.finish_reason) == (
        "tiny:F32", "helper", 12, "length")
    assert record.engine["backend"] == wb.runtime.backend_info().backend and record.writer is None
    assert Provenance.from_dict(answer.provenance).as_dict() == answer.provenance  # written back unchanged
    early = wb.chat.send(session.id, "never mind")
    early.cancel()  # ended before anything ran: only the start and the end are recorded
    stopped = early.result.provenance
    assert set(stopped) == {"started_at", "rerun_of", "finish_reason", "finished_at"}
    assert Provenance.from_dict(stopped).as_dict() == stopped


def test_an_answer_stored_by_an_older_version_still_loads_shows_and_reruns(wb, session, capsys):
    tiny = wb.library.get("tiny:F32")
    user = wb.sessions.add_message(session.id, None, "user", "hello")
    old = wb.sessions.add_message(session.id, user.id, "assistant", "an old answer",
                                  provenance=old_answer(wb, session, tiny.sha256))
    record = wb.sessions.message(old.id).provenance_record
    assert (record.seed, record.completion_tokens, record.cached_tokens, record.engine) == (1234, 12, None, None)
    assert record.extra == {"client_note": "kept as it was"}
    assert stats_text(old) == "12 tokens · TTFT 0.25 s · 48.0 tok/s"
    assert "client_note: kept as it was" in provenance_lines(old) and "seed: 1234" in provenance_lines(old)
    assert "12 tokens · TTFT 0.25 s · 48.0 tok/s · seed 1234" in wb.sessions.export_markdown(session.id)

    code, out, _ = run(capsys, "sessions", "show", str(session.id), "--provenance")
    assert code == 0 and "client_note" in out and "1234" in out

    again = wb.chat.rerun(old.id).collect()
    replayed = again.provenance_record
    assert (replayed.rerun_of, replayed.seed, replayed.completion_tokens) == (old.id, 1234, 12)
    assert replayed.parameters == {"num_thread": 1, "num_predict": 12, "temperature": 0.7, "seed": 1234}
