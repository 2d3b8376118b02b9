"""One answer on the terminal, for `workbench run` and its interactive session: the text streamed to stdout as it
comes (a reasoning model's thinking dimmed on stderr, so a pipe gets the answer only), Ctrl-C stopping it, the
stats line, and a session title from the first message."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..records import Message
from .common import console_err

if TYPE_CHECKING:
    from ..chat.service import AnswerStream


def title_from(text: str, limit: int = 60) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "untitled")
    return line if len(line) <= limit else line[: limit - 1] + "…"


@contextlib.contextmanager
def stop_on_ctrl_c(stream: AnswerStream) -> Iterator[None]:
    """While an answer streams, Ctrl-C cancels it (it ends `stopped`) instead of raising KeyboardInterrupt
    somewhere inside the stream's bookkeeping."""
    try:
        previous = signal.signal(signal.SIGINT, lambda *_: stream.cancel())
    except ValueError:  # not the main thread: no signal handling there
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def stream_answer(stream: AnswerStream, *, hide_thinking: bool = False) -> Message:
    """Write the pieces to stdout as they come, the thinking dimmed to stderr (unless hidden); the stored
    message (raises the answer's error)."""
    ended_with_newline, thinking = True, False
    with stream, stop_on_ctrl_c(stream):  # leaving early (a closed pipe) still stores the answer, stopped
        for kind, piece in stream.pieces():
            if kind == "thinking":
                if not hide_thinking and piece:
                    _dim(("Thinking…\n" if not thinking else "") + piece)
                    thinking = True
                continue
            if thinking:
                _dim("\n…done thinking.\n\n")
                thinking = False
            sys.stdout.write(piece)
            sys.stdout.flush()
            ended_with_newline = piece.endswith("\n") if piece else ended_with_newline
    if not ended_with_newline or not stream.text:
        sys.stdout.write("\n")
        sys.stdout.flush()
    assert stream.result is not None
    return stream.result


def _dim(text: str) -> None:
    console_err.print(text, style="dim", end="", markup=False, highlight=False, emoji=False, soft_wrap=True)


def print_stats(message: Message) -> None:
    p = message.provenance_record
    console_err.print(
        f"{p.completion_tokens or 0} tokens · prompt {p.prompt_tokens or 0} ({p.cached_tokens or 0} cached) · "
        f"TTFT {p.ttft_seconds or 0:.2f} s · {p.tokens_per_second or 0:.1f} tok/s · seed {p.seed} · "
        + (f"{p.speculation_text} · " if p.speculation_text else "")
        + f"{p.finish_reason} · session {message.session_id} message {message.id}",
        highlight=False, emoji=False, soft_wrap=True)
