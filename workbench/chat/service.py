"""Answers streamed into sessions with full provenance: the chat service behind `wb.chat`.

`stream = wb.chat.send(session_id, "Hi")` stores the user message and a `streaming` answer at once; iterating
`stream` loads, renders and generates, saving the text as it goes; `stream.result` is the stored Message.
`regenerate`, `edit` and `rerun` work the same way (docs/design.md §6.4).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import psutil

from ..errors import EngineError, InvalidMedia, InvalidParameter, WorkbenchError
from ..files import utc_text
from ..records import ChatSession, Message, Provenance
from ..remote.chat_stream import is_remote_session, remote_name, start_remote
from . import provenance_fields
from .answer import AnswerPieces
from .prepare import (
    ChatTarget,
    PreparedChat,
    merge_parameters,
    prepare_chat,
    prepare_completion,
    resolve_target,
    target_load,
)

if TYPE_CHECKING:
    from ..app import Workbench

SAVE_INTERVAL = 0.5  # seconds between saves of a streaming answer's text
_STATUS = {"stop": "complete", "length": "complete", "cancelled": "stopped", "error": "failed"}


def writer_identity() -> dict[str, Any]:
    """This process, as recorded on the answers it streams: so recovery can tell a live writer from a dead one."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": psutil.Process().create_time()}


def writer_alive(writer: dict[str, Any] | None) -> bool:
    """Whether the process that recorded `writer` still runs (a pid reused by another process does not count)."""
    if not writer or not isinstance(writer.get("pid"), int):
        return False
    if writer.get("host") != socket.gethostname():
        return True  # another machine's process: cannot be seen from here, so assume it is still writing
    try:
        process = psutil.Process(writer["pid"])
        same = abs(process.create_time() - float(writer.get("started", 0))) < 0.5
        return same and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # exists, owned by someone else: not ours to judge
        return True


