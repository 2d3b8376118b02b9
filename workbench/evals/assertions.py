"""The assertion registry: every assertion type a suite may use, each judging one output → pass, score, reason.

Types and meanings follow promptfoo's (`not-` negates the text checks). What is not deterministic text work is
handed to the runner through `CellOutput`: `similar` calls `embed` (the engine's embeddings), `llm-rubric` calls
`judge` (a preset from the library), `python` runs code only when the run was started with `allow_code`.
`javascript` is refused when the suite is parsed: Workbench does not run JavaScript.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .records import AssertionResult

TEXT_TYPES = ("equals", "contains", "icontains", "contains-any", "contains-all", "icontains-any", "icontains-all",
              "starts-with", "regex", "is-json", "contains-json", "levenshtein", "similar", "finish-reason")
OTHER_TYPES = ("latency", "max-tokens", "perplexity", "perplexity-score", "llm-rubric", "python")
ASSERTION_TYPES = (*TEXT_TYPES, *(f"not-{t}" for t in TEXT_TYPES), *OTHER_TYPES)
NEEDS_VALUE = {"equals", "contains", "icontains", "contains-any", "contains-all", "icontains-any", "icontains-all",
               "starts-with", "regex", "levenshtein", "similar", "finish-reason", "llm-rubric", "python"}
DEFAULT_THRESHOLDS = {"levenshtein": 5.0, "similar": 0.75}


def check_assertion_type(kind: str, value: Any) -> str | None:
    """None when `kind` (with `value`) can run; else the message to show, listing the supported types."""
    if kind == "javascript" or kind == "not-javascript":
        return ("javascript assertions are not supported: Workbench runs no JavaScript. Rewrite it as a `python` "
                "assertion, which runs only when the run is started with --allow-code")
    if kind not in ASSERTION_TYPES:
        return f"unknown assertion type {kind!r}; supported: {', '.join(ASSERTION_TYPES)}"
    if kind.removeprefix("not-") in NEEDS_VALUE and value is None:
        return f"a {kind} assertion needs a value"
    if kind == "regex" or kind == "not-regex":
        try:
            re.compile(str(value))
        except re.error as exc:
            return f"regex {value!r} does not compile: {exc}"
    return None


@dataclass(frozen=True)
class CellOutput:
    """What the assertions of one cell look at, and the runner's services they may call."""

    text: str
    vars: dict[str, Any] = field(default_factory=dict)
    prompt: str = ""
    latency_ms: float | None = None
    completion_tokens: int = 0
    finish_reason: str | None = None
    logprobs: tuple[float, ...] | None = None  # each generated token's logprob (when a perplexity check asked)
    embed: Callable[[list[str], str | None], list[list[float]]] | None = None  # (texts, provider) → unit vectors
    judge: Callable[..., AssertionResult] | None = None  # (spec, output) → the rubric's verdict
    allow_code: bool = False


def evaluate(spec, out: CellOutput) -> AssertionResult:
    """One assertion (a suite.AssertionSpec) on one output. Never raises for a bad output: it fails instead."""
    kind = spec.type
    negate = kind.startswith("not-")
    base = kind.removeprefix("not-")
    try:
        passed, score, reason, details = _CHECKS[base](spec, out)
    except _Unavailable as exc:
        return AssertionResult(kind, False, 0.0, str(exc), spec.weight, spec.value, spec.metric)
    if negate:
        passed, score = not passed, 1.0 - score
        reason = f"not: {reason}"
    return AssertionResult(kind, passed, score, reason, spec.weight, spec.value, spec.metric, details)


def verdict(results: list[AssertionResult], threshold: float | None) -> tuple[bool, float]:
    """A test's (passed, score): every weighted assertion passes, or with `threshold` the weighted mean reaches it."""
    weighted = [r for r in results if r.weight > 0]
    if not weighted:
        return True, 1.0
    total = sum(r.weight for r in weighted)
    score = sum(r.score * r.weight for r in weighted) / total
    if threshold is not None:
        return score >= threshold, score
    return all(r.passed for r in weighted), score


