"""Logprobs in OpenAI's two response shapes, built from the engine's `TokenLogprob` entries.

Chat completions' `content` list, and legacy completions' tokens / token_logprobs / top_logprobs / text_offset
(with `echo`, the prompt's first: what lm-evaluation-harness's local-completions reads). The figures are the
raw distribution, before any sampler (docs/design.md §7.3).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

if TYPE_CHECKING:
    from ..app import Workbench


def token_string(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{b:02x}" for b in data)


def chat(entries: Iterable) -> dict:
    """choices[i].logprobs of a chat completion (or of one streamed chunk: the entries of its own tokens)."""
    return {"content": [{"token": token_string(e.bytes), "logprob": e.logprob, "bytes": list(e.bytes),
                         "top_logprobs": [{"token": token_string(data), "logprob": value, "bytes": list(data)}
                                          for _id, data, value in e.top]}
                        for e in entries],
            "refusal": None}


class Legacy:
    """Legacy completions logprobs blocks; text_offset starts at `offset` and runs on across `block` calls."""

    def __init__(self, offset: int = 0):
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._offset = offset

    def block(self, entries: Iterable) -> dict:
        tokens, values, tops, offsets = [], [], [], []
        for entry in entries:
            offsets.append(self._offset)
            # a token's characters start where the text decoded so far ends (a partial character adds none yet)
            self._offset += len(self._decoder.decode(entry.bytes))
            tokens.append(token_string(entry.bytes))
            values.append(entry.logprob)
            tops.append(None if entry.logprob is None
                        else {token_string(data): value for _id, data, value in entry.top})
        return {"tokens": tokens, "token_logprobs": values, "top_logprobs": tops, "text_offset": offsets}


def join(first: dict, second: dict) -> dict:
    """Two legacy blocks as one (echo: the prompt's, then the completion's)."""
    return {key: first[key] + second[key] for key in first}


async def prompt_entries(wb: Workbench, prepared, top_n: int) -> list:
    """The prompt's entries for `echo` (blocking work on the model's own scoring context: off the loop)."""
    def compute():
        loaded = wb.runtime.acquire(prepared.target.model, prepared.load)
        return loaded.prompt_logprobs(prepared.request, top_n)

    return await run_in_threadpool(compute)


async def prompt_text(wb: Workbench, prepared) -> str:
    """The text of a prompt given as token ids (for echo)."""
    def decode():
        loaded = wb.runtime.acquire(prepared.target.model, prepared.load)
        return loaded.detokenize(prepared.request.prompt_tokens)

    return await run_in_threadpool(decode)
