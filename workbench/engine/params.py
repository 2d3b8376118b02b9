"""The engine's public records: load options, sampling parameters, a generation request and its events.

Plain frozen dataclasses (no llama_cpp here), validated on construction so a bad value fails where it is
given — a Modelfile PARAMETER, an HTTP body, a GUI field — with an `InvalidParameter` naming the field.
Sampling names and defaults are Ollama's, so presets and the Ollama-compatible endpoint map 1:1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from ..errors import InvalidParameter

CACHE_TYPES = ("f16", "f32", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0")
FLASH_ATTN = ("auto", "on", "off")
MAX_LOGPROBS = 20  # top alternatives per token, as OpenAI allows
FinishReason = Literal["stop", "length", "cancelled", "error"]


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidParameter(message)


def _positive_or_none(name: str, value: int | None) -> None:
    _check(value is None or (_int(value) and value > 0), f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class LoadOptions:
    """How a model is loaded. None means "the settings' default" (resolved by the Runtime).

    n_ctx is the context of ONE request (like Ollama's num_ctx); the KV cache holds n_ctx for each of the
    n_parallel slots. reproducible=True makes every request's output independent of what else runs
    (docs/design.md §4.5) at some cost in throughput; None = settings.reproducible.
    """

    n_ctx: int | None = None
    n_threads: int | None = None
    n_batch: int = 512
    n_ubatch: int = 512
    n_parallel: int | None = None
    type_k: str = "f16"
    type_v: str = "f16"
    flash_attn: str = "auto"
    gpu_layers: int = -1
    lora_path: str | None = None
    lora_scale: float = 1.0
    reproducible: bool | None = None
    swa_full: bool = True  # sliding-window models: a full-size window cache, so prefix reuse always works
    embeddings: bool = False
    draft_path: str | None = None  # a small model with the same vocabulary, loaded beside for speculative drafts
    mmproj_path: str | None = None  # a vision/audio projector GGUF loaded beside the model (engine/vision.py)
    # reproducible mode: requests may speculate, so every stream decodes ≥ 2 rows (engine/scheduler.py `_pad`);
    # only instances that may speculate pay for it (always False in throughput mode: nothing to pad there)
    speculative: bool = False

    def __post_init__(self) -> None:
        for name in ("n_ctx", "n_threads", "n_parallel"):
            _positive_or_none(name, getattr(self, name))
        _check(_int(self.n_batch) and self.n_batch >= 8, f"n_batch must be ≥ 8, got {self.n_batch!r}")
        _check(_int(self.n_ubatch) and self.n_ubatch >= 8, f"n_ubatch must be ≥ 8, got {self.n_ubatch!r}")
        _check(self.n_parallel is None or self.n_parallel <= 64, "n_parallel must be at most 64")
        for name in ("type_k", "type_v"):
            value = getattr(self, name)
            _check(value in CACHE_TYPES, f"{name} must be one of {', '.join(CACHE_TYPES)}; got {value!r}")
        _check(self.flash_attn in FLASH_ATTN, f"flash_attn must be auto, on or off; got {self.flash_attn!r}")
        _check(_int(self.gpu_layers) and self.gpu_layers >= -1, "gpu_layers must be -1 (auto) or ≥ 0")
        _check(math.isfinite(self.lora_scale), "lora_scale must be a finite number")


@dataclass(frozen=True)
class SamplingParams:
    """Per-request sampling. temperature 0 = greedy. seed None = a random seed, reported in the FinalEvent."""

    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.9
    min_p: float = 0.0
    typical_p: float = 1.0
    repeat_penalty: float = 1.1
    repeat_last_n: int = 64
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    mirostat: int = 0
    mirostat_tau: float = 5.0
    mirostat_eta: float = 0.1
    seed: int | None = None
    logit_bias: dict[int, float] = field(default_factory=dict, hash=False)
    grammar: str | None = None
    json_schema: dict | None = field(default=None, hash=False)
    ignore_eos: bool = False  # end-of-generation tokens can never be drawn: every request runs to max_tokens

    def __post_init__(self) -> None:
        _check(_num(self.temperature) and 0 <= self.temperature <= 100, "temperature must be between 0 and 100")
        _check(_int(self.top_k) and self.top_k >= 0, "top_k must be an integer ≥ 0 (0 = off)")
        for name in ("top_p", "typical_p"):
            value = getattr(self, name)
            _check(_num(value) and 0 < value <= 1, f"{name} must be in (0, 1], got {value!r}")
        _check(_num(self.min_p) and 0 <= self.min_p <= 1, f"min_p must be in [0, 1], got {self.min_p!r}")
        _check(_num(self.repeat_penalty) and 0 < self.repeat_penalty <= 10, "repeat_penalty must be in (0, 10]")
        _check(_int(self.repeat_last_n) and self.repeat_last_n >= -1, "repeat_last_n must be ≥ -1")
        for name in ("presence_penalty", "frequency_penalty"):
            value = getattr(self, name)
            _check(_num(value) and -2 <= value <= 2, f"{name} must be between -2 and 2, got {value!r}")
        _check(self.mirostat in (0, 1, 2), f"mirostat must be 0, 1 or 2, got {self.mirostat!r}")
        _check(_num(self.mirostat_tau) and self.mirostat_tau > 0, "mirostat_tau must be > 0")
        _check(_num(self.mirostat_eta) and self.mirostat_eta > 0, "mirostat_eta must be > 0")
        _check(
            self.seed is None or (_int(self.seed) and 0 <= self.seed < 2**32),
            f"seed must be an integer in [0, 2^32), got {self.seed!r}",
        )
        for token, bias in self.logit_bias.items():
            _check(_int(token) and token >= 0, f"logit_bias keys must be token ids ≥ 0, got {token!r}")
            _check(isinstance(bias, int | float) and not math.isnan(bias), f"logit_bias for {token} is not a number")
        _check(not (self.grammar and self.json_schema), "give either a grammar or a json_schema, not both")
        _check(self.json_schema is None or isinstance(self.json_schema, dict), "json_schema must be an object")
        _check(isinstance(self.ignore_eos, bool), "ignore_eos must be true or false")

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0 and self.mirostat == 0

    @property
    def penalties_active(self) -> bool:
        return self.repeat_last_n != 0 and (
            self.repeat_penalty != 1.0 or self.presence_penalty != 0.0 or self.frequency_penalty != 0.0
        )


def _num(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


SPECULATION_MODES = ("lookup", "draft")


@dataclass(frozen=True)
class Speculation:
    """Speculative decoding for one request (docs/design.md §4.12); llama-server's parameter names.

    mode "lookup" drafts the continuation of the latest earlier match of the last `draft_ngram` tokens (prompt and
    output so far); "draft" asks the draft model loaded beside the target (LoadOptions.draft_path). Up to
    `draft_max` tokens are drafted, fewer when a slot's drafts keep being rejected; a draft shorter than
    `draft_min` is not verified; the draft model stops at a token it gives less than `draft_p_min`.
    """

    mode: str = "lookup"
    draft_max: int = 16
    draft_min: int = 0
    draft_p_min: float = 0.75
    draft_ngram: int = 3

    def __post_init__(self) -> None:
        _check(self.mode in SPECULATION_MODES, f"speculation must be lookup or draft, got {self.mode!r}")
        _check(_int(self.draft_max) and 1 <= self.draft_max <= 64, "draft_max must be an integer from 1 to 64")
        _check(_int(self.draft_min) and 0 <= self.draft_min <= self.draft_max,
               "draft_min must be an integer from 0 to draft_max")
        _check(_num(self.draft_p_min) and 0 <= self.draft_p_min <= 1, "draft_p_min must be in [0, 1]")
        _check(_int(self.draft_ngram) and 1 <= self.draft_ngram <= 16, "draft_ngram must be an integer from 1 to 16")


@dataclass(frozen=True)
class ThinkingBudget:
    """Close a reasoning model's thinking after `tokens` tokens of it: the engine then writes `close` into the
    output itself (as if sampled) and the model goes on with its answer.

    open: the text that opens the block in the output (None: the prompt opened it, counting starts at once);
    end: the text by which the model closes the block itself (then nothing is forced).
    """

    tokens: int
    close: str
    end: str
    open: str | None = None

    def __post_init__(self) -> None:
        _check(_int(self.tokens) and self.tokens >= 0, f"the thinking budget must be ≥ 0 tokens, got {self.tokens!r}")
        _check(bool(self.close) and bool(self.end), "a thinking budget needs its close and end texts")


@dataclass(frozen=True)
class GenerationRequest:
    """One completion: a prompt (text or tokens), sampling, limits and stop strings.

    add_bos: None = the model's own rule (tokenizer.ggml.add_bos_token); a chat prompt rendered from a
    template that already writes the BOS token passes False. parse_special: special-token text such as
    "<|end|>" in the prompt becomes the special token (True for rendered chat templates).
    """

    prompt: str | None = None
    prompt_tokens: tuple[int, ...] | None = None
    sampling: SamplingParams = field(default_factory=SamplingParams)
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    add_bos: bool | None = None
    parse_special: bool = True
    logprobs: int | None = None  # None = off; 0 = each token's own logprob; 1..20 = plus that many alternatives
    render_special: bool = False  # control tokens (<|channel|>, [TOOL_CALLS]) appear in the text, for parsers
    thinking_budget: ThinkingBudget | None = None
    speculation: Speculation | None = None  # None: no speculative decoding
    # images/audio for the prompt's media markers (engine/vision.py MEDIA_MARKER), in order: chat.media.Media or
    # anything with .kind ("image"/"audio"), .sha256, .data and, for images, .rgb() -> (width, height, RGB bytes)
    media: tuple = ()

    def __post_init__(self) -> None:
        _check((self.prompt is None) != (self.prompt_tokens is None), "give either prompt or prompt_tokens")
        _check(self.logprobs is None or (_int(self.logprobs) and 0 <= self.logprobs <= MAX_LOGPROBS),
               f"logprobs must be an integer from 0 to {MAX_LOGPROBS}, got {self.logprobs!r}")
        _check(self.max_tokens is None or (_int(self.max_tokens) and self.max_tokens >= 0),
               "max_tokens must be an integer ≥ 0")
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        _check(all(isinstance(s, str) and s for s in self.stop), "stop strings must be non-empty strings")
        _check(len(self.stop) <= 16, "at most 16 stop strings")
        if self.prompt_tokens is not None:
            object.__setattr__(self, "prompt_tokens", tuple(self.prompt_tokens))
        object.__setattr__(self, "media", tuple(self.media))
        _check(not self.media or self.prompt is not None, "media needs a text prompt (with its media markers)")


@dataclass(frozen=True)
class TokenLogprob:
    """One token's log-probability (natural log) under the model's raw next-token distribution.

    Raw = softmax of the logits before logit bias, temperature, top-k/p and penalties (vLLM's default "raw
    logprobs"). `top` holds the most likely alternatives, (token id, bytes, logprob), most likely first; the
    chosen token's `bytes` are what its text contributed (a byte-level token may be part of a character).
    """

    token: int
    bytes: bytes
    logprob: float | None  # None only for a prompt's first token (nothing before it to condition on)
    top: tuple[tuple[int, bytes, float], ...] = ()


@dataclass(frozen=True)
class TextEvent:
    """A piece of generated text (never a broken UTF-8 character, never part of a stop string).

    logprobs: with GenerationRequest.logprobs set, the entries of the tokens whose text starts in this piece
    (several when tokens merged, none when a token's text is still held back; see generation.Job.emit).
    """

    text: str
    logprobs: tuple[TokenLogprob, ...] = ()
    completion_tokens: int = 0  # tokens generated so far, this piece's included (cumulative)


@dataclass(frozen=True)
class FinalEvent:
    """The last event of every generation."""

    finish_reason: FinishReason
    prompt_tokens: int
    cached_tokens: int  # prompt tokens reused from the slot's KV cache (not prefilled again)
    completion_tokens: int
    ttft_seconds: float | None
    decode_tokens_per_second: float | None
    seed: int | None
    # the most sequences (requests) in one llama_decode this request took part in: > 1 = it shared a batch
    max_batch_sequences: int = 0
    error: str | None = None
    stop_sequence: str | None = None  # which stop string (or None for an end-of-generation token)
    tokens: tuple[int, ...] = field(default=(), repr=False)  # the completion's token ids (EOG excluded)
    drafted_tokens: int = 0  # speculative decoding: tokens drafted and verified
    accepted_tokens: int = 0  # … of which the target's own sampling agreed with (each saved one decode)

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted_tokens / self.drafted_tokens if self.drafted_tokens else None

    @property
    def prefilled_tokens(self) -> int:
        return self.prompt_tokens - self.cached_tokens
