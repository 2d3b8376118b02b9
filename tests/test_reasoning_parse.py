"""The reasoning and tool-call parsers on text fed in every possible split (one character at a time, and in
random-sized pieces): what real templates say about their format, and the corner cases of each syntax.
Their run on real streamed tokens is in test_serve_reasoning.py."""

from __future__ import annotations

import json
import random

import pytest

from tests.chat_fixtures import HF_GEMMA3, HF_LLAMA3, HF_MISTRAL_V3, HF_QWEN25, OLLAMA_LLAMA31, OLLAMA_QWEN25
from tests.reasoning_support import HARMONY, SELF_OPENING, THINKER
from workbench.chat.answer import AnswerShape, ThinkingText
from workbench.chat.reasoning import NO_REASONING, ReasoningSplitter, Thinking, detect_format, thinking_controls
from workbench.chat.tool_calls import (
    ContentText,
    ToolCallArguments,
    ToolCallStart,
    ToolPlan,
    check_tools,
    detect_tool_format,
)
from workbench.chat.tool_parser import ToolCallParser
from workbench.chat.tool_text_calls import make_tool_parser
from workbench.errors import InvalidParameter


def _pieces(text: str, seed: int) -> list[str]:
    if seed == 0:
        return list(text)
    rng, out, i = random.Random(seed), [], 0
    while i < len(text):
        n = rng.randint(1, 9)
        out.append(text[i:i + n])
        i += n
    return out


def _split(fmt, text: str, seed: int, in_thinking: bool = False) -> tuple[str, str]:
    splitter = ReasoningSplitter(fmt, in_thinking=in_thinking)
    thinking = answer = ""
    for piece in _pieces(text, seed):
        t, a = splitter.feed(piece)
        thinking, answer = thinking + t, answer + a
    t, a = splitter.flush()
    return thinking + t, answer + a


def test_formats_read_from_real_templates():
    assert detect_format(HF_GEMMA3) == NO_REASONING and detect_format(HF_QWEN25) == NO_REASONING
    assert detect_format(THINKER).switch == "enable_thinking" and detect_format(SELF_OPENING).kind == "tags"
    assert detect_format(HARMONY).level_variable == "reasoning_effort"
    assert detect_format("{{ messages }}", {"general.name": "DeepSeek-R1-Distill-Qwen-1.5B"}).open == "<think>"
    assert detect_format("[THINK]{{ x }}[/THINK]").close == "[/THINK]"
    assert [detect_tool_format(t) for t in (HF_QWEN25, OLLAMA_QWEN25, HF_MISTRAL_V3, OLLAMA_LLAMA31, HF_LLAMA3,
                                            HARMONY)] == ["hermes", "hermes", "mistral", "llama3", "json",
                                                          "harmony"]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_tag_splitting_in_any_pieces(seed):
    fmt = detect_format(THINKER)
    assert _split(fmt, "Step 1.\nStep 2.\n</think>\n\nThe answer </think> stays.", seed, True) == \
        ("Step 1.\nStep 2.", "The answer </think> stays.")
    assert _split(fmt, "  <think>x</think>y", seed) == ("x", "y")
    assert _split(fmt, "no thinking <think> here", seed) == ("", "no thinking <think> here")
    assert _split(fmt, "cut off mid-thought </thi", seed, True) == ("cut off mid-thought </thi", "")


@pytest.mark.parametrize("seed", [0, 5])
def test_harmony_channels(seed):
    fmt = detect_format(HARMONY)
    text = ("<|channel|>analysis<|message|>Plan.<|end|><|start|>assistant<|channel|>commentary to=browser.search"
            "<|message|>{}<|call|><|start|>assistant<|channel|>final<|message|>Done.")
    assert _split(fmt, text, seed) == ("Plan.{}", "Done.")  # a built-in tool's call is not the client's


