"""The OpenAI-compatible routes through the real `openai` client against the real server on 127.0.0.1.

The tiny model writes random printable ASCII and never stops on its own, so a request's completion length is
exactly what max_tokens (or a preset's num_predict) says — which makes token counts checkable.
"""

from __future__ import annotations

import json

import httpx
import jsonschema
import openai
import pytest

from tests import tinymodel
from tests.serve_support import tiny_server


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_path):
    yield from tiny_server(tmp_path_factory, tiny_model_path, "serve-openai", parallel=4)


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


USER = [{"role": "user", "content": "Say something."}]
PROMPT_TOKENS = 1 + 3 + 14


def test_models_lists_library_models_and_presets(client):
    ids = {m.id: m.owned_by for m in client.models.list()}
    assert ids == {"tiny:F32": "library", "terse": "preset", "tooly": "preset"}
    assert client.models.retrieve("terse").id == "terse"


def test_chat_non_streaming_reports_usage(client):
    reply = client.chat.completions.create(model="tiny:F32", messages=USER, max_tokens=7, temperature=0)
    choice = reply.choices[0]
    assert choice.finish_reason == "length" and choice.message.role == "assistant"
    assert len(choice.message.content) >= 1
    assert reply.usage.completion_tokens == 7
    # BOS (the model's rule) + the tiny template: <|user|>Say something.<|end|><|assistant|> = 3 specials + 14 bytes
    assert reply.usage.prompt_tokens == PROMPT_TOKENS and reply.usage.total_tokens == PROMPT_TOKENS + 7
    assert reply.system_fingerprint.startswith("wb-")


def test_chat_stream_matches_the_non_streamed_text_and_sends_usage(client):
    kwargs = {"model": "tiny:F32", "messages": USER, "max_completion_tokens": 9, "temperature": 0}
    whole = client.chat.completions.create(**kwargs).choices[0].message.content
    chunks = list(client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 9


def test_max_completion_tokens_wins_over_max_tokens(client):
    reply = client.chat.completions.create(model="tiny:F32", messages=USER, max_tokens=3,
                                           max_completion_tokens=6)
    assert reply.usage.completion_tokens == 6


def test_completions_stream_and_not(client):
    reply = client.completions.create(model="tiny:F32", prompt="Once upon", max_tokens=5, temperature=0)
    assert reply.choices[0].finish_reason == "length" and reply.usage.completion_tokens == 5
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model="tiny:F32", prompt="Once upon", max_tokens=5, temperature=0, stream=True) if c.choices)
    assert streamed == reply.choices[0].text
    echoed = client.completions.create(model="tiny:F32", prompt="Once upon", max_tokens=5, temperature=0, echo=True)
    assert echoed.choices[0].text == "Once upon" + reply.choices[0].text


def test_seeded_sampling_reproduces_and_other_seeds_differ(client):
    def run(seed):
        return client.chat.completions.create(model="tiny:F32", messages=USER, max_tokens=24, temperature=1.0,
                                              seed=seed).choices[0].message.content

    first = run(1234)
    assert run(1234) == first
    assert len({first, run(1), run(2)}) > 1


def test_stop_strings_end_the_answer_before_the_stop_text(client):
    text = client.chat.completions.create(model="tiny:F32", messages=USER, max_tokens=20,
                                          temperature=0).choices[0].message.content
    stop = text[5:7]
    reply = client.chat.completions.create(model="tiny:F32", messages=USER, max_tokens=20, temperature=0,
                                           stop=[stop])
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.content == text[: text.index(stop)]


def test_logit_bias_forces_a_token(client):
    reply = client.chat.completions.create(model="tiny:F32", messages=USER, max_tokens=6,
                                           logit_bias={str(ord("Q")): 100})
    assert reply.choices[0].message.content == "QQQQQQ"


def test_ignore_eos_extension_runs_to_max_tokens(client):
    eos = {str(tinymodel.EOS_ID): 100}
    ended = client.completions.create(model="tiny:F32", prompt="Once", max_tokens=7, logit_bias=eos)
    assert ended.choices[0].finish_reason == "stop" and ended.usage.completion_tokens == 0
    full = client.completions.create(model="tiny:F32", prompt="Once", max_tokens=7, logit_bias=eos,
                                     extra_body={"ignore_eos": True})
    assert full.choices[0].finish_reason == "length" and full.usage.completion_tokens == 7


def test_penalties_and_top_p_are_accepted_and_change_sampling(client):
    base = {"model": "tiny:F32", "messages": USER, "max_tokens": 30, "temperature": 0}
    plain = client.chat.completions.create(**base).choices[0].message.content
    penalised = client.chat.completions.create(presence_penalty=2.0, frequency_penalty=2.0, top_p=0.5,
                                               **base).choices[0].message.content
    assert penalised != plain  # the penalties reached the sampler


