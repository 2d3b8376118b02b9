"""Realistic endpoint checks on gemma-3-270m: a chat preset (gemma's own Jinja template as the TEMPLATE, the
GGUF has none), schema-constrained JSON that validates, and seeded sampling that reproduces exactly — alone and
among concurrent streams — when the endpoint runs in reproducible mode.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import jsonschema
import ollama
import openai
import pytest

from tests.chat_fixtures import HF_GEMMA3
from tests.serve_support import open_workbench, serving
from tests.test_engine_mechanics import scheduler_held, wait_until

pytestmark = pytest.mark.gemma
GEMMA = "gemma-3-270m:Q4_K_M"


@pytest.fixture(scope="module")
def server(tmp_path_factory, gemma_model_path):
    wb = open_workbench(tmp_path_factory.mktemp("serve-gemma"), default_context=1024)
    wb.library.import_file(gemma_model_path, name=GEMMA)
    wb.presets.create("gemma-chat", f'FROM {GEMMA}\nTEMPLATE """{HF_GEMMA3}"""\nPARAMETER stop <end_of_turn>\n'
                                    "SYSTEM Answer briefly.\n")
    with serving(wb, parallel=4, reproducible=True) as srv:
        yield srv
    wb.close()


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def test_json_schema_answer_parses_and_validates(client):
    schema = {"type": "object", "additionalProperties": False, "required": ["city", "country", "population"],
              "properties": {"city": {"type": "string", "maxLength": 40},
                             "country": {"type": "string", "maxLength": 40},
                             "population": {"type": "integer"}}}
    reply = client.chat.completions.create(
        model="gemma-chat", max_tokens=80, temperature=0,
        messages=[{"role": "user", "content": "Give the capital of France as JSON."}],
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": True}})
    value = json.loads(reply.choices[0].message.content)
    jsonschema.validate(value, schema)
    assert reply.choices[0].finish_reason == "stop"


def test_seeded_sampling_reproduces_alone_and_under_concurrent_load(client, server):
    def ask(seed: int, text: str = "Write one sentence about the sea.") -> str:
        return client.chat.completions.create(model="gemma-chat", max_tokens=32, temperature=0.9, seed=seed,
                                              messages=[{"role": "user", "content": text}]).choices[0].message.content

    alone = ask(42)
    assert alone and ask(42) == alone
    assert server.state.request_log(1)[0].batch_sequences == 1
    state = server.state
    with ThreadPoolExecutor(4) as pool:  # the same request while three others share the batch
        with scheduler_held(state.load_model(state.resolve("gemma-chat"))):  # all four wait, then start at once
            crowd = [pool.submit(ask, 42), *(pool.submit(ask, s, "Name three colours.") for s in (1, 2, 3))]
            assert wait_until(lambda: state.key_metrics().in_flight == 4)
        assert crowd[0].result() == alone
    assert [r.batch_sequences > 1 for r in state.request_log(4)] == [True] * 4  # they did share decode steps
    assert len(server.workbench.runtime.loaded()) == 1  # one model served them all (the held one)
    assert ask(43) != alone


def test_ollama_client_chats_with_the_preset(server):
    reply = ollama.Client(host=server.url).chat(
        model="gemma-chat", messages=[{"role": "user", "content": "What is 2 + 2?"}],
        options={"num_predict": 24, "temperature": 0})
    assert reply.done and reply.message.content.strip() and reply.eval_count <= 24
