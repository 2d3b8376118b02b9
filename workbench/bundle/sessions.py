"""Chat sessions in bundles: each carried as its JSON export (chat/sessions.py: the message tree, provenance and
the images, embedded), bringing the preset or model it runs on, and imported as a new session unless one with
the same title and the same messages is here already — so importing a bundle twice adds nothing.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from ..errors import ChecksumMismatch, WorkbenchError
from .format import BundleSession, InvalidBundle, session_member_name

if TYPE_CHECKING:
    from ..app import Workbench


def bundle_sessions(wb: Workbench, ids) -> tuple[list[BundleSession], dict[str, bytes], list[str], list[str]]:
    """(manifest entries, member bytes, presets and models the sessions run on) for the sessions `ids`."""
    entries, members, presets, models = [], {}, [], []
    for session_id in dict.fromkeys(ids):
        session = wb.sessions.get(session_id)
        raw = json.dumps(wb.sessions.export_json(session_id), sort_keys=True, ensure_ascii=False).encode("utf-8")
        sha = hashlib.sha256(raw).hexdigest()
        entries.append(BundleSession(session_member_name(sha), sha, len(raw), session.title))
        members[session_member_name(sha)] = raw
        if session.preset_ref:
            presets.append(session.preset_ref.rsplit("@", 1)[0])
        elif session.model_name:
            models.append(session.model_name)
    return entries, members, presets, models


def read_session(tar, info, entry: BundleSession, bundle) -> dict:
    """A carried session's export, its bytes checked against the manifest's sha256 and parsed."""
    try:
        raw = tar.extractfile(info).read()
    except OSError as exc:
        raise InvalidBundle(f"{bundle} is damaged or truncated inside {entry.member} ({exc})") from None
    if hashlib.sha256(raw).hexdigest() != entry.sha256:
        raise ChecksumMismatch(f"{bundle}'s {entry.member} does not match its sha256: the bundle was damaged in "
                               "transit; copy it again")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidBundle(f"{bundle}'s {entry.member} is not a session export ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise InvalidBundle(f"{bundle}'s {entry.member} is not a session export")
    return data


def import_session(wb: Workbench, data: dict, entry: BundleSession, bundle) -> bool:
    """Add the session unless the same conversation is here; True when it was added."""
    wanted = _fingerprint(entry.title, _exported(data))
    for session in wb.sessions.list():
        if session.title == entry.title and _fingerprint(session.title, _stored(wb, session.id)) == wanted:
            return False
    try:
        wb.sessions.import_json(data)
    except WorkbenchError as exc:
        raise InvalidBundle(f"{bundle}'s session {entry.title!r} cannot be imported: {exc}") from None
    return True


def _exported(data: dict) -> list[tuple]:
    """(role, content, image sha256s, parent position) of an export's messages, in their order."""
    try:
        ordered = sorted(data["messages"], key=lambda m: m["id"])
        position = {m["id"]: i for i, m in enumerate(ordered)}
        return [(m["role"], m["content"], tuple(m.get("media") or ()), position.get(m.get("parent")))
                for m in ordered]
    except (KeyError, TypeError) as exc:
        raise InvalidBundle(f"a carried session export is malformed ({type(exc).__name__}: {exc})") from None


def _stored(wb: Workbench, session_id: int) -> list[tuple]:
    messages = wb.sessions.messages(session_id)
    position = {m.id: i for i, m in enumerate(messages)}
    return [(m.role, m.content, tuple(r.sha256 for r in m.media), position.get(m.parent_id)) for m in messages]


def _fingerprint(title: str, messages: list[tuple]) -> str:
    return hashlib.sha256(json.dumps([title, messages], ensure_ascii=False).encode("utf-8")).hexdigest()
