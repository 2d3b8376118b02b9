"""Speculative decoding on a real model (gemma-3-270m Q4_K_M): lookup drafts leave the output unchanged.

On gemma, a token verified beside drafts and one decoded alone take different ggml-cpu kernels; reproducible mode
pads every stream to ≥ 2 rows so that they do not (engine/scheduler.py `_pad`). Without that padding the greedy
rewrite below diverged after ~117 tokens and the seeded one after 3.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.engine import GenerationRequest, LoadOptions, Runtime, SamplingParams, Speculation
from workbench.errors import InvalidParameter
from workbench.settings import Settings

pytestmark = pytest.mark.gemma

PASSAGE = (
    "The lighthouse at Point Arden was built in 1871 from granite quarried two miles inland. Its lamp burned "
    "whale oil until 1890, then kerosene, and was electrified in 1934. The keeper's cottage, a two-storey brick "
    "house, sheltered three families over the years; the last keeper, Margaret Olsen, left in 1962 when the "
    "light was automated. Today the tower is open to visitors on weekends from May to September."
)
PROMPT = ("<start_of_turn>user\nRewrite the text below, replacing every year with the same year written in "
          f"words and changing nothing else.\n\n{PASSAGE}<end_of_turn>\n<start_of_turn>model\n")


@pytest.fixture(scope="module")
def gemma(gemma_model_path: Path):
    with Runtime(Settings(keep_alive_seconds=-1, threads=2)) as runtime:
        yield runtime.acquire(gemma_model_path,
                              LoadOptions(n_ctx=1024, n_parallel=2, reproducible=True, speculative=True))


@pytest.mark.parametrize("sampling", [SamplingParams(temperature=0),
                                      SamplingParams(temperature=0.3, top_p=0.95, seed=1234)],
                         ids=["greedy", "seeded"])
def test_lookup_rewrite_is_token_for_token_the_plain_output(gemma, sampling):
    def run(speculation):
        return gemma.generate(GenerationRequest(prompt=PROMPT, sampling=sampling, max_tokens=160,
                                                speculation=speculation)).collect()

    plain_text, plain = run(None)
    text, final = run(Speculation(mode="lookup"))
    assert (text, final.tokens) == (plain_text, plain.tokens)
    assert final.accepted_tokens > 0


def test_the_tiny_model_cannot_draft_for_gemma(gemma_model_path, tiny_model_path):
    """Different tokenizers (gemma's SentencePiece, the tiny model's byte-level BPE): refused at load, by name."""
    with Runtime(Settings(keep_alive_seconds=-1, threads=2)) as runtime, \
            pytest.raises(InvalidParameter, match=r"tiny-llama\.gguf cannot draft for .*: its tokenizer type is"):
        runtime.acquire(gemma_model_path, LoadOptions(n_ctx=256, n_parallel=1, draft_path=str(tiny_model_path)))
