"""Ollama's PARAMETER names: the one table of their types, ranges and where each goes in the engine.

A Modelfile PARAMETER, an Ollama `options` object and `/set parameter` all go through `parse_parameter`, so a
value is accepted or refused everywhere with the same message. A name is "sampling", "load", "chat" (read by
chat/prepare.py: thinking) or "ignored" (Ollama-only: parsed, kept, reported); any other name is an error
(docs/design.md §6.2).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from ..errors import InvalidParameter

Kind = Literal["sampling", "load", "chat", "ignored"]
THINK_VALUES = ("true", "false", "low", "medium", "high")
ValueType = Literal["int", "float", "bool", "str"]


@dataclass(frozen=True)
class ParameterSpec:
    """One PARAMETER name. Bounds are inclusive unless `*_exclusive` is set; None = unbounded."""

    name: str
    type: ValueType
    kind: Kind
    engine_name: str | None  # field name in SamplingParams/LoadOptions (None for ignored ones)
    description: str
    minimum: float | None = None
    maximum: float | None = None
    min_exclusive: bool = False
    repeatable: bool = False  # `stop` may be given many times; its value is a list

    def range_text(self) -> str:
        low = "(" if self.min_exclusive else "["
        lo = "-inf" if self.minimum is None else _fmt(self.minimum)
        hi = "inf" if self.maximum is None else _fmt(self.maximum)
        return f"{low}{lo}, {hi}]"


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _p(name, type_, kind, engine, description, lo=None, hi=None, *, lo_excl=False, repeatable=False):
    return ParameterSpec(name, type_, kind, engine, description, lo, hi, lo_excl, repeatable)


_SPECS = (
    # sampling (names as in SamplingParams)
    _p("temperature", "float", "sampling", "temperature", "randomness; 0 = greedy", 0, 100),
    _p("top_k", "int", "sampling", "top_k", "keep the k most likely tokens; 0 = off", 0, None),
    _p("top_p", "float", "sampling", "top_p", "nucleus sampling mass; 1 = off", 0, 1, lo_excl=True),
    _p("min_p", "float", "sampling", "min_p", "drop tokens below min_p x the top probability", 0, 1),
    _p("typical_p", "float", "sampling", "typical_p", "locally typical sampling; 1 = off", 0, 1, lo_excl=True),
    _p("repeat_penalty", "float", "sampling", "repeat_penalty", "penalty for repeated tokens; 1 = off", 0, 10,
       lo_excl=True),
    _p("repeat_last_n", "int", "sampling", "repeat_last_n", "how far back to look for repeats; -1 = context",
       -1, None),
    _p("presence_penalty", "float", "sampling", "presence_penalty", "penalty for tokens already present", -2, 2),
    _p("frequency_penalty", "float", "sampling", "frequency_penalty", "penalty growing with a token's count",
       -2, 2),
    _p("mirostat", "int", "sampling", "mirostat", "Mirostat sampling: 0 = off, 1 or 2", 0, 2),
    _p("mirostat_tau", "float", "sampling", "mirostat_tau", "Mirostat target entropy", 0, None, lo_excl=True),
    _p("mirostat_eta", "float", "sampling", "mirostat_eta", "Mirostat learning rate", 0, None, lo_excl=True),
    _p("seed", "int", "sampling", "seed", "random seed; -1 = a new random seed each time", -1, 2**32 - 1),
    _p("stop", "str", "sampling", "stop", "a stop string (repeat the line for more)", repeatable=True),
    _p("num_predict", "int", "sampling", "max_tokens", "most tokens to generate; -1 = until the context ends",
       -2, None),
    # load (names as in LoadOptions)
    _p("num_ctx", "int", "load", "n_ctx", "context window of one request, in tokens", 1, None),
    _p("num_batch", "int", "load", "n_batch", "prompt tokens decoded per batch", 1, None),
    _p("num_gpu", "int", "load", "gpu_layers", "layers offloaded to the GPU; -1 = all that help", -1, None),
    _p("num_thread", "int", "load", "n_threads", "CPU threads; 0 = one per physical core", 0, None),
    _p("use_mmap", "bool", "load", "use_mmap", "map the model file instead of reading it"),
    # chat: read by chat/prepare.py (a reasoning model's thinking), not by the engine's records
    _p("think", "str", "chat", None, "thinking: true, false, low, medium or high (reasoning models)"),
    _p("think_budget", "int", "chat", None, "most tokens of thinking; then the block is closed", 0, None),
    # chat: speculative decoding (llama-server's names), read by chat/prepare.py into the request's Speculation
    _p("speculative", "str", "chat", None, "speculative decoding: off, lookup or draft (the DRAFT model)"),
    _p("draft_max", "int", "chat", None, "most tokens drafted per step", 1, 64),
    _p("draft_min", "int", "chat", None, "fewest drafted tokens worth verifying", 0, 64),
    _p("draft_p_min", "float", "chat", None, "the draft model stops at a token it gives less than this", 0, 1),
    _p("draft_ngram", "int", "chat", None, "lookup: longest n-gram matched against the context", 1, 16),
    # Ollama-only: accepted, kept, reported
    _p("num_keep", "int", "ignored", None, "tokens kept when Ollama shifts the context", -1, None),
    _p("penalize_newline", "bool", "ignored", None, "removed from llama.cpp's sampler"),
    _p("tfs_z", "float", "ignored", None, "tail-free sampling (removed from llama.cpp)", 0, None),
    _p("numa", "bool", "ignored", None, "NUMA placement"),
    _p("low_vram", "bool", "ignored", None, "old low-VRAM mode"),
    _p("f16_kv", "bool", "ignored", None, "deprecated KV precision switch"),
    _p("vocab_only", "bool", "ignored", None, "load only the vocabulary"),
    _p("use_mlock", "bool", "ignored", None, "lock the model in RAM"),
    _p("logits_all", "bool", "ignored", None, "return logits for every token"),
    _p("embedding_only", "bool", "ignored", None, "embedding-only mode"),
    _p("main_gpu", "int", "ignored", None, "which GPU holds small tensors", 0, None),
    _p("num_gqa", "int", "ignored", None, "old grouped-query attention override", 1, None),
    _p("rope_frequency_base", "float", "ignored", None, "old RoPE override (read from the GGUF now)", 0, None),
    _p("rope_frequency_scale", "float", "ignored", None, "old RoPE override (read from the GGUF now)", 0, None),
)

PARAMETERS: MappingProxyType[str, ParameterSpec] = MappingProxyType({s.name: s for s in _SPECS})

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_TRUE = {"1", "t", "true"}
_FALSE = {"0", "f", "false"}  # Go's strconv.ParseBool, which Ollama uses, case-insensitively here


def spec(name: str) -> ParameterSpec:
    """The spec of a PARAMETER name (case-insensitive, like Ollama); InvalidParameter for an unknown one."""
    found = PARAMETERS.get(name.strip().lower())
    if found is None:
        close = [known for known in PARAMETERS if _near(name.lower(), known)]
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise InvalidParameter(f"unknown parameter {name!r}{hint}; known: {', '.join(PARAMETERS)}")
    return found


def _near(a: str, b: str) -> bool:
    """A cheap 'one typo away' test for suggestions."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1 or sorted(a) == sorted(b)
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def parse_parameter(name: str, raw: Any, *, max_context: int | None = None) -> Any:
    """Parse and range-check one value: text from a Modelfile/CLI, or an already-typed JSON value.

    Returns int/float/bool/str (one stop string per call). Raises InvalidParameter naming the parameter,
    the value and what is allowed. `max_context` (the model's trained context) bounds num_ctx.
    """
    s = spec(name)
    value = _coerce(s, raw)
    if s.type in ("int", "float"):
        _check_range(s, value)
    if s.name == "num_ctx" and max_context is not None and value > max_context:
        raise InvalidParameter(f"num_ctx {value} is beyond what the model supports ({max_context} tokens)")
    if s.name == "stop" and value == "":
        raise InvalidParameter("stop must not be empty")
    if s.name == "think" and value.strip().lower() not in THINK_VALUES:
        raise InvalidParameter(f"think {value!r} is not one of {', '.join(THINK_VALUES)}")
    return value.strip().lower() if s.name == "think" else value


