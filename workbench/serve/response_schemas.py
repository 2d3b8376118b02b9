"""What the endpoint's routes answer, as OpenAPI: pydantic models of each response body and `responses=` tables
for the route decorators (a JSON body, an SSE or NDJSON stream, the route family's error shape).

The tables document the schemas without filtering through them (the routes return plain dicts): a field a
client relies on is never dropped, and extra fields are allowed as in the APIs copied. tests/test_faults_fuzz.py
checks every answer against these schemas (schemathesis' response_schema_conformance), stream events included.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Documented(BaseModel):
    """A response schema: built when the OpenAPI document is (the routes never validate through it), not at
    import — 40 schemas built at import were ~20 ms of every endpoint start (cli/startup.py)."""

    model_config = ConfigDict(defer_build=True)

JSON_LINES = "application/x-ndjson"
SSE = "text/event-stream"


# ---- error shapes (app.py's _error) --------------------------------------------------------------------------
class OpenAIErrorDetail(Documented):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(Documented):
    error: OpenAIErrorDetail


class OllamaError(Documented):
    error: str


class AnthropicErrorDetail(Documented):
    type: str
    message: str


class AnthropicError(Documented):
    type: Literal["error"]
    error: AnthropicErrorDetail


# ---- OpenAI --------------------------------------------------------------------------------------------------
class ModelCard(Documented):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(Documented):
    object: Literal["list"]
    data: list[ModelCard]


class Usage(Documented):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: dict[str, Any] | None = None
    completion_tokens_details: dict[str, Any] | None = None


class AssistantMessage(Documented):
    role: Literal["assistant"]
    content: str | None
    reasoning_content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class ChatChoice(Documented):
    index: int
    message: AssistantMessage
    finish_reason: str | None
    logprobs: dict[str, Any] | None = None


class ChatCompletion(Documented):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    system_fingerprint: str | None = None
    choices: list[ChatChoice]
    usage: Usage


class ChunkChoice(Documented):
    index: int
    delta: dict[str, Any]
    finish_reason: str | None
    logprobs: dict[str, Any] | None = None


class ChatCompletionChunk(Documented):
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None


class TextChoice(Documented):
    index: int
    text: str
    finish_reason: str | None
    logprobs: dict[str, Any] | None = None


class Completion(Documented):
    """A whole completion, and each streamed chunk of one (its last, with include_usage, has no choices)."""
    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    system_fingerprint: str | None = None
    choices: list[TextChoice]
    usage: Usage | None = None


class Embedding(Documented):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str  # str: base64 little-endian float32


class EmbeddingUsage(Documented):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(Documented):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


class OpenAIResponse(Documented):
    """OpenAI's Responses API object (responses_routes.py)."""
    id: str
    object: Literal["response"]
    created_at: int
    status: Literal["in_progress", "completed", "incomplete", "failed"]
    model: str
    output: list[dict[str, Any]]
    usage: dict[str, Any] | None
    error: dict[str, Any] | None


class ResponseEvent(Documented):
    type: str
    sequence_number: int


# ---- Anthropic -----------------------------------------------------------------------------------------------
class AnthropicUsage(Documented):
    input_tokens: int
    output_tokens: int


class AnthropicMessage(Documented):
    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[dict[str, Any]]
    stop_reason: str | None
    stop_sequence: str | None
    usage: AnthropicUsage


class AnthropicEvent(Documented):
    type: str


class TokenCount(Documented):
    input_tokens: int


# ---- Ollama --------------------------------------------------------------------------------------------------
class OllamaVersion(Documented):
    version: str


class OllamaDetails(Documented):
    format: str
    family: str | None = None
    families: list[str] | None = None
    parameter_size: str | None = None
    quantization_level: str | None = None
    parent_model: str | None = None


class OllamaTag(Documented):
    name: str
    model: str
    modified_at: str
    size: int
    digest: str
    details: OllamaDetails


class OllamaTags(Documented):
    models: list[OllamaTag]


