"""POST /v1/responses (OpenAI's Responses API) through the real `openai` client against the real server.

The tiny model writes random printable ASCII and never stops on its own, so an answer is exactly
max_output_tokens long (status "incomplete") unless a stop string or a grammar ends it ("completed"). The chat
route is the reference: the same messages and parameters must give the same greedy text and token counts.
"""

from __future__ import annotations

import json

import httpx
import jsonschema
import openai
import pytest

from tests.serve_support import serving, tiny_workbench
from tests.test_engine_mechanics import wait_until

SAY = "Say something."
USER = [{"role": "user", "content": SAY}]
PROMPT_TOKENS = 1 + 3 + 14  # BOS + <|user|>Say something.<|end|><|assistant|> (3 specials + 14 bytes)
LONG = 3000  # the context here is 4096: a stream this long is still running when its client leaves


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_path):
    wb = tiny_workbench(tmp_path_factory.mktemp("serve-responses"), tiny_model_path, default_context=4096)
    with serving(wb, parallel=2) as srv:
        yield srv
    wb.close()


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def chat_text(client, messages, n: int) -> tuple[str, int]:
    reply = client.chat.completions.create(model="tiny:F32", messages=messages, max_tokens=n, temperature=0)
    return reply.choices[0].message.content, reply.usage.prompt_tokens


@pytest.fixture(scope="module")
def stoppy(server):
    """A preset whose stop string cuts the greedy answer to SAY after a few characters: (name, expected text)."""
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    text, _ = chat_text(client, USER, 20)
    at = next(i for i in range(3, 18) if text[i:i + 2].isalnum())
    server.state.wb.presets.create("stoppy", f'FROM tiny:F32\nPARAMETER stop "{text[at:at + 2]}"\n'
                                             "PARAMETER temperature 0\n")
    return "stoppy", text[:at]


def test_output_text_is_the_chat_answer_and_usage_counts(client):
    expected, _ = chat_text(client, USER, 7)
    reply = client.responses.create(model="tiny:F32", input=SAY, max_output_tokens=7, temperature=0)
    assert reply.output_text == expected
    assert reply.id.startswith("resp_") and reply.object == "response" and reply.model == "tiny:F32"
    assert reply.status == "incomplete" and reply.incomplete_details.reason == "max_output_tokens"
    message = reply.output[0]
    assert message.type == "message" and message.role == "assistant" and message.id.startswith("msg_")
    assert message.content[0].type == "output_text" and message.content[0].annotations == []
    usage = reply.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (PROMPT_TOKENS, 7, PROMPT_TOKENS + 7)
    # the chat request just before left this prompt in a slot's cache: all of it is reused but the last token
    # (at least one must be decoded for the first output row)
    assert usage.output_tokens_details.reasoning_tokens == 0
    assert usage.input_tokens_details.cached_tokens == PROMPT_TOKENS - 1
    assert reply.max_output_tokens == 7 and reply.temperature == 0 and reply.tools == []
    assert reply.text.format.type == "text" and reply.error is None


def test_a_stop_string_completes_the_response(client, stoppy):
    name, expected = stoppy
    reply = client.responses.create(model=name, input=SAY, max_output_tokens=20, metadata={"k": "v"}, store=True)
    assert reply.status == "completed" and reply.incomplete_details is None
    assert reply.output_text == expected and reply.output[0].status == "completed"
    assert reply.metadata == {"k": "v"}


def test_instructions_and_a_list_input_reach_the_template(client):
    turns = [{"role": "user", "content": SAY},
             {"role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
             {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "More"},
                                                            {"type": "input_text", "text": "!"}]}]
    messages = [{"role": "system", "content": "Be brief."}, *USER, {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "More!"}]
    expected, prompt_tokens = chat_text(client, messages, 4)
    reply = client.responses.create(model="tiny:F32", instructions="Be brief.", input=turns, max_output_tokens=4,
                                    temperature=0)
    assert reply.usage.input_tokens == prompt_tokens and reply.output_text == expected
    assert reply.instructions == "Be brief."
    bare = client.responses.create(model="tiny:F32", input=turns, max_output_tokens=4, temperature=0)
    assert bare.usage.input_tokens < prompt_tokens  # the instructions were really there
    developer = [{"role": "developer", "content": "Be brief."}, *turns]  # a developer message is a system one
    same = client.responses.create(model="tiny:F32", input=developer, max_output_tokens=4, temperature=0)
    assert same.usage.input_tokens == prompt_tokens and same.output_text == expected


def test_stream_events_in_order_and_deltas_join_to_the_text(client):
    whole = client.responses.create(model="tiny:F32", input=SAY, max_output_tokens=9, temperature=0)
    events = list(client.responses.create(model="tiny:F32", input=SAY, max_output_tokens=9, temperature=0,
                                          stream=True))
    kinds = [e.type for e in events]
    head = ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    tail = ["response.output_text.done", "response.content_part.done", "response.output_item.done",
            "response.incomplete"]
    assert kinds[:4] == head and kinds[-4:] == tail
    deltas = [e for e in events[4:-4]]
    assert deltas and all(e.type == "response.output_text.delta" for e in deltas)
    assert "".join(e.delta for e in deltas) == whole.output_text == events[-4].text
    assert [e.sequence_number for e in events] == list(range(len(events)))
    ids = {e.response.id for e in (events[0], events[1], events[-1])}
    assert len(ids) == 1 and next(iter(ids)).startswith("resp_")
    assert {e.item_id for e in deltas} == {events[2].item.id}
    last = events[-1].response
    assert last.status == "incomplete" and last.usage.output_tokens == 9 and last.usage.input_tokens == PROMPT_TOKENS
    assert last.output_text == whole.output_text


