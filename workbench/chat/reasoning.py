"""Reasoning ("thinking") models: which format a chat template uses, the on/off/level switch, and splitting
the thinking from the answer while the text streams.

`detect_format` reads the template (and GGUF metadata); `thinking_controls` turns a `Thinking` request into
template variables, a prompt suffix and the engine's budget; `ReasoningSplitter` separates streamed text.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import InvalidParameter

LEVELS = ("low", "medium", "high")
# (open, close) tag pairs models write around their thinking, most specific first
TAG_PAIRS = (("<seed:think>", "</seed:think>"), ("<|START_THINKING|>", "<|END_THINKING|>"),
             ("[THINK]", "[/THINK]"), ("◁think▷", "◁/think▷"), ("<thinking>", "</thinking>"),
             ("<think>", "</think>"))
_NAME_HINTS = re.compile(r"(?i)(\br1\b|-r1|qwq|thinking|reason)")
_SWITCH_IF = re.compile(r"\{%-?\s*(?:el)?if\s+[^%]*?\bthinking\b")

# harmony (gpt-oss): <|start|>assistant<|channel|>analysis<|message|>…<|end|> … <|channel|>final<|message|>…
H_START, H_CHANNEL, H_MESSAGE, H_END = "<|start|>", "<|channel|>", "<|message|>", "<|end|>"
H_CALL, H_RETURN, H_CONSTRAIN = "<|call|>", "<|return|>", "<|constrain|>"
_HARMONY_MARKERS = (H_START, H_CHANNEL, H_MESSAGE, H_END, H_CALL, H_RETURN)


@dataclass(frozen=True)
class ReasoningFormat:
    """How a template's model writes its thinking.

    kind: "none" (no thinking), "tags" (open … close around the thinking, e.g. <think>…</think>) or
    "harmony" (gpt-oss channels: analysis = thinking, final = answer). switch: the template variable that
    turns thinking on or off (`enable_thinking`, `thinking`), if any; level_variable: the one taking a level
    (`reasoning_effort`: low / medium / high), if any.
    """

    kind: Literal["none", "tags", "harmony"] = "none"
    open: str = ""
    close: str = ""
    switch: str | None = None
    level_variable: str | None = None

    @property
    def supported(self) -> bool:
        return self.kind != "none"

    @property
    def levels(self) -> tuple[str, ...]:
        return LEVELS if self.level_variable else ()


NO_REASONING = ReasoningFormat()
HARMONY = ReasoningFormat("harmony", open=f"{H_CHANNEL}analysis{H_MESSAGE}", close=H_END,
                          level_variable="reasoning_effort")


def detect_format(template: str | None, metadata: Mapping[str, Any] | None = None) -> ReasoningFormat:
    """The reasoning format of a chat template (Jinja or Go); GGUF metadata breaks a tie for templates that
    never mention a tag (a DeepSeek-R1 distill named so in `general.name` thinks in <think> tags)."""
    source = template or ""
    level = "reasoning_effort" if "reasoning_effort" in source else None
    if H_CHANNEL in source and "analysis" in source:
        return HARMONY
    switch = "enable_thinking" if "enable_thinking" in source else (
        "thinking" if _SWITCH_IF.search(source) else None)
    for open_tag, close_tag in TAG_PAIRS:
        if close_tag in source or open_tag in source:
            return ReasoningFormat("tags", open_tag, close_tag, switch, level)
    names = " ".join(str((metadata or {}).get(k) or "") for k in ("general.name", "general.basename"))
    if switch or _NAME_HINTS.search(names):
        return ReasoningFormat("tags", "<think>", "</think>", switch, level)
    return NO_REASONING


@dataclass(frozen=True)
class Thinking:
    """What a request (or preset) asks of thinking: on/off (None = the template's default), a level (low /
    medium / high), and a budget in tokens after which the block is closed (None = no limit)."""

    enabled: bool | None = None
    level: str | None = None
    budget: int | None = None

    def __post_init__(self) -> None:
        if self.level is not None and self.level not in LEVELS:
            raise InvalidParameter(f"thinking level must be one of {', '.join(LEVELS)}, not {self.level!r}")
        if self.budget is not None and (isinstance(self.budget, bool) or not isinstance(self.budget, int)
                                        or self.budget < 0):
            raise InvalidParameter(f"thinking budget must be an integer ≥ 0 (tokens), not {self.budget!r}")

    @property
    def asked(self) -> bool:
        """Whether anything beyond the template's default was asked."""
        return self.enabled is not None or self.level is not None or self.budget is not None

    def over(self, base: Thinking) -> Thinking:
        """This request's choices over a preset's or session's (base): each field given here wins."""
        level = self.level if self.level is not None else (None if self.enabled is False else base.level)
        return Thinking(self.enabled if self.enabled is not None else base.enabled, level,
                        self.budget if self.budget is not None else base.budget)

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> Thinking:
        """From the `think` and `think_budget` PARAMETERs (a preset's, a session's or a request's options)."""
        think = parameters.get("think")
        if isinstance(think, str) and think.strip().lower() in ("true", "false"):
            think = think.strip().lower() == "true"
        budget = parameters.get("think_budget")
        return cls.parse(think, budget=None if budget is None else int(budget))

    @classmethod
    def parse(cls, value: Any, *, budget: int | None = None) -> Thinking:
        """Ollama's `think` (true / false / "low"|"medium"|"high") or OpenAI's `reasoning_effort`
        ("none"/"minimal" = off, else a level) → Thinking."""
        if value is None:
            return cls(budget=budget)
        if isinstance(value, bool):
            return cls(enabled=value, budget=budget)
        if value in ("none", "minimal"):
            return cls(enabled=False, budget=budget)
        if isinstance(value, str) and value in LEVELS:
            return cls(enabled=True, level=value, budget=budget)
        raise InvalidParameter(f"think must be true, false or one of {', '.join(LEVELS)}; got {value!r}")


