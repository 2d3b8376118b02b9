"""Speculative decoding's per-request side: the prompt-lookup drafter and the draft-length controller.

A drafting slot proposes tokens; the scheduler decodes them with the slot's last token in one batch and keeps the
prefix its own sampler agrees with (engine/scheduler.py). This module decides what to propose and how much:
`LookupDrafter` finds the latest earlier occurrence of the last n tokens and proposes what followed it;
`DraftControl` adapts the draft length to the slot's acceptance and pauses drafting when it does not pay;
`plan_drafts` gives each generating slot its draft for the step (docs/design.md §4.12).
"""

from __future__ import annotations

from .params import Speculation

# Speculation pays while a decode is bound by reading the weights: with more streams than this generating, the
# batch already shares each read among them and drafted rows would only add compute
MAX_DRAFTING_STREAMS = 3
# Drafting pauses after this many drafts in a row had nothing accepted, for a number of tokens that doubles with
# each pause (free-form text, where lookups rarely land, then costs almost nothing)
_MISSES_BEFORE_PAUSE = 3
_FIRST_PAUSE_TOKENS = 8
_MAX_PAUSE_TOKENS = 256


class LookupDrafter:
    """Prompt lookup: an index from each n-gram of the request's tokens to where it last ended.

    Written by hand: it is a dict over the token list, updated as tokens arrive (O(1) per token); llama.cpp's
    n-gram cache lives in its `common` library, which llama-cpp-python does not expose.
    """

    def __init__(self, prompt: list[int], ngram: int):
        self.ngram = ngram
        self.tokens: list[int] = list(prompt)
        self._index: dict[tuple[int, ...], int] = {}  # n-gram → position of the token that followed it
        self._indexed = 0  # n-grams ending before this position are in the index

    def extend(self, tokens: list[int]) -> None:
        self.tokens.extend(tokens)

    def propose(self, limit: int) -> list[int]:
        """Up to `limit` tokens following the latest earlier match of the last `ngram` tokens (fewer n when the
        longest finds nothing, down to 2); [] when nothing matches."""
        tokens = self.tokens
        self._catch_up()
        for n in range(min(self.ngram, len(tokens) - 1), 1, -1):
            start = self._index.get((n, *tokens[-n:]))
            if start is not None:
                return tokens[start : start + limit]
        return []

    def guess(self) -> list[int]:
        """One token: what followed the latest earlier occurrence of the last token alone ([] if none)."""
        self._catch_up()
        start = self._index.get((1, self.tokens[-1]))
        return [] if start is None else [self.tokens[start]]

    def _catch_up(self) -> None:
        """Index every n-gram whose following token exists (the newest n-gram has none yet)."""
        tokens, index = self.tokens, self._index
        for end in range(self._indexed, len(tokens) - 1):  # n-grams ending at `end` (inclusive)
            for n in range(1, self.ngram + 1):
                if end + 1 >= n:
                    index[(n, *tokens[end + 1 - n : end + 1])] = end + 1
        self._indexed = max(self._indexed, len(tokens) - 1)


class DraftControl:
    """How many tokens a slot drafts next: grows while drafts are accepted whole, shrinks to what was accepted
    when one is cut, and pauses drafting for a while after repeated misses."""

    def __init__(self, spec: Speculation):
        self.spec = spec
        self.length = max(spec.draft_min, min(4, spec.draft_max))
        self.drafted = 0
        self.accepted = 0
        self._misses = 0
        self._pause_left = 0
        self._next_pause = _FIRST_PAUSE_TOKENS

    def limit(self) -> int:
        """Tokens to draft at this step (0: not now)."""
        if self._pause_left > 0:
            self._pause_left -= 1
            return 0
        return self.length

    def record(self, drafted: int, accepted: int) -> None:
        self.drafted += drafted
        self.accepted += accepted
        spec = self.spec
        if accepted == drafted:
            self.length = min(spec.draft_max, self.length + 2)
        else:
            self.length = max(spec.draft_min, 1, accepted + 1)
        if accepted:
            self._misses, self._next_pause = 0, _FIRST_PAUSE_TOKENS
            return
        self._misses += 1
        if self._misses >= _MISSES_BEFORE_PAUSE:
            self._misses, self._pause_left = 0, self._next_pause
            self._next_pause = min(_MAX_PAUSE_TOKENS, self._next_pause * 2)


class Drafting:
    """One request's drafting state: its drafter (lookup index, or the draft model shared by the slots) and its
    controller."""

    def __init__(self, spec: Speculation, prompt: list[int]):
        self.spec = spec
        self.control = DraftControl(spec)
        self.prompt = prompt
        self.lookup = LookupDrafter(prompt, spec.draft_ngram) if spec.mode == "lookup" else None

    def propose(self, generated: list[int], limit: int, draft_model, seq: int) -> list[int]:
        """Tokens to verify after the last generated one ([] when none, or fewer than draft_min)."""
        limit = min(limit, self.control.limit())
        if limit <= 0:
            return []
        if self.lookup is not None:
            self.lookup.extend(generated[len(self.lookup.tokens) - len(self.prompt) :])
            draft = self.lookup.propose(limit)
        else:
            draft = draft_model.propose(seq, self.prompt + generated, limit, self.spec.draft_p_min)
        return draft if len(draft) >= max(1, self.spec.draft_min) else []

    def guess(self, generated: list[int]) -> list[int]:
        """A one-token lookup guess for a row that is decoded anyway (see plan_drafts); [] without lookup."""
        if self.lookup is None:
            return []
        self.lookup.extend(generated[len(self.lookup.tokens) - len(self.prompt) :])
        return self.lookup.guess()


def plan_drafts(generating: list, *, n_ctx: int, n_batch: int, draft_model, free_row: bool = False) -> int:
    """Set each generating scheduler slot's `draft` for this step; returns the rows the drafts add.

    free_row: a lone stream decodes a second row with logits anyway (reproducible mode's padding, engine/
    scheduler.py `_pad`); when it has no draft, a one-token lookup guess takes that row's place for free. A guess
    (`slot.guess`) does not count against the slot's drafting (DraftControl): it costs nothing when it misses.
    """
    for slot in generating:
        slot.draft, slot.guess = [], False
    if len(generating) > MAX_DRAFTING_STREAMS:
        return 0
    rows = 0
    for slot in generating:
        job = slot.job
        # forced text (a closed thinking block) needs no verification; an image has no token ids to match
        if job.drafting is None or job.forced or job.media is not None:
            continue
        left = n_ctx - len(slot.cache) - 1  # the drafts' cells must fit the context too
        if job.max_tokens is not None:  # the last token before max_tokens is never verified
            left = min(left, job.max_tokens - job.completion_tokens - 1)
        limit = min(left, n_batch - len(generating) - rows)
        if limit > 0:
            slot.draft = job.drafting.propose(job.tokens, limit, draft_model, slot.seq)
            rows += len(slot.draft)
            if free_row and len(generating) == 1 and not slot.draft:
                slot.draft = job.drafting.guess(job.tokens)
                slot.guess = bool(slot.draft)
                rows += len(slot.draft)
    return rows
