"""Speculation configured as a user would: a preset's DRAFT line and PARAMETERs, `serve --speculative`, per request.

Real parts throughout: the tiny model in a real library, presets parsed from Modelfile text, the chat service
writing provenance to SQLite, and the real endpoint on 127.0.0.1 driven by the openai client and httpx.
"""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import openai
import pytest

from tests.serve_support import serving, tiny_workbench
from workbench.chat.prepare import prepare_chat
from workbench.errors import InvalidParameter

REPEAT = "the cat sat on the mat; " * 10
DRAFTY = ("FROM tiny:F32\nDRAFT tiny:F32\nPARAMETER temperature 0\nPARAMETER num_predict 48\n"
          "PARAMETER draft_p_min 0\n")  # the tiny model is rarely sure of anything
LOOKY = ("FROM tiny:F32\nPARAMETER speculative lookup\nPARAMETER draft_max 8\nPARAMETER temperature 0\n"
         "PARAMETER num_predict 48\n")


@pytest.fixture(scope="module")
def wb(tmp_path_factory, tiny_model_path):
    wb = tiny_workbench(tmp_path_factory.mktemp("spec"), tiny_model_path)
    wb.presets.create("drafty", DRAFTY)
    wb.presets.create("looky", LOOKY)
    yield wb
    wb.close()


def test_only_an_instance_that_may_speculate_pads_its_streams(wb):
    """Reproducible mode pads every stream to ≥ 2 rows so that speculating never changes the output; an
    instance no request can speculate on decodes one row per stream and does not pay for it."""
    messages = [{"role": "user", "content": "hi"}]
    plain = prepare_chat(wb, "terse", messages, reproducible=True)
    asking = prepare_chat(wb, "terse", messages, reproducible=True, parameters={"speculative": "lookup"})
    configured = prepare_chat(wb, "looky", messages, reproducible=True)
    assert (plain.load.speculative, asking.load.speculative, configured.load.speculative) == (False, True, True)
    model = wb.runtime.acquire(plain.target.model, plain.load)
    assert not model.options.speculative
    with pytest.raises(InvalidParameter, match="reproducible mode without speculation"):
        model.generate(asking.request)  # the engine refuses what would change the output; prepare never asks
    padded = wb.runtime.acquire(asking.target.model, asking.load)
    assert padded is not model and padded.generate(asking.request).collect()[1].completion_tokens > 0
    throughput = prepare_chat(wb, "terse", messages, reproducible=False, parameters={"speculative": "lookup"})
    assert not wb.runtime.resolve(throughput.target.model, throughput.load).options.speculative  # nothing to pad


def test_a_draft_line_loads_the_draft_beside_and_answers_record_the_counts(wb):
    prepared = prepare_chat(wb, "drafty", [{"role": "user", "content": REPEAT}])
    assert prepared.request.speculation.mode == "draft"
    assert prepared.load.draft_path == str(wb.library.get("tiny:F32").path)
    session = wb.sessions.create(preset_ref="drafty")
    record = wb.chat.send(session.id, REPEAT).collect().provenance_record
    assert record.drafted_tokens > 0 and record.accepted_tokens > 0
    assert record.speculation_text.startswith(f"drafts {record.accepted_tokens}/{record.drafted_tokens} accepted")
    stored = wb.sessions.message(wb.sessions.messages(session.id)[-1].id).provenance_record
    assert (stored.drafted_tokens, stored.accepted_tokens) == (record.drafted_tokens, record.accepted_tokens)


def test_parameters_choose_lookup_and_tune_it_and_a_request_can_turn_it_off(wb):
    prepared = prepare_chat(wb, "looky", [{"role": "user", "content": REPEAT}])
    assert (prepared.request.speculation.mode, prepared.request.speculation.draft_max) == ("lookup", 8)
    assert prepared.load.draft_path is None
    off = prepare_chat(wb, "looky", [{"role": "user", "content": REPEAT}], parameters={"speculative": "off"})
    assert off.request.speculation is None
    assert off.load == prepared.load  # the same instance: in reproducible mode both are padded alike
    with pytest.raises(InvalidParameter, match="needs a draft model"):
        prepare_chat(wb, "looky", [{"role": "user", "content": "hi"}], parameters={"speculative": "draft"})
    with pytest.raises(InvalidParameter, match="lookup or draft"):
        prepare_chat(wb, "looky", [{"role": "user", "content": "hi"}], parameters={"speculative": "sometimes"})


def test_a_draft_model_that_is_not_in_the_library_is_named(wb):
    wb.presets.create("lost", "FROM tiny:F32\nDRAFT nowhere:1b\n")
    with pytest.raises(InvalidParameter, match="the draft model 'nowhere:1b' of lost@1 is not in the library"):
        prepare_chat(wb, "lost", [{"role": "user", "content": "hi"}])


def drafted_total(url: str) -> float:
    """workbench_draft_tokens_total for the tiny model, from /metrics (0 before any draft)."""
    lines = [line for line in httpx.get(url + "/metrics").text.splitlines()
             if line.startswith("workbench_draft_tokens_total{")]
    return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0


def test_endpoint_default_lookup_per_request_fields_and_metrics(wb):
    with serving(wb, speculative="lookup", reproducible=True) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused")

        def ask(**extra):
            return client.chat.completions.create(model="tiny:F32", max_tokens=48, temperature=0,
                                                  messages=[{"role": "user", "content": REPEAT}], extra_body=extra)

        plain = ask(speculative="off").choices[0].message.content
        assert drafted_total(server.url) == 0  # "off" in the body wins over the endpoint's default
        assert ask().choices[0].message.content == plain
        after_default = drafted_total(server.url)
        assert after_default > 0
        assert ask(draft_max=2, draft_ngram=2).choices[0].message.content == plain
        assert "workbench_draft_accepted_tokens_total{" in httpx.get(server.url + "/metrics").text

        def ollama(**options) -> dict:
            return httpx.post(server.url + "/api/generate", timeout=60, json={
                "model": "tiny:F32", "prompt": REPEAT, "stream": False,
                "options": {"temperature": 0, "num_predict": 48, **options}}).json()

        before = drafted_total(server.url)
        assert ollama(speculative="off")["eval_count"] == 48
        assert drafted_total(server.url) == before  # Ollama options reach the same parameters
        assert ollama(draft_max=4)["eval_count"] == 48
        assert drafted_total(server.url) > before
        bad = httpx.post(server.url + "/v1/chat/completions", json={
            "model": "tiny:F32", "messages": [{"role": "user", "content": "hi"}], "draft_max": 0})
        assert bad.status_code == 400 and "draft_max" in bad.text


def test_serve_refuses_an_unknown_draft_model_before_listening(wb):
    env = {**os.environ, "WORKBENCH_HOME": str(wb.paths.data.parent)}
    code = "from workbench.cli import main; raise SystemExit(main(sys.argv[1:]))"
    result = subprocess.run([sys.executable, "-c", f"import sys; {code}", "serve", "--port", "0",
                             "--speculative", "nowhere:1b"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "the draft model 'nowhere:1b' of --speculative is not in the library" in " ".join(result.stderr.split())