def test_thinking_controls():
    thinker = detect_format(THINKER)
    assert thinking_controls(thinker, Thinking.parse("none")).variables == {"enable_thinking": False}
    assert thinking_controls(thinker, Thinking.parse("high")).variables == {"enable_thinking": True}
    assert thinking_controls(detect_format(HARMONY), Thinking.parse("low")).variables == {"reasoning_effort": "low"}
    assert thinking_controls(detect_format(SELF_OPENING), Thinking(enabled=False)).budget == 0
    assert thinking_controls(NO_REASONING, Thinking(enabled=False)).variables == {}  # off on no thinking: fine
    with pytest.raises(InvalidParameter, match="has no thinking"):
        thinking_controls(NO_REASONING, Thinking(budget=10), "gemma")
    with pytest.raises(InvalidParameter, match="think must be"):
        Thinking.parse("loud")
    assert Thinking(enabled=False).over(Thinking(level="high", budget=9)) == Thinking(False, None, 9)


def _parse(fmt, text: str, seed: int, names=("get_weather", "add")):
    parser = ToolCallParser(fmt, names)
    events = [e for piece in _pieces(text, seed) for e in parser.feed(piece)]
    return events, parser.finish()


def _calls(events) -> list[tuple[str, dict]]:
    names, args = {}, {}
    for e in events:
        if isinstance(e, ToolCallStart):
            names[e.index] = e.name
        elif isinstance(e, ToolCallArguments):
            args[e.index] = args.get(e.index, "") + e.fragment
    return [(names[i], json.loads(args[i])) for i in sorted(names)]


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize(("fmt", "text", "content"), [
    ("hermes", 'Let me check. <tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "x": '
               '[1, {"y": "}"}]}}\n</tool_call><tool_call>{"arguments": {"a": 1, "b": 2}, "name": "add"}</tool_call>',
     "Let me check."),
    ("llama3", '{"name": "get_weather", "parameters": {"city": "Paris", "x": [1, {"y": "}"}]}}', ""),
    ("mistral", '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris", "x": [1, {"y": "}"}]}}, '
                '{"name": "add", "arguments": "{\\"a\\": 1, \\"b\\": 2}"}]', ""),
    ("json", '```json\n{"name": "get_weather", "arguments": {"city": "Paris", "x": [1, {"y": "}"}]}}\n```', ""),
])
def test_calls_stream_in_any_pieces(seed, fmt, text, content):
    events, result = _parse(fmt, text, seed)
    expected = [("get_weather", {"city": "Paris", "x": [1, {"y": "}"}]})]
    if "add" in text:
        expected.append(("add", {"a": 1, "b": 2}))
    assert _calls(events) == expected == [(c.name, json.loads(c.arguments)) for c in result.calls]
    assert result.content == content and not result.malformed
    assert "".join(e.text for e in events if isinstance(e, ContentText)) == content + (" " if content else "")


@pytest.mark.parametrize("text", [
    '<tool_call>{"name": "get_weather", "arguments": {"city": Paris}}</tool_call>',  # not JSON
    '<tool_call>{"name": "delete_everything", "arguments": {}}</tool_call>',  # not offered
    '<tool_call>{"arguments": {"city": "Paris"}}</tool_call>',  # no name
    '<tool_call>{"name": "get_weather", "arguments": {"city": "Par',  # cut off
])
def test_a_malformed_call_is_the_whole_text(text):
    _, result = _parse("hermes", text, 3)
    assert result.malformed and result.calls == [] and result.content == text


def test_text_that_merely_looks_like_json_is_content():
    events, result = _parse("llama3", 'Use {"name": "x"} like this.', 0)
    assert result.calls == [] and not result.malformed and result.content == 'Use {"name": "x"} like this.'
    assert "".join(e.text for e in events) == result.content


def test_tools_must_be_json_schema():
    assert check_tools([{"type": "function", "function": {"name": "f"}}])[0]["function"]["parameters"] == \
        {"type": "object", "properties": {}}
    for bad, words in [({"type": "function", "function": {"name": "f", "parameters": {"type": "object",
                                                                                     "required": "x"}}},
                        "required"),
                       ({"type": "function", "function": {"name": "bad name!"}}, "name"),
                       ({"type": "retrieval"}, r"tools\[0\] must be")]:
        with pytest.raises(InvalidParameter, match=words):
            check_tools([bad])


