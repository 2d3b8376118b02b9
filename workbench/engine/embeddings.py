"""Pooled, L2-normalised text embeddings: `LoadedModel.embed(texts)` over an `Embedder` on a context of its own.

The Embedder borrows the loaded `llama_model` (the weights exist once) and pools as the GGUF says, else by the
mean. Why one ubatch per text, the logits budget, and packing texts only in throughput mode: docs/design.md §4.7.
"""

from __future__ import annotations

import ctypes
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import llama_cpp

from ..errors import ContextLengthExceeded, EngineError, InvalidParameter, ModelLoadError
from .native import Batch, Vocab

DEFAULT_CONTEXT = 2048
LOGITS_BUDGET_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_SEQUENCES = 16
POOLING_NAMES = {
    llama_cpp.LLAMA_POOLING_TYPE_MEAN: "mean",
    llama_cpp.LLAMA_POOLING_TYPE_CLS: "cls",
    llama_cpp.LLAMA_POOLING_TYPE_LAST: "last",
}


@dataclass(frozen=True)
class EmbeddingResult:
    """Vectors (unit length, in input order) and the tokens each text used, for usage reporting."""

    vectors: list[list[float]]
    token_counts: list[int]
    truncated: list[bool]

    @property
    def total_tokens(self) -> int:
        return sum(self.token_counts)


def _meta_str(model, key: str) -> str | None:
    """One GGUF metadata value as text (llama.cpp renders numbers too), None when the key is absent."""
    buf = ctypes.create_string_buffer(256)
    n = llama_cpp.llama_model_meta_val_str(model, key.encode(), buf, ctypes.sizeof(buf))
    return buf.value.decode("utf-8", "replace") if n >= 0 else None


def model_pooling_type(model) -> int:
    """The GGUF's pooling type; mean when it names none (generative models) — a rank head is refused."""
    arch = _meta_str(model, "general.architecture") or ""
    raw = _meta_str(model, f"{arch}.pooling_type")
    pooling = int(raw) if raw is not None and raw.lstrip("-").isdigit() else llama_cpp.LLAMA_POOLING_TYPE_MEAN
    if pooling == llama_cpp.LLAMA_POOLING_TYPE_RANK:
        raise InvalidParameter("this model is a reranker (rank pooling): it scores pairs and has no embeddings")
    return pooling if pooling in POOLING_NAMES else llama_cpp.LLAMA_POOLING_TYPE_MEAN


def default_context_length(model) -> int:
    """min(training context, 2048, what keeps per-token logits scratch under the budget), ≥ 64."""
    n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model))
    by_budget = LOGITS_BUDGET_BYTES // max(1, 4 * n_vocab)
    limit = min(llama_cpp.llama_model_n_ctx_train(model) or DEFAULT_CONTEXT, DEFAULT_CONTEXT, by_budget)
    return max(64, limit)


