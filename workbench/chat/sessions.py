"""Sessions (`wb.sessions`): conversation trees that remember exactly what produced every answer.

A session pins a preset version or a library model; its messages form a tree through `parent_id` (regenerate and
edit make siblings) and `current_leaf_id` is the branch on screen. Answers a killed process left streaming are
recovered at start-up; export is Markdown or JSON with provenance (docs/design.md §6.4).
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidMedia, InvalidParameter, NotFound
from ..records import ChatSession, MediaRef, Message, SearchHit
from .media import Media
from .media_store import MediaStore, as_media
from .titles import retitle_after_question

if TYPE_CHECKING:
    from ..app import Workbench

EXPORT_FORMAT = "workbench.session/1"


class Sessions:
    def __init__(self, workbench: Workbench):
        self._wb = workbench
        self._repo = workbench.store.sessions

    def recover_interrupted(self, *, force: bool = False) -> int:
        """Mark answers left `streaming` by a killed process as `interrupted` (their text so far is kept).

        An answer records the process writing it (chat.service.writer_identity: host, pid, process start time), so
        only answers whose writer is gone are marked: any caller may call this at start-up, even while the app
        or another `workbench run` streams into the same data dir. One written from another host (a shared
        folder: its processes cannot be seen from here) is left alone unless force=True, which marks every
        `streaming` answer — for a caller that knows nothing else writes.
        """
        from .service import writer_alive

        if force:
            return self._repo.mark_interrupted()
        gone = [m.id for m in self._repo.streaming() if not writer_alive(m.provenance_record.writer)]
        return self._repo.mark_interrupted(gone) if gone else 0

    # -- sessions ----------------------------------------------------------------------------------------
    def create(self, *, preset_ref: str | None = None, model_name: str | None = None, title: str | None = None,
               kind: str = "chat", system_override: str | None = None,
               parameter_overrides: dict | None = None) -> ChatSession:
        if kind not in ("chat", "prompt"):
            raise InvalidParameter(f"session kind must be 'chat' or 'prompt', not {kind!r}")
        version_id = None
        if preset_ref:
            version = self._wb.presets.get(preset_ref)
            version_id = version.id
            title = title or version.ref
        elif model_name:
            if model_name.startswith("remote:"):  # a registered remote endpoint (workbench/remote)
                self._wb.remotes.get(model_name.removeprefix("remote:"))
            else:
                self._wb.library.get(model_name)
            title = title or model_name
        else:
            raise InvalidParameter("a session needs a preset or a model")
        return self._repo.create(title or "untitled", kind=kind, preset_version_id=version_id,
                                 model_name=model_name, system_override=system_override,
                                 parameter_overrides=parameter_overrides)

    def get(self, session_id: int) -> ChatSession:
        return self._repo.get(session_id)

    def list(self) -> list[ChatSession]:
        return self._repo.list()

    def rename(self, session_id: int, title: str) -> ChatSession:
        if not title.strip():
            raise InvalidParameter("a session title cannot be empty")
        return self._repo.update(session_id, title=title.strip())

    def set_overrides(self, session_id: int, *, system: str | None = None,
                      parameters: dict | None = None) -> ChatSession:
        changes: dict = {}
        if system is not None:
            changes["system_override"] = system or None
        if parameters is not None:
            changes["parameter_overrides"] = parameters
        return self._repo.update(session_id, **changes)

    def delete(self, session_id: int) -> None:
        session = self._repo.get(session_id)
        self._repo.delete(session_id)
        self._wb.audit.record("session.deleted", f"session {session_id}", _session_details(session))

    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        return self._repo.search(query, limit)

    # -- the tree ----------------------------------------------------------------------------------------
    def messages(self, session_id: int) -> list[Message]:
        return self._repo.messages(session_id)

    def path(self, session_id: int, leaf_id: int | None = None) -> list[Message]:
        """The conversation on screen: root → leaf (the session's current leaf by default)."""
        by_id = {m.id: m for m in self._repo.messages(session_id)}
        node = by_id.get(leaf_id if leaf_id is not None else self._repo.get(session_id).current_leaf_id)
        chain: list[Message] = []
        while node is not None:
            chain.append(node)
            node = by_id.get(node.parent_id) if node.parent_id is not None else None
        return chain[::-1]

    def siblings(self, message_id: int) -> list[Message]:
        """The message and its alternatives (same parent, same role), oldest first."""
        message = self._repo.message(message_id)
        return [m for m in self._repo.messages(message.session_id)
                if m.parent_id == message.parent_id and m.role == message.role]

    def switch_to(self, message_id: int) -> ChatSession:
        """Show the branch through message_id, following the newest child down to a leaf."""
        message = self._repo.message(message_id)
        children: dict[int | None, list[Message]] = {}
        for m in self._repo.messages(message.session_id):
            children.setdefault(m.parent_id, []).append(m)
        leaf = message
        while children.get(leaf.id):
            leaf = children[leaf.id][-1]
        return self._repo.update(message.session_id, current_leaf_id=leaf.id)

    def add_message(self, session_id: int, parent_id: int | None, role: str, content: str, *,
                    images: list | tuple = (), **kwargs) -> Message:
        """`images` (Media, image bytes or file paths) are checked first, then stored by content, then referenced
        by the message: a bad one raises InvalidMedia before anything is stored."""
        if role not in ("system", "user", "assistant"):
            raise InvalidParameter(f"message role must be system, user or assistant, not {role!r}")
        checked = [as_media(item) for item in images]
        if checked and role != "user":
            raise InvalidParameter("only user messages carry images")
        refs = self.media.put_all(checked)
        message = self._repo.add_message(session_id, parent_id, role, content, media=refs, **kwargs)
        if role == "user":
            retitle_after_question(self._repo, session_id, content)  # "default@1" → the first question
        return message

    @cached_property
    def media(self) -> MediaStore:
        """The content-addressed folder of attached images (chat/media_store.py)."""
        return MediaStore(self._wb.paths.media)

    def images(self, message: Message) -> list[Media]:
        """A message's attachments, read back from the media folder."""
        return [self.media.get(ref) for ref in message.media]

    def update_message(self, message_id: int, **kwargs) -> Message:
        return self._repo.update_message(message_id, **kwargs)

    def message(self, message_id: int) -> Message:
        return self._repo.message(message_id)

    # -- export / import ---------------------------------------------------------------------------------
    def export_json(self, session_id: int) -> dict:
        session = self._repo.get(session_id)
        self._wb.audit.record("session.exported", f"session {session_id}", _session_details(session, format="json"))
        preset_text = None
        if session.preset_version_id is not None:
            preset_text = self._wb.presets.version_by_id(session.preset_version_id).content
        messages = self._repo.messages(session_id)
        return {
            "format": EXPORT_FORMAT,
            "session": {
                "title": session.title, "kind": session.kind, "preset": session.preset_ref,
                "preset_modelfile": preset_text, "model": session.model_name,
                "system_override": session.system_override, "parameter_overrides": session.parameter_overrides,
                "created_at": session.created_at.isoformat(), "current_leaf": session.current_leaf_id,
            },
            "messages": [
                {"id": m.id, "parent": m.parent_id, "role": m.role, "content": m.content, "status": m.status,
                 "created_at": m.created_at.isoformat(), "provenance": m.provenance,
                 **({"thinking": m.thinking} if m.thinking else {}),
                 **({"media": [ref.sha256 for ref in m.media]} if m.media else {})}
                for m in messages
            ],
            **({"media": self._export_media(messages)} if any(m.media for m in messages) else {}),
        }

    def _export_media(self, messages: list[Message]) -> dict:
        """Each attached file once, base64 in the JSON (one self-contained file to carry), by sha256."""
        refs = {ref.sha256: ref for m in messages for ref in m.media}
        return {sha: {"kind": ref.kind, "mime": ref.mime,
                      "data_base64": base64.b64encode(self.media.get(ref).data).decode("ascii")}
                for sha, ref in refs.items()}

    def export_markdown(self, session_id: int) -> str:
        session = self._repo.get(session_id)
        self._wb.audit.record("session.exported", f"session {session_id}", _session_details(session, format="md"))
        lines = [f"# {session.title}", ""]
        lines.append(f"*{session.preset_ref or session.model_name} · {session.created_at:%Y-%m-%d %H:%M} UTC*")
        for m in self.path(session_id):
            lines += ["", f"## {m.role.capitalize()}", ""]
            if m.thinking:  # collapsed where Markdown renders HTML (GitHub, most viewers)
                lines += ["<details><summary>Thinking</summary>", "", m.thinking, "", "</details>", ""]
            lines.append(m.content)
            lines += [f"*[{ref.kind} {ref.mime}, sha256 {ref.sha256[:12]}]*" for ref in m.media]
            if m.role == "assistant" and m.provenance:
                p = m.provenance_record
                tokens = "?" if p.completion_tokens is None else p.completion_tokens
                lines += ["", f"<sub>{tokens} tokens · TTFT {p.ttft_seconds or 0:.2f} s · "
                          f"{p.tokens_per_second or 0:.1f} tok/s · seed {p.seed} · "
                          f"model {(p.model_sha256 or '')[:12]} · {m.status}</sub>"]
        return "\n".join(lines) + "\n"

    def import_json(self, data: dict | str | Path) -> ChatSession:
        """Read an exported session back as a new session (ids are renumbered, the tree is kept)."""
        if isinstance(data, Path):
            data = json.loads(data.read_text(encoding="utf-8"))
        elif isinstance(data, str):
            data = json.loads(data)
        if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
            raise InvalidParameter(f"not a Workbench session export (expected format {EXPORT_FORMAT!r})")
        try:
            session = self._import(data)
        except (KeyError, TypeError, AttributeError) as exc:  # a hand-edited or truncated export
            raise InvalidParameter(f"the session export is incomplete or malformed ({type(exc).__name__}: {exc}); "
                                   "nothing was imported") from None
        self._wb.audit.record("session.imported", f"session {session.id}", _session_details(session))
        return session

    def _import(self, data: dict) -> ChatSession:
        meta = data["session"]
        media = self._import_media(data.get("media") or {})  # checked and stored before any row is written
        version_id = None
        if meta.get("preset"):
            try:
                version_id = self._wb.presets.get(meta["preset"]).id
            except NotFound:
                version_id = None  # the preset is not here; the messages keep their provenance
        session = self._repo.create(meta.get("title") or "imported", kind=meta.get("kind", "chat"),
                                    preset_version_id=version_id, model_name=meta.get("model"),
                                    system_override=meta.get("system_override"),
                                    parameter_overrides=meta.get("parameter_overrides") or {})
        new_ids: dict[int, int] = {}
        try:
            for m in sorted(data["messages"], key=lambda m: m["id"]):
                parent = new_ids.get(m["parent"]) if m.get("parent") is not None else None
                created = self._repo.add_message(session.id, parent, m["role"], m["content"],
                                                 status=m.get("status", "complete"), provenance=m.get("provenance"),
                                                 thinking=m.get("thinking") or "",
                                                 media=tuple(media[sha] for sha in m.get("media") or ()))
                new_ids[m["id"]] = created.id
        except BaseException:
            self._repo.delete(session.id)  # all or nothing: no half-imported session is left behind
            raise
        leaf = new_ids.get(meta.get("current_leaf"))
        if leaf is not None:
            session = self._repo.update(session.id, current_leaf_id=leaf)
        return self._repo.get(session.id)


    def _import_media(self, exported: dict) -> dict[str, MediaRef]:
        """The export's attachments, each decoded, checked to be the image its sha256 names, and stored."""
        refs = {}
        for sha, item in exported.items():
            try:
                data = base64.b64decode(item["data_base64"], validate=True)
            except (binascii.Error, ValueError):
                raise InvalidMedia(f"attachment {sha[:12]} in the session export is not valid base64") from None
            media = Media.from_bytes(data)
            if media.sha256 != sha:
                raise InvalidMedia(f"attachment {sha[:12]} in the session export has other bytes than its sha256 "
                                   "says: the export was changed or damaged")
            refs[sha] = self.media.put(media)
        return refs


def _session_details(session: ChatSession, **extra) -> dict:
    """What the audit trail keeps of a session: which preset or model it ran, never its title or messages."""
    return {"preset": session.preset_ref, "model": session.model_name, "kind": session.kind, **extra}
