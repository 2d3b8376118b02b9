"""Anthropic's Messages API through the real `anthropic` client against the real server on 127.0.0.1.

The tiny model writes random printable ASCII and never stops on its own, so an answer's length is exactly its
max_tokens; at temperature 0 the same request gives the same text, which makes stop sequences checkable.
"""

from __future__ import annotations

import json
import threading

import anthropic
import httpx
import pytest

from tests.reasoning_support import ADD, WEATHER, add_presets, literal
from tests.serve_support import serving, tiny_workbench
from tests.test_engine_mechanics import scheduler_held, wait_until

USER = [{"role": "user", "content": "Say something."}]
PROMPT_TOKENS = 1 + 3 + 14  # BOS + <|user|>Say something.<|end|><|assistant|> (as in test_serve_openai)
KEY = "anthropic-test-key-0123456789"
GREEDY = {"temperature": 0}  # the 2026 SDK's create() has no sampling arguments; clients send them as fields


@pytest.fixture(scope="module")
def wb(tmp_path_factory, tiny_model_path):
    workbench = tiny_workbench(tmp_path_factory.mktemp("serve-anthropic"), tiny_model_path)
    add_presets(workbench)  # thinker, hermes, harmony …: a template per reasoning and tool-call style
    yield workbench
    workbench.close()


@pytest.fixture(scope="module")
def server(wb):
    with serving(wb, parallel=4) as srv:
        yield srv


@pytest.fixture
def client(server):
    return anthropic.Anthropic(base_url=server.url, api_key="unused-on-loopback", max_retries=0)


def prompt_total(usage) -> int:
    """Anthropic's input_tokens leaves out what was read from the cache; the prompt is their sum."""
    return usage.input_tokens + (usage.cache_read_input_tokens or 0)