class _Unavailable(Exception):
    """The assertion cannot be judged here (code not allowed, no logprobs…): it fails with this reason."""


def _binary(ok: bool, yes: str, no: str, details: dict | None = None):
    return ok, 1.0 if ok else 0.0, yes if ok else no, details or {}


def _items(value) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _equals(spec, out):
    if isinstance(spec.value, dict | list):
        try:
            ok = json.loads(out.text) == spec.value
        except json.JSONDecodeError:
            ok = False
    else:
        ok = out.text == str(spec.value)
    return _binary(ok, "output equals the expected value", f"expected {_clip(spec.value)!r}, got {_clip(out.text)!r}")


def _contains(spec, out, *, fold=False, mode="one"):
    text = out.text.lower() if fold else out.text
    wanted = _items(spec.value) if mode != "one" else [str(spec.value)]
    found = [w for w in wanted if (w.lower() if fold else w) in text]
    ok = bool(found) if mode == "any" else len(found) == len(wanted)
    missing = [w for w in wanted if w not in found]
    return _binary(ok, f"found {', '.join(map(repr, found))}", f"missing {', '.join(map(repr, missing))}")


def _starts_with(spec, out):
    ok = out.text.startswith(str(spec.value))
    return _binary(ok, f"starts with {spec.value!r}", f"does not start with {spec.value!r}: {_clip(out.text)!r}")


def _regex(spec, out):
    match = re.search(str(spec.value), out.text)
    return _binary(match is not None, f"matches /{spec.value}/ at {match.start() if match else 0}",
                   f"no match for /{spec.value}/")


def _schema_check(document, schema) -> str | None:
    import jsonschema

    if isinstance(schema, str):
        import yaml

        schema = yaml.safe_load(schema)
    try:
        jsonschema.validate(document, schema)
    except jsonschema.ValidationError as exc:
        return f"does not match the schema: {exc.message}"
    except jsonschema.SchemaError as exc:
        return f"the assertion's schema is invalid: {exc.message}"
    return None


def _is_json(spec, out):
    try:
        document = json.loads(out.text)
    except json.JSONDecodeError as exc:
        return _binary(False, "", f"not JSON: {exc.msg} at char {exc.pos}")
    problem = _schema_check(document, spec.value) if spec.value else None
    return _binary(problem is None, "valid JSON" + (" matching the schema" if spec.value else ""), problem or "")


def _contains_json(spec, out):
    decoder = json.JSONDecoder()
    problem = "no JSON object or array in the output"
    for match in re.finditer(r"[\[{]", out.text):
        try:
            document, _end = decoder.raw_decode(out.text, match.start())
        except json.JSONDecodeError:
            continue
        problem = _schema_check(document, spec.value) if spec.value else None
        if problem is None:
            return _binary(True, f"JSON at char {match.start()}", "")
    return _binary(False, "", problem)


