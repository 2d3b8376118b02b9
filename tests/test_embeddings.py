"""Embeddings: pooled, unit-length vectors on their own context over a loaded model (tiny and gemma).

The model is loaded by the engine's own loader (`native.load_model`), or by a real Runtime for `LoadedModel.embed`.
"""

from __future__ import annotations

import math

import pytest

from workbench.engine import GenerationRequest, LoadOptions, Runtime, SamplingParams, native
from workbench.engine.embeddings import Embedder, default_context_length
from workbench.errors import ContextLengthExceeded, EngineError, InvalidParameter
from workbench.settings import Settings

TEXTS = [
    "hello world",
    "The quick brown fox jumps over the lazy dog. " * 5,
    "a",
    "embeddings are vectors",
    "hello world",
]


@pytest.fixture(scope="module")
def tiny_model(tiny_model_path):
    model = native.load_model(tiny_model_path, gpu_layers=0, use_extra_bufts=True)
    yield model
    native.free_model(model)


@pytest.fixture(scope="module")
def gemma_model(gemma_model_path):
    model = native.load_model(gemma_model_path, gpu_layers=0, use_extra_bufts=True)
    yield model
    native.free_model(model)


def _max_diff(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def _cosine(a: list[float], b: list[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))  # both are unit vectors


def _check_basics(embedder: Embedder, n_embd: int) -> list[list[float]]:
    result = embedder.encode(TEXTS)
    assert len(result.vectors) == len(TEXTS)
    for vector in result.vectors:
        assert len(vector) == n_embd
        assert math.isclose(math.fsum(v * v for v in vector), 1.0, rel_tol=1e-5)
    assert result.vectors[0] == result.vectors[4]  # identical text, identical vector
    assert _max_diff(result.vectors[0], result.vectors[3]) > 1e-3  # different texts differ
    assert result.token_counts[2] < result.token_counts[1]
    assert result.total_tokens == sum(result.token_counts)
    assert not any(result.truncated)
    return result.vectors


def test_tiny_vectors_have_the_model_dimension_and_unit_length(tiny_model):
    with Embedder(tiny_model, threads=2) as embedder:
        assert embedder.n_embd == 64
        assert embedder.pooling_name == "mean"  # the GGUF names no pooling: mean
        _check_basics(embedder, 64)


def test_tiny_reproducible_batch_equals_one_at_a_time_exactly(tiny_model):
    with Embedder(tiny_model, reproducible=True) as embedder:
        batch = embedder.embed(TEXTS)
        singles = [embedder.embed([t])[0] for t in TEXTS]
        assert batch == singles
        assert embedder.embed(TEXTS) == batch  # and again, the same


def test_tiny_throughput_mode_packs_texts_into_one_decode_and_stays_close(tiny_model):
    with Embedder(tiny_model, reproducible=False, max_sequences=4) as embedder:
        assert embedder._groups([5, 5, 5, 5, 5]) == [[0, 1, 2, 3], [4]]
        assert embedder._groups([embedder.context_length, 1]) == [[0], [1]]
        batch = embedder.embed(TEXTS)
        singles = [embedder.embed([t])[0] for t in TEXTS]
    # Packed sequences round differently (kernels depend on the ubatch size); measured up to 4e-5 here.
    for packed, alone in zip(batch, singles, strict=True):
        assert _max_diff(packed, alone) < 1e-3


def test_over_long_text_is_truncated_or_raises(tiny_model):
    long_text = "word " * 200
    with Embedder(tiny_model, context_length=64) as embedder:
        result = embedder.encode([long_text, "short"])
        assert result.token_counts[0] == 64 and result.truncated == [True, False]
        with pytest.raises(ContextLengthExceeded) as err:
            embedder.encode(["short", long_text], truncate=False)
        assert err.value.limit == 64 and err.value.prompt_tokens > 64


def test_bad_input_is_a_typed_error(tiny_model):
    embedder = Embedder(tiny_model)
    for bad in ([], "a plain string", ["ok", 3]):
        with pytest.raises(InvalidParameter):
            embedder.encode(bad)
    embedder.close()
    embedder.close()  # idempotent
    with pytest.raises(EngineError, match="closed"):
        embedder.embed(["after close"])


@pytest.mark.gemma
def test_default_context_is_capped_by_the_logits_scratch(tiny_model, gemma_model):
    assert default_context_length(tiny_model) == 2048  # small vocabulary: the 2048 default
    assert default_context_length(gemma_model) == 512  # 262,144-token vocabulary: 1 MiB of logits per token


@pytest.mark.gemma
def test_gemma_embeddings(gemma_model):
    with Embedder(gemma_model, threads=2) as embedder:
        assert embedder.n_embd == 640
        batch = _check_basics(embedder, 640)
        assert batch == [embedder.embed([t])[0] for t in TEXTS[:4]] + [batch[0]]


@pytest.mark.gemma
def test_gemma_throughput_mode_is_close_to_one_at_a_time(gemma_model):
    with Embedder(gemma_model, threads=2, reproducible=False) as embedder:
        batch = embedder.embed(TEXTS)
        singles = [embedder.embed([t])[0] for t in TEXTS]
    # gemma's large activations amplify the kernels' batch-size rounding: measured cosine 0.998 (up to ~1e-2 per
    # component), against ~0.5-0.6 between different texts
    for packed, alone in zip(batch, singles, strict=True):
        assert _cosine(packed, alone) > 0.995
    assert _cosine(singles[0], singles[3]) < 0.9


# --- through the Runtime: the loaded model's weights back the embedding context too ----------------------------


@pytest.fixture
def runtime():
    rt = Runtime(Settings(threads=2, parallel_slots=2, default_context=256, keep_alive_seconds=-1))
    yield rt
    rt.close()


@pytest.mark.parametrize("reproducible", [True, False])
def test_loaded_model_embed_shares_the_runtime_model_and_generation_still_runs(runtime, tiny_model_path, reproducible):
    loaded = runtime.acquire(tiny_model_path, LoadOptions(reproducible=reproducible))
    request = GenerationRequest(prompt="Hello", sampling=SamplingParams(temperature=0), max_tokens=6)
    before, _ = loaded.generate(request).collect()
    generation = loaded.generate(request)  # running on the scheduler thread while we embed on this one
    result = loaded.embed(TEXTS)
    during, final = generation.collect()
    assert final.finish_reason == "length" and during == before
    assert len(result.vectors) == len(TEXTS) and all(len(v) == 64 for v in result.vectors)
    assert _max_diff(result.vectors[0], result.vectors[4]) < 1e-5  # packed: equal up to rounding
    if reproducible:  # the model's mode decides: one text per decode, so batch == one at a time exactly
        assert result.vectors == [loaded.embed([t]).vectors[0] for t in TEXTS]


def test_loaded_model_embed_after_unload_is_a_typed_error(runtime, tiny_model_path):
    loaded = runtime.acquire(tiny_model_path)
    assert runtime.unload(loaded) == 1
    with pytest.raises(EngineError, match="unloaded"):
        loaded.embed(["hello"])