@dataclass(frozen=True)
class ThinkingControls:
    """What a Thinking request does to one render: template variables and the engine's budget (tokens)."""

    variables: dict[str, Any] = field(default_factory=dict)
    budget: int | None = None


def thinking_controls(fmt: ReasoningFormat, thinking: Thinking, model: str = "the model") -> ThinkingControls:
    """Template variables and budget for a request; InvalidParameter (a 400) when the template cannot think."""
    if not thinking.asked or (thinking.enabled is False and not fmt.supported):
        return ThinkingControls()  # "off" on a model that never thinks is already true
    if not fmt.supported:
        raise InvalidParameter(f"{model} has no thinking: its chat template has no reasoning format "
                               "(<think> tags or harmony channels); leave thinking unset or choose a reasoning model")
    variables: dict[str, Any] = {}
    if fmt.switch and thinking.enabled is not None:
        variables[fmt.switch] = thinking.enabled
    if thinking.level is not None:
        if fmt.level_variable:
            variables[fmt.level_variable] = thinking.level
        elif fmt.switch:
            variables[fmt.switch] = True  # a level asks for thinking; the template has no finer switch
    if fmt.kind == "harmony" and thinking.enabled is False:
        variables["reasoning_effort"] = "low"  # gpt-oss cannot stop thinking: the least it does
    budget = thinking.budget
    if thinking.enabled is False and fmt.kind == "tags" and not fmt.switch:
        budget = 0  # no switch: close the block as soon as it opens
    return ThinkingControls(variables, budget)


def closing_suffix(fmt: ReasoningFormat, prompt: str, thinking: Thinking) -> str:
    """For "off" on a template that opens the block itself (the prompt ends with <think>): the text that
    closes it at once, appended to the prompt, so the model answers without thinking."""
    if thinking.enabled is False and fmt.kind == "tags" and opens_block(fmt, prompt):
        return "\n" + fmt.close + "\n\n"
    return ""


def opens_block(fmt: ReasoningFormat, prompt: str) -> bool:
    """Whether the rendered prompt leaves the model inside an open thinking block."""
    if fmt.kind != "tags":
        return False
    tail = prompt.rstrip()
    return tail.endswith(fmt.open)


def budget_close_text(fmt: ReasoningFormat) -> str:
    """What the engine writes into the output when the thinking budget is spent (then the model answers)."""
    if fmt.kind == "harmony":
        return f"{H_END}{H_START}assistant{H_CHANNEL}final{H_MESSAGE}"
    return "\n" + fmt.close + "\n\n"


