"""The tiny fixture model loads and generates through llama-cpp-python's high-level API (both paths).

These tests use `llama_cpp` directly on purpose: they check the fixture itself, not the engine.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import llama_cpp
import pytest

from tests import tinymodel


@pytest.fixture(scope="module")
def llm(tiny_model_path: Path):
    model = llama_cpp.Llama(str(tiny_model_path), n_ctx=256, n_threads=1, verbose=False)
    yield model
    model.close()


def test_deterministic_and_small(tmp_path: Path, tiny_model_path: Path):
    again = tinymodel.write_tiny_model(tmp_path / "again.gguf")
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(tiny_model_path.read_bytes()).digest()
    other = tinymodel.write_tiny_model(tmp_path / "other.gguf", seed=1)
    assert other.read_bytes() != again.read_bytes()
    assert 100_000 < tiny_model_path.stat().st_size < 1_000_000


def test_shape_and_metadata(llm: llama_cpp.Llama):
    assert llm.n_vocab() == tinymodel.N_VOCAB
    assert llm.n_ctx() == 256
    md = llm.metadata
    assert md["general.architecture"] == "llama"
    assert int(md["llama.attention.head_count"]) == 4
    assert int(md["llama.attention.head_count_kv"]) == 2  # grouped-query attention
    assert int(md["llama.context_length"]) == tinymodel.CONTEXT_LENGTH
    assert md["tokenizer.chat_template"] == tinymodel.CHAT_TEMPLATE
    assert llm.token_bos() == tinymodel.BOS_ID and llm.token_eos() == tinymodel.EOS_ID


def test_tokenizer_is_byte_level_with_one_merge_and_chat_tokens(llm: llama_cpp.Llama):
    assert llm.tokenize(b"Hi there", add_bos=False) == [72, 105, tinymodel.MERGED_ID, 104, 101, 114, 101]
    toks = llm.tokenize("<|user|>é<|end|>".encode(), add_bos=True, special=True)
    assert toks == [tinymodel.BOS_ID, tinymodel.USER_ID, 0xC3, 0xA9, tinymodel.END_ID]
    assert llm.detokenize(toks[2:4]).decode() == "é"


def test_generate_runs(llm: llama_cpp.Llama):
    llm.reset()
    gen = llm.generate(llm.tokenize(b"Hello"), temp=0.0)
    tokens = [next(gen) for _ in range(20)]
    gen.close()
    assert len(tokens) == 20 and all(0 <= t < tinymodel.N_VOCAB for t in tokens)


def test_create_completion_runs_to_max_tokens(llm: llama_cpp.Llama):
    out = llm.create_completion("Hello", max_tokens=24, temperature=0.0)
    assert out["choices"][0]["finish_reason"] == "length"
    assert out["usage"]["completion_tokens"] == 24
    # The suppressed byte tokens keep the text valid printable ASCII (docs/design.md §13).
    text = out["choices"][0]["text"]
    assert text.isascii() and all(c.isprintable() or c == "\n" for c in text)


def test_create_completion_runs_to_context_end(llm: llama_cpp.Llama):
    out = llm.create_completion("Hello", max_tokens=None, temperature=0.0)
    assert out["choices"][0]["finish_reason"] == "length"
    assert out["usage"]["total_tokens"] == 256


def test_seeded_sampling_varies_with_seed(llm: llama_cpp.Llama):
    def text(seed: int) -> str:
        return llm.create_completion("Hi", max_tokens=16, temperature=1.0, seed=seed)["choices"][0]["text"]

    texts = {text(s) for s in range(4)}
    assert len(texts) > 1
    assert text(2) == text(2)


def test_chat_completion_uses_the_template(llm: llama_cpp.Llama):
    out = llm.create_chat_completion(messages=[{"role": "user", "content": "hi"}], max_tokens=8, temperature=0.0)
    assert out["choices"][0]["finish_reason"] == "length"
    # <|user|> h i <|end|> <|assistant|>: the template writes no bos_token and llama-cpp-python's chat path adds none
    assert out["usage"]["prompt_tokens"] == 5


def test_eos_forced_by_logit_bias_stops(llm: llama_cpp.Llama):
    out = llm.create_completion("Hello", max_tokens=16, temperature=0.0, logit_bias={tinymodel.EOS_ID: 100.0})
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"]["completion_tokens"] == 0
