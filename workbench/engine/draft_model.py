"""A draft model for speculative decoding: a small model loaded beside the target, sharing only token ids.

`DraftModel` checks at load that its vocabulary is the target's (llama.cpp's own rules: same tokenizer type,
sizes within 128, same BOS/EOS and BOS rule, same token texts), keeps one sequence per target slot in a
context of its own, and proposes greedy continuations that stop at a token it is unsure of (`p_min`). The
scheduler verifies them like lookup drafts (docs/design.md §4.12).
"""

from __future__ import annotations

from pathlib import Path

import llama_cpp
import numpy as np

from ..errors import InvalidParameter
from . import native

# llama.cpp's common/speculative.cpp: vocabularies may differ in size by this much (added tokens at the end);
# the first few ids are skipped in the text comparison (control tokens some conversions name differently)
VOCAB_SIZE_TOLERANCE = 128
_TEXT_CHECK_START = 5
TEXT_CHECK_TOKENS = 4096  # token texts compared: enough to tell two tokenizers apart, cheap on a 262k vocabulary


def _text(vocab: native.Vocab, token: int) -> bytes:
    return llama_cpp.llama_vocab_get_text(vocab.ptr, token) or b""


def check_compatible(target: native.Vocab, draft: native.Vocab, target_name: str, draft_name: str) -> None:
    """Raise InvalidParameter naming the first difference that makes the draft's tokens mean something else."""
    def refuse(what: str) -> None:
        raise InvalidParameter(f"{draft_name} cannot draft for {target_name}: {what}; a draft model needs the "
                               "target's vocabulary (a smaller model of the same family)")

    t_type, d_type = llama_cpp.llama_vocab_type(target.ptr), llama_cpp.llama_vocab_type(draft.ptr)
    if t_type != d_type:
        refuse(f"its tokenizer type is {d_type}, the target's {t_type}")
    if abs(target.n_tokens - draft.n_tokens) > VOCAB_SIZE_TOLERANCE:
        refuse(f"its vocabulary has {draft.n_tokens} tokens, the target's {target.n_tokens}")
    for label, a, b in (("BOS", target.bos, draft.bos), ("EOS", target.eos, draft.eos),
                        ("add-BOS rule", target.add_bos, draft.add_bos)):
        if a != b:
            refuse(f"its {label} is {b}, the target's {a}")
    for token in range(_TEXT_CHECK_START, min(target.n_tokens, draft.n_tokens, TEXT_CHECK_TOKENS)):
        if _text(target, token) != _text(draft, token):
            refuse(f"token {token} is {_text(draft, token)!r} in it but {_text(target, token)!r} in the target")


class DraftModel:
    """The draft model's weights, a context with one sequence per target slot, and what each sequence holds."""

    def __init__(self, path: Path, *, n_slots: int, n_ctx: int, n_threads: int, target_vocab: native.Vocab,
                 target_name: str, gpu_layers: int, reproducible: bool):
        self.path = Path(path)
        self._model = native.load_model(self.path, gpu_layers=gpu_layers, use_extra_bufts=not reproducible)
        self._ctx = None
        self._batch = None
        try:
            self.vocab = native.Vocab(self._model)
            check_compatible(target_vocab, self.vocab, target_name, self.path.name)
            self.n_batch = 512
            cfg = native.ContextConfig(n_ctx=n_ctx * n_slots, n_batch=self.n_batch, n_ubatch=self.n_batch,
                                       n_seq_max=n_slots, n_threads=n_threads, flash_attn="off", type_k="f16",
                                       type_v="f16", kv_unified=False)
            self._ctx = native.new_context(self._model, cfg, self.path)
            self._batch = native.Batch(self.n_batch)
        except BaseException:
            self.close()
            raise
        self._mem = llama_cpp.llama_get_memory(self._ctx)
        self.size_bytes = llama_cpp.llama_model_size(self._model)  # its weights (what `workbench ps` adds up)
        self._n_target_vocab = target_vocab.n_tokens
        self._cache: list[list[int]] = [[] for _ in range(n_slots)]

    def propose(self, seq: int, history: list[int], limit: int, p_min: float) -> list[int]:
        """Up to `limit` greedy tokens continuing `history` (prompt + output so far), stopping before a token the
        draft model gives less than `p_min`. A failed draft decode costs only the draft: [] and a fresh start."""
        draft: list[int] = []
        try:
            if not self._feed(seq, history):
                return draft
            while True:
                token, p = self._top()
                if p < p_min or token >= self._n_target_vocab or self.vocab.is_eog(token):
                    break
                draft.append(token)
                if len(draft) >= limit:
                    break
                self._decode_one(seq, token)
        except native.DecodeError:
            self.forget(seq)
        return draft

    def _feed(self, seq: int, history: list[int]) -> bool:
        """Make the sequence hold `history` (reusing the common prefix) with the last token's logits ready;
        False when the history holds a token the draft's vocabulary lacks (the target's may be a little larger)."""
        cache = self._cache[seq]
        keep = 0
        limit = min(len(cache), len(history) - 1)
        while keep < limit and cache[keep] == history[keep]:
            keep += 1
        if max(history[keep:]) >= self.vocab.n_tokens:
            return False
        llama_cpp.llama_memory_seq_rm(self._mem, seq, keep, -1)
        del cache[keep:]
        while len(cache) < len(history):
            batch, start = self._batch, len(cache)
            batch.clear()
            chunk = history[start : start + self.n_batch]
            for i, token in enumerate(chunk):
                batch.add(token, start + i, seq, start + i == len(history) - 1)
            batch.decode(self._ctx)
            cache.extend(chunk)
        return True

    def _decode_one(self, seq: int, token: int) -> None:
        cache = self._cache[seq]
        self._batch.clear()
        self._batch.add(token, len(cache), seq, True)
        self._batch.decode(self._ctx)
        cache.append(token)

    def _top(self) -> tuple[int, float]:
        """The most likely next token of the last decoded row and its probability."""
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self._ctx, -1), shape=(self.vocab.n_tokens,))
        token = int(logits.argmax())
        return token, float(1.0 / np.exp(logits - logits[token]).sum())

    def forget(self, seq: int) -> None:
        """The target dropped this slot's cache (a failed decode): start the sequence over."""
        llama_cpp.llama_memory_seq_rm(self._mem, seq, -1, -1)
        self._cache[seq].clear()

    def close(self) -> None:
        if self._batch is not None:
            self._batch.free()
            self._batch = None
        native.free_context(self._ctx)
        native.free_model(self._model)
        self._ctx = self._model = None