def _coerce(s: ParameterSpec, raw: Any) -> Any:
    if isinstance(raw, str):  # text values (stop strings) keep their spaces; numbers and booleans do not
        return _from_text(s, raw if s.type == "str" else raw.strip())
    if s.type == "bool" and isinstance(raw, bool):
        return raw
    if s.name == "think" and isinstance(raw, bool):  # an options object may say "think": true
        return "true" if raw else "false"
    if s.type == "int" and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if s.type == "int" and isinstance(raw, float) and raw.is_integer():
        return int(raw)  # JSON clients send 4096.0 sometimes
    if s.type == "float" and isinstance(raw, int | float) and not isinstance(raw, bool):
        return _finite(s, float(raw), raw)
    raise InvalidParameter(f"{s.name} {raw!r} is not {_article(s.type)}")


def _from_text(s: ParameterSpec, text: str) -> Any:
    if s.type == "str":
        return text
    if not text:
        raise InvalidParameter(f"{s.name} needs a value ({_article(s.type)})")
    if s.type == "bool":
        low = text.lower()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
        raise InvalidParameter(f"{s.name} {text!r} is not a boolean (true or false)")
    if s.type == "int":
        if _INT.fullmatch(text):
            return int(text)
        if _FLOAT.fullmatch(text) and float(text).is_integer():
            return int(float(text))
        raise InvalidParameter(f"{s.name} {text!r} is not an integer")
    if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        raise InvalidParameter(f"{s.name} {text!r} is not a finite number")
    if not _FLOAT.fullmatch(text):
        raise InvalidParameter(f"{s.name} {text!r} is not a number")
    return _finite(s, float(text), text)


