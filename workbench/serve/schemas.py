"""Request bodies of the OpenAI- and Ollama-compatible APIs, validated by pydantic.

Unknown fields are ignored (clients send vendor extras), known ones are type-checked: a wrong type is a 400
naming the field, never a 500. Text fields reject lone surrogates, which JSON allows but UTF-8 cannot encode.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator


def _no_surrogates(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text contains a lone surrogate (invalid Unicode)") from None
    return value


def _check_nested(value) -> None:
    if isinstance(value, str):
        _no_surrogates(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_nested(key)
            _check_nested(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_nested(item)


class Lenient(BaseModel):
    """A request body's base: unknown fields are ignored, and no text in it may hold a lone surrogate."""

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="after")
    def _no_lone_surrogates(self):
        """Every text field (model names, stop strings, tool schemas, options), not only the prompt."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            if not isinstance(value, BaseModel):
                _check_nested(value)
        return self


class ContentPart(Lenient):
    type: str
    text: str | None = None
    image_url: dict[str, Any] | str | None = None  # {"url": "data:image/png;base64,..."} (serve/media_parts.py)
    input_audio: dict[str, Any] | None = None  # {"data": base64, "format": "wav"}

    _check = field_validator("text")(lambda cls, v: v if v is None else _no_surrogates(v))


class ToolCallFunction(Lenient):
    name: str
    arguments: str | dict = "{}"


class ToolCall(Lenient):
    id: str | None = None
    type: str = "function"
    function: ToolCallFunction


class ChatMessage(Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    reasoning_content: str | None = None  # an earlier answer's thinking (llama-server's and DeepSeek's field)

    @field_validator("content")
    @classmethod
    def _text(cls, value):
        return _no_surrogates(value) if isinstance(value, str) else value

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class StreamOptions(Lenient):
    include_usage: bool = False


class ResponseFormat(Lenient):
    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: dict | None = None


class SamplingFields(Lenient):
    """Sampling fields shared by chat and text completions (OpenAI names plus llama.cpp's common extras)."""

    max_tokens: int | None = Field(default=None, ge=0)  # 0 only for completions with echo (prompt logprobs)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    min_p: float | None = Field(default=None, ge=0, le=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    repeat_penalty: float | None = Field(default=None, ge=0)
    logit_bias: dict[str, float] | None = None
    ignore_eos: bool = False  # llama-server's and vLLM's extension: never stop at end-of-generation (benchmarks)
    # extension: speculative decoding per request (chat/speculation.py; llama-server's names)
    speculative: Literal["off", "lookup", "draft"] | None = None
    draft_max: int | None = Field(default=None, ge=1, le=64)
    draft_min: int | None = Field(default=None, ge=0, le=64)
    draft_p_min: float | None = Field(default=None, ge=0, le=1)
    draft_ngram: int | None = Field(default=None, ge=1, le=16)
    n: int = Field(default=1, ge=1, le=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None


class ChatCompletionRequest(SamplingFields):
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    response_format: ResponseFormat | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict | None = None
    parallel_tool_calls: bool | None = None  # accepted: a model may always make several calls
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    thinking_budget: int | None = Field(default=None, ge=0)  # extension: most tokens of thinking
    chat_template_kwargs: dict[str, Any] | None = None  # llama-server's: enable_thinking, reasoning_effort
    grammar: str | None = None  # llama-server's extension: a GBNF grammar constraining the output

    @model_validator(mode="after")
    def _limits(self):
        if self.max_tokens == 0:
            raise ValueError("max_tokens must be at least 1")
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        return self

    def logprobs_n(self) -> int | None:
        """The engine's GenerationRequest.logprobs: None off, else how many alternatives."""
        return (self.top_logprobs or 0) if self.logprobs else None

    def thinking_choice(self) -> bool | str | None:
        """reasoning_effort, else chat_template_kwargs' enable_thinking / thinking / reasoning_effort."""
        if self.reasoning_effort is not None:
            return self.reasoning_effort
        kwargs = self.chat_template_kwargs or {}
        for key in ("reasoning_effort", "enable_thinking", "thinking"):
            if kwargs.get(key) is not None:
                return kwargs[key]
        return None


class CompletionRequest(SamplingFields):
    model: str
    # text, or token ids used as they are (lm-evaluation-harness sends its own tokenization); one prompt
    prompt: str | list[str] | list[int] | list[list[int]]
    echo: bool = False
    suffix: str | None = None
    # OpenAI's legacy limit is 5; up to 20 is allowed here (as llama-server and vLLM do)
    logprobs: int | None = Field(default=None, ge=0, le=20)

    @model_validator(mode="after")
    def _limits(self):
        if self.max_tokens == 0 and not self.echo:
            raise ValueError("max_tokens 0 is only allowed with echo (to score the prompt); give at least 1")
        return self

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value):
        """→ the text, or the list of token ids."""
        if isinstance(value, str):
            return _no_surrogates(value)
        if value and all(isinstance(item, int) for item in value):
            return value
        if len(value) != 1:
            raise ValueError("exactly one prompt per request is supported")
        return _no_surrogates(value[0]) if isinstance(value[0], str) else value[0]


class TokenizeRequest(Lenient):
    model: str
    content: str
    add_special: bool = False  # llama-server's default: no BOS
    with_pieces: bool = False


class DetokenizeRequest(Lenient):
    model: str
    tokens: list[int] = Field(max_length=1_000_000)


class EmbeddingRequest(Lenient):
    model: str
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"

    def texts(self) -> list[str]:
        items = [self.input] if isinstance(self.input, str) else list(self.input)
        return [_no_surrogates(t) for t in items]


# -- OpenAI Responses API (/v1/responses) -----------------------------------------------------------------
_RESPONSE_PARTS = ("input_text", "output_text", "input_image", "reasoning_text")  # the last in reasoning items


class ResponseContentPart(Lenient):
    """A part of an input item: input_text (what the user wrote), output_text (an earlier answer) or input_image
    (a data: URL in `image_url`; serve/media_parts.py)."""

    type: str
    text: str | None = None
    image_url: str | None = None

    _check = field_validator("text")(lambda cls, v: v if v is None else _no_surrogates(v))

    @model_validator(mode="after")
    def _text_only(self):
        if self.type not in _RESPONSE_PARTS:
            raise ValueError(f"content parts of type {self.type!r} are not supported ({', '.join(_RESPONSE_PARTS)})")
        if self.type != "input_image" and self.text is None:
            raise ValueError("a text part needs 'text'")
        return self


def _text_or_list(item: type, tag: str):
    """str | list[item], one branch chosen by the value's type: a bad item's error names that item only (a
    plain union also reports "not a valid string")."""
    return Annotated[Annotated[str, Tag("text")] | Annotated[list[item], Tag(tag)],
                     Discriminator(lambda v: "text" if isinstance(v, str) else tag)]


class ResponseInputItem(Lenient):
    """An item of `input`: a message (`{"role", "content"}` or `{"type": "message", ...}`), an earlier answer's
    `function_call`, the client's `function_call_output` for it, or a `reasoning` item (its text is fed back only
    as the template expects, like chat's reasoning_content)."""

    type: Literal["message", "function_call", "function_call_output", "reasoning"] = "message"
    role: Literal["user", "assistant", "system", "developer"] | None = None
    content: _text_or_list(ResponseContentPart, "parts") | None = None
    call_id: str | None = None  # function_call / function_call_output
    name: str | None = None  # function_call
    arguments: str | None = None  # function_call: JSON text
    output: str | None = None  # function_call_output
    summary: list[dict[str, Any]] | None = None  # reasoning
    id: str | None = None

    @model_validator(mode="after")
    def _complete(self):
        needs = {"message": ("role", "content"), "function_call": ("call_id", "name", "arguments"),
                 "function_call_output": ("call_id", "output"), "reasoning": ()}[self.type]
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.type} item needs {', '.join(repr(m) for m in missing)}")
        return self

    _check = field_validator("content")(lambda cls, v: _no_surrogates(v) if isinstance(v, str) else v)

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if self.type == "reasoning":
            return "".join(part.get("text", "") for part in self.summary or () if isinstance(part, dict)) + \
                "".join(part.text or "" for part in self.content or ())
        return "".join(part.text or "" for part in self.content or ())


