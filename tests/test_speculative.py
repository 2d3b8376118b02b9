"""Speculative decoding on the tiny model: lookup and draft-model drafts change nothing in the output.

Every test runs the same request with speculation off and on, in reproducible mode, and compares tokens, text,
logprobs and finish reasons; each also checks that drafts were really verified (drafted > 0), so a run where
nothing was drafted cannot pass for one where drafting changed nothing.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests import tinymodel
from workbench.engine import (
    GenerationRequest,
    LoadOptions,
    Runtime,
    SamplingParams,
    Speculation,
    TextEvent,
    ThinkingBudget,
)
from workbench.engine.speculative import DraftControl, LookupDrafter
from workbench.errors import InvalidParameter
from workbench.settings import Settings

GREEDY = SamplingParams(temperature=0)
SEEDED = SamplingParams(seed=1234, temperature=0.7)
LOOKUP = Speculation(mode="lookup")
REPEATING = "<|user|>" + "the cat sat on the mat; " * 12 + "<|end|><|assistant|>"


@pytest.fixture(scope="module")
def runtime():
    rt = Runtime(Settings(keep_alive_seconds=-1))
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def tiny(runtime: Runtime, tiny_model_path: Path):
    return runtime.acquire(tiny_model_path, LoadOptions(n_ctx=1024, n_parallel=8, reproducible=True, speculative=True))


def run(model, prompt: str = REPEATING, **fields):
    """(text, final event, every TextEvent's logprobs) of one request."""
    logprobs = []
    text = []
    generation = model.generate(GenerationRequest(prompt=prompt, **fields))
    for event in generation:
        if isinstance(event, TextEvent):
            text.append(event.text)
            logprobs.extend(event.logprobs)
    return "".join(text), generation.final, logprobs


def same_with_and_without(model, **fields):
    """Run with speculation off, then on; assert the outputs are identical; return the speculating run's final."""
    plain_text, plain, plain_lp = run(model, **fields)
    spec_text, spec, spec_lp = run(model, speculation=LOOKUP, **fields)
    assert spec.tokens == plain.tokens
    assert spec_text == plain_text
    assert spec_lp == plain_lp
    assert (spec.finish_reason, spec.stop_sequence) == (plain.finish_reason, plain.stop_sequence)
    assert spec.drafted_tokens > 0 and spec.accepted_tokens > 0
    assert plain.drafted_tokens == 0
    return spec


@pytest.mark.parametrize("sampling", [GREEDY, SEEDED], ids=["greedy", "seeded"])
def test_lookup_output_is_token_for_token_the_plain_output(tiny, sampling):
    final = same_with_and_without(tiny, sampling=sampling, max_tokens=160)
    assert final.completion_tokens == 160
    assert 0 < final.acceptance_rate <= 1


def test_grammar_logprobs_and_stop_strings_hold_while_speculating(tiny):
    sampling = SamplingParams(temperature=0, grammar='root ::= ("ab" [a-c] " ")+ "end"')
    final = same_with_and_without(tiny, sampling=sampling, max_tokens=120, logprobs=2)
    assert final.finish_reason == "length"
    text, _, _ = run(tiny, sampling=GREEDY, max_tokens=120)
    start = next(i for i in range(40, len(text)) if text.find(text[i : i + 5]) == i)  # first seen late in the text
    stop = text[start : start + 5]
    final = same_with_and_without(tiny, sampling=GREEDY, max_tokens=120, logprobs=2, stop=(stop,))
    assert final.finish_reason == "stop" and final.stop_sequence == stop


def test_max_tokens_is_exact_while_drafts_run_ahead(tiny):
    for limit in (1, 2, 7, 33, 61):
        assert run(tiny, sampling=GREEDY, max_tokens=limit, speculation=LOOKUP)[1].completion_tokens == limit
    assert same_with_and_without(tiny, sampling=GREEDY, max_tokens=61).completion_tokens == 61


def test_thinking_budget_closes_at_the_same_token(tiny):
    budget = ThinkingBudget(tokens=20, close="</think>", end="</think>")
    final = same_with_and_without(tiny, sampling=GREEDY, max_tokens=80, thinking_budget=budget)
    assert "</think>" in tiny.detokenize(final.tokens)


def test_the_same_beside_seven_other_streams_arriving_mid_flight(tiny):
    _, alone, _ = run(tiny, sampling=SEEDED, max_tokens=150)
    under_way, finished, events = threading.Event(), threading.Event(), []

    def sink(event) -> None:  # runs on the scheduler thread
        events.append(event)
        if isinstance(event, TextEvent):
            if event.completion_tokens >= 10:
                under_way.set()
        else:
            finished.set()

    target = tiny.generate(GenerationRequest(prompt=REPEATING, sampling=SEEDED, max_tokens=150,
                                             speculation=LOOKUP), sink=sink)  # (dropping it would cancel it)
    assert under_way.wait(60)  # the speculating stream is under way; now 7 more join it, some speculating too
    others = [tiny.generate(GenerationRequest(prompt=REPEATING + "x" * i, sampling=SEEDED, max_tokens=60,
                                              speculation=LOOKUP if i % 2 else None)) for i in range(7)]
    for other in others:
        assert other.collect()[1].finish_reason == "length"
    assert finished.wait(60)
    final = events[-1]
    assert final.tokens == alone.tokens
    assert final.drafted_tokens > 0
    assert final.max_batch_sequences > 1  # it really shared decodes with the others
    del target


def test_tiny_model_as_its_own_draft_gives_the_same_output(runtime, tiny_model_path):
    model = runtime.acquire(tiny_model_path, LoadOptions(n_ctx=512, n_parallel=2, reproducible=True, speculative=True,
                                                         draft_path=str(tiny_model_path)))
    assert model.draft_name == tiny_model_path.name
    draft = Speculation(mode="draft", draft_p_min=0.0)
    for sampling in (GREEDY, SEEDED):
        plain_text, plain, _ = run(model, prompt="<|user|>hello<|end|><|assistant|>", sampling=sampling,
                                   max_tokens=64)
        text, final, _ = run(model, prompt="<|user|>hello<|end|><|assistant|>", sampling=sampling, max_tokens=64,
                             speculation=draft)
        assert (text, final.tokens) == (plain_text, plain.tokens)
        assert final.drafted_tokens > 0
    # without penalties (which the draft does not apply) greedy drafts of the same weights are the target's choices
    plain_greedy = SamplingParams(temperature=0, repeat_penalty=1.0)
    assert run(model, sampling=plain_greedy, max_tokens=64, speculation=draft)[1].acceptance_rate > 0.9


def test_a_draft_model_with_another_vocabulary_is_refused(runtime, tiny_model_path, tmp_path, monkeypatch):
    tokens, types = tinymodel._vocab()
    tokens[100], tokens[101] = tokens[101], tokens[100]  # same size and type, two token texts swapped
    monkeypatch.setattr(tinymodel, "_vocab", lambda: (tokens, types))
    other = tinymodel.write_tiny_model(tmp_path / "other-vocab.gguf")
    with pytest.raises(InvalidParameter, match=r"token 100 is .* in it but .* in the target"):
        runtime.acquire(tiny_model_path, LoadOptions(n_ctx=256, n_parallel=1, draft_path=str(other)))


def test_draft_mode_without_a_draft_model_is_a_clear_error(tiny):
    with pytest.raises(InvalidParameter, match="without a draft model"):
        tiny.generate(GenerationRequest(prompt="hi", speculation=Speculation(mode="draft")))


def test_speculation_parameters_are_checked():
    with pytest.raises(InvalidParameter, match="draft_max"):
        Speculation(draft_max=0)
    with pytest.raises(InvalidParameter, match="draft_min"):
        Speculation(draft_max=4, draft_min=5)
    with pytest.raises(InvalidParameter, match="lookup or draft"):
        Speculation(mode="eagle")


def test_lookup_proposes_what_followed_the_latest_match():
    drafter = LookupDrafter([1, 2, 3, 4, 5, 9, 2, 3, 7, 8], ngram=3)
    drafter.extend([1, 2, 3])
    assert drafter.propose(3) == [4, 5, 9]  # the longest n-gram first: "1 2 3" was followed by 4 5 9
    drafter.extend([6, 2, 3])
    assert drafter.propose(3) == [6, 2, 3]  # no earlier "6 2 3": what followed the latest earlier "2 3"
    assert LookupDrafter([1, 2, 3], ngram=3).propose(4) == []
    assert LookupDrafter([5, 7, 9, 5], ngram=3).guess() == [7]  # the one-token guess for a free row
    assert LookupDrafter([5, 7, 9], ngram=3).guess() == []


def test_draft_length_adapts_and_drafting_pauses_after_misses():
    control = DraftControl(Speculation(draft_max=8))
    start = control.limit()
    control.record(start, start)
    assert control.limit() == start + 2
    control.record(6, 2)
    assert control.limit() == 3
    for _ in range(3):
        control.record(3, 0)
    assert [control.limit() for _ in range(8)] == [0] * 8  # paused …
    assert control.limit() == 1  # … then tries again with a short draft