def test_answer_parser_combines_thinking_and_calls():
    shape = AnswerShape(detect_format(THINKER), True, ToolPlan([], "hermes", True, None, ("get_weather",)))
    parser = shape.parser()
    events = [e for piece in _pieces('Hmm.</think><tool_call>{"name": "get_weather", "arguments": {}}</tool_call>',
                                     2) for e in parser.feed(piece)]
    held, answer = parser.finish()
    assert "".join(e.text for e in events + held if isinstance(e, ThinkingText)) == "Hmm." == answer.thinking
    assert [c.name for c in answer.calls] == ["get_weather"] and answer.finish_reason("stop") == "tool_calls"


def test_thinking_tokens_of_merged_pieces_are_shared_by_characters():
    splitter = ReasoningSplitter(detect_format(THINKER), in_thinking=True)
    splitter.feed("Plan", 4)
    splitter.feed(" more.</think>The answer.", 20)  # 16 tokens merged: 14 of the 25 characters are thinking
    assert splitter.thinking == "Plan more." and splitter.thinking_tokens == 4 + round(16 * 14 / 25)


_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}}},
    {"type": "function", "function": {"name": "add", "parameters": {
        "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}}}]


def _parse_text_calls(fmt, text: str, seed: int):
    parser = make_tool_parser(ToolPlan(_TOOLS, fmt, True, None, ("get_weather", "add")))
    events = [e for piece in _pieces(text, seed) for e in parser.feed(piece)]
    return events, parser.finish()


def test_xml_and_pythonic_formats_read_from_templates():
    qwen3_coder = "<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>\nvalue_1\n"
    llama32 = "[func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)]"
    assert [detect_tool_format(t) for t in (qwen3_coder, llama32, "<|python_start|>")] == \
        ["xml", "pythonic", "pythonic"]


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize(("fmt", "text", "content"), [
    ("xml", "Checking.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis <north>\n</parameter>\n"
            "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=add>\n"
            "<parameter=a>\n1\n</parameter>\n<parameter=b>\n2\n</parameter>\n</function>\n</tool_call>", "Checking."),
    ("pythonic", '[get_weather(city="Paris <north>", days=3), add(a=1, b=2)]', ""),
    ("pythonic", "<|python_start|>[get_weather(city='Paris <north>', days=3), add(a=1, b=2)]<|python_end|>", ""),
])
def test_text_calls_in_any_pieces(seed, fmt, text, content):
    events, result = _parse_text_calls(fmt, text, seed)
    expected = [("get_weather", {"city": "Paris <north>", "days": 3}), ("add", {"a": 1, "b": 2})]
    assert _calls(events) == expected == [(c.name, json.loads(c.arguments)) for c in result.calls]
    assert result.content == content and not result.malformed


@pytest.mark.parametrize(("fmt", "text"), [
    ("xml", "<tool_call>\n<function=delete_everything>\n</function>\n</tool_call>"),  # not offered
    ("xml", "<tool_call>\n<function=get_weather>\n<parameter=city>\nPar"),  # cut off
    ("pythonic", "[get_weather(city=Paris)]"),  # a name, not a literal
    ("pythonic", '[get_weather(city="Paris"'),  # cut off
])
def test_a_malformed_text_call_is_the_whole_text(fmt, text):
    _, result = _parse_text_calls(fmt, text, 3)
    assert result.malformed and result.calls == [] and result.content == text


def test_text_that_merely_looks_like_a_call_is_content():
    for fmt, text in [("pythonic", "[1] is a footnote, and [see(this)] too."), ("xml", "A <tool_cal> typo.")]:
        events, result = _parse_text_calls(fmt, text, 0)
        assert result.calls == [] and not result.malformed and result.content == text
        assert "".join(e.text for e in events) + result.unsent == text
