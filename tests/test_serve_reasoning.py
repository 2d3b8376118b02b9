"""Thinking and tool calls on the endpoint, with the real `openai` and `ollama` clients: the tiny model is made
to write an exact text by a grammar, so the split runs on real streamed tokens."""

from __future__ import annotations

import json

import jsonschema
import ollama
import openai
import pytest

from tests.reasoning_support import ADD, WEATHER, add_presets, literal
from tests.serve_support import serving, tiny_workbench

USER = [{"role": "user", "content": "Weather in Paris?"}]


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_path):
    wb = tiny_workbench(tmp_path_factory.mktemp("reasoning"), tiny_model_path)
    add_presets(wb)
    with serving(wb) as srv:
        yield srv
    wb.close()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def olla(server):
    return ollama.Client(host=server.url)


def _grammar(text: str) -> dict:
    return {"grammar": literal(text)}


def _stream(client, **kwargs):
    """(reasoning, content, tool calls by index, finish_reason, usage) accumulated from a stream's deltas."""
    reasoning, content, calls, finish, usage = "", "", {}, None, None
    for chunk in client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs):
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            reasoning += getattr(delta, "reasoning_content", None) or ""
            content += delta.content or ""
            for call in delta.tool_calls or ():
                slot = calls.setdefault(call.index, {"id": None, "name": "", "arguments": ""})
                slot["id"] = call.id or slot["id"]
                slot["name"] += (call.function.name or "") if call.function else ""
                slot["arguments"] += (call.function.arguments or "") if call.function else ""
            finish = choice.finish_reason or finish
    return reasoning, content, calls, finish, usage


# -- thinking ------------------------------------------------------------------------------------------------
def test_reasoning_content_is_split_from_the_answer(client):
    reply = client.chat.completions.create(model="thinker", messages=USER,
                                           extra_body=_grammar("Let me think.</think>It is sunny."))
    message = reply.choices[0].message
    assert message.reasoning_content == "Let me think."
    assert message.content == "It is sunny."
    details = reply.usage.completion_tokens_details
    assert 0 < details.reasoning_tokens < reply.usage.completion_tokens


def test_streamed_reasoning_content_deltas(client):
    reasoning, content, _, finish, usage = _stream(
        client, model="thinker", messages=USER, extra_body=_grammar("Step one. Step two.</think>\n\nSunny."))
    assert (reasoning, content, finish) == ("Step one. Step two.", "Sunny.", "stop")
    assert usage.completion_tokens_details.reasoning_tokens > 0


def test_reasoning_effort_none_closes_the_block_in_the_prompt(client):
    reply = client.chat.completions.create(model="thinker", messages=USER, reasoning_effort="none",
                                           extra_body=_grammar("Sunny."))
    message = reply.choices[0].message
    assert message.content == "Sunny." and getattr(message, "reasoning_content", None) is None


def test_model_opening_its_own_block(client):
    reply = client.chat.completions.create(model="self-opening", messages=USER,
                                           extra_body=_grammar("<think>hmm</think>Sunny."))
    assert (reply.choices[0].message.reasoning_content, reply.choices[0].message.content) == ("hmm", "Sunny.")


def test_thinking_budget_closes_the_block_and_the_model_answers(client):
    unlimited = client.chat.completions.create(model="thinker", messages=USER, max_tokens=40, temperature=0)
    assert not unlimited.choices[0].message.content  # left alone, the tiny model "thinks" to the end
    reply = client.chat.completions.create(model="thinker", messages=USER, max_tokens=40, temperature=0,
                                           extra_body={"thinking_budget": 6})
    message = reply.choices[0].message
    assert message.reasoning_content and message.content  # the engine closed the block; the answer followed
    assert len(message.reasoning_content) <= 6 * 2  # 6 tokens of at most 2 characters (the byte vocabulary)
    assert 6 <= reply.usage.completion_tokens_details.reasoning_tokens < reply.usage.completion_tokens


def test_thinking_on_a_model_without_it_is_a_400(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="tiny:F32", messages=USER, reasoning_effort="high")
    assert "has no thinking" in caught.value.body["message"]


# -- tool calls ---------------------------------------------------------------------------------------------
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


def test_hermes_tool_call(client):
    reply = client.chat.completions.create(model="hermes", messages=USER, tools=[WEATHER],
                                           extra_body=_grammar("Checking.</think>" + CALL))
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.id.startswith("call_") and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert choice.message.reasoning_content == "Checking."


