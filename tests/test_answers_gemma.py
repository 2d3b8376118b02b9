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
    # sampled (the preset itself is greedy), so re-running identically shows the recorded seed at work
    wb.sessions.set_overrides(session.id, parameters={"num_predict": 16, "temperature": 1.0})
    return session


def test_the_default_preset_writes_a_question_and_answer_page(wb, gemma_session):
    prepared = prepare_chat(wb, DEFAULT_PRESET, [{"role": "system", "content": "You are terse."},
                                                 {"role": "user", "content": "Hi"}])
    # a base model continues a page: the system text, the few-shot pairs, then the question and an open "A:"
    assert prepared.prompt.startswith("You are terse.\n\nQ: What is the capital of Italy?\nA: Rome.\n")
    assert prepared.prompt.endswith("\nQ: Hi\nA:") and prepared.prompt.count("Q: ") == 6
    loaded = wb.runtime.acquire(prepared.target.model, prepared.load)
    tokens = loaded.prompt_tokens(prepared.request)
    assert tokens[0] == loaded.bos_token_id and tokens.count(loaded.bos_token_id) == 1  # BOS once
    assert prepared.parameters["stop"] == ["\n", "Q:"] and prepared.parameters["temperature"] == 0.0


def test_a_gemma_answer_re_runs_identically_beside_other_work(wb, gemma_session):
    original = wb.chat.send(gemma_session.id, "What is the capital of France?").collect()
    assert original.status == "complete" and original.content.strip()
    assert "<end_of_turn>" not in original.content
    p = original.provenance
    assert p["preset"] == DEFAULT_PRESET and p["parameters"]["temperature"] == 1.0 and p["reproducible"] is True
    other = wb.sessions.create(preset_ref=DEFAULT_PRESET,
                               parameter_overrides={"num_predict": 400, "stop": ["<never>"], "temperature": 1.0})
    busy = wb.chat.send(other.id, "Name three rivers.")
    next(busy)  # another answer decoding in the same batches while the re-run runs
    again = wb.chat.rerun(original.id)
    assert again.collect().content == original.content
    busy.cancel()
    assert busy.collect().status == "stopped"  # still running when the re-run ended
    assert p["batch_sequences"] == 1 and again.result.provenance["batch_sequences"] > 1  # they shared decodes
    assert again.result.provenance["seed"] == p["seed"] and again.result.provenance["rerun_of"] == original.id
