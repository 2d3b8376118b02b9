"""Per-request sampling: a `SamplingParams` becomes one llama.cpp sampler chain owned by one slot.

The chain's order (top_k before penalties), penalties left out when neutral, and grammars checked on the drawn
token first, as llama.cpp's common sampler does: docs/design.md §4.4.
"""

from __future__ import annotations

import ctypes
import json
import math
import secrets
from collections.abc import Sequence

import llama_cpp
import numpy as np

from ..errors import EngineError, InvalidParameter
from . import native, native_log
from .params import SamplingParams

_TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])


def resolve_seed(params: SamplingParams) -> int:
    return params.seed if params.seed is not None else secrets.randbits(32)


def grammar_text(params: SamplingParams) -> str | None:
    if params.grammar:
        return params.grammar
    if params.json_schema is not None:
        return schema_grammar(params.json_schema)
    return None


def schema_grammar(schema: dict) -> str:
    """GBNF text (rule `root`) accepting JSON valid for `schema`, by llama.cpp's converter."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        grammar = json_schema_to_gbnf(json.dumps(schema))
    except Exception as exc:  # the converter raises assorted errors on schemas it cannot express
        raise InvalidParameter(f"json_schema cannot be turned into a grammar: {exc}") from exc
    # llama-cpp-python's copy of the converter lets a string hold raw control characters (a newline), which JSON
    # forbids; llama.cpp's current converter excludes them, and so does this.
    return grammar.replace(_LOOSE_STRING_CHAR, _JSON_STRING_CHAR)


_LOOSE_STRING_CHAR = r'char ::= [^"\\]'
_JSON_STRING_CHAR = r'char ::= [^"\\\x7F\x00-\x1F]'


class Sampler:
    """A sampler chain (+ optional grammar) for one request; free() when the request ends."""

    def __init__(self, params: SamplingParams, vocab: native.Vocab, seed: int, prompt: Sequence[int] = ()):
        self.seed = seed
        self._vocab = vocab
        self._chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        self._grammar = None
        try:
            self._build(params, vocab, seed)
            text = grammar_text(params)
            if text is not None:
                self._grammar = self._make_grammar(vocab, text)
                self._init_candidates(vocab.n_tokens)
        except BaseException:
            self.free()
            raise
        if params.penalties_active:
            last_n = len(prompt) if params.repeat_last_n == -1 else params.repeat_last_n
            for token in prompt[-last_n:] if last_n else ():
                llama_cpp.llama_sampler_accept(self._chain, token)

    def _add(self, sampler) -> None:
        llama_cpp.llama_sampler_chain_add(self._chain, sampler)

    def _build(self, p: SamplingParams, vocab: native.Vocab, seed: int) -> None:
        biases = dict(p.logit_bias)
        if p.ignore_eos:  # as llama-server does it: the end-of-generation tokens' logits go to -inf
            biases.update(dict.fromkeys(vocab.eog_tokens, -math.inf))
        if biases:
            bad = [t for t in biases if t >= vocab.n_tokens]
            if bad:
                raise InvalidParameter(f"logit_bias names token {bad[0]}, but the vocabulary has {vocab.n_tokens}")
            items = (llama_cpp.llama_logit_bias * len(biases))()
            for i, (token, bias) in enumerate(biases.items()):
                items[i].token, items[i].bias = token, math.copysign(1.0e30, bias) if math.isinf(bias) else bias
            self._add(llama_cpp.llama_sampler_init_logit_bias(vocab.n_tokens, len(biases), items))
        if p.mirostat:
            self._add_penalties(p)
            self._add(llama_cpp.llama_sampler_init_temp(max(p.temperature, 1e-6)))
            if p.mirostat == 1:
                self._add(llama_cpp.llama_sampler_init_mirostat(vocab.n_tokens, seed, p.mirostat_tau,
                                                                p.mirostat_eta, 100))
            else:
                self._add(llama_cpp.llama_sampler_init_mirostat_v2(seed, p.mirostat_tau, p.mirostat_eta))
            return
        if p.top_k > 0:
            self._add(llama_cpp.llama_sampler_init_top_k(p.top_k))
        self._add_penalties(p)
        if p.greedy:
            self._add(llama_cpp.llama_sampler_init_greedy())
            return
        if p.typical_p < 1.0:
            self._add(llama_cpp.llama_sampler_init_typical(p.typical_p, 1))
        if p.top_p < 1.0:
            self._add(llama_cpp.llama_sampler_init_top_p(p.top_p, 1))
        if p.min_p > 0.0:
            self._add(llama_cpp.llama_sampler_init_min_p(p.min_p, 1))
        self._add(llama_cpp.llama_sampler_init_temp(p.temperature))
        self._add(llama_cpp.llama_sampler_init_dist(seed))

    def _add_penalties(self, p: SamplingParams) -> None:
        if p.penalties_active:
            last_n = p.repeat_last_n if p.repeat_last_n > 0 else 1 << 20  # -1: the whole context
            self._add(llama_cpp.llama_sampler_init_penalties(
                self._vocab.n_tokens, last_n, p.repeat_penalty, p.frequency_penalty, p.presence_penalty))

    @staticmethod
    def _make_grammar(vocab: native.Vocab, text: str):
        with native_log.LogCapture() as lines:
            grammar = llama_cpp.llama_sampler_init_grammar(vocab.ptr, text.encode("utf-8"), b"root")
        if not grammar:
            raise InvalidParameter(f"the grammar does not parse: {native_log.failure_reason(lines)}")
        return grammar

    def _init_candidates(self, n_vocab: int) -> None:
        self._ids = np.arange(n_vocab, dtype="<i4")
        self._cand = np.zeros(n_vocab, dtype=_TOKEN_DATA)
        self._one = np.zeros(1, dtype=_TOKEN_DATA)
        self._cand_ptr = self._cand.ctypes.data_as(llama_cpp.llama_token_data_p)
        self._one_ptr = self._one.ctypes.data_as(llama_cpp.llama_token_data_p)

    def sample(self, ctx, idx: int) -> int:
        """Pick the next token from the logits of batch row `idx` and advance the sampler state."""
        if self._grammar is None:
            return llama_cpp.llama_sampler_sample(self._chain, ctx, idx)
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, idx), shape=(len(self._ids),))
        token = self._apply(self._chain, logits, grammar_first=False)
        if not self._allowed(token):
            token = self._apply(self._chain, logits, grammar_first=True)
        llama_cpp.llama_sampler_accept(self._grammar, token)
        llama_cpp.llama_sampler_accept(self._chain, token)
        return token

    def _apply(self, chain, logits: np.ndarray, *, grammar_first: bool) -> int:
        self._cand["id"] = self._ids
        self._cand["logit"] = logits
        self._cand["p"] = 0.0
        arr = llama_cpp.llama_token_data_array(self._cand_ptr, len(self._ids), -1, False)
        if grammar_first:
            llama_cpp.llama_sampler_apply(self._grammar, ctypes.byref(arr))
            if not np.isfinite(self._cand["logit"][: arr.size]).any():
                # sampling (and accepting) a forbidden token would make llama.cpp abort the process
                raise EngineError("the grammar allows no token at this point of the output")
        llama_cpp.llama_sampler_apply(chain, ctypes.byref(arr))
        return int(self._cand["id"][arr.selected])

    def _allowed(self, token: int) -> bool:
        self._one[0] = (token, 1.0, 0.0)
        arr = llama_cpp.llama_token_data_array(self._one_ptr, 1, -1, False)
        llama_cpp.llama_sampler_apply(self._grammar, ctypes.byref(arr))
        return bool(np.isfinite(self._one["logit"][0]))

    def free(self) -> None:
        if self._chain is not None:
            llama_cpp.llama_sampler_free(self._chain)
            self._chain = None
        if self._grammar is not None:
            llama_cpp.llama_sampler_free(self._grammar)
            self._grammar = None