def levenshtein(a: str, b: str) -> int:
    """Edit distance. By hand: the classic two-row dynamic programme, for strings of a few hundred characters a
    compiled dependency would not pay for itself."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _levenshtein(spec, out):
    limit = spec.threshold if spec.threshold is not None else DEFAULT_THRESHOLDS["levenshtein"]
    distance = levenshtein(out.text, str(spec.value))
    return _binary(distance <= limit, f"edit distance {distance} ≤ {limit:g}", f"edit distance {distance} > {limit:g}")


def _similar(spec, out):
    if out.embed is None:
        raise _Unavailable("similar needs the engine's embeddings, which this run has no access to")
    limit = spec.threshold if spec.threshold is not None else DEFAULT_THRESHOLDS["similar"]
    expected = _items(spec.value) if isinstance(spec.value, list) else [str(spec.value)]
    vectors = out.embed([out.text, *expected], spec.provider)
    best = max(sum(x * y for x, y in zip(vectors[0], v, strict=True)) for v in vectors[1:])
    return best >= limit, max(0.0, best), f"cosine similarity {best:.3f} {'≥' if best >= limit else '<'} {limit:g}", {}


def _finish_reason(spec, out):
    ok = out.finish_reason == str(spec.value)
    return _binary(ok, f"finished by {out.finish_reason}", f"finished by {out.finish_reason}, expected {spec.value}")


def _limit(spec, name: str) -> float:
    limit = spec.threshold if spec.threshold is not None else spec.value
    if limit is None or isinstance(limit, bool) or not isinstance(limit, int | float):
        raise _Unavailable(f"a {name} assertion needs a numeric threshold")
    return float(limit)


def _latency(spec, out):
    limit = _limit(spec, "latency")
    if out.latency_ms is None:
        raise _Unavailable("no latency was measured")
    return _binary(out.latency_ms <= limit, f"{out.latency_ms:.0f} ms ≤ {limit:g} ms",
                   f"{out.latency_ms:.0f} ms > {limit:g} ms")


def _max_tokens(spec, out):
    limit = _limit(spec, "max-tokens")
    return _binary(out.completion_tokens <= limit, f"{out.completion_tokens} tokens ≤ {limit:g}",
                   f"{out.completion_tokens} tokens > {limit:g}")


def perplexity(logprobs) -> float:
    return math.exp(-sum(logprobs) / len(logprobs))


def _perplexity(spec, out, *, as_score=False):
    if not out.logprobs:
        raise _Unavailable("no token logprobs for this output (it is empty)")
    value = perplexity(out.logprobs)
    if as_score:  # promptfoo's perplexity-score: 1 / perplexity, higher is better
        limit = spec.threshold if spec.threshold is not None else 0.0
        return 1 / value >= limit, 1 / value, f"perplexity score {1 / value:.3f} (perplexity {value:.2f})", {}
    limit = _limit(spec, "perplexity")
    return _binary(value <= limit, f"perplexity {value:.2f} ≤ {limit:g}", f"perplexity {value:.2f} > {limit:g}")


def _llm_rubric(spec, out):
    if out.judge is None:
        raise _Unavailable("llm-rubric needs a judge: give the assertion a `provider:` preset, or the suite "
                           "options.judge, or --judge")
    result = out.judge(spec, out)
    return result.passed, result.score, result.reason, result.details


def _python(spec, out):
    if not out.allow_code:
        raise _Unavailable("python assertions run code: start the run with --allow-code to allow it")
    from .pycode import run_python_assertion

    return run_python_assertion(str(spec.value), out.text, {"vars": out.vars, "prompt": out.prompt},
                                spec.threshold)


def _clip(value, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_CHECKS: dict[str, Callable] = {
    "equals": _equals,
    "contains": _contains,
    "icontains": lambda s, o: _contains(s, o, fold=True),
    "contains-any": lambda s, o: _contains(s, o, mode="any"),
    "contains-all": lambda s, o: _contains(s, o, mode="all"),
    "icontains-any": lambda s, o: _contains(s, o, fold=True, mode="any"),
    "icontains-all": lambda s, o: _contains(s, o, fold=True, mode="all"),
    "starts-with": _starts_with,
    "regex": _regex,
    "is-json": _is_json,
    "contains-json": _contains_json,
    "levenshtein": _levenshtein,
    "similar": _similar,
    "finish-reason": _finish_reason,
    "latency": _latency,
    "max-tokens": _max_tokens,
    "perplexity": _perplexity,
    "perplexity-score": lambda s, o: _perplexity(s, o, as_score=True),
    "llm-rubric": _llm_rubric,
    "python": _python,
}
assert set(_CHECKS) == {t for t in ASSERTION_TYPES if not t.startswith("not-")}