class OllamaShow(Documented):
    modelfile: str
    parameters: str
    template: str
    system: str
    license: str
    details: OllamaDetails
    model_info: dict[str, Any]
    modified_at: str
    capabilities: list[str]


class OllamaRunning(Documented):
    name: str
    model: str
    size: int
    digest: str
    details: OllamaDetails
    size_vram: int
    context_length: int
    expires_at: str


class OllamaPs(Documented):
    models: list[OllamaRunning]


class OllamaMessage(Documented):
    role: Literal["assistant"]
    content: str
    thinking: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class _OllamaAnswer(Documented):
    model: str
    created_at: str
    done: bool
    done_reason: str | None = None
    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None
    prompt_eval_duration: int | None = None
    eval_count: int | None = None
    eval_duration: int | None = None


class OllamaChat(_OllamaAnswer):
    """A whole /api/chat answer, and each line of a streamed one."""
    message: OllamaMessage


class OllamaGenerate(_OllamaAnswer):
    """A whole /api/generate answer, and each line of a streamed one."""
    response: str
    thinking: str | None = None


class OllamaEmbed(Documented):
    model: str
    embeddings: list[list[float]]
    prompt_eval_count: int | None = None
    total_duration: int | None = None
    load_duration: int | None = None


class OllamaEmbedding(Documented):
    embedding: list[float]


class OllamaStatus(Documented):
    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None


# ---- llama-server's tokenizer routes, /health ----------------------------------------------------------------
class TokenPiece(Documented):
    id: int
    piece: str


class Tokens(Documented):
    tokens: list[int] | list[TokenPiece]


class Detokenized(Documented):
    content: str


class Health(Documented):
    status: str
    models_loaded: int


# ---- `responses=` tables for the route decorators ------------------------------------------------------------
ERROR_MODELS = {"openai": OpenAIError, "ollama": OllamaError, "anthropic": AnthropicError}


def inline_schema(model: type[BaseModel]) -> dict:
    """The model's JSON schema with its `$defs` put in place: a schema inside a media type object (an SSE
    event's payload, a stream's line) cannot point into pydantic's `#/$defs` (pydantic has no switch for this)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node):
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


def _any_of(models) -> dict:
    schemas = [inline_schema(model) for model in models]
    return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}


def sse_events(*models: type[BaseModel], done_marker: bool = False) -> dict:
    """An SSE media type object: each event's `data` is JSON matching one of `models` (or OpenAI's `[DONE]`)."""
    payload = {"type": "string", "contentMediaType": "application/json", "contentSchema": _any_of(models)}
    data = {"anyOf": [{"const": "[DONE]"}, payload]} if done_marker else payload
    return {"schema": {"type": "object", "properties": {"data": data, "event": {"type": "string"}},
                       "required": ["data"]}}


def json_lines(*models: type[BaseModel]) -> dict:
    """An NDJSON media type object: one JSON object per line, described as the array of its lines."""
    return {"schema": {"type": "array", "items": _any_of(models),
                       "description": "newline-delimited JSON: one object per line, read as an array"}}


def documented(family: str, model: type[BaseModel] | None, *, sse: tuple = (), lines: tuple = (),
               done_marker: bool = False, description: str = "") -> dict:
    """A route's `responses=`: the 200 body (JSON `model`, and/or an SSE or NDJSON stream of the given event
    models) and the family's error shape for every 4xx and 5xx."""
    error = ERROR_MODELS[family]  # also a stream's in-band error event or line
    ok: dict[str, Any] = {"description": description or "Successful Response"}
    if model is not None:
        ok["model"] = model
    content = {}
    if sse:
        content[SSE] = sse_events(*sse, error, done_marker=done_marker)
    if lines:
        content[JSON_LINES] = json_lines(*lines, error)
    if content:
        ok["content"] = content
    return {200: ok, **errors(family)}


def errors(family: str) -> dict:
    """The `responses=` entries for a route family's error body, for every 4xx and 5xx."""
    error = ERROR_MODELS[family]
    return {"4XX": {"model": error, "description": "a refused request"},
            "5XX": {"model": error, "description": "a server-side failure"}}