class Chat:
    """Streams answers into sessions. One per Workbench (`wb.chat`); safe to use from several threads."""

    def __init__(self, workbench: Workbench):
        self._wb = workbench
        self._engine_facts: dict[str, Any] | None = None

    # -- the four ways to get an answer ------------------------------------------------------------------
    def send(self, session_id: int, text: str, *, parent_id: int | None = None,
             images: list | tuple = ()) -> AnswerStream:
        """A user message under parent_id (default: the session's current leaf) and an answer to it.

        `images` (Media, image bytes or file paths) are stored with the message; the session's model must have a
        projector (InvalidMedia otherwise, before anything is stored)."""
        if not isinstance(text, str) or not (text.strip() or images):
            raise InvalidParameter("a message cannot be empty")
        session = self._wb.sessions.get(session_id)
        if images:
            self._check_projector(session)
        parent = session.current_leaf_id if parent_id is None else parent_id
        user = self._wb.sessions.add_message(session_id, parent, "user", text, images=images)
        return self._answer(session, user)

    def _check_projector(self, session: ChatSession) -> None:
        if is_remote_session(session):
            raise InvalidMedia(f"{session.model_name} is a remote endpoint: images are sent to local models only")
        model = self.target(session).model
        if model.projector_path is None:
            raise InvalidMedia(f"{model.name} cannot see images: it has no projector. Pair its mmproj file with "
                               f"`workbench import MODEL.gguf --mmproj mmproj.gguf`, or pick a vision model")

    def answer(self, user_message_id: int) -> AnswerStream:
        """An answer to an already-stored user message (after any answers it has: a sibling of them)."""
        user = self._message(user_message_id, "user")
        return self._answer(self._wb.sessions.get(user.session_id), user)

    def regenerate(self, assistant_message_id: int) -> AnswerStream:
        """Another answer to the same user message (a sibling of assistant_message_id)."""
        answer = self._message(assistant_message_id, "assistant")
        return self._answer(self._wb.sessions.get(answer.session_id), self._question(answer))

    def edit(self, user_message_id: int, new_text: str) -> AnswerStream:
        """A sibling user message with new_text (a new branch) and an answer to it."""
        old = self._message(user_message_id, "user")
        if not isinstance(new_text, str) or not new_text.strip():
            raise InvalidParameter("a message cannot be empty")
        user = self._wb.sessions.add_message(old.session_id, old.parent_id, "user", new_text,
                                             images=self._wb.sessions.images(old))  # the images stay
        return self._answer(self._wb.sessions.get(old.session_id), user)

    def rerun(self, assistant_message_id: int) -> AnswerStream:
        """A sibling answer generated with the recorded parameters and seed (identical in reproducible mode)."""
        answer = self._message(assistant_message_id, "assistant")
        recorded = answer.provenance_record
        if recorded.seed is None or recorded.parameters is None:
            raise InvalidParameter(f"message {answer.id} has no recorded seed and parameters to re-run "
                                   f"(its status is {answer.status}): regenerate it instead")
        session = self._wb.sessions.get(answer.session_id)
        return self._answer(session, self._question(answer), replay=recorded, rerun_of=answer.id)

    # -- helpers -----------------------------------------------------------------------------------------
    def _message(self, message_id: int, role: str) -> Message:
        message = self._wb.sessions.message(message_id)
        if message.role != role:
            article = "an" if role == "assistant" else "a"
            raise InvalidParameter(f"message {message_id} is a {message.role} message; this needs {article} {role} "
                                   "message")
        return message

    def _question(self, answer: Message) -> Message:
        question = self._wb.sessions.message(answer.parent_id) if answer.parent_id is not None else None
        if question is None or question.role != "user":
            raise InvalidParameter(f"message {answer.id} does not answer a user message")
        return question

    def _answer(self, session: ChatSession, user: Message, *, replay: Provenance | None = None,
                rerun_of: int | None = None) -> AnswerStream:
        started = Provenance(started_at=utc_text(timespec="milliseconds", zulu=True), rerun_of=rerun_of,
                             writer=writer_identity())
        placeholder = self._wb.sessions.add_message(session.id, user.id, "assistant", "", status="streaming",
                                                    provenance=started.as_dict())
        return AnswerStream(self, session, user, placeholder, replay=replay)

    def target(self, session: ChatSession) -> ChatTarget:
        """What a session runs on: its pinned preset version (parsed, bound to its model) or its bare model."""
        if session.preset_version_id is not None:
            resolved = self._wb.presets.resolve(self._wb.presets.version_by_id(session.preset_version_id))
            return ChatTarget(resolved.model, resolved.version, resolved.modelfile)
        if is_remote_session(session):
            raise InvalidParameter(f"session {session.id} runs on {session.model_name}, a remote endpoint: no local "
                                   "model or preset to show or re-run")
        if session.model_name:
            return ChatTarget(self._wb.library.get(session.model_name))
        raise InvalidParameter(f"session {session.id} has neither a preset nor a model any more "
                               "(its preset was deleted): start a new session")

    def preload(self, name: str) -> None:
        """Load the model a preset or model name answers with (and its draft model), as its next answer would:
        the app calls it on a worker thread for the preset a person is about to use. Blocking; a remote model
        (answered by another endpoint) has nothing to load here."""
        if remote_name(name) is not None:
            return
        from ..engine import prefetch

        target = resolve_target(self._wb, name)
        loaded = self._wb.runtime.acquire(target.model, target_load(self._wb, target))
        prefetch.remember(self._wb.paths, name, **loaded.native_load)  # the next start's head start
        prefetch.discard()  # a stale guess from this start: freed

    def prepare(self, session: ChatSession, user: Message, target: ChatTarget,
                replay: Provenance | None = None) -> PreparedChat:
        """The prompt and request for an answer to `user`: the session's overrides, or a recorded replay."""
        system, session_parameters, parameters, reproducible = (
            session.system_override, session.parameter_overrides, None, None)
        if replay is not None:
            if replay.model_sha256 not in (None, target.model.sha256):
                raise InvalidParameter(
                    f"the answer ran on model sha256 {replay.model_sha256[:12]} but session {session.id} now "
                    f"resolves to {target.model.sha256[:12]}: re-import that model to re-run it")
            system, session_parameters = replay.system_override, None
            parameters = {**(replay.parameters or {}), "seed": replay.seed}
            reproducible = replay.reproducible
        if session.kind == "prompt":  # a raw prompt continued by the model, no template
            return prepare_completion(self._wb, target, user.content,
                                      parameters=merge_parameters(session_parameters, parameters),
                                      reproducible=reproducible)
        sessions = self._wb.sessions
        history = [{"role": m.role, "content": m.content, **({"thinking": m.thinking} if m.thinking else {}),
                    **({"images": sessions.images(m)} if m.media else {})}
                   for m in sessions.path(session.id, user.id)
                   if m.status != "failed"]  # a failed answer's text is not something the model said
        return prepare_chat(self._wb, target, history, system=system, session_parameters=session_parameters,
                            parameters=parameters, reproducible=reproducible)

    def session_modelfile(self, session_id: int) -> str:
        """The session as a Modelfile (like Ollama's `/save`): its preset (or FROM its model) with the session's
        system and parameter overrides applied and the conversation on screen as MESSAGE lines — edited into
        the preset's own text, so its comments and layout stay (modelfile/edit.py)."""
        import dataclasses

        from ..modelfile import parser as mf

        session = self._wb.sessions.get(session_id)
        target = self.target(session)
        base = target.modelfile or mf.Modelfile(from_=target.model.name)
        values = merge_parameters(base.parameter_values(), session.parameter_overrides)
        parameters = tuple((name, item) for name, value in values.items()
                           for item in (value if isinstance(value, list) else [value]))
        shown = [mf.Message(m.role, m.content) for m in self._wb.sessions.path(session_id)
                 if m.status not in ("failed", "streaming") and m.content]
        saved = dataclasses.replace(base, system=session.system_override or base.system, parameters=parameters,
                                    messages=(*base.messages, *shown))
        if target.preset is None:
            return mf.render(saved)
        from ..modelfile.edit import apply_changes

        return apply_changes(target.preset.content, saved)  # the preset's comments and layout stay

    def engine_facts(self) -> dict[str, Any]:
        """What computed the answers (llama.cpp build, backend): the same for every answer of this process."""
        if self._engine_facts is None:
            info = self._wb.runtime.backend_info()
            self._engine_facts = {"backend": info.backend, "llama_cpp_python": info.llama_cpp_python,
                                  "ggml_version": info.ggml_version, "ggml_commit": info.ggml_commit,
                                  "gpu_offload": info.gpu_offload, "machine": info.machine}
        return self._engine_facts

    @property
    def workbench(self) -> Workbench:
        return self._wb