def history_message(fmt: ReasoningFormat, message: Mapping[str, Any]) -> dict[str, Any]:
    """An earlier assistant turn for the template: its thinking goes back only as the template expects it.

    Templates that read `reasoning_content` (Qwen3, GLM, DeepSeek) or `thinking` (gpt-oss) get the field and
    decide themselves (most drop it before the last user turn); the answer text never carries the thinking."""
    out = dict(message)
    thinking = out.pop("thinking", None) or out.pop("reasoning_content", None)
    if thinking and fmt.kind == "harmony":
        out["thinking"] = thinking
    elif thinking and fmt.kind == "tags":
        out["reasoning_content"] = thinking
    return out


# -- splitting a stream ------------------------------------------------------------------------------------
class ReasoningSplitter:
    """Feed streamed text pieces; get (thinking_delta, answer_delta) back, never splitting a tag.

    in_thinking: the prompt already opened the block (see opens_block). `feed(text, completion_tokens)`
    takes the cumulative completion-token count with each piece, so `thinking_tokens` counts the thinking;
    `thinking_seconds` is the time from the first piece to the end of the thinking.
    """

    def __init__(self, fmt: ReasoningFormat, *, in_thinking: bool = False):
        self.format = fmt
        self._impl = (_HarmonySplit() if fmt.kind == "harmony" else
                      _TagSplit(fmt.open, fmt.close, in_thinking) if fmt.kind == "tags" else None)
        self.thinking = ""
        self.answer = ""
        self.thinking_tokens = 0
        self._tokens_seen = 0  # the completion-token count of the previous piece
        self._started: float | None = None
        self._thinking_done: float | None = None

    def feed(self, text: str, completion_tokens: int | None = None) -> tuple[str, str]:
        now = time.monotonic()
        if self._started is None:
            self._started = now
        was_thinking = self.in_thinking
        thinking, answer = self._impl.feed(text) if self._impl is not None else ("", text)
        if completion_tokens is not None:
            self._count(text, answer, completion_tokens, was_thinking or bool(thinking))
        return self._account(thinking, answer, now)

    def _count(self, text: str, answer: str, tokens: int, thought: bool) -> None:
        """Tokens up to the close tag (it belongs to the block). A piece that closes the block may carry
        several tokens (a lagging consumer's merged pieces): its share is by characters."""
        if self.in_thinking:
            self.thinking_tokens = tokens
        elif thought:
            share = (len(text) - len(answer)) / max(len(text), 1)
            self.thinking_tokens = self._tokens_seen + round((tokens - self._tokens_seen) * share)
        self._tokens_seen = tokens

    def flush(self) -> tuple[str, str]:
        """At the end: what was held back (an unclosed block's text stays thinking)."""
        thinking, answer = self._impl.flush() if self._impl is not None else ("", "")
        return self._account(thinking, answer, time.monotonic())

    def _account(self, thinking: str, answer: str, now: float) -> tuple[str, str]:
        self.thinking += thinking
        if answer and self._thinking_done is None and (self.thinking or answer.strip()):
            self._thinking_done = now
        self.answer += answer
        return thinking, answer

    @property
    def thinking_seconds(self) -> float | None:
        if not self.thinking or self._started is None:
            return None
        return (self._thinking_done or time.monotonic()) - self._started

    @property
    def in_thinking(self) -> bool:
        return bool(self._impl is not None and self._impl.in_thinking)


def _partial_tail(buf: str, markers: tuple[str, ...]) -> int:
    """Length of the longest tail of buf that is a proper prefix of a marker (to hold back)."""
    for k in range(min(len(buf), max(len(m) for m in markers) - 1), 0, -1):
        if any(m.startswith(buf[-k:]) for m in markers):
            return k
    return 0


