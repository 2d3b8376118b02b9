"""The engine on a real model (gemma-3-270m Q4_K_M): batch invariance, prefix reuse, sliding-window fallback.

Reproducible mode's promise — a request's output does not depend on what else runs — is checked token for
token: one request alone, then the same request while 7 others of different lengths arrive mid-flight.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from tests.test_engine_mechanics import scheduler_held
from workbench.engine import GenerationRequest, LoadOptions, Runtime, SamplingParams, TextEvent
from workbench.settings import Settings

pytestmark = pytest.mark.gemma

TARGET = "The history of the Roman Empire"
OTHERS = [
    "Once upon a time",
    "def fibonacci(n):",
    "The best way to cook pasta is to " * 6,
    "Dear Sir,",
    "List of prime numbers: 2, 3, 5,",
    "In 1492, Columbus sailed the ocean blue. " * 12,
    "Question: what is the capital of France?\nAnswer:",
]
SAMPLINGS = {
    "greedy": SamplingParams(temperature=0),
    "seeded": SamplingParams(temperature=0.9, top_k=40, top_p=0.95, seed=1234),
}


@pytest.fixture(scope="module")
def runtime():
    rt = Runtime(Settings(keep_alive_seconds=-1, threads=2))
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def repro(runtime: Runtime, gemma_model_path: Path):
    return runtime.acquire(gemma_model_path, LoadOptions(n_ctx=1024, n_parallel=8, reproducible=True))


def request(prompt: str, sampling: SamplingParams, n: int = 80) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, max_tokens=n, sampling=sampling)


@pytest.mark.parametrize("name", sorted(SAMPLINGS))
def test_output_is_the_same_alone_and_among_seven_arriving_mid_flight(repro, name):
    sampling = SAMPLINGS[name]
    alone = repro.generate(request(TARGET, sampling)).collect()[1]
    gen = repro.generate(request(TARGET, sampling))
    others = []
    for i, event in enumerate(gen):  # each newcomer arrives while the target is decoding
        if isinstance(event, TextEvent) and i % 4 == 2 and len(others) < len(OTHERS):
            others.append(repro.generate(request(OTHERS[len(others)], sampling, n=40 + 10 * len(others))))
    batched = gen.final
    finals = [g.collect()[1] for g in others]
    assert len(others) == 7 and all(f.finish_reason in ("length", "stop") for f in finals)
    assert alone.completion_tokens == 80
    assert alone.max_batch_sequences == 1 and batched.max_batch_sequences > 1  # it really shared decode steps
    assert batched.tokens == alone.tokens


def test_prefix_reuse_gives_the_same_answer_as_a_fresh_prefill(runtime, gemma_model_path):
    options = LoadOptions(n_ctx=2048, n_parallel=2, reproducible=True)
    history = ("A long conversation about the Roman Empire and its emperors. " * 30).strip()
    follow_up = history + " Now name three emperors:"
    greedy = SamplingParams(temperature=0)
    first = runtime.acquire(gemma_model_path, options)
    fresh = first.generate(request(follow_up, greedy, 32)).collect()[1]
    assert fresh.cached_tokens == 0
    runtime.unload(first)
    model = runtime.acquire(gemma_model_path, options)
    model.generate(request(history, greedy, 16)).collect()
    history_tokens = model.tokenize(history)
    assert model.tokenize(follow_up)[: len(history_tokens)] == history_tokens
    reused = model.generate(request(follow_up, greedy, 32)).collect()[1]
    assert reused.cached_tokens == len(history_tokens)
    assert reused.prefilled_tokens == len(model.tokenize(follow_up)) - len(history_tokens) == 5
    assert reused.tokens == fresh.tokens
    runtime.unload(model)


def test_sliding_window_cache_falls_back_to_a_full_prefill_when_the_window_is_gone(runtime, gemma_model_path):
    # a ring-sized window cache (swa_full=False): 512-token window + 256 ubatch → 768 cells per sequence
    options = LoadOptions(n_ctx=1536, n_parallel=1, n_ubatch=256, reproducible=True, swa_full=False)
    long_text = "".join(f"Line {i}: the quick brown fox jumps over the lazy dog. " for i in range(72))
    model = runtime.acquire(gemma_model_path, options)
    tokens = model.tokenize(long_text)
    assert 1050 < len(tokens) < 1250
    short = model.detokenize(tokens[1:200]) + " And finally,"
    near = model.detokenize(tokens[1:1000]) + " And finally,"
    greedy = SamplingParams(temperature=0)
    expected = {}
    for prompt in (short, near):  # answers from a fresh cache
        runtime.unload(model)
        model = runtime.acquire(gemma_model_path, options)
        expected[prompt] = model.generate(request(prompt, greedy, 16)).collect()[1].tokens
    for prompt, reusable in ((short, False), (near, True)):
        runtime.unload(model)
        model = runtime.acquire(gemma_model_path, options)
        model.generate(request(long_text, greedy, 4)).collect()  # fills and wraps the window ring
        final = model.generate(request(prompt, greedy, 16)).collect()[1]
        if reusable:  # the ring still holds the 512 positions before the divergence point (~1000)
            assert final.cached_tokens > 900
        else:  # the ring overwrote positions 0..~350: only a full prefill is correct
            assert final.cached_tokens == 0
        assert final.tokens == expected[prompt]
    runtime.unload(model)


KV_CACHE_LINE = re.compile(r"llama_kv_cache: size = .*K \((\w+)\): +([\d.]+) MiB, V \((\w+)\): +([\d.]+) MiB")


def kv_caches(caplog, load) -> tuple[set[str], float, object]:
    """Load a model, reading llama.cpp's own report of its KV caches: (element types, total MiB, model)."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="workbench.engine.llama"):
        model = load()
    found = [KV_CACHE_LINE.search(r.getMessage()) for r in caplog.records]
    caches = [m.groups() for m in found if m]
    assert caches, "llama.cpp did not report its KV cache"
    return {t for k, _, v, _ in caches for t in (k, v)}, sum(float(k) + float(v) for _, k, _, v in caches), model