class ResponseReasoning(Lenient):
    effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    summary: str | None = None  # accepted; the thinking is returned whole, not summarised


class ResponseTextFormat(Lenient):
    """`text.format`: text, json_object, or json_schema with the schema inline (not nested as in chat)."""

    type: Literal["text", "json_object", "json_schema"] = "text"
    name: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _needs_schema(self):
        if self.type == "json_schema" and not isinstance(self.schema_, dict):
            raise ValueError("a json_schema format needs a 'schema' object")
        return self

    def response_format(self) -> ResponseFormat:
        """The same constraint as chat's response_format (formats.response_schema reads it)."""
        return ResponseFormat(type=self.type, json_schema={"name": self.name, "schema": self.schema_})


class ResponseTextOptions(Lenient):
    format: ResponseTextFormat = Field(default_factory=ResponseTextFormat)


class ResponsesRequest(Lenient):
    """POST /v1/responses. `max_output_tokens` is stored as max_tokens so the chat routes' mapping reads it."""

    model: str
    input: _text_or_list(ResponseInputItem, "items")
    instructions: str | None = None
    max_tokens: int | None = Field(default=None, ge=1, alias="max_output_tokens")
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stream: bool = False
    text: ResponseTextOptions = Field(default_factory=ResponseTextOptions)
    store: bool | None = None  # accepted; nothing is stored (see responses_routes)
    previous_response_id: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict | None = None
    parallel_tool_calls: bool | None = None
    reasoning: ResponseReasoning | None = None
    grammar: str | None = None  # llama-server's extension: a GBNF grammar constraining the output
    metadata: dict[str, str] | None = None
    user: str | None = None

    @field_validator("input")
    @classmethod
    def _some_input(cls, value):
        if isinstance(value, str):
            return _no_surrogates(value)
        if not value:
            raise ValueError("input must be text or a non-empty list of messages")
        return value


