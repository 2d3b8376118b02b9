"""Engine mechanics on the tiny model: streaming, stops, UTF-8, limits, cancel, queue, prefix reuse, grammar."""

from __future__ import annotations

import contextlib
import gc
import json
import threading
from pathlib import Path

import jsonschema
import pytest

from tests import tinymodel
from workbench.engine import FinalEvent, GenerationRequest, LoadOptions, Runtime, SamplingParams, TextEvent
from workbench.engine.scheduler import common_prefix
from workbench.errors import ContextLengthExceeded, InvalidParameter, QueueFull
from workbench.settings import Settings

GREEDY = SamplingParams(temperature=0)


def wait_until(predicate, timeout: float = 20.0) -> bool:
    """Poll a real condition with a deadline (never a bare sleep)."""
    tick = threading.Event()
    for _ in range(int(timeout / 0.005)):
        if predicate():
            return True
        tick.wait(0.005)
    return predicate()


@contextlib.contextmanager
def scheduler_held(model):
    """Hold `model`'s scheduler thread while the block runs: requests submitted inside it all wait, and start
    together when it ends (so a test can know they shared decode steps, not just hope so).

    The hold is a one-token request whose event sink blocks — sinks run on the scheduler thread and must
    never block, which is exactly what makes this a hold.
    """
    inside, release = threading.Event(), threading.Event()

    def hold(_event) -> None:
        inside.set()
        release.wait(60)

    holder = model.generate(GenerationRequest(prompt="hold", max_tokens=1), sink=hold)
    assert inside.wait(60)
    try:
        yield
    finally:
        release.set()
        del holder


@pytest.fixture(scope="module")
def runtime():
    rt = Runtime(Settings(keep_alive_seconds=-1), max_queue=1)
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def tiny(runtime: Runtime, tiny_model_path: Path):
    return runtime.acquire(tiny_model_path, LoadOptions(n_ctx=512, n_parallel=2, reproducible=False))


def chat_prompt(turns: list[tuple[str, str]], generation_prompt: bool = True) -> str:
    text = "".join(f"<|{role}|>{content}<|end|>" for role, content in turns)
    return text + ("<|assistant|>" if generation_prompt else "")


def test_streams_text_then_one_final_event(tiny):
    events = list(tiny.generate(GenerationRequest(prompt="Hello", max_tokens=12, sampling=GREEDY)))
    assert all(isinstance(e, TextEvent) for e in events[:-1]) and isinstance(events[-1], FinalEvent)
    final = events[-1]
    assert final.finish_reason == "length" and final.completion_tokens == 12 == len(final.tokens)
    assert final.prompt_tokens == len(tiny.tokenize("Hello")) == 6  # BOS + 5 bytes
    assert "".join(e.text for e in events[:-1]) == tiny.detokenize(final.tokens)
    assert final.ttft_seconds is not None and final.ttft_seconds >= 0 and final.decode_tokens_per_second > 0


def test_greedy_is_deterministic_and_seeded_sampling_reproducible(tiny):
    def run(sampling):
        return tiny.generate(GenerationRequest(prompt="Once", max_tokens=40, sampling=sampling)).collect()[1]

    assert run(GREEDY).tokens == run(GREEDY).tokens
    seeded = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, seed=42)
    first = run(seeded)
    assert first.seed == 42 and first.tokens == run(seeded).tokens
    assert len({run(SamplingParams(temperature=1.0, top_k=0, top_p=1.0, seed=s)).tokens for s in range(4)}) > 1
    unseeded = run(SamplingParams(temperature=1.0))
    assert unseeded.seed is not None  # the random seed is reported, so the answer can be replayed
    assert run(SamplingParams(temperature=1.0, seed=unseeded.seed)).tokens == unseeded.tokens


def test_all_sampler_options_build_and_run(tiny):
    variants = [
        SamplingParams(temperature=0.7, top_k=10, top_p=0.8, min_p=0.05, typical_p=0.9, seed=1),
        SamplingParams(repeat_penalty=1.3, repeat_last_n=-1, presence_penalty=0.5, frequency_penalty=0.5, seed=1),
        SamplingParams(top_k=0, repeat_penalty=1.2, seed=1),
        SamplingParams(mirostat=1, mirostat_tau=4.0, mirostat_eta=0.2, seed=1),
        SamplingParams(mirostat=2, seed=1),
    ]
    for sampling in variants:
        final = tiny.generate(GenerationRequest(prompt="Hi", max_tokens=16, sampling=sampling)).collect()[1]
        assert final.finish_reason == "length" and final.completion_tokens == 16