def test_streamed_parallel_tool_calls(client):
    text = "</think>" + CALL + '\n<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>'
    _, content, calls, finish, _ = _stream(client, model="hermes", messages=USER, tools=[WEATHER, ADD],
                                           extra_body=_grammar(text))
    assert finish == "tool_calls" and content == ""
    assert [(c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        ("get_weather", {"city": "Paris"}), ("add", {"a": 2, "b": 3})]
    assert all(c["id"] for c in calls.values()) and calls[0]["id"] != calls[1]["id"]


@pytest.mark.parametrize(("preset", "text"), [
    ("llama3", '{"name": "get_weather", "parameters": {"city": "Paris"}}'),
    ("llama3", '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}'),
    ("mistral", '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}]'),
    ("mistral", '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}'),
    ("harmony", '<|channel|>analysis<|message|>Need the tool.<|end|><|start|>assistant<|channel|>commentary '
                'to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris"}'),
    ("plain-tools", '```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```'),
    ("xml", "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>"),
    ("pythonic", '[get_weather(city="Paris")]'),
])
def test_each_tool_call_format_streams(client, preset, text):
    reasoning, content, calls, finish, _ = _stream(client, model=preset, messages=USER, tools=[WEATHER],
                                                   extra_body=_grammar(text))
    assert finish == "tool_calls" and content == ""
    assert [(c["name"], json.loads(c["arguments"])) for c in calls.values()] == [("get_weather", {"city": "Paris"})]
    assert reasoning == ("Need the tool." if preset == "harmony" else "")


def test_harmony_final_channel_is_the_answer(client):
    text = "<|channel|>analysis<|message|>Easy.<|end|><|start|>assistant<|channel|>final<|message|>Sunny."
    message = client.chat.completions.create(model="harmony", messages=USER, extra_body=_grammar(text)) \
        .choices[0].message
    assert (message.reasoning_content, message.content) == ("Easy.", "Sunny.")


@pytest.mark.parametrize("stream", [False, True])
def test_a_malformed_call_is_text_with_finish_reason_stop(client, stream):
    text = '</think><tool_call>{"name": "get_weather", "arguments": {"city": Paris}}</tool_call>'
    kwargs = {"model": "hermes", "messages": USER, "tools": [WEATHER], "extra_body": _grammar(text)}
    if stream:
        _, content, _, finish, _ = _stream(client, **kwargs)
    else:
        choice = client.chat.completions.create(**kwargs).choices[0]
        content, finish = choice.message.content, choice.finish_reason
        assert choice.message.tool_calls is None
    assert finish == "stop" and content == text.removeprefix("</think>")


@pytest.mark.parametrize("preset", ["hermes", "xml", "pythonic"])
@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
def test_forced_tool_choice_returns_arguments_that_validate(client, choice, preset):
    reply = client.chat.completions.create(model=preset, messages=USER, tools=[ADD, WEATHER], tool_choice=choice,
                                           max_tokens=200, seed=3)
    (call,) = reply.choices[0].message.tool_calls
    schema = {"add": ADD, "get_weather": WEATHER}[call.function.name]["function"]["parameters"]
    jsonschema.validate(json.loads(call.function.arguments), schema)
    if isinstance(choice, dict):
        assert call.function.name == "get_weather"


def test_tool_choice_none_parses_nothing(client):
    reply = client.chat.completions.create(model="hermes", messages=USER, tools=[WEATHER], tool_choice="none",
                                           extra_body=_grammar("</think>" + CALL))
    assert reply.choices[0].message.tool_calls is None and reply.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("bad", [
    {"type": "function", "function": {"name": "f", "parameters": {"type": "object",
                                                                  "properties": {"x": {"type": "strin"}}}}},
    {"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}},
    {"type": "function", "function": {"name": "f", "parameters": "object"}},
    {"type": "function", "function": {"parameters": {}}},
])
def test_a_tool_schema_that_is_not_json_schema_is_a_400(client, bad):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="hermes", messages=USER, tools=[bad])
    assert "tools[0]" in caught.value.body["message"]


def test_agent_loop_sends_the_result_back(client):
    messages = list(USER)
    first = client.chat.completions.create(model="hermes", messages=messages, tools=[WEATHER],
                                           extra_body=_grammar("</think>" + CALL)).choices[0].message
    (call,) = first.tool_calls
    result = {"Paris": "sunny, 21 C"}[json.loads(call.function.arguments)["city"]]
    messages += [first.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": result}]
    second = client.chat.completions.create(model="hermes", messages=messages, tools=[WEATHER],
                                            extra_body=_grammar("</think>It is sunny, 21 C."))
    assert second.choices[0].message.content == "It is sunny, 21 C."
    assert second.choices[0].finish_reason == "stop"
    assert second.usage.prompt_tokens > first_prompt_tokens(client, messages[:1])


def first_prompt_tokens(client, messages) -> int:
    return client.chat.completions.create(model="hermes", messages=messages, tools=[WEATHER], max_tokens=1) \
        .usage.prompt_tokens


# -- Ollama -----------------------------------------------------------------------------------------------------
def test_ollama_think_and_thinking(olla):
    reply = olla.chat("thinker", messages=USER, think=True,
                      options={"grammar": literal("Let me see.</think>Sunny.")})
    assert (reply.message.thinking, reply.message.content) == ("Let me see.", "Sunny.")


def test_ollama_streamed_thinking(olla):
    thinking = content = ""
    for part in olla.chat("thinker", messages=USER, stream=True,
                          options={"grammar": literal("Hmm, Paris.</think>Sunny.")}):
        thinking += part.message.thinking or ""
        content += part.message.content or ""
    assert (thinking, content) == ("Hmm, Paris.", "Sunny.")


@pytest.mark.parametrize("stream", [False, True])
def test_ollama_tool_calls(olla, stream):
    kwargs = {"messages": USER, "tools": [WEATHER], "options": {"grammar": literal("</think>" + CALL)}}
    if stream:
        calls = [c for part in olla.chat("hermes", stream=True, **kwargs) for c in part.message.tool_calls or ()]
    else:
        calls = olla.chat("hermes", **kwargs).message.tool_calls
    assert [(c.function.name, dict(c.function.arguments)) for c in calls] == [("get_weather", {"city": "Paris"})]


def test_ollama_think_on_a_model_without_it_is_a_400(olla):
    with pytest.raises(ollama.ResponseError) as caught:
        olla.chat("tiny:F32", messages=USER, think=True)
    assert caught.value.status_code == 400 and "has no thinking" in caught.value.error


def test_ollama_tool_schema_that_is_not_json_schema_is_a_400(olla):
    bad = {"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"x": {"type": "strin"}}}}}
    with pytest.raises(ollama.ResponseError) as caught:
        olla.chat("hermes", messages=USER, tools=[bad])
    assert caught.value.status_code == 400 and "tools[0] (f)" in caught.value.error


def test_ollama_show_lists_thinking(olla):
    assert "thinking" in olla.show("thinker").capabilities
    assert "thinking" not in (olla.show("tiny:F32").capabilities or [])
