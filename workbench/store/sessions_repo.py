"""Repository for sessions and their message trees, with FTS5 search over message text."""

from __future__ import annotations

import json
import re

from sqlalchemy import select, text, update

from ..errors import InvalidParameter, NotFound
from ..files import utc_naive_now
from ..records import ChatSession, MediaRef, Message, SearchHit
from .media_tables import MessageMediaRow
from .presets_tables import PresetRow, PresetVersionRow
from .sessions_tables import MessageRow, SessionRow

_SESSION_FIELDS = ("title", "kind", "model_name", "system_override", "current_leaf_id", "preset_version_id")


def _message(row: MessageRow, media: tuple[MediaRef, ...] = ()) -> Message:
    return Message(
        id=row.id, session_id=row.session_id, parent_id=row.parent_id, role=row.role, content=row.content,
        status=row.status, created_at=row.created_at,
        provenance=json.loads(row.provenance) if row.provenance else None, thinking=row.thinking or "",
        media=media,
    )


def _media_of(s, message_ids: list[int]) -> dict[int, tuple[MediaRef, ...]]:
    """The media references of these messages, in their order (one query for a whole session)."""
    found: dict[int, list[MediaRef]] = {}
    if not message_ids:
        return {}
    rows = s.scalars(select(MessageMediaRow).where(MessageMediaRow.message_id.in_(message_ids))
                     .order_by(MessageMediaRow.message_id, MessageMediaRow.position))
    for r in rows:
        found.setdefault(r.message_id, []).append(MediaRef(r.sha256, r.kind, r.mime, r.size_bytes))
    return {k: tuple(v) for k, v in found.items()}


def fts_query(user_text: str) -> str:
    """Quote every word so user input is never parsed as FTS5 syntax (AND/NEAR/column filters/quotes)."""
    words = re.findall(r"\w+", user_text, flags=re.UNICODE)
    if not words:
        raise InvalidParameter("search needs at least one word")
    return " ".join(f'"{w}"' for w in words)