def sse_events(response: httpx.Response) -> list[tuple[str, dict]]:
    events, kind = [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            payload = json.loads(line[6:])
            assert payload["type"] == kind  # the event name and the data's type agree
            events.append((kind, payload))
    return events


def test_create_returns_a_text_message_with_usage(client):
    reply = client.messages.create(model="tiny:F32", messages=USER, max_tokens=7, extra_body=GREEDY)
    assert reply.type == "message" and reply.role == "assistant" and reply.model == "tiny:F32"
    assert reply.id.startswith("msg_") and [b.type for b in reply.content] == ["text"]
    assert len(reply.content[0].text) >= 7  # one byte per token (the merged " t" is two)
    assert reply.stop_reason == "max_tokens" and reply.stop_sequence is None
    assert reply.usage.output_tokens == 7 and prompt_total(reply.usage) == PROMPT_TOKENS


def test_stream_follows_anthropics_event_sequence_and_accumulates_the_same_message(client, server):
    kwargs = {"model": "tiny:F32", "messages": USER, "max_tokens": 9}
    whole = client.messages.create(**kwargs, extra_body=GREEDY)
    with client.messages.stream(**kwargs, extra_body=GREEDY) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == whole.content[0].text and final.stop_reason == "max_tokens"
    assert final.usage.output_tokens == 9 and prompt_total(final.usage) == PROMPT_TOKENS
    with httpx.stream("POST", server.url + "/v1/messages", json={**kwargs, **GREEDY, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    kinds = [kind for kind, _ in events]
    deltas = kinds.count("content_block_delta")
    assert kinds == ["message_start", "ping", "content_block_start", *["content_block_delta"] * deltas,
                     "content_block_stop", "message_delta", "message_stop"] and deltas >= 1
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["usage"]["input_tokens"] == PROMPT_TOKENS
    assert events[2][1] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    assert "".join(p["delta"]["text"] for k, p in events if k == "content_block_delta") == whole.content[0].text
    assert {p["delta"]["type"] for k, p in events if k == "content_block_delta"} == {"text_delta"}
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "max_tokens", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == 9


def test_count_tokens_matches_the_prompt_the_answer_reports(client):
    system = [{"type": "text", "text": "You are terse."}, {"type": "text", "text": "Very."}]
    for model, extra in (("tiny:F32", {}), ("tiny:F32", {"system": system}), ("terse", {}),
                         ("terse", {"system": "Hi"})):
        counted = client.messages.count_tokens(model=model, messages=USER, **extra).input_tokens
        reply = client.messages.create(model=model, messages=USER, max_tokens=2, **extra)
        assert counted == prompt_total(reply.usage), (model, extra)
    assert client.messages.count_tokens(model="tiny:F32", messages=USER).input_tokens == PROMPT_TOKENS


def test_stop_sequences_end_the_answer_and_are_named(client):
    text = client.messages.create(model="tiny:F32", messages=USER, max_tokens=20, extra_body=GREEDY).content[0].text
    stop = text[5:7]
    reply = client.messages.create(model="tiny:F32", messages=USER, max_tokens=20, extra_body=GREEDY,
                                   stop_sequences=["never-in-ascii-noise\u00e9", stop])
    assert reply.stop_reason == "stop_sequence" and reply.stop_sequence == stop
    assert reply.content[0].text == text[: text.index(stop)]
    with client.messages.stream(model="tiny:F32", messages=USER, max_tokens=20, extra_body=GREEDY,
                                stop_sequences=[stop]) as stream:
        streamed = stream.get_final_message()
    assert streamed.stop_sequence == stop and streamed.content[0].text == reply.content[0].text


def test_system_blocks_and_presets_by_name(client):
    # the terse preset: SYSTEM "You are terse." (<|system|>…<|end|>: 15 tokens) and num_predict 5
    preset = client.messages.create(model="terse", messages=USER, max_tokens=3)
    assert prompt_total(preset.usage) == PROMPT_TOKENS + 15 and preset.usage.output_tokens == 3
    as_blocks = client.messages.create(model="tiny:F32", messages=USER, max_tokens=1,
                                       system=[{"type": "text", "text": "You are terse."}])
    assert prompt_total(as_blocks.usage) == PROMPT_TOKENS + 15
    own = client.messages.create(model="terse", messages=USER, max_tokens=1, system="Hi")  # replaces SYSTEM
    assert prompt_total(own.usage) == PROMPT_TOKENS + 4
    # sampling fields (which this SDK sends as extra body fields; older ones as arguments) reach the sampler
    base = {"model": "tiny:F32", "messages": USER, "max_tokens": 30}

    def texts(**fields) -> set[str]:
        return {client.messages.create(extra_body={"temperature": 1.0, **fields}, metadata={"user_id": "u-1"},
                                       **base).content[0].text for _ in range(3)}

    assert len(texts(top_k=0)) > 1 and len(texts(top_k=1)) == 1  # top_k 1 leaves one candidate: no chance
    assert len(texts(top_k=0, top_p=0.01)) == 1


def test_a_conversation_with_earlier_turns_and_anthropic_headers(client, server):
    turns = [*USER, {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
             {"role": "user", "content": [{"type": "text", "text": "More"}]}]
    counted = client.messages.count_tokens(model="tiny:F32", messages=turns).input_tokens
    # <|assistant|>ok<|end|><|user|>More<|end|> adds 2 + 4 specials... and 6 bytes
    assert counted == PROMPT_TOKENS + 4 + 6
    raw = httpx.post(server.url + "/v1/messages", headers={"anthropic-version": "2023-06-01",
                                                           "anthropic-beta": "whatever-2099-01-01"},
                     json={"model": "tiny:F32", "messages": turns, "max_tokens": 2})
    assert raw.status_code == 200 and raw.json()["usage"]["output_tokens"] == 2


def error_of(response: httpx.Response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == kind
    return body["error"]["message"]


def test_errors_come_in_anthropics_shape(client, server):
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(model="no-such-model", messages=USER, max_tokens=2)
    assert missing.value.body["error"]["type"] == "not_found_error" and "no-such-model" in str(missing.value)
    url = server.url + "/v1/messages"
    bad_json = httpx.post(url, content=b'{"model": "tiny:F32", "messages": [',
                          headers={"content-type": "application/json"})
    assert "not valid JSON" in error_of(bad_json, 400, "invalid_request_error")
    no_max = httpx.post(url, json={"model": "tiny:F32", "messages": USER})
    assert "max_tokens" in error_of(no_max, 400, "invalid_request_error")
    hot = httpx.post(url, json={"model": "tiny:F32", "messages": USER, "max_tokens": 2, "temperature": 1.5})
    assert "temperature" in error_of(hot, 400, "invalid_request_error")
    with pytest.raises(anthropic.BadRequestError, match="context"):
        client.messages.create(model="tiny:F32", messages=[{"role": "user", "content": "x " * 600}], max_tokens=2)
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    with pytest.raises(anthropic.BadRequestError, match="image block: the attachment is not an image"):
        client.messages.create(model="tiny:F32", max_tokens=2,
                               messages=[{"role": "user", "content": [image, {"type": "text", "text": "What?"}]}])
    document = httpx.post(url, json={"model": "tiny:F32", "max_tokens": 2, "messages": [
        {"role": "user", "content": [{"type": "document", "source": {}}]}]})
    assert "'document'" in error_of(document, 400, "invalid_request_error")
    orphan = [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_nope", "content": "4"}]}]
    with pytest.raises(anthropic.BadRequestError, match="toolu_nope"):
        client.messages.create(model="tooly", messages=orphan, max_tokens=2)
    with pytest.raises(anthropic.BadRequestError, match="messages"):
        client.messages.count_tokens(model="tiny:F32", messages=[])
    assert "not_found_error" in httpx.post(url + "/batches", json={}).text  # no batches API: Anthropic's 404


def test_the_api_key_is_accepted_as_x_api_key_or_bearer(wb):
    with serving(wb, api_key=KEY) as keyed:
        good = anthropic.Anthropic(base_url=keyed.url, api_key=KEY, max_retries=0)  # sends x-api-key
        assert good.messages.create(model="tiny:F32", messages=USER, max_tokens=2).usage.output_tokens == 2
        bearer = anthropic.Anthropic(base_url=keyed.url, auth_token=KEY, max_retries=0)  # Authorization: Bearer
        assert bearer.messages.count_tokens(model="tiny:F32", messages=USER).input_tokens == PROMPT_TOKENS
        wrong = anthropic.Anthropic(base_url=keyed.url, api_key=KEY + "x", max_retries=0)
        with pytest.raises(anthropic.AuthenticationError) as refused:
            wrong.messages.create(model="tiny:F32", messages=USER, max_tokens=2)
        assert refused.value.body == {"type": "error", "error": {
            "type": "authentication_error", "message": refused.value.body["error"]["message"]}}
        assert "x-api-key" in refused.value.body["error"]["message"]
        # the other routes take x-api-key too, and keep their own error shape
        assert httpx.get(keyed.url + "/v1/models", headers={"x-api-key": KEY}).status_code == 200
        assert httpx.get(keyed.url + "/v1/models").json()["error"]["code"] == "invalid_api_key"


def test_a_full_queue_is_529_overloaded(tmp_path, tiny_model_path):
    wb = tiny_workbench(tmp_path, tiny_model_path)
    with wb, serving(wb, parallel=1, queue_size=0) as srv:
        client = anthropic.Anthropic(base_url=srv.url, api_key="x", max_retries=0)
        held = scheduler_held(srv.state.load_model(srv.state.resolve("tiny:F32")))  # the only slot is taken
        with held, pytest.raises(anthropic.APIStatusError) as busy:
            client.messages.create(model="tiny:F32", messages=USER, max_tokens=2)
        assert busy.value.status_code == 529 and busy.value.body["error"]["type"] == "overloaded_error"
        assert busy.value.response.headers["retry-after"] == "1"
        assert client.messages.create(model="tiny:F32", messages=USER, max_tokens=2).usage.output_tokens == 2


def test_a_client_that_disconnects_cancels_its_generation(server):
    state = server.state
    body = {"model": "tiny:F32", "messages": USER, "max_tokens": 400, "stream": True}
    # the scheduler is held while the client goes away, so the stream cannot have run to its end before
    held = scheduler_held(state.load_model(state.resolve("tiny:F32")))
    with held, httpx.Client(timeout=60) as http, http.stream("POST", server.url + "/v1/messages",
                                                             json=body) as response:
        assert next(response.iter_lines()) == "event: message_start"  # sent before any token
    assert wait_until(lambda: state.key_metrics().in_flight == 0)
    cut = [r for r in state.request_log() if r.route == "/v1/messages"][-1]
    assert cut.status == 499 and cut.finish_reason == "cancelled" and cut.completion_tokens < 400


def test_requests_are_counted_in_metrics_and_the_audit_trail(client, server, wb):
    client.messages.create(model="terse", messages=USER, max_tokens=2)
    client.messages.count_tokens(model="terse", messages=USER)
    metrics = httpx.get(server.url + "/metrics").text
    assert 'workbench_requests_total{model="terse@1",route="/v1/messages",status="200"}' in metrics
    assert 'route="/v1/messages/count_tokens"' in metrics
    assert wb.audit.flush()
    routes = {e.details["route"] for e in wb.audit.list(kind="endpoint.request", limit=1000) if e.subject == "terse@1"}
    assert {"/v1/messages", "/v1/messages/count_tokens"} <= routes


def test_many_clients_at_once(client):
    results: list = []

    def one(i):
        results.append(client.messages.create(model="tiny:F32", messages=USER, max_tokens=3 + i).usage.output_tokens)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [3, 4, 5, 6, 7, 8]


# -- thinking and tools: the tiny model writes an exact text under a grammar (llama-server's `grammar` field) ---
ASK = [{"role": "user", "content": "Weather in Paris?"}]
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
TOOLS = [{"name": t["function"]["name"], "description": t["function"].get("description", ""),
          "input_schema": t["function"]["parameters"]} for t in (WEATHER, ADD)]


def says(text: str) -> dict:
    return {"grammar": literal(text)}


def test_thinking_blocks_come_before_the_answer(client, server):
    kwargs = {"model": "thinker", "messages": ASK, "max_tokens": 60,
              "thinking": {"type": "enabled", "budget_tokens": 1024}}
    reply = client.messages.create(**kwargs, extra_body=says("Let me think.</think>It is sunny."))
    assert [b.type for b in reply.content] == ["thinking", "text"]
    assert reply.content[0].thinking == "Let me think." and reply.content[0].signature
    assert reply.content[1].text == "It is sunny." and reply.stop_reason == "end_turn"
    with client.messages.stream(**kwargs, extra_body=says("Step one. Step two.</think>\n\nSunny.")) as stream:
        final = stream.get_final_message()
    assert [(b.type, getattr(b, "thinking", None) or getattr(b, "text", None)) for b in final.content] == [
        ("thinking", "Step one. Step two."), ("text", "Sunny.")]
    body = {**kwargs, **says("Hmm.</think>Sunny."), "stream": True}
    with httpx.stream("POST", server.url + "/v1/messages", json=body) as response:
        events = sse_events(response)
    shape = [(k, p.get("content_block", p.get("delta", {})).get("type")) for k, p in events
             if k.startswith("content_block")]
    thinking_deltas = shape.count(("content_block_delta", "thinking_delta"))
    assert shape == [("content_block_start", "thinking"),
                     *[("content_block_delta", "thinking_delta")] * thinking_deltas,
                     ("content_block_delta", "signature_delta"), ("content_block_stop", None),
                     ("content_block_start", "text"), *shape[4 + thinking_deltas:-1], ("content_block_stop", None)]
    assert [p["index"] for k, p in events if k == "content_block_stop"] == [0, 1]


def test_thinking_disabled_budget_and_omitted_display(client):
    off = client.messages.create(model="thinker", messages=ASK, max_tokens=20, thinking={"type": "disabled"},
                                 extra_body=says("Sunny."))
    assert [(b.type, b.text) for b in off.content] == [("text", "Sunny.")]
    on = client.messages.count_tokens(model="thinker", messages=ASK, thinking={"type": "adaptive"}).input_tokens
    closed = client.messages.count_tokens(model="thinker", messages=ASK, thinking={"type": "disabled"})
    assert closed.input_tokens > on  # the template closed an empty block in the prompt
    hidden = client.messages.create(model="thinker", messages=ASK, max_tokens=20, extra_body=says("Secret.</think>Hi."),
                                    thinking={"type": "enabled", "budget_tokens": 1024, "display": "omitted"})
    assert hidden.content[0].type == "thinking" and hidden.content[0].thinking == "" and hidden.content[0].signature
    assert hidden.content[1].text == "Hi."


def test_the_thinking_budget_closes_the_block_and_the_model_answers(client):
    budget = client.messages.create(model="thinker", messages=ASK, max_tokens=40,
                                    thinking={"type": "enabled", "budget_tokens": 6}, extra_body=GREEDY)
    assert [b.type for b in budget.content] == ["thinking", "text"]  # the engine closed the block at 6 tokens
    assert budget.content[1].text and budget.usage.output_tokens == 40


def test_thinking_on_a_model_without_it_is_a_400(client):
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="tiny:F32", messages=ASK, max_tokens=5,
                               thinking={"type": "enabled", "budget_tokens": 1024})
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "has no thinking" in caught.value.body["error"]["message"]
    # disabled and adaptive ask nothing of a model that never thinks (an agent may always send adaptive)
    for kind in ("disabled", "adaptive"):
        assert client.messages.create(model="tiny:F32", messages=ASK, max_tokens=2,
                                      thinking={"type": kind}).usage.output_tokens == 2


def test_a_tool_call_is_a_tool_use_block(client):
    reply = client.messages.create(model="hermes", messages=ASK, max_tokens=300, tools=TOOLS,
                                   extra_body=says("Checking.</think>" + CALL))
    assert reply.stop_reason == "tool_use"
    assert [b.type for b in reply.content] == ["thinking", "tool_use"]
    call = reply.content[1]
    assert call.id.startswith("toolu_") and call.name == "get_weather" and call.input == {"city": "Paris"}


def test_streamed_tool_use_sends_input_json_deltas_and_parallel_calls(client, server):
    two = "</think>" + CALL + '\n<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>'
    kwargs = {"model": "hermes", "messages": ASK, "max_tokens": 300, "tools": TOOLS}
    with client.messages.stream(**kwargs, extra_body=says(two)) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [(b.type, b.name, b.input) for b in final.content] == [
        ("tool_use", "get_weather", {"city": "Paris"}), ("tool_use", "add", {"a": 2, "b": 3})]
    assert final.content[0].id != final.content[1].id
    with httpx.stream("POST", server.url + "/v1/messages", json={**kwargs, **says(two), "stream": True,
                                                                "tools": TOOLS}) as response:
        events = sse_events(response)
    fragments = [p["delta"]["partial_json"] for k, p in events
                 if k == "content_block_delta" and p["delta"]["type"] == "input_json_delta" and p["index"] == 0]
    assert json.loads("".join(fragments)) == {"city": "Paris"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    one = client.messages.create(**kwargs, tool_choice={"type": "auto", "disable_parallel_tool_use": True},
                                 extra_body=says(two))
    assert [b.name for b in one.content] == ["get_weather"]


@pytest.mark.parametrize("choice", [{"type": "any"}, {"type": "tool", "name": "get_weather"}])
def test_forced_tool_choice_gives_input_that_validates(client, choice):
    import jsonschema

    reply = client.messages.create(model="hermes", messages=ASK, max_tokens=200, tools=TOOLS, tool_choice=choice,
                                   extra_body={"seed": 3})
    (call,) = [b for b in reply.content if b.type == "tool_use"]
    schema = {t["name"]: t["input_schema"] for t in TOOLS}[call.name]
    jsonschema.validate(call.input, schema)
    assert reply.stop_reason == "tool_use"
    if choice["type"] == "tool":
        assert call.name == "get_weather"


def test_tool_choice_none_and_a_malformed_call_are_text(client):
    none = client.messages.create(model="hermes", messages=ASK, max_tokens=300, tools=TOOLS,
                                  tool_choice={"type": "none"}, extra_body=says("</think>" + CALL))
    assert [b.type for b in none.content] == ["text"] and none.stop_reason == "end_turn"
    broken = '<tool_call>{"name": "get_weather", "arguments": {"city": Paris}}</tool_call>'
    for stream in (False, True):
        kwargs = {"model": "hermes", "messages": ASK, "max_tokens": 300, "tools": TOOLS,
                  "extra_body": says("</think>" + broken)}
        if stream:
            with client.messages.stream(**kwargs) as s:
                reply = s.get_final_message()
        else:
            reply = client.messages.create(**kwargs)
        assert [(b.type, b.text) for b in reply.content] == [("text", broken)] and reply.stop_reason == "end_turn"


def test_an_agent_loop_sends_the_tool_result_back(client):
    messages = list(ASK)
    first = client.messages.create(model="hermes", messages=messages, max_tokens=300, tools=TOOLS,
                                   extra_body=says("</think>" + CALL))
    (call,) = [b for b in first.content if b.type == "tool_use"]
    result = {"Paris": "sunny, 21 C"}[call.input["city"]]
    messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": result}]}]
    counted = client.messages.count_tokens(model="hermes", messages=messages, tools=TOOLS).input_tokens
    second = client.messages.create(model="hermes", messages=messages, max_tokens=300, tools=TOOLS,
                                    extra_body=says("</think>It is sunny, 21 C."))
    assert [(b.type, b.text) for b in second.content] == [("text", "It is sunny, 21 C.")]
    assert second.stop_reason == "end_turn" and prompt_total(second.usage) == counted
    # the result reached the template (<|user|>result: …<|end|>): a shorter one is shorter by its bytes
    shorter = [*messages[:2], {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": call.id, "content": [{"type": "text", "text": "sunny"}]}]}]
    assert counted - client.messages.count_tokens(model="hermes", messages=shorter, tools=TOOLS).input_tokens == \
        len(", 21 C")


@pytest.mark.parametrize(("tool", "named"), [
    ({"name": "f", "input_schema": {"type": "object", "properties": {"x": {"type": "strin"}}}}, "strin"),
    ({"name": "f", "input_schema": {"type": "string"}}, "object"),
    ({"name": "f"}, "input_schema"),
    ({"type": "web_search_20250305", "name": "web_search"}, "server tools"),
])
def test_tools_that_are_not_json_schema_or_server_tools_are_400s(client, tool, named):
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="hermes", messages=ASK, max_tokens=5, tools=[tool])
    assert named in caught.value.body["error"]["message"]


def test_output_config_format_constrains_the_answer(client):
    import jsonschema

    schema = {"type": "object", "properties": {"color": {"enum": ["red", "green"]}}, "required": ["color"],
              "additionalProperties": False}
    reply = client.messages.create(model="tiny:F32", messages=USER, max_tokens=60,
                                   output_config={"format": {"type": "json_schema", "schema": schema}})
    jsonschema.validate(json.loads(reply.content[0].text), schema)


# -- gemma end to end ---------------------------------------------------------------------------------------------
@pytest.mark.gemma
def test_gemma_end_to_end_with_a_preset_that_opens_a_thinking_block(tmp_path, gemma_model_path):
    from tests.chat_fixtures import HF_GEMMA3
    from tests.serve_support import open_workbench

    gemma = "gemma-3-270m:Q4_K_M"
    wb = open_workbench(tmp_path, default_context=1024)
    wb.library.import_file(gemma_model_path, name=gemma)
    wb.presets.create("gemma-chat", f'FROM {gemma}\nTEMPLATE """{HF_GEMMA3}"""\nPARAMETER stop <end_of_turn>\n')
    opening = HF_GEMMA3.replace("{{'<start_of_turn>model\\n'}}", "{{'<start_of_turn>model\\n<think>\\n'}}")
    assert opening != HF_GEMMA3
    wb.presets.create("gemma-think", f'FROM {gemma}\nTEMPLATE """{opening}"""\nPARAMETER stop <end_of_turn>\n')
    question = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    with wb, serving(wb, parallel=2, reproducible=True) as srv:
        client = anthropic.Anthropic(base_url=srv.url, api_key="x", max_retries=0)
        # the base model rambles: a stop sequence ends its first line
        kwargs = {"model": "gemma-chat", "messages": question, "max_tokens": 40, "system": "Answer briefly.",
                  "stop_sequences": ["\n"]}
        reply = client.messages.create(**kwargs, extra_body=GREEDY)
        assert reply.stop_reason == "stop_sequence" and reply.stop_sequence == "\n"
        assert reply.content[0].text and "\n" not in reply.content[0].text
        with client.messages.stream(**kwargs, extra_body=GREEDY) as stream:
            assert stream.get_final_message().content[0].text == reply.content[0].text
        counted = client.messages.count_tokens(model="gemma-chat", messages=question, system="Answer briefly.")
        assert counted.input_tokens == prompt_total(reply.usage)
        # gemma never learned <think>: the preset's template opens the block, the budget closes it
        thought = client.messages.create(model="gemma-think", messages=question, max_tokens=60, extra_body=GREEDY,
                                         thinking={"type": "enabled", "budget_tokens": 12})
        assert [b.type for b in thought.content] == ["thinking", "text"]
        assert thought.content[0].thinking and thought.content[1].text
        with pytest.raises(anthropic.BadRequestError, match="has no thinking"):
            client.messages.create(model="gemma-chat", messages=question, max_tokens=5,
                                   thinking={"type": "enabled", "budget_tokens": 1024})


def test_a_last_assistant_message_is_a_prefill_the_model_continues(client):
    prefilled = [*USER, {"role": "assistant", "content": "Sure:"}]
    asked = client.messages.count_tokens(model="tiny:F32", messages=USER).input_tokens
    assert client.messages.count_tokens(model="tiny:F32", messages=prefilled).input_tokens == asked + len("Sure:")
    reply = client.messages.create(model="tiny:F32", messages=prefilled, max_tokens=20,
                                   extra_body={"grammar": literal(" done.")})
    assert [b.text for b in reply.content] == [" done."]  # only the continuation, as Anthropic answers
    assert prompt_total(reply.usage) == asked + len("Sure:")
    with pytest.raises(anthropic.BadRequestError, match="only text"):
        client.messages.create(model="hermes", messages=[*ASK, {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]}],
            max_tokens=5, tools=TOOLS)
