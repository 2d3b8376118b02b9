"""Repository for the `models` table: LocalModel in, LocalModel out."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from sqlalchemy import select

from ..errors import AlreadyExists, NotFound
from ..records import LocalModel
from .tables import ModelRow

_JSON_FIELDS = ("path", "split_paths", "split_sha256", "metadata", "id")
_SCALARS = [f.name for f in dataclasses.fields(LocalModel) if f.name not in _JSON_FIELDS]


def _to_record(row: ModelRow) -> LocalModel:
    return LocalModel(
        **{name: getattr(row, name) for name in _SCALARS},
        path=Path(row.path),
        split_paths=tuple(Path(p) for p in json.loads(row.split_paths)),
        split_sha256=tuple(json.loads(row.split_sha256)),
        metadata=json.loads(row.metadata_json),
        id=row.id,
    )


def _to_row_values(model: LocalModel) -> dict:
    values = {name: getattr(model, name) for name in _SCALARS}
    values.update(
        path=str(model.path),
        split_paths=json.dumps([str(p) for p in model.split_paths]),
        split_sha256=json.dumps(list(model.split_sha256)),
        metadata_json=json.dumps(model.metadata, default=str),
    )
    return values


class ModelRepository:
    def __init__(self, store):
        self._store = store

    def add(self, model: LocalModel) -> LocalModel:
        with self._store.session() as s:
            if s.scalar(select(ModelRow.id).where(ModelRow.name == model.name)) is not None:
                raise AlreadyExists(f"a model named {model.name!r} already exists: pick another --name")
            row = ModelRow(**_to_row_values(model))
            s.add(row)
            s.flush()
            return _to_record(row)

    def get(self, name: str) -> LocalModel:
        with self._store.session() as s:
            row = s.scalar(select(ModelRow).where(ModelRow.name == name))
            if row is None:
                raise NotFound(f"no model named {name!r}: `workbench list` shows the library")
            return _to_record(row)

    def find(self, name: str) -> LocalModel | None:
        try:
            return self.get(name)
        except NotFound:
            return None

    def by_sha256(self, sha256: str) -> list[LocalModel]:
        with self._store.session() as s:
            rows = s.scalars(select(ModelRow).where(ModelRow.sha256 == sha256).order_by(ModelRow.id))
            return [_to_record(r) for r in rows]

    def list(self) -> list[LocalModel]:
        with self._store.session() as s:
            return [_to_record(r) for r in s.scalars(select(ModelRow).order_by(ModelRow.name))]

    def update(self, model: LocalModel) -> LocalModel:
        with self._store.session() as s:
            row = s.scalar(select(ModelRow).where(ModelRow.name == model.name))
            if row is None:
                raise NotFound(f"no model named {model.name!r}")
            for key, value in _to_row_values(model).items():
                setattr(row, key, value)
            s.flush()
            return _to_record(row)

    def remove(self, name: str) -> LocalModel:
        with self._store.session() as s:
            row = s.scalar(select(ModelRow).where(ModelRow.name == name))
            if row is None:
                raise NotFound(f"no model named {name!r}: `workbench list` shows the library")
            record = _to_record(row)
            s.delete(row)
            return record