class SessionRepository:
    def __init__(self, store):
        self._store = store

    def _row(self, s, session_id: int) -> SessionRow:
        row = s.get(SessionRow, session_id)
        if row is None:
            raise NotFound(f"no session with id {session_id}: `workbench sessions list` shows them")
        return row

    def _record(self, s, row: SessionRow) -> ChatSession:
        ref = None
        if row.preset_version_id is not None:
            version = s.get(PresetVersionRow, row.preset_version_id)
            ref = f"{s.get(PresetRow, version.preset_id).name}@{version.number}"
        return ChatSession(
            id=row.id, title=row.title, kind=row.kind, created_at=row.created_at, updated_at=row.updated_at,
            preset_version_id=row.preset_version_id, preset_ref=ref, model_name=row.model_name,
            system_override=row.system_override, parameter_overrides=json.loads(row.parameter_overrides),
            current_leaf_id=row.current_leaf_id,
        )

    def create(self, title: str, *, kind: str = "chat", preset_version_id: int | None = None,
               model_name: str | None = None, system_override: str | None = None,
               parameter_overrides: dict | None = None) -> ChatSession:
        now = utc_naive_now()
        with self._store.session() as s:
            row = SessionRow(title=title, kind=kind, preset_version_id=preset_version_id, model_name=model_name,
                             system_override=system_override,
                             parameter_overrides=json.dumps(parameter_overrides or {}),
                             created_at=now, updated_at=now)
            s.add(row)
            s.flush()
            return self._record(s, row)

    def get(self, session_id: int) -> ChatSession:
        with self._store.session() as s:
            return self._record(s, self._row(s, session_id))

    def list(self) -> list[ChatSession]:
        with self._store.session() as s:
            rows = s.scalars(select(SessionRow).order_by(SessionRow.updated_at.desc(), SessionRow.id.desc()))
            return [self._record(s, r) for r in rows]

    def update(self, session_id: int, **changes) -> ChatSession:
        unknown = set(changes) - {*_SESSION_FIELDS, "parameter_overrides"}
        if unknown:
            raise InvalidParameter(f"cannot change {', '.join(sorted(unknown))} of a session")
        with self._store.session() as s:
            row = self._row(s, session_id)
            for key, value in changes.items():
                setattr(row, key, json.dumps(value) if key == "parameter_overrides" else value)
            row.updated_at = utc_naive_now()
            s.flush()
            return self._record(s, row)

    def delete(self, session_id: int) -> None:
        with self._store.session() as s:
            s.delete(self._row(s, session_id))

    # -- messages ----------------------------------------------------------------------------------------
    def add_message(self, session_id: int, parent_id: int | None, role: str, content: str, *,
                    status: str = "complete", provenance: dict | None = None, thinking: str = "",
                    media: tuple[MediaRef, ...] = ()) -> Message:
        with self._store.session() as s:
            session = self._row(s, session_id)
            if parent_id is not None:
                parent = s.get(MessageRow, parent_id)
                if parent is None or parent.session_id != session_id:
                    raise NotFound(f"message {parent_id} is not in session {session_id}")
            row = MessageRow(session_id=session_id, parent_id=parent_id, role=role, content=content,
                             thinking=thinking or None, status=status,
                             provenance=json.dumps(provenance) if provenance else None, created_at=utc_naive_now())
            s.add(row)
            s.flush()
            for position, ref in enumerate(media):  # in the message's own transaction: all or nothing
                s.add(MessageMediaRow(message_id=row.id, position=position, sha256=ref.sha256, kind=ref.kind,
                                      mime=ref.mime, size_bytes=ref.size_bytes))
            session.current_leaf_id = row.id
            session.updated_at = row.created_at
            return _message(row, tuple(media))

    def update_message(self, message_id: int, *, content: str | None = None, status: str | None = None,
                       provenance: dict | None = None, thinking: str | None = None) -> Message:
        with self._store.session() as s:
            row = s.get(MessageRow, message_id)
            if row is None:
                raise NotFound(f"no message with id {message_id}")
            if content is not None:
                row.content = content
            if thinking is not None:
                row.thinking = thinking or None
            if status is not None:
                row.status = status
            if provenance is not None:
                row.provenance = json.dumps(provenance)
            s.flush()
            return _message(row, _media_of(s, [row.id]).get(row.id, ()))

    def message(self, message_id: int) -> Message:
        with self._store.session() as s:
            row = s.get(MessageRow, message_id)
            if row is None:
                raise NotFound(f"no message with id {message_id}")
            return _message(row, _media_of(s, [row.id]).get(row.id, ()))

    def messages(self, session_id: int) -> list[Message]:
        with self._store.session() as s:
            self._row(s, session_id)
            rows = list(s.scalars(select(MessageRow).where(MessageRow.session_id == session_id)
                                  .order_by(MessageRow.id)))
            media = _media_of(s, [r.id for r in rows])
            return [_message(r, media.get(r.id, ())) for r in rows]

    def media_sha256s(self) -> set[str]:
        """Every content address some message refers to (retention keeps these files)."""
        with self._store.session() as s:
            return set(s.scalars(select(MessageMediaRow.sha256).distinct()))

    def streaming(self) -> list[Message]:
        """Answers whose status is still 'streaming' (being written now, or left so by a killed process)."""
        with self._store.session() as s:
            return [_message(r) for r in s.scalars(select(MessageRow).where(MessageRow.status == "streaming"))]

    def mark_interrupted(self, ids: list[int] | None = None) -> int:
        """Answers left 'streaming' (all, or those in ids) become 'interrupted'; their text so far is kept."""
        query = update(MessageRow).where(MessageRow.status == "streaming")
        if ids is not None:
            query = query.where(MessageRow.id.in_(ids))
        with self._store.session() as s:
            return s.execute(query.values(status="interrupted")).rowcount

    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        sql = text(
            "SELECT m.session_id, s.title, m.id, m.role, "
            "snippet(messages_fts, 0, '[', ']', '…', 12) FROM messages_fts "
            "JOIN messages m ON m.id = messages_fts.rowid JOIN sessions s ON s.id = m.session_id "
            "WHERE messages_fts MATCH :q ORDER BY rank LIMIT :limit")
        with self._store.session() as s:
            rows = s.execute(sql, {"q": fts_query(query), "limit": limit})
            return [SearchHit(*row) for row in rows]