# -- Ollama ---------------------------------------------------------------------------------------------
class OllamaMessage(Lenient):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    thinking: str | None = None  # an earlier answer's thinking
    images: list[str] | None = None
    tool_calls: list[dict] | None = None
    tool_name: str | None = None  # a tool message: which function's result

    _check = field_validator("content")(lambda cls, v: _no_surrogates(v))


class OllamaBase(Lenient):
    model: str
    options: dict[str, Any] | None = None
    keep_alive: str | int | float | None = None
    stream: bool = True
    format: str | dict | None = None
    think: bool | Literal["low", "medium", "high"] | None = None
    grammar: str | None = None  # extension (as llama-server's): a GBNF grammar constraining the output


class OllamaChatRequest(OllamaBase):
    messages: list[OllamaMessage] = Field(default_factory=list)
    tools: list[dict[str, Any]] | None = None


class OllamaGenerateRequest(OllamaBase):
    prompt: str = ""
    system: str | None = None
    template: str | None = None
    raw: bool = False
    suffix: str | None = None
    images: list[str] | None = None  # base64 images for the prompt (serve/media_parts.py)

    _check = field_validator("prompt")(lambda cls, v: _no_surrogates(v))


class OllamaEmbedRequest(Lenient):
    model: str
    input: str | list[str]
    keep_alive: str | int | float | None = None
    truncate: bool = True


class OllamaShowRequest(Lenient):
    model: str | None = None
    name: str | None = None