def test_logit_bias_forces_eos_and_bans_tokens(tiny):
    stop = SamplingParams(temperature=0, logit_bias={tinymodel.EOS_ID: 100.0})
    final = tiny.generate(GenerationRequest(prompt="Hello", max_tokens=16, sampling=stop)).collect()[1]
    assert final.finish_reason == "stop" and final.completion_tokens == 0 and final.stop_sequence is None
    greedy = tiny.generate(GenerationRequest(prompt="Hello", max_tokens=8, sampling=GREEDY)).collect()[1]
    banned = SamplingParams(temperature=0, logit_bias={greedy.tokens[0]: float("-inf")})
    other = tiny.generate(GenerationRequest(prompt="Hello", max_tokens=8, sampling=banned)).collect()[1]
    assert greedy.tokens[0] not in other.tokens[:1]
    with pytest.raises(InvalidParameter):
        tiny.generate(GenerationRequest(prompt="x", sampling=SamplingParams(logit_bias={10**6: 1.0})))


def test_ignore_eos_runs_to_max_tokens_even_when_eos_is_favoured(tiny):
    assert tinymodel.EOS_ID in tiny.vocab.eog_tokens
    both = SamplingParams(temperature=0, logit_bias={tinymodel.EOS_ID: 100.0}, ignore_eos=True)
    final = tiny.generate(GenerationRequest(prompt="Hello", max_tokens=12, sampling=both)).collect()[1]
    assert final.finish_reason == "length" and final.completion_tokens == 12
    assert not set(final.tokens) & set(tiny.vocab.eog_tokens)


def test_grammar_forces_multibyte_text_that_streams_unbroken(tiny):
    text = "héllo wörld 😀 東京"
    grammar = 'root ::= "' + text + '"'
    gen = tiny.generate(GenerationRequest(prompt="x", max_tokens=64, sampling=SamplingParams(grammar=grammar)))
    events = list(gen)
    pieces = [e.text for e in events if isinstance(e, TextEvent)]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)
    final = events[-1]
    assert final.finish_reason == "stop"  # grammar complete → only end-of-generation tokens remain
    assert final.completion_tokens == len(text.encode()) > len(text)  # byte tokens: characters span tokens


def test_stop_string_split_across_tokens_is_caught(tiny):
    grammar = 'root ::= "abc STX STOP tail"'
    request = GenerationRequest(prompt="x", max_tokens=64, stop=("STOP",), sampling=SamplingParams(grammar=grammar))
    text, final = tiny.generate(request).collect()
    assert text == "abc STX "  # the partial "ST" of STX was held back, then released
    assert final.finish_reason == "stop" and final.stop_sequence == "STOP"


def test_json_schema_output_parses_and_validates(tiny):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 8}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    for seed in range(3):
        sampling = SamplingParams(temperature=1.0, seed=seed, json_schema=schema)
        text, final = tiny.generate(GenerationRequest(prompt="x", max_tokens=200, sampling=sampling)).collect()
        assert final.finish_reason == "stop"
        jsonschema.validate(json.loads(text), schema)


def test_json_schema_strings_hold_no_raw_control_characters(tiny):
    """JSON forbids a raw newline inside a string; llama-cpp-python's converter let one in."""
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    for seed in range(40):
        sampling = SamplingParams(temperature=1.0, seed=seed, json_schema=schema)
        text, final = tiny.generate(GenerationRequest(prompt="x", max_tokens=300, sampling=sampling)).collect()
        if final.finish_reason == "stop":
            assert isinstance(json.loads(text)["city"], str), text


def test_gbnf_alternatives_and_bad_grammar(tiny):
    sampling = SamplingParams(temperature=1.0, seed=3, grammar='root ::= "yes" | "no"')
    text, _ = tiny.generate(GenerationRequest(prompt="?", max_tokens=10, sampling=sampling)).collect()
    assert text in ("yes", "no")
    with pytest.raises(InvalidParameter, match="grammar"):
        tiny.generate(GenerationRequest(prompt="?", sampling=SamplingParams(grammar="root ::= (")))


def test_prompt_over_the_context_raises_before_decoding(tiny):
    with pytest.raises(ContextLengthExceeded) as err:
        tiny.generate(GenerationRequest(prompt="a" * 600))
    assert err.value.prompt_tokens == 601 and err.value.limit == 512
    with pytest.raises(InvalidParameter):
        tiny.generate(GenerationRequest(prompt="", add_bos=False))


def test_generation_reaching_the_context_end_stops_with_length(tiny):
    final = tiny.generate(GenerationRequest(prompt="a" * 500, sampling=GREEDY)).collect()[1]
    assert final.finish_reason == "length"
    # 512 cells hold the prompt and every generated token but the last (which is sampled, never decoded)
    assert final.prompt_tokens + final.completion_tokens == 512 + 1


def test_prompt_tokens_and_special_token_parsing(tiny):
    text = chat_prompt([("user", "hi")])
    assert tiny.tokenize(text, parse_special=True) == [
        tinymodel.BOS_ID, tinymodel.USER_ID, ord("h"), ord("i"), tinymodel.END_ID, tinymodel.ASSISTANT_ID
    ]
    assert tiny.detokenize(tiny.tokenize(text, parse_special=True), render_special=True) == "<s>" + text
    final = tiny.generate(GenerationRequest(prompt_tokens=(tinymodel.BOS_ID, 72), max_tokens=2)).collect()[1]
    assert final.prompt_tokens == 2
    assert tiny.bos_token == "<s>" and tiny.eos_token == "</s>" and "<|assistant|>" in tiny.chat_template
    assert tiny.n_ctx_train == tinymodel.CONTEXT_LENGTH and tiny.n_vocab == tinymodel.N_VOCAB