class _TagSplit:
    """<think>…</think>: text before the open tag (only whitespace allowed) and after the close is answer;
    the whitespace right after either tag is dropped."""

    def __init__(self, open_tag: str, close_tag: str, in_thinking: bool):
        self.open, self.close = open_tag, close_tag
        self.in_thinking = in_thinking
        self.seen_answer = False  # an answer began: a later open tag is answer text, not thinking
        self._strip = True  # drop whitespace at the start of the thinking or the answer
        self._buf = ""

    def feed(self, text: str) -> tuple[str, str]:
        self._buf += text
        thinking, answer = [], []
        while self._buf:
            if self._strip:
                self._buf = self._buf.lstrip()
                if not self._buf:
                    break
                self._strip = False
            if self.in_thinking:
                at = self._buf.find(self.close)
                if at < 0:  # hold back a possible start of the close tag, and trailing whitespace
                    head = self._buf[: len(self._buf) - _partial_tail(self._buf, (self.close,))]
                    keep = len(self._buf) - len(head.rstrip())
                    thinking.append(self._buf[: len(self._buf) - keep])
                    self._buf = self._buf[len(self._buf) - keep:]
                    break
                thinking.append(self._buf[:at].rstrip())
                self._buf = self._buf[at + len(self.close):]
                self.in_thinking, self.seen_answer, self._strip = False, True, True
                continue
            if self.seen_answer:
                answer.append(self._buf)
                self._buf = ""
                break
            if self._buf.startswith(self.open):
                self._buf = self._buf[len(self.open):]
                self.in_thinking = self._strip = True
                continue
            if self.open.startswith(self._buf):
                break  # the start of the open tag: wait for more
            self.seen_answer = True
        return "".join(thinking), "".join(answer)

    def flush(self) -> tuple[str, str]:
        rest, self._buf = self._buf, ""
        return (rest, "") if self.in_thinking else ("", rest)


class _HarmonySplit:
    """gpt-oss channels: analysis → thinking, final (and commentary without a recipient) → answer; a message
    to a function (`to=functions.NAME`) is passed into the answer verbatim for the tool-call parser."""

    def __init__(self):
        self._buf = ""
        self._channel: str | None = None  # None: reading a message's header (channel, recipient)
        self._passthrough = False
        self.in_thinking = False

    def feed(self, text: str) -> tuple[str, str]:
        self._buf += text
        thinking, answer = [], []
        while self._buf:
            if self._channel is None:  # a header: up to <|message|>
                at = self._buf.find(H_MESSAGE)
                if at < 0:
                    break
                self._start_message(self._buf[:at], answer)
                self._buf = self._buf[at + len(H_MESSAGE):]
                continue
            cut, marker = _first_marker(self._buf, (H_END, H_CALL, H_RETURN, H_START))
            if cut < 0:
                keep = _partial_tail(self._buf, _HARMONY_MARKERS)
                self._route(self._buf[: len(self._buf) - keep], thinking, answer)
                self._buf = self._buf[len(self._buf) - keep:]
                break
            self._route(self._buf[:cut], thinking, answer)
            if self._passthrough:
                answer.append(H_CALL)
            self._buf = self._buf[cut + len(marker):]
            self._channel, self._passthrough, self.in_thinking = None, False, False
        return "".join(thinking), "".join(answer)

    def _start_message(self, header: str, answer: list[str]) -> None:
        header = header.replace(H_START, "").replace(H_CHANNEL, " ")
        match = re.search(r"\b(analysis|final|commentary)\b", header)
        self._channel = match.group(1) if match else "final"
        recipient = re.search(r"to=([\w.\-]+)", header)
        self._passthrough = bool(recipient and recipient.group(1).startswith("functions."))
        # analysis, and calls to built-in tools (browser, python) the client cannot run, are thinking
        self.in_thinking = not self._passthrough and (self._channel == "analysis" or recipient is not None)
        if self._passthrough:
            answer.append(f"to={recipient.group(1)}{H_MESSAGE}")

    def _route(self, text: str, thinking: list[str], answer: list[str]) -> None:
        (thinking if self.in_thinking else answer).append(text)

    def flush(self) -> tuple[str, str]:
        rest, self._buf = self._buf, ""
        if self._channel is None:  # no message began: plain text is the answer, a lone header is nothing
            return "", "" if any(m in rest for m in _HARMONY_MARKERS) else rest
        return (rest, "") if self.in_thinking else ("", rest)


def _first_marker(buf: str, markers: tuple[str, ...]) -> tuple[int, str]:
    best, which = -1, ""
    for marker in markers:
        at = buf.find(marker)
        if at >= 0 and (best < 0 or at < best):
            best, which = at, marker
    return best, which
