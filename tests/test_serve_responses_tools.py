"""The Responses API's reasoning items and function calls through the real `openai` client: the tiny model is
made to write an exact text by a grammar, so thinking and calls are split from real streamed tokens."""

from __future__ import annotations

import json

import jsonschema
import openai
import pytest

from tests.reasoning_support import ADD, WEATHER, add_presets, literal
from tests.serve_support import serving, tiny_workbench

ASK = "Weather in Paris?"
TOOLS = [{"type": "function", **t["function"]} for t in (WEATHER, ADD)]  # Responses' flat tool shape
CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_model_path):
    wb = tiny_workbench(tmp_path_factory.mktemp("responses-tools"), tiny_model_path)
    add_presets(wb)
    with serving(wb) as srv:
        yield openai.OpenAI(base_url=f"{srv.url}/v1", api_key="unused", max_retries=0)
    wb.close()


def says(text: str) -> dict:
    return {"grammar": literal(text)}


def _summary(response) -> list[tuple]:
    out = []
    for item in response.output:
        if item.type == "reasoning":
            out.append(("reasoning", "".join(part.text for part in item.content)))
        elif item.type == "message":
            out.append(("message", "".join(part.text for part in item.content)))
        else:
            out.append(("function_call", item.name, json.loads(item.arguments), item.call_id.startswith("call_")))
    return out


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_is_a_reasoning_item_before_the_message(client, stream):
    kwargs = {"model": "thinker", "input": ASK, "max_output_tokens": 60, "extra_body": says("Plan.\n</think>\nSunny.")}
    if stream:
        with client.responses.stream(**kwargs) as events:
            kinds = [event.type for event in events]
            response = events.get_final_response()
        assert kinds.index("response.reasoning_text.delta") < kinds.index("response.output_text.delta")
    else:
        response = client.responses.create(**kwargs)
    assert _summary(response) == [("reasoning", "Plan."), ("message", "Sunny.")]
    assert response.status == "completed" and response.usage.output_tokens_details.reasoning_tokens > 0
    assert response.output_text == "Sunny."


@pytest.mark.parametrize("stream", [False, True])
def test_a_call_is_a_function_call_item(client, stream):
    kwargs = {"model": "hermes", "input": ASK, "tools": TOOLS, "max_output_tokens": 200,
              "extra_body": says("</think>Let me look." + CALL)}
    if stream:
        with client.responses.stream(**kwargs) as events:
            kinds = [event.type for event in events]
            response = events.get_final_response()
        assert "response.function_call_arguments.delta" in kinds and "response.function_call_arguments.done" in kinds
    else:
        response = client.responses.create(**kwargs)
    assert _summary(response) == [("message", "Let me look."), ("function_call", "get_weather", {"city": "Paris"},
                                                                 True)]


def test_the_agent_loop_sends_the_output_back(client):
    first = client.responses.create(model="hermes", input=ASK, tools=TOOLS, extra_body=says("</think>" + CALL))
    (call,) = [item for item in first.output if item.type == "function_call"]
    history = [{"role": "user", "content": ASK}, *[item.model_dump(exclude_none=True) for item in first.output],
               {"type": "function_call_output", "call_id": call.call_id, "output": "18 degrees"}]
    second = client.responses.create(model="hermes", input=history, tools=TOOLS, max_output_tokens=60,
                                     extra_body=says("</think>It is 18 degrees."))
    assert second.output_text == "It is 18 degrees."
    longer = second.usage.input_tokens - client.responses.create(
        model="hermes", input=history[:-1], tools=TOOLS, max_output_tokens=1).usage.input_tokens
    assert longer >= len(" 18 degrees")  # the result reached the prompt (the tiny vocabulary: ~1 token per byte)
    with pytest.raises(openai.BadRequestError, match="no function_call"):
        client.responses.create(model="hermes", input=[history[0], {**history[-1], "call_id": "call_unknown"}],
                                tools=TOOLS)


@pytest.mark.parametrize("choice", ["required", {"type": "function", "name": "get_weather"}])
def test_forced_tool_choice_gives_arguments_that_validate(client, choice):
    response = client.responses.create(model="hermes", input=ASK, tools=TOOLS, tool_choice=choice,
                                       max_output_tokens=200, extra_body={"seed": 3})
    (call,) = [item for item in response.output if item.type == "function_call"]
    jsonschema.validate(json.loads(call.arguments), {t["name"]: t["parameters"] for t in TOOLS}[call.name])
    if isinstance(choice, dict):
        assert call.name == "get_weather"


def test_reasoning_effort_none_closes_the_block(client):
    response = client.responses.create(model="thinker", input=ASK, reasoning={"effort": "none"},
                                       max_output_tokens=5, extra_body={"temperature": 0})
    assert [item.type for item in response.output] == ["message"]
    assert response.usage.output_tokens_details.reasoning_tokens == 0


def test_hosted_tools_and_thinking_on_a_model_without_it_are_400s(client):
    with pytest.raises(openai.BadRequestError, match="only function tools"):
        client.responses.create(model="hermes", input=ASK, tools=[{"type": "web_search"}])
    with pytest.raises(openai.BadRequestError, match="has no thinking"):
        client.responses.create(model="tiny:F32", input=ASK, reasoning={"effort": "high"})
