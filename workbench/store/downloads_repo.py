"""Repository for the `downloads` table: resumable Hub download state in, DownloadState out."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select

from ..files import utc_naive_now
from ..records import DownloadState
from .tables import DownloadRow

_FIELDS = [f.name for f in dataclasses.fields(DownloadState)]


def _to_record(row: DownloadRow) -> DownloadState:
    return DownloadState(**{name: getattr(row, name) for name in _FIELDS})


class DownloadRepository:
    def __init__(self, store):
        self._store = store

    def upsert(self, state: DownloadState) -> DownloadState:
        """Insert or replace the row with `state.key` (a fresh download of the same bytes reuses its key)."""
        values = {name: getattr(state, name) for name in _FIELDS if name != "id"}
        values["updated_at"] = utc_naive_now()
        with self._store.session() as s:
            row = s.scalar(select(DownloadRow).where(DownloadRow.key == state.key))
            if row is None:
                row = DownloadRow(**values)
                s.add(row)
            else:
                for key, value in values.items():
                    setattr(row, key, value)
            s.flush()
            return _to_record(row)

    def get(self, key: str) -> DownloadState | None:
        with self._store.session() as s:
            row = s.scalar(select(DownloadRow).where(DownloadRow.key == key))
            return None if row is None else _to_record(row)

    def set_status(self, key: str, status: str, *, bytes_done: int | None = None,
                   error: str | None = None) -> DownloadState | None:
        with self._store.session() as s:
            row = s.scalar(select(DownloadRow).where(DownloadRow.key == key))
            if row is None:
                return None
            row.status = status
            row.error = error
            if bytes_done is not None:
                row.bytes_done = bytes_done
            row.updated_at = utc_naive_now()
            s.flush()
            return _to_record(row)

    def list(self, status: str | None = None) -> list[DownloadState]:
        with self._store.session() as s:
            query = select(DownloadRow).order_by(DownloadRow.updated_at.desc())
            if status is not None:
                query = query.where(DownloadRow.status == status)
            return [_to_record(r) for r in s.scalars(query)]

    def remove(self, key: str) -> bool:
        with self._store.session() as s:
            row = s.scalar(select(DownloadRow).where(DownloadRow.key == key))
            if row is None:
                return False
            s.delete(row)
            return True