def _finite(s: ParameterSpec, value: float, raw: Any) -> float:
    if not math.isfinite(value):
        raise InvalidParameter(f"{s.name} {raw!r} is not a finite number")
    return value


def _article(type_: str) -> str:
    return {"int": "an integer", "float": "a number", "bool": "a boolean (true or false)", "str": "text"}[type_]


def _check_range(s: ParameterSpec, value: float) -> None:
    too_low = s.minimum is not None and (value <= s.minimum if s.min_exclusive else value < s.minimum)
    too_high = s.maximum is not None and value > s.maximum
    if too_low or too_high:
        raise InvalidParameter(f"{s.name} {value!r} is out of range: allowed {s.range_text()}")


def split_parameters(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Split parsed parameters (Ollama names) into (sampling, load, ignored).

    sampling and load use the engine's field names (num_predict -> max_tokens, num_ctx -> n_ctx, ...);
    `stop` becomes a list (a single string is wrapped); seed -1 becomes None (the engine's "random").
    ignored keeps Ollama's names. Values are validated again, so raw text or JSON values are fine here too.
    """
    sampling: dict[str, Any] = {}
    load: dict[str, Any] = {}
    ignored: dict[str, Any] = {}
    for name, raw in params.items():
        s = spec(name)
        if s.repeatable:
            items = raw if isinstance(raw, list | tuple) else [raw]
            value: Any = [parse_parameter(s.name, item) for item in items]
        else:
            value = parse_parameter(s.name, raw)
        if s.kind == "chat":
            continue  # chat/prepare.py reads these from the parameters themselves
        if s.kind == "ignored":
            ignored[s.name] = value
            continue
        if s.name == "seed" and value == -1:
            value = None
        (sampling if s.kind == "sampling" else load)[s.engine_name] = value
    return sampling, load, ignored