@pytest.mark.parametrize("reproducible", [False, True])
def test_second_chat_turn_prefills_only_its_new_tokens(runtime, tiny_model_path, reproducible):
    model = runtime.acquire(tiny_model_path, LoadOptions(n_ctx=1024, n_parallel=2, reproducible=reproducible))
    turn1 = chat_prompt([("system", "You are terse."), ("user", "Tell me a story about a cat.")])
    answer, first = model.generate(GenerationRequest(prompt=turn1, max_tokens=30, sampling=GREEDY)).collect()
    turn1_tokens = model.tokenize(turn1, parse_special=True)
    assert first.cached_tokens < len(turn1_tokens)
    turn2 = turn1 + answer + "<|end|><|user|>And then?<|end|><|assistant|>"
    turn2_tokens = model.tokenize(turn2, parse_special=True)
    second = model.generate(GenerationRequest(prompt=turn2, max_tokens=5, sampling=GREEDY)).collect()[1]
    assert second.prompt_tokens == len(turn2_tokens)
    if reproducible:  # only tokens computed as prompt are reused (docs/design.md §4.5, point 3)
        assert second.cached_tokens == len(turn1_tokens)
    else:  # the history and the generated answer, up to where re-tokenizing the answer diverges
        assert second.cached_tokens == common_prefix(turn1_tokens + list(first.tokens[:-1]), turn2_tokens)
        assert second.cached_tokens > len(turn1_tokens)
    assert second.prefilled_tokens == len(turn2_tokens) - second.cached_tokens
    runtime.unload(model)


def test_cancel_frees_the_slot_for_the_queued_request(runtime, tiny_model_path):
    model = runtime.acquire(tiny_model_path, LoadOptions(n_ctx=4096, n_parallel=1, reproducible=False))
    long = model.generate(GenerationRequest(prompt="a", sampling=GREEDY))  # would run to the context end
    queued = model.generate(GenerationRequest(prompt="b", max_tokens=5, sampling=GREEDY))
    assert isinstance(next(long), TextEvent)  # it is running
    long.cancel()
    _, final = queued.collect()  # the queued request gets the freed slot and completes
    assert final.finish_reason == "length" and final.completion_tokens == 5
    rest = list(long)
    assert rest[-1].finish_reason == "cancelled" and rest[-1].completion_tokens < 4000
    runtime.unload(model)


def test_closing_or_dropping_a_generation_cancels_it(runtime, tiny_model_path):
    model = runtime.acquire(tiny_model_path, LoadOptions(n_ctx=4096, n_parallel=1, reproducible=False))
    with model.generate(GenerationRequest(prompt="a", sampling=GREEDY)) as gen:
        next(gen)
    assert model.generate(GenerationRequest(prompt="b", max_tokens=3)).collect()[1].finish_reason == "length"
    dropped = model.generate(GenerationRequest(prompt="a", sampling=GREEDY))
    next(dropped)
    del dropped
    gc.collect()
    assert model.generate(GenerationRequest(prompt="b", max_tokens=3)).collect()[1].finish_reason == "length"
    assert wait_until(lambda: not model.busy)
    runtime.unload(model)


def test_queue_bound_is_enforced(runtime, tiny_model_path):
    model = runtime.acquire(tiny_model_path, LoadOptions(n_ctx=4096, n_parallel=1, reproducible=False))
    running = model.generate(GenerationRequest(prompt="a", sampling=GREEDY))
    waiting = model.generate(GenerationRequest(prompt="b", max_tokens=2))  # max_queue=1: the queue is full now
    with pytest.raises(QueueFull):
        model.generate(GenerationRequest(prompt="c", max_tokens=2))
    running.cancel()
    assert waiting.collect()[1].finish_reason == "length"
    assert running.collect()[1].finish_reason == "cancelled"
    runtime.unload(model)


def test_many_concurrent_requests_all_complete_sharing_decode_steps(runtime, tiny_model_path):
    rt = Runtime(Settings(keep_alive_seconds=-1), max_queue=32)
    try:
        model = rt.acquire(tiny_model_path, LoadOptions(n_ctx=256, n_parallel=4, reproducible=False))
        alone = model.generate(GenerationRequest(prompt="p", max_tokens=3)).collect()[1]
        with scheduler_held(model):  # all 12 are waiting when the scheduler resumes
            gens = [model.generate(GenerationRequest(prompt="p" * (i + 1), max_tokens=10 + i)) for i in range(12)]
        finals = [g.collect()[1] for g in gens]
        assert [f.completion_tokens for f in finals] == [10 + i for i in range(12)]
        assert alone.max_batch_sequences == 1
        # 4 slots: the first four decode together, each later one joins requests still running
        assert max(f.max_batch_sequences for f in finals) == 4 and min(f.max_batch_sequences for f in finals) > 1
        assert not model.busy
    finally:
        rt.close()
