"""Thinking and tool calls end to end on gemma-3-270m through the real `openai` client. Gemma has no thinking of
its own: a preset whose template opens a <think> block shows the mechanics (the budget closes it, gemma answers)."""

from __future__ import annotations

import json

import jsonschema
import openai
import pytest

from tests.chat_fixtures import HF_GEMMA3
from tests.reasoning_support import WEATHER
from tests.serve_support import open_workbench, serving

pytestmark = pytest.mark.gemma
GEMMA = "gemma-3-270m:Q4_K_M"
_PROMPT = "{{'<start_of_turn>model\\n'}}"
THINKS = HF_GEMMA3.replace(_PROMPT, "{{'<start_of_turn>model\\n<think>\\n'}}")
TOOLS = ("{%- if tools -%}{{ '<start_of_turn>user\\nTools: ' + (tools | tojson) + '\\nTo call one, reply "
         "<tool_call>{\"name\": ..., \"arguments\": ...}</tool_call><end_of_turn>\\n' }}{%- endif -%}"
         "{%- for m in messages if m['role'] == 'tool' -%}{{ '<start_of_turn>user\\nResult: ' + m['content'] + "
         "'<end_of_turn>\\n' }}{%- endfor -%}")
USES_TOOLS = TOOLS + HF_GEMMA3.replace("{%- for message in loop_messages -%}",
                                       "{%- for message in loop_messages if message['role'] != 'tool' -%}")


@pytest.fixture(scope="module")
def client(tmp_path_factory, gemma_model_path):
    wb = open_workbench(tmp_path_factory.mktemp("reasoning-gemma"), default_context=1024)
    wb.library.import_file(gemma_model_path, name=GEMMA)
    for name, template in (("gemma-thinks", THINKS), ("gemma-tools", USES_TOOLS), ("gemma-chat", HF_GEMMA3)):
        wb.presets.create(name, f'FROM {GEMMA}\nTEMPLATE """{template}"""\nPARAMETER stop <end_of_turn>\n')
    with serving(wb) as srv:
        yield openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
    wb.close()


ASK = [{"role": "user", "content": "What is the capital of France?"}]


def test_a_thinking_budget_closes_the_block_and_gemma_answers(client):
    reply = client.chat.completions.create(model="gemma-thinks", messages=ASK, max_tokens=48, temperature=0,
                                           extra_body={"thinking_budget": 12})
    message = reply.choices[0].message
    assert message.reasoning_content and message.content
    assert "</think>" not in message.reasoning_content  # (what gemma then writes is its own affair)
    assert 12 <= reply.usage.completion_tokens_details.reasoning_tokens <= 12 + 8  # + the close tag's tokens


def test_thinking_asked_of_gemma_is_a_400(client):
    with pytest.raises(openai.BadRequestError, match="has no thinking"):
        client.chat.completions.create(model="gemma-chat", messages=ASK, reasoning_effort="low")


def test_gemma_agent_loop_with_a_forced_call_that_validates(client):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = client.chat.completions.create(model="gemma-tools", messages=messages, tools=[WEATHER],
                                           tool_choice="required", max_tokens=60, temperature=0)
    assert first.choices[0].finish_reason == "tool_calls"
    (call,) = first.choices[0].message.tool_calls
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, WEATHER["function"]["parameters"])
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"}]
    second = client.chat.completions.create(model="gemma-tools", messages=messages, tools=[WEATHER],
                                            tool_choice="none", max_tokens=40, temperature=0)
    assert second.choices[0].message.content and second.choices[0].finish_reason in ("stop", "length")