class Embedder:
    """Embeds texts with a borrowed `llama_model` pointer; owns (and frees) only its context.

    Thread-safe: one `encode` at a time (a lock), on whatever thread calls it — llama.cpp allows contexts of the
    same model to decode concurrently, so the generation scheduler is never blocked by it.
    """

    def __init__(self, model, *, context_length: int | None = None, threads: int | None = None,
                 reproducible: bool = True, max_sequences: int = DEFAULT_MAX_SEQUENCES):
        self._model = model
        self._vocab = Vocab(model)
        self.pooling = model_pooling_type(model)
        self.n_embd = llama_cpp.llama_model_n_embd(model)
        self.context_length = context_length or default_context_length(model)
        self.reproducible = reproducible
        self.max_sequences = 1 if reproducible else max(1, max_sequences)
        self._lock = threading.Lock()
        self._ctx = self._create_context(threads)
        self._batch = Batch(self.context_length)  # reused: a decode never holds more than one ubatch

    @property
    def pooling_name(self) -> str:
        return POOLING_NAMES[self.pooling]

    def _create_context(self, threads: int | None):
        params = llama_cpp.llama_context_default_params()
        params.embeddings = True
        params.pooling_type = self.pooling
        params.n_ctx = params.n_batch = params.n_ubatch = self.context_length
        params.n_seq_max = self.max_sequences
        params.kv_unified = True  # measured: split KV streams gave wrong pooled vectors for packed sequences
        if threads:
            params.n_threads = params.n_threads_batch = threads
        ctx = llama_cpp.llama_init_from_model(self._model, params)
        if not ctx:
            raise ModelLoadError(
                f"llama.cpp could not create an embedding context of {self.context_length} tokens "
                "(not enough memory?): try a smaller context_length"
            )
        return ctx

    # --- public -----------------------------------------------------------------------------------------

    def embed(self, texts: Sequence[str], *, truncate: bool = True) -> list[list[float]]:
        return self.encode(texts, truncate=truncate).vectors

    def encode(self, texts: Sequence[str], *, truncate: bool = True) -> EmbeddingResult:
        """Embed `texts`; over-long ones are cut to the context (truncate) or raise ContextLengthExceeded."""
        if isinstance(texts, str) or not texts:
            raise InvalidParameter("embeddings need a non-empty list of texts")
        if not all(isinstance(t, str) for t in texts):
            raise InvalidParameter("every input to embed must be a string")
        tokenized = [self._tokens(t, truncate) for t in texts]
        vectors: list[list[float] | None] = [None] * len(texts)
        with self._lock:
            if self._ctx is None:
                raise EngineError("this embedder was closed: load the model again")
            for group in self._groups([len(tokens) for tokens, _ in tokenized]):
                for index, vector in zip(group, self._decode([tokenized[i][0] for i in group]), strict=True):
                    vectors[index] = vector
        return EmbeddingResult(vectors, [len(t) for t, _ in tokenized], [cut for _, cut in tokenized])

    def close(self) -> None:
        with self._lock:
            if self._ctx is not None:
                llama_cpp.llama_free(self._ctx)
                self._ctx = None
                self._batch.free()

    def __enter__(self) -> Embedder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- internals --------------------------------------------------------------------------------------

    def _tokens(self, text: str, truncate: bool) -> tuple[list[int], bool]:
        tokens = self._vocab.tokenize(text, add_special=True, parse_special=False)
        if not tokens:
            raise InvalidParameter("cannot embed an empty text: the model produced no tokens for it")
        if len(tokens) <= self.context_length:
            return tokens, False
        if not truncate:
            raise ContextLengthExceeded(len(tokens), self.context_length)
        head = tokens[: self.context_length]
        if llama_cpp.llama_vocab_get_add_eos(self._vocab.ptr) and tokens[-1] == self._vocab.eos:
            head[-1] = self._vocab.eos  # keep the end marker encoder models pool on (BERT's [SEP])
        return head, True

    def _groups(self, lengths: list[int]) -> list[list[int]]:
        """Consecutive texts packed up to the ubatch size and the sequence count (one each when reproducible)."""
        groups: list[list[int]] = []
        used = self.context_length + 1
        for index, length in enumerate(lengths):
            if used + length > self.context_length or len(groups[-1]) >= self.max_sequences:
                groups.append([])
                used = 0
            groups[-1].append(index)
            used += length
        return groups

    def _decode(self, sequences: list[list[int]]) -> list[list[float]]:
        """One llama_decode of whole sequences on an emptied cache (cells from 0: the same layout every time)."""
        batch = self._batch
        batch.clear()
        for seq_id, tokens in enumerate(sequences):
            for pos, token in enumerate(tokens):
                batch.add(token, pos, seq_id, True)  # pooling reads every token's output
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(self._ctx), True)
        batch.decode(self._ctx)  # DecodeError (an EngineError) on failure
        return [self._pooled(seq_id) for seq_id in range(len(sequences))]

    def _pooled(self, seq_id: int) -> list[float]:
        pointer = llama_cpp.llama_get_embeddings_seq(self._ctx, seq_id)
        if not pointer:
            raise EngineError("llama.cpp returned no pooled embedding for a sequence")
        values = pointer[: self.n_embd]
        norm = math.sqrt(math.fsum(v * v for v in values))
        if not math.isfinite(norm) or norm == 0.0:
            raise EngineError("the model produced a zero or non-finite embedding")
        return [v / norm for v in values]
