"""A stream read as an answer: the engine's text events through the prepared chat's AnswerParser (thinking,
answer text, tool calls), for the OpenAI, Ollama and Anthropic routes alike.

`answer_events(stream, shape)` yields the parser's events and ends with one `Finished`; `collect_answer` runs
it to the end for a non-streaming response, cancelling if the client leaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ..chat.answer import Answer, AnswerEvent, AnswerShape
from ..engine import FinalEvent, TextEvent
from .streaming import Stream, watch_disconnect


@dataclass(frozen=True)
class Finished:
    """The end of a parsed stream: the engine's final event and the whole answer."""

    final: FinalEvent
    answer: Answer

    @property
    def finish_reason(self) -> str:
        """stop / length / tool_calls (a malformed call is a plain stop); "error" stays for the caller."""
        if self.final.finish_reason in ("error", "cancelled"):
            return self.final.finish_reason
        return self.answer.finish_reason(self.final.finish_reason)


async def answer_events(stream: Stream, shape: AnswerShape,
                        logprobs: list | None = None) -> AsyncIterator[AnswerEvent | Finished]:
    """The parser's events as the text streams, then Finished; logprob entries go into `logprobs` if given."""
    parser = shape.parser()
    async for event in stream.events():
        if isinstance(event, TextEvent):
            if logprobs is not None:
                logprobs += event.logprobs
            for item in parser.feed(event.text, event.completion_tokens):
                yield item
            continue
        held, answer = parser.finish()
        for item in held:
            yield item
        yield Finished(event, answer)


async def collect_answer(request, stream: Stream, shape: AnswerShape,
                         logprobs: list | None = None) -> Finished:
    """Run to the end (cancelled, slot freed, if the client disconnects first)."""
    watcher = asyncio.ensure_future(watch_disconnect(request, stream))
    try:
        async for item in answer_events(stream, shape, logprobs):
            if isinstance(item, Finished):
                return item
        raise AssertionError("a stream always ends with its final event")
    finally:
        watcher.cancel()


def usage_details(answer: Answer) -> dict:
    """OpenAI's completion_tokens_details."""
    return {"reasoning_tokens": answer.thinking_tokens}