def test_stream_completes_and_the_sdk_stream_helper_gathers_it(client, stoppy):
    name, expected = stoppy
    events = list(client.responses.create(model=name, input=SAY, max_output_tokens=20, stream=True))
    assert events[-1].type == "response.completed" and events[-1].response.usage.output_tokens >= 1
    assert events[-1].response.output_text == expected
    with client.responses.stream(model=name, input=SAY, max_output_tokens=20) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == expected and final.status == "completed"


def test_text_format_json_schema_constrains_the_output(client):
    schema = {"type": "object", "properties": {"color": {"enum": ["red", "green", "blue"]},
                                                "ok": {"type": "boolean"}},
              "required": ["color", "ok"], "additionalProperties": False}
    reply = client.responses.create(
        model="tiny:F32", input=SAY, max_output_tokens=60, temperature=0,
        text={"format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}})
    jsonschema.validate(json.loads(reply.output_text), schema)
    assert reply.status == "completed" and reply.text.format.type == "json_schema"
    assert reply.text.format.schema_ == schema
    plain = client.responses.create(model="tiny:F32", input=SAY, max_output_tokens=60, temperature=0)
    with pytest.raises(ValueError):
        json.loads(plain.output_text)  # without the format the same request is not JSON


def test_the_sdk_parse_helper_gets_a_typed_answer(client):
    from typing import Literal

    import pydantic

    class Answer(pydantic.BaseModel):
        color: Literal["red", "green", "blue"]
        ok: bool

    reply = client.responses.parse(model="tiny:F32", input=SAY, max_output_tokens=60, temperature=0,
                                   text_format=Answer)  # sends a strict json_schema built from the class
    assert isinstance(reply.output_parsed, Answer)


def test_errors_are_openai_shaped_and_the_server_keeps_serving(client, server):
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="no-such-model", input=SAY)
    with pytest.raises(openai.BadRequestError, match="previous_response_id"):
        client.responses.create(model="tiny:F32", input=SAY, previous_response_id="resp_123")
    tools = [{"type": "function", "name": "f", "parameters": {"type": "object"}}]
    with pytest.raises(openai.BadRequestError, match="tools"):
        client.responses.create(model="tiny:F32", input=SAY, tools=tools)
    with pytest.raises(openai.BadRequestError, match="function_call_output"):
        client.responses.create(model="tiny:F32", input=[{"type": "function_call_output", "call_id": "c",
                                                          "output": "x"}])
    image = [{"role": "user", "content": [{"type": "input_image", "image_url": "data:,"}]}]
    with pytest.raises(openai.BadRequestError, match="input_image"):
        client.responses.create(model="tiny:F32", input=image)
    for body in ({"model": "tiny:F32", "input": []}, {"model": "tiny:F32", "input": 5},
                 {"model": "tiny:F32", "input": SAY, "max_output_tokens": 0},
                 {"model": "tiny:F32", "input": SAY, "text": {"format": {"type": "json_schema", "name": "x"}}}):
        answer = httpx.post(server.url + "/v1/responses", json=body, timeout=60)
        assert answer.status_code == 400 and answer.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="tiny:F32", input="x" * 5000)  # the context is 4096 tokens (one per byte)
    assert caught.value.body["code"] == "context_length_exceeded"
    assert client.responses.create(model="tiny:F32", input=SAY, max_output_tokens=2).usage.output_tokens == 2


def test_a_preset_as_model_applies_its_system_and_parameters(client):
    reply = client.responses.create(model="terse", input=SAY)
    assert reply.usage.output_tokens == 5 and reply.max_output_tokens == 5  # PARAMETER num_predict 5
    assert reply.usage.input_tokens == PROMPT_TOKENS + 15  # SYSTEM You are terse.
    assert reply.temperature == 0  # PARAMETER temperature 0
    assert client.responses.create(model="terse", input=SAY, max_output_tokens=2).usage.output_tokens == 2
    own = client.responses.create(model="terse", input=SAY, instructions="Hi")  # replaces SYSTEM, as in chat
    assert own.usage.input_tokens == PROMPT_TOKENS + 4


def test_a_client_leaving_a_stream_cancels_the_generation(client, server):
    state = server.state
    with client.responses.create(model="tiny:F32", input=SAY, max_output_tokens=LONG, stream=True) as events:
        seen = 0
        for event in events:
            seen += event.type == "response.output_text.delta"
            if seen == 3:
                break
    assert wait_until(lambda: state.key_metrics().in_flight == 0)
    cut = [row for row in state.request_log() if row.route == "/v1/responses"][-1]
    assert cut.status == 499 and cut.finish_reason == "cancelled" and cut.completion_tokens < LONG


def test_a_stream_cut_by_the_endpoint_stopping_ends_with_response_failed(tmp_path, tiny_model_path):
    wb = tiny_workbench(tmp_path, tiny_model_path, default_context=4096)
    with wb, serving(wb) as srv:
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
        with client.responses.create(model="tiny:F32", input=SAY, max_output_tokens=LONG, stream=True) as events:
            kinds = []
            for event in events:
                kinds.append(event.type)
                if event.type == "response.output_text.delta" and kinds.count(event.type) == 1:
                    srv.state.shutdown()  # what stopping the endpoint does to the streams still running
        assert kinds[-1] == "response.failed" and "response.output_text.done" not in kinds
        failed = event.response
        assert failed.status == "failed" and failed.error.code == "server_error" and "cancelled" in failed.error.message
        assert 1 <= failed.usage.output_tokens < LONG
