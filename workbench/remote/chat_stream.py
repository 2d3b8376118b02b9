"""A remote endpoint's answer as a chat session's generation, so `wb.chat` streams it into a session like a local
one: a session whose model is `remote:NAME` sends its conversation to that endpoint.

`RemoteGeneration` has the shape the chat service reads from the engine's Generation — text events with a
running token count, then one final event with the engine FinalEvent's fields, `cancel()` from any thread —
with the HTTP stream on a thread of its own (a queue between them), so the iterating thread never blocks a
cancel. Events are plain records here: the engine's own would load llama.cpp for a remote answer.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import Cancelled, InvalidParameter, WorkbenchError
from ..tasks import CancelToken
from .service import remote_name

if TYPE_CHECKING:
    from ..app import Workbench
    from ..records import ChatSession, Message

_FINISH = {"stop": "stop", "length": "length"}  # anything else a server says (tool_calls, content_filter) ended it


@dataclass(frozen=True)
class RemoteText:
    text: str
    completion_tokens: int
    logprobs: tuple = ()


@dataclass(frozen=True)
class RemoteFinal:
    finish_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_seconds: float | None = None
    decode_tokens_per_second: float | None = None
    seed: int | None = None
    cached_tokens: int = 0
    max_batch_sequences: int = 0
    error: str | None = None
    stop_sequence: str | None = None
    drafted_tokens: int = 0  # speculative decoding is the server's business: not reported
    accepted_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # the remote's provenance, kept on the answer


def is_remote_session(session: ChatSession) -> bool:
    return remote_name(session.model_name or "") is not None


def conversation(wb: Workbench, session: ChatSession, user: Message) -> list[dict[str, str]]:
    """The branch up to `user` as OpenAI messages (failed answers left out), after the session's system text."""
    system = [{"role": "system", "content": session.system_override}] if session.system_override else []
    return system + [{"role": m.role, "content": m.content} for m in wb.sessions.path(session.id, user.id)
                     if m.status != "failed"]


class RemoteGeneration:
    def __init__(self, wb: Workbench, session: ChatSession, user: Message):
        self.name = remote_name(session.model_name or "") or ""
        self.parameters = dict(session.parameter_overrides)
        self._events: queue.Queue = queue.Queue()
        self._token = CancelToken()
        self._ended = False
        messages = conversation(wb, session, user)
        wb.remotes.get(self.name)  # an unknown remote fails here, on the caller's thread
        self._thread = threading.Thread(target=self._run, args=(wb, messages), name="remote-answer", daemon=True)
        self._thread.start()

    def _run(self, wb: Workbench, messages: list[dict[str, str]]) -> None:
        count = 0

        def on_text(piece: str) -> None:
            nonlocal count
            count += 1
            self._events.put(RemoteText(piece, count))

        try:
            answer = wb.remotes.chat(self.name, messages, self.parameters, on_text=on_text, cancel=self._token)
        except Cancelled:
            self._events.put(RemoteFinal("cancelled", completion_tokens=count))
        except WorkbenchError as exc:
            self._events.put(RemoteFinal("error", completion_tokens=count, error=str(exc)))
        else:
            self._events.put(RemoteFinal(
                _FINISH.get(answer.finish_reason or "", "stop"), prompt_tokens=answer.prompt_tokens,
                completion_tokens=answer.completion_tokens, ttft_seconds=answer.ttft_seconds,
                decode_tokens_per_second=answer.tokens_per_second, seed=self.parameters.get("seed"),
                extra={"remote": answer.provenance}))

    def __iter__(self) -> RemoteGeneration:
        return self

    def __next__(self):
        if self._ended:
            raise StopIteration
        event = self._events.get()
        self._ended = isinstance(event, RemoteFinal)
        return event

    def cancel(self) -> None:
        self._token.cancel("stopped")


def start_remote(wb: Workbench, session: ChatSession, user: Message, record):
    """The generation for an answer in a remote session, and its provenance so far (chat/service.py's _start)."""
    import dataclasses

    if session.kind == "prompt":
        raise InvalidParameter(f"{session.model_name} is a chat endpoint: raw prompt sessions (no chat template) "
                               "run on local models only")
    generation = RemoteGeneration(wb, session, user)
    return generation, dataclasses.replace(record, model=session.model_name, parameters=generation.parameters,
                                           system_override=session.system_override)
