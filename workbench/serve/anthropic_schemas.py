"""Request bodies of Anthropic's Messages API (/v1/messages, /v1/messages/count_tokens), validated by pydantic.

As in schemas.py (whose Lenient base also refuses lone surrogates in any text): unknown fields are ignored
(cache_control, citations, service_tier …), known ones are type-checked, so a wrong value is a 400 naming the
field. Content blocks are told apart by `type`; one this endpoint does not take (document, search_result …)
is a 400 naming it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from .schemas import Lenient

BLOCK_TYPES = ("text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking")


class TextBlock(Lenient):
    type: Literal["text"]
    text: str


class ImageBlock(Lenient):
    """Accepted by the schema so the route can refuse it with a clear message (no vision models yet)."""

    type: Literal["image"]
    source: dict[str, Any] | None = None


class ToolUseBlock(Lenient):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)


class ToolResultBlock(Lenient):
    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[Annotated[TextBlock | ImageBlock, Field(discriminator="type")]] | None = None
    is_error: bool = False

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content if isinstance(part, TextBlock))
        return self.content or ""


class ThinkingBlock(Lenient):
    type: Literal["thinking"]
    thinking: str
    signature: str | None = None


class RedactedThinkingBlock(Lenient):
    type: Literal["redacted_thinking"]
    data: str = ""


ContentBlock = Annotated[TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock
                         | RedactedThinkingBlock, Field(discriminator="type")]


def _known_blocks(value):
    """Name an unsupported block type plainly (a discriminated union would only say the tag does not match)."""
    if isinstance(value, list):
        for block in value:
            kind = block.get("type") if isinstance(block, dict) else None
            if isinstance(kind, str) and kind not in BLOCK_TYPES:
                raise ValueError(f"content blocks of type {kind!r} are not supported ({', '.join(BLOCK_TYPES)})")
    return value


class AnthropicMessage(Lenient):
    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]

    _blocks = field_validator("content", mode="before")(lambda cls, v: _known_blocks(v))

    def blocks(self) -> list:
        """The content as blocks (a plain string is one text block)."""
        return [TextBlock(type="text", text=self.content)] if isinstance(self.content, str) else self.content


class Tool(Lenient):
    """A custom tool. Anthropic's server tools (web search, bash, text editor …) have a versioned `type` and no
    schema: they need Anthropic's servers, so they are refused by name."""

    name: str = Field(min_length=1, max_length=128)
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    type: str | None = None

    @model_validator(mode="after")
    def _custom_only(self):
        if self.type not in (None, "custom"):
            raise ValueError(f"server tools (type {self.type!r}) are not supported: define a custom tool "
                             "with an input_schema")
        if self.input_schema is None:
            raise ValueError("a tool needs an input_schema (a JSON Schema object)")
        return self


class ToolChoice(Lenient):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool = False

    @model_validator(mode="after")
    def _named(self):
        if self.type == "tool" and not self.name:
            raise ValueError("tool_choice of type 'tool' needs the tool's name")
        return self


class ThinkingConfig(Lenient):
    """`enabled` with a budget, `disabled`, or `adaptive` / `between_tools` (the model decides: its template's
    default). `display: omitted` returns thinking blocks with the text left out."""

    type: Literal["enabled", "disabled", "adaptive", "between_tools"]
    budget_tokens: int | None = Field(default=None, ge=1)
    display: Literal["summarized", "omitted"] | None = None

    @model_validator(mode="after")
    def _budget(self):
        if self.type == "enabled" and self.budget_tokens is None:
            raise ValueError("thinking of type 'enabled' needs budget_tokens")
        return self


class OutputFormat(Lenient):
    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")


class OutputConfig(Lenient):
    """Structured output (`format`: a JSON schema the answer must follow) and the effort level of thinking."""

    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None
    format: OutputFormat | None = None


class Metadata(Lenient):
    user_id: str | None = None


class CountTokensRequest(Lenient):
    """POST /v1/messages/count_tokens: what shapes the prompt, without the sampling fields."""

    model: str
    messages: list[AnthropicMessage] = Field(min_length=1)
    system: str | list[TextBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingConfig | None = None
    output_config: OutputConfig | None = None

    def system_text(self) -> str | None:
        if self.system is None:
            return None
        return self.system if isinstance(self.system, str) else "\n\n".join(b.text for b in self.system)


class MessagesRequest(CountTokensRequest):
    """POST /v1/messages. max_tokens is required, as Anthropic requires it."""

    max_tokens: int = Field(ge=1)
    stop_sequences: list[Annotated[str, Field(min_length=1)]] | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    metadata: Metadata | None = None  # accepted; user_id is not used (nothing here is per-user)
    stream: bool = False
    grammar: str | None = None  # llama-server's extension: a GBNF grammar constraining the output
