"""Every assertion type on fixed outputs: verdicts, scores, reasons, negation, weights and thresholds, and python
assertions that run only when code is allowed (in a real child process)."""

from __future__ import annotations

import math

import pytest

from workbench.evals.assertions import ASSERTION_TYPES, CellOutput, evaluate, levenshtein, verdict
from workbench.evals.records import AssertionResult
from workbench.evals.suite import AssertionSpec


def check(kind: str, text: str, value=None, **kwargs) -> AssertionResult:
    output_fields = {k: kwargs.pop(k) for k in list(kwargs) if k in CellOutput.__dataclass_fields__}
    return evaluate(AssertionSpec(kind, value, **kwargs), CellOutput(text=text, **output_fields))


@pytest.mark.parametrize(("kind", "text", "value", "passed"), [
    ("equals", "Paris", "Paris", True),
    ("equals", "Paris ", "Paris", False),
    ("equals", '{"a": 1}', {"a": 1}, True),
    ("contains", "The capital is Paris.", "Paris", True),
    ("contains", "The capital is paris.", "Paris", False),
    ("icontains", "The capital is paris.", "PARIS", True),
    ("contains-any", "Roma!", ["Rome", "Roma"], True),
    ("contains-any", "Milan", "Rome, Roma", False),
    ("contains-all", "Rome and Roma", ["Rome", "Roma"], True),
    ("contains-all", "Rome", ["Rome", "Roma"], False),
    ("icontains-any", "ROME", ["rome"], True),
    ("icontains-all", "ROME roma", ["rome", "Roma"], True),
    ("starts-with", " Paris", "Paris", False),
    ("starts-with", "Paris is", "Paris", True),
    ("regex", "order 12345 shipped", r"\d{5}", True),
    ("regex", "no digits", r"\d+", False),
    ("not-contains", "Paris", "Lyon", True),
    ("not-contains", "Lyon", "Lyon", False),
    ("not-icontains", "LYON", "lyon", False),
    ("not-regex", "abc", r"\d", True),
    ("is-json", '{"name": "Ann", "age": 3}', None, True),
    ("is-json", 'Sure! {"name": "Ann"}', None, False),
    ("contains-json", 'Sure! {"name": "Ann"} done', None, True),
    ("contains-json", "no json here {", None, False),
    ("not-is-json", "plain", None, True),
    ("levenshtein", "kitten", "sitting", True),  # distance 3 ≤ default 5
    ("finish-reason", "x", "stop", True),
])
def test_deterministic_assertions(kind, text, value, passed):
    result = check(kind, text, value, finish_reason="stop")
    assert result.passed is passed, result.reason
    assert result.score == (1.0 if passed else 0.0) and result.type == kind and result.reason


def test_json_schema_checks_name_the_problem():
    schema = {"type": "object", "required": ["name", "age"], "properties": {"age": {"type": "integer"}}}
    good = check("is-json", '{"name": "Ann", "age": 31}', schema)
    bad = check("is-json", '{"name": "Ann", "age": "old"}', schema)
    assert good.passed and not bad.passed and "'old' is not of type 'integer'" in bad.reason
    yaml_schema = "type: object\nrequired: [name]\n"
    assert check("contains-json", 'x {"age": 1} y {"name": "B"}', yaml_schema).passed  # the second object fits
    assert not check("contains-json", 'x {"age": 1}', yaml_schema).passed


def test_levenshtein_distance_and_threshold():
    assert levenshtein("kitten", "sitting") == 3 and levenshtein("", "abc") == 3 and levenshtein("same", "same") == 0
    assert not check("levenshtein", "kitten", "sitting", threshold=2).passed
    assert "edit distance 3 > 2" in check("levenshtein", "kitten", "sitting", threshold=2).reason


def test_measured_figures():
    assert check("latency", "x", threshold=500, latency_ms=120.0).passed
    assert not check("latency", "x", threshold=100, latency_ms=120.0).passed
    assert check("max-tokens", "x", 8, completion_tokens=8).passed
    assert not check("max-tokens", "x", 8, completion_tokens=9).passed
    logprobs = (math.log(0.5), math.log(0.25))  # perplexity = exp(-(ln .5 + ln .25) / 2) = 2.828…
    assert check("perplexity", "x", threshold=3.0, logprobs=logprobs).passed
    low = check("perplexity", "x", threshold=2.5, logprobs=logprobs)
    assert not low.passed and "perplexity 2.83 > 2.5" in low.reason
    score = check("perplexity-score", "x", threshold=0.3, logprobs=logprobs)
    assert score.passed and score.score == pytest.approx(1 / 2 ** 1.5)
    assert "no token logprobs" in check("perplexity", "", threshold=3).reason


def test_similar_uses_the_embedding_service():
    vectors = {"cat": [1.0, 0.0], "kitten": [0.8, 0.6], "car": [0.0, 1.0]}
    seen = []

    def embed(texts, provider):
        seen.append((texts, provider))
        return [vectors[t] for t in texts]

    assert check("similar", "cat", "kitten", threshold=0.75, embed=embed).score == pytest.approx(0.8)
    assert not check("similar", "cat", ["car"], embed=embed).passed
    assert check("not-similar", "cat", "car", embed=embed).passed
    assert seen[0] == (["cat", "kitten"], None)
    assert "embeddings" in check("similar", "cat", "kitten").reason  # no engine: fails, saying why


def test_weights_and_thresholds_decide_a_test():
    results = [AssertionResult("a", True, 1.0, "", weight=2), AssertionResult("b", False, 0.0, "", weight=1),
               AssertionResult("c", False, 0.0, "", weight=0)]
    assert verdict(results, None) == (False, pytest.approx(2 / 3))  # without a threshold every weighted one must pass
    assert verdict(results, 0.6) == (True, pytest.approx(2 / 3))
    assert verdict(results[:1] + results[2:], None) == (True, 1.0)  # weight 0: reported, never decisive
    assert verdict([], None) == (True, 1.0)


def test_python_assertions_run_only_when_allowed():
    refused = check("python", "hello", "output == 'hello'")
    assert not refused.passed and "--allow-code" in refused.reason
    assert check("python", "hello", "output == 'hello'", allow_code=True).passed
    body = "words = output.split()\nreturn {'pass': len(words) == 2, 'score': 0.5, 'reason': f'{len(words)} words'}"
    result = check("python", "two words", body, allow_code=True)
    assert result.passed and result.score == 0.5 and result.reason == "2 words"
    func = "def get_assert(output, context):\n    return len(output) / 10\n"
    assert check("python", "12345", func, threshold=0.5, allow_code=True).passed
    crash = check("python", "x", "1 / 0", allow_code=True)
    assert not crash.passed and "ZeroDivisionError" in crash.reason
    var = check("python", "Ann", "output == context['vars']['name']", allow_code=True, vars={"name": "Ann"})
    assert var.passed


def test_the_registry_has_every_type_the_issue_lists():
    for kind in ("equals", "contains", "icontains", "contains-any", "contains-all", "starts-with", "regex",
                 "not-contains", "not-regex", "is-json", "contains-json", "levenshtein", "similar", "latency",
                 "max-tokens", "perplexity", "finish-reason", "llm-rubric", "python"):
        assert kind in ASSERTION_TYPES
    assert "javascript" not in ASSERTION_TYPES
