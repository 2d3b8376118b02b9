"""An answer's parts: what thinking and tools do to a render (`plan_answer`), and how the generated text becomes
thinking, answer text and tool calls (`AnswerShape.parser()`), for every caller — the endpoint's three APIs,
sessions, the CLI and the app.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .reasoning import (
    NO_REASONING,
    ReasoningFormat,
    ReasoningSplitter,
    Thinking,
    budget_close_text,
    closing_suffix,
    detect_format,
    history_message,
    opens_block,
    thinking_controls,
)
from .tool_calls import (
    NO_TOOLS,
    ContentText,
    ToolCall,
    ToolCallArguments,
    ToolCallStart,
    ToolPlan,
    detect_tool_format,
    plan_tools,
)
from .tool_text_calls import make_tool_parser


@dataclass(frozen=True)
class ThinkingText:
    """A piece of the model's thinking."""

    text: str


AnswerEvent = ThinkingText | ContentText | ToolCallStart | ToolCallArguments


@dataclass(frozen=True)
class AnswerPlan:
    """What one request's thinking and tools do before the render: template variables, the tool plan (what
    the template sees, the grammar forcing a call), the thinking budget and the reasoning format."""

    reasoning: ReasoningFormat = NO_REASONING
    thinking: Thinking = field(default_factory=Thinking)
    variables: dict[str, Any] = field(default_factory=dict)
    budget: int | None = None
    tools: ToolPlan = NO_TOOLS

    @property
    def render_special(self) -> bool:
        """Control tokens must show in the text (harmony channels, [TOOL_CALLS], <|python_tag|>)."""
        return self.reasoning.kind != "none" or self.tools.parse

    def history(self, messages: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Earlier turns with their thinking placed as the template expects (see reasoning.history_message)."""
        return [history_message(self.reasoning, m) if m.get("role") == "assistant" else dict(m) for m in messages]

    def shape(self, prompt: str) -> tuple[str, AnswerShape]:
        """After the render: the prompt (a block closed at once when thinking is off) and the answer's shape."""
        prompt += closing_suffix(self.reasoning, prompt, self.thinking)
        return prompt, AnswerShape(self.reasoning, opens_block(self.reasoning, prompt), self.tools)

    def budget_spec(self, prompt: str) -> tuple[int, str, str, str | None] | None:
        """(tokens, close text, end marker, open marker or None) for the engine's ThinkingBudget, or None."""
        if self.budget is None or not self.reasoning.supported:
            return None
        fmt = self.reasoning
        opened = opens_block(fmt, prompt)
        return self.budget, budget_close_text(fmt), fmt.close, None if opened else fmt.open


def plan_answer(template: str, metadata: Mapping[str, Any] | None, *, thinking: Thinking | None = None,
                tools: list | None = None, tool_choice: Any = None,
                schema_grammar: Callable[[dict], str] | None = None, model: str = "the model") -> AnswerPlan:
    """Thinking and tools for one render of `template`. InvalidParameter (a 400) for thinking asked of a
    template that has none, or tools that are not JSON Schema."""
    reasoning = detect_format(template, metadata)
    tool_plan = plan_tools(tools, tool_choice, detect_tool_format(template), schema_grammar)
    thinking = thinking or Thinking()
    if tool_plan.grammar is not None and reasoning.supported:
        # the grammar starts at the call: no room for a thinking block
        thinking = Thinking(enabled=False, budget=0 if reasoning.kind == "tags" and not reasoning.switch else None)
    controls = thinking_controls(reasoning, thinking, model)
    return AnswerPlan(reasoning, thinking, controls.variables, controls.budget, tool_plan)


@dataclass(frozen=True)
class AnswerShape:
    """How a prepared chat's output is read: the reasoning format, whether the prompt opened the thinking
    block, and the tools to parse calls of."""

    reasoning: ReasoningFormat = NO_REASONING
    starts_thinking: bool = False
    tools: ToolPlan = NO_TOOLS

    def parser(self) -> AnswerParser:
        return AnswerParser(self)

    @property
    def plain(self) -> bool:
        """Nothing to separate: the text is the answer."""
        return not self.reasoning.supported and not self.tools.parse


@dataclass(frozen=True)
class Answer:
    """A finished answer's parts. malformed: a tool call could not be read, so its text is in `content`."""

    thinking: str
    content: str
    calls: list[ToolCall]
    malformed: bool = False
    thinking_tokens: int = 0
    thinking_seconds: float | None = None
    unsent: str = ""  # content a stream has not shown yet (a malformed call's text, text after the calls)

    def finish_reason(self, engine_reason: str) -> str:
        """OpenAI's finish reason: tool_calls when there are calls; a malformed call is a plain stop."""
        if self.calls:
            return "tool_calls"
        return "stop" if self.malformed else engine_reason


class AnswerParser:
    """Feed the engine's text pieces; get ThinkingText / ContentText / ToolCallStart / ToolCallArguments."""

    def __init__(self, shape: AnswerShape):
        self.shape = shape
        self._split = ReasoningSplitter(shape.reasoning, in_thinking=shape.starts_thinking)
        tools = shape.tools
        self._calls = make_tool_parser(tools) if tools.parse else None

    def feed(self, text: str, completion_tokens: int | None = None) -> list[AnswerEvent]:
        thinking, answer = self._split.feed(text, completion_tokens)
        return self._events(thinking, answer)

    def _events(self, thinking: str, answer: str) -> list[AnswerEvent]:
        events: list[AnswerEvent] = [ThinkingText(thinking)] if thinking else []
        if answer:
            events += self._calls.feed(answer) if self._calls is not None else [ContentText(answer)]
        return events

    def finish(self) -> tuple[list[AnswerEvent], Answer]:
        """The events held back until the end, and the whole Answer."""
        events = self._events(*self._split.flush())
        split = self._split
        if self._calls is None:
            return events, Answer(split.thinking, split.answer, [], False, split.thinking_tokens,
                                  split.thinking_seconds)
        result = self._calls.finish()
        return events, Answer(split.thinking, result.content, result.calls, result.malformed, split.thinking_tokens,
                              split.thinking_seconds, result.unsent)

    @property
    def in_thinking(self) -> bool:
        return self._split.in_thinking

    @property
    def thinking_tokens(self) -> int:
        return self._split.thinking_tokens

    @property
    def thinking_seconds(self) -> float | None:
        return self._split.thinking_seconds


class AnswerPieces:
    """A session answer's text as it streams: ("thinking" | "answer", text) pieces queued for the caller,
    the thinking and the answer kept apart, and the thinking's provenance facts at the end."""

    def __init__(self, shape: AnswerShape | None = None):
        self._parser = None if shape is None or shape.plain else shape.parser()
        self.thinking: list[str] = []
        self.answer: list[str] = []
        self.queue: deque[tuple[str, str]] = deque()

    def feed(self, text: str, completion_tokens: int | None = None) -> None:
        if self._parser is None:
            self._take([ContentText(text)])
        else:
            self._take(self._parser.feed(text, completion_tokens))

    def finish(self) -> None:
        if self._parser is not None:
            self._take(self._parser.finish()[0])

    def _take(self, events: list[AnswerEvent]) -> None:
        for item in events:
            thinking = isinstance(item, ThinkingText)
            (self.thinking if thinking else self.answer).append(item.text)
            self.queue.append(("thinking" if thinking else "answer", item.text))

    def facts(self) -> dict[str, Any]:
        """thinking_tokens and thinking_seconds for the answer's provenance ({} when it did not think)."""
        if self._parser is None or not self.thinking:
            return {}
        seconds = self._parser.thinking_seconds
        return {"thinking_tokens": self._parser.thinking_tokens,
                "thinking_seconds": None if seconds is None else round(seconds, 3)}


def split_answer(shape: AnswerShape, text: str) -> Answer:
    """A whole text at once (what a non-streaming caller has)."""
    parser = shape.parser()
    parser.feed(text)
    return parser.finish()[1]