def test_json_schema_output_parses_and_validates(client):
    schema = {"type": "object", "properties": {"color": {"enum": ["red", "green", "blue"]},
                                                "ok": {"type": "boolean"}},
              "required": ["color", "ok"], "additionalProperties": False}
    reply = client.chat.completions.create(
        model="tiny:F32", messages=USER, max_tokens=60, temperature=0.7, seed=3,
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}})
    value = json.loads(reply.choices[0].message.content)
    jsonschema.validate(value, schema)
    obj = client.chat.completions.create(model="tiny:F32", messages=USER, max_tokens=200, temperature=0,
                                         logit_bias={str(ord("}")): 30}, response_format={"type": "json_object"})
    assert isinstance(json.loads(obj.choices[0].message.content), dict)


def test_a_preset_as_model_applies_its_system_and_parameters_and_requests_override(client):
    reply = client.chat.completions.create(model="terse", messages=USER)
    assert reply.usage.completion_tokens == 5  # PARAMETER num_predict 5
    # the preset's SYSTEM adds <|system|>You are terse.<|end|>: 2 specials + 14 bytes, " t" being one merge
    assert reply.usage.prompt_tokens == PROMPT_TOKENS + 15
    assert client.chat.completions.create(model="terse", messages=USER, max_tokens=2).usage.completion_tokens == 2
    own = [{"role": "system", "content": "Hi"}, *USER]  # the request's own system message replaces SYSTEM
    assert client.chat.completions.create(model="terse", messages=own).usage.prompt_tokens == PROMPT_TOKENS + 4


def test_forced_tool_choice_returns_a_parsed_tool_call(client, server):
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"enum": ["Paris", "Rome"]}},
                       "required": ["city"]}}}]
    choice = {"type": "function", "function": {"name": "get_weather"}}
    reply = client.chat.completions.create(model="tooly", messages=USER, tools=tools, tool_choice=choice,
                                           max_tokens=60)
    call = reply.choices[0].message.tool_calls[0]
    assert reply.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and json.loads(call.function.arguments)["city"] in ("Paris", "Rome")
    chunks = list(client.chat.completions.create(model="tooly", messages=USER, tools=tools, tool_choice=choice,
                                                 max_tokens=60, stream=True))
    streamed = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert streamed[0].function.name == "get_weather"
    # a tool result goes back through the template: the prompt grows by exactly the rendered tool turn
    asked = [*USER, {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]}]
    answered = [*asked, {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    before, after = (client.chat.completions.create(model="tooly", messages=m, tools=tools, max_tokens=3).usage
                     for m in (asked, answered))
    turn = httpx.post(f"{server.url}/tokenize", json={"model": "tooly", "content": "<|tool|>sunny<|end|>"}).json()
    assert after.prompt_tokens - before.prompt_tokens == len(turn["tokens"]) == 14  # <|tool|> is 8 bytes here


def test_tools_on_a_template_without_tools_are_a_clear_400(client):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    with pytest.raises(openai.BadRequestError, match="does not support tools"):
        client.chat.completions.create(model="tiny:F32", messages=USER, tools=tools, max_tokens=3)


def test_embeddings_float_and_base64(client):
    floats = client.embeddings.create(model="tiny:F32", input=["hello", "a longer text"], encoding_format="float")
    assert [d.index for d in floats.data] == [0, 1] and len(floats.data[0].embedding) == 64
    assert floats.usage.prompt_tokens > 2
    assert abs(sum(v * v for v in floats.data[0].embedding) - 1.0) < 1e-4  # unit length
    default = client.embeddings.create(model="tiny:F32", input="hello")  # the client asks for base64 itself
    assert default.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-6)


def test_tokenize_and_detokenize_round_trip_in_the_models_own_tokens(server, client):
    import httpx

    text = "Say something. <|end|>"
    plain = httpx.post(server.url + "/tokenize", json={"model": "tiny:F32", "content": text}).json()["tokens"]
    assert tinymodel.BOS_ID not in plain and len(plain) < len(text.encode())  # the special token is one token
    with_bos = httpx.post(server.url + "/tokenize",
                          json={"model": "terse", "content": text, "add_special": True}).json()["tokens"]
    assert with_bos == [tinymodel.BOS_ID, *plain]  # a preset names its model's tokenizer
    pieces = httpx.post(server.url + "/tokenize",
                        json={"model": "tiny:F32", "content": text, "with_pieces": True}).json()["tokens"]
    assert [p["id"] for p in pieces] == plain and "".join(p["piece"] for p in pieces) == text
    back = httpx.post(server.url + "/detokenize", json={"model": "tiny:F32", "tokens": plain})
    assert back.status_code == 200 and back.json()["content"] == "Say something. "  # specials are not rendered
    # the token ids work as a prompt, and the usage counts them
    reply = client.completions.create(model="tiny:F32", prompt=plain, max_tokens=2)
    assert reply.usage.prompt_tokens == len(plain)
    bad = httpx.post(server.url + "/detokenize", json={"model": "tiny:F32", "tokens": [10**7]})
    assert bad.status_code == 400 and "outside the vocabulary" in bad.json()["error"]["message"]
    missing = httpx.post(server.url + "/tokenize", json={"model": "nope", "content": "x"})
    assert missing.status_code == 404
    wrong = httpx.post(server.url + "/tokenize", json={"model": "tiny:F32", "content": 5})
    assert wrong.status_code == 400 and "content" in wrong.json()["error"]["message"]