class AnswerStream:
    """One answer being generated into a session. Iterate for text pieces; `result` is the stored Message.

    `user_message` and `assistant_id` are known at once. Iterating the first time loads the model and queues
    the request; a WorkbenchError (no template, prompt over the context, a bad parameter) is saved on the
    answer (status failed) and then raised. `cancel()` is safe from any thread (and from a signal handler):
    the answer ends with status `stopped`, keeping its text. `close()` (or leaving `with stream:`) cancels and
    waits until that is stored. `result` is None until the answer has ended.
    """

    def __init__(self, chat: Chat, session: ChatSession, user_message: Message, placeholder: Message, *,
                 replay: Provenance | None = None):
        self._chat = chat
        self._sessions = chat.workbench.sessions
        self.session_id = session.id
        self.user_message = user_message
        self.assistant_id = placeholder.id
        self._session, self._replay = session, replay
        self._lock = threading.RLock()  # reentrant: cancel() may run in a signal handler on the iterating thread
        self._state = "new"  # new -> running -> done
        self._cancelled = False
        self._generation = None
        self._pieces = AnswerPieces()  # the text so far: thinking and answer apart (a reasoning model)
        self._record = placeholder.provenance_record  # filled in as the answer goes, stored at its end
        self._saved_at = time.monotonic()
        self.result: Message | None = None
        self.error: WorkbenchError | None = None

    @property
    def text(self) -> str:
        return "".join(self._pieces.answer)

    @property
    def thinking(self) -> str:
        return "".join(self._pieces.thinking)

    @property
    def done(self) -> bool:
        return self._state == "done"

    def __iter__(self) -> AnswerStream:
        return self

    def __next__(self) -> str:
        """The next piece of the answer text (a reasoning model's thinking is skipped: see `pieces`)."""
        while True:
            kind, text = self._next_piece()
            if kind == "answer":
                return text

    def pieces(self) -> Iterator[tuple[str, str]]:
        """("thinking" | "answer", text) pieces as they stream; ends like iteration does."""
        while True:
            try:
                yield self._next_piece()
            except StopIteration:
                return

    def _next_piece(self) -> tuple[str, str]:
        queue = self._pieces.queue
        if queue:
            return queue.popleft()
        with self._lock:
            if self._state == "done":
                raise StopIteration
            starting = self._state == "new"
            self._state = "running"
        if starting:
            self._start()
            if self._state == "done":  # cancelled while the model was loading
                raise StopIteration
        try:
            event = next(self._generation)
        except StopIteration:  # the final event was consumed already (a finish that raised): nothing more
            raise
        except BaseException:  # Ctrl-C without a handler, or a bug: end it stopped, never left `streaming`
            self._generation.cancel()
            self._store("stopped", replace(self._record, finish_reason="cancelled"))
            raise
        queue = self._pieces.queue  # (a new one once started: the prepared chat's shape)
        if hasattr(event, "finish_reason"):
            self._pieces.finish()
            self._finish(event)
            if queue:
                return queue.popleft()
            raise StopIteration
        self._pieces.feed(event.text, event.completion_tokens)
        self._save_progress()
        return queue.popleft() if queue else ("answer", "")

    def collect(self) -> Message:
        """Run to the end; the stored assistant Message (raises like iteration does)."""
        for _ in self:
            pass
        assert self.result is not None
        return self.result

    def close(self) -> None:
        """Stop the answer if it still runs and wait until it is stored (`with stream:` does this on exit).

        Call it from the thread that iterates (cancel() is the one for other threads): it drains the stream,
        so a consumer that dies half-way (a closed pipe, an exception) never leaves the answer `streaming`.
        """
        self.cancel()
        with contextlib.suppress(WorkbenchError):
            for _ in self:
                pass

    def __enter__(self) -> AnswerStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def cancel(self) -> None:
        """End the answer as `stopped` at the engine's next step (before it started: at once)."""
        with self._lock:
            self._cancelled = True
            generation = self._generation
            unstarted = self._state == "new"
            if unstarted:
                self._state = "done"
        if unstarted:
            self._store("stopped", replace(self._record, finish_reason="cancelled"))
        elif generation is not None:
            generation.cancel()

    # -- the phases --------------------------------------------------------------------------------------
    def _start(self) -> None:
        chat = self._chat
        try:
            if is_remote_session(self._session):  # model remote:NAME: an endpoint answers (remote/chat_stream.py)
                generation, self._record = start_remote(chat.workbench, self._session, self.user_message,
                                                        self._record)
            else:
                target = chat.target(self._session)
                self._record = provenance_fields.with_target(self._record, target)
                prepared = chat.prepare(self._session, self.user_message, target, self._replay)
                self._record = provenance_fields.with_prompt(self._record, prepared, self._session, self._replay)
                generation = prepared.generate(chat.workbench.runtime)
                self._pieces = AnswerPieces(prepared.shape)
                self._record = provenance_fields.with_load(self._record, chat, prepared)
        except WorkbenchError as exc:
            self._fail(exc)
            raise
        except BaseException as exc:  # a bug or Ctrl-C: still leave the answer marked, never `streaming`
            self._fail(exc)
            raise
        with self._lock:
            self._generation = generation
            cancelled = self._cancelled
        if cancelled:
            generation.cancel()

    def _save_progress(self) -> None:
        now = time.monotonic()
        if now - self._saved_at >= SAVE_INTERVAL:
            self._saved_at = now
            try:
                self._sessions.update_message(self.assistant_id, content=self.text, thinking=self.thinking)
            except WorkbenchError:  # a full disk, a database locked too long: stop generating what cannot be kept
                self._generation.cancel()
                with self._lock:
                    self._state = "done"
                raise

    def _finish(self, final) -> None:
        status = _STATUS[final.finish_reason]
        record = provenance_fields.with_outcome(self._record, final)
        # how long the model thought; a remote's endpoint, reported model and fingerprint
        record = replace(record, extra={**record.extra, **self._pieces.facts(), **getattr(final, "extra", {})})
        self._store(status, record)
        if status == "failed":
            self.error = EngineError(f"the answer failed while generating: {final.error}")
            raise self.error

    def _fail(self, exc: BaseException) -> None:
        if isinstance(exc, KeyboardInterrupt):  # Ctrl-C while loading: the user stopped it
            self._store("stopped", replace(self._record, finish_reason="cancelled"))
            return
        self.error = exc if isinstance(exc, WorkbenchError) else None
        self._store("failed", replace(self._record, finish_reason="error", error=str(exc) or type(exc).__name__,
                                      error_type=type(exc).__name__))

    def _store(self, status: str, record: Provenance) -> None:
        # the writer goes: only recovery needs it, and an exported session should not carry host names
        record = replace(record, finished_at=utc_text(timespec="milliseconds", zulu=True), writer=None)
        with self._lock:
            self._state = "done"
        self.result = self._sessions.update_message(self.assistant_id, content=self.text, status=status,
                                                    provenance=record.as_dict(), thinking=self.thinking)