def test_throughput_mode_serves_concurrent_requests_with_a_quantized_cache(runtime, gemma_model_path, caplog):
    f16 = LoadOptions(n_ctx=512, n_parallel=4, reproducible=False)
    f16_types, f16_mib, plain = kv_caches(caplog, lambda: runtime.acquire(gemma_model_path, f16))
    runtime.unload(plain)
    options = LoadOptions(n_ctx=512, n_parallel=4, reproducible=False, type_k="q8_0", type_v="q8_0")
    types, mib, model = kv_caches(caplog, lambda: runtime.acquire(gemma_model_path, options))
    assert f16_types == {"f16"} and types == {"q8_0"}
    assert 0.5 < mib / f16_mib < 0.56  # q8_0 stores 34 bytes per 32 values, f16 64
    assert model.memory_bytes < plain.memory_bytes  # and the model's reported footprint says so
    assert model.options.flash_attn == "auto"
    with scheduler_held(model):  # all six wait, then run four at a time
        gens = [model.generate(request(p, SamplingParams(seed=7), 24)) for p in OTHERS[:6]]
    results = [g.collect() for g in gens]
    assert all(final.completion_tokens > 0 and text for text, final in results)
    assert all(final.finish_reason in ("length", "stop") for _, final in results)
    assert all(final.max_batch_sequences > 1 for _, final in results)  # each decoded beside others
    runtime.unload(model)


def test_gemma_json_schema_output_parses(repro):
    import json

    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}}, "required": ["city"]}
    sampling = SamplingParams(temperature=0, json_schema=schema)
    prompt = "Question: what is the capital of France? Answer in JSON.\nAnswer:"
    text, final = repro.generate(GenerationRequest(prompt=prompt, max_tokens=40, sampling=sampling)).collect()
    assert final.finish_reason == "stop"
    assert isinstance(json.loads(text)["city"], str)
