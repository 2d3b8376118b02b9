"""The bundled default preset on the real gemma-3-270m: its turn format, a chat, and a re-run that matches."""

from __future__ import annotations

import pytest

from workbench.chat.prepare import prepare_chat
from workbench.library.bundled import DEFAULT_NAME, DEFAULT_PRESET, ensure_default_preset

pytestmark = pytest.mark.gemma


@pytest.fixture
def gemma_session(wb, gemma_model_path):
    model = wb.library.import_file(gemma_model_path, name=DEFAULT_NAME)
    version = ensure_default_preset(wb, model)
    assert version is not None and version.model_sha256 == model.sha256
    session = wb.sessions.create(preset_ref=DEFAULT_PRESET)
    wb.sessions.set_overrides(session.id, parameters={"num_predict": 16})
    return session


def test_the_default_preset_speaks_gemmas_turn_format(wb, gemma_session):
    prepared = prepare_chat(wb, DEFAULT_PRESET, [{"role": "system", "content": "You are terse."},
                                                 {"role": "user", "content": "Hi"}])
    assert prepared.prompt == "<start_of_turn>user\nYou are terse.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
    loaded = wb.runtime.acquire(prepared.target.model, prepared.load)
    tokens = loaded.prompt_tokens(prepared.request)
    turn = loaded.tokenize("<start_of_turn>", add_special=False, parse_special=True)
    assert len(turn) == 1 and tokens[:2] == [loaded.bos_token_id, turn[0]]  # BOS once, then a real turn token
    assert tokens.count(loaded.bos_token_id) == 1
    assert prepared.parameters["stop"] == ["<end_of_turn>"] and prepared.parameters["top_k"] == 64


def test_a_gemma_answer_re_runs_identically_beside_other_work(wb, gemma_session):
    original = wb.chat.send(gemma_session.id, "What is the capital of France?").collect()
    assert original.status == "complete" and original.content.strip()
    assert "<end_of_turn>" not in original.content
    p = original.provenance
    assert p["preset"] == DEFAULT_PRESET and p["parameters"]["temperature"] == 1.0 and p["reproducible"] is True
    other = wb.sessions.create(preset_ref=DEFAULT_PRESET, parameter_overrides={"num_predict": 400})
    busy = wb.chat.send(other.id, "Name three rivers.")
    next(busy)  # another answer decoding in the same batches while the re-run runs
    again = wb.chat.rerun(original.id)
    assert again.collect().content == original.content
    busy.cancel()
    assert busy.collect().status == "stopped"  # still running when the re-run ended
    assert p["batch_sequences"] == 1 and again.result.provenance["batch_sequences"] > 1  # they shared decodes
    assert again.result.provenance["seed"] == p["seed"] and again.result.provenance["rerun_of"] == original.id
