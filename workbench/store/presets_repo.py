"""Repository for presets: immutable versions with parents, content hashes and movable tags."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update

from ..errors import AlreadyExists, InvalidParameter, NotFound
from ..files import utc_naive_now
from ..records import Preset, PresetVersion
from .presets_tables import PresetRow, PresetTagRow, PresetVersionRow
from .sessions_tables import SessionRow

LATEST = "latest"


class PresetRepository:
    def __init__(self, store):
        self._store = store

    # -- reading -----------------------------------------------------------------------------------------
    def _preset_row(self, s, name: str) -> PresetRow:
        row = s.scalar(select(PresetRow).where(PresetRow.name == name))
        if row is None:
            raise NotFound(f"no preset named {name!r}: `workbench presets list` shows them")
        return row

    def _tags_by_version(self, s, preset_id: int) -> dict[int, list[str]]:
        tags: dict[int, list[str]] = {}
        for tag in s.scalars(select(PresetTagRow).where(PresetTagRow.preset_id == preset_id)):
            tags.setdefault(tag.version_id, []).append(tag.tag)
        return tags

    def _version(self, s, preset: PresetRow, row: PresetVersionRow, tags: dict[int, list[str]]) -> PresetVersion:
        parent_number = None
        if row.parent_id is not None:
            parent_number = s.scalar(select(PresetVersionRow.number).where(PresetVersionRow.id == row.parent_id))
        return PresetVersion(
            preset_name=preset.name, number=row.number, content=row.content, content_sha256=row.content_sha256,
            created_at=row.created_at, parent_number=parent_number, message=row.message,
            model_sha256=row.model_sha256, tags=tuple(sorted(tags.get(row.id, ()))), id=row.id,
        )

    def _version_row(self, s, preset: PresetRow, selector: int | str | None) -> PresetVersionRow:
        """selector: a version number, a tag name, or None for latest."""
        query = select(PresetVersionRow).where(PresetVersionRow.preset_id == preset.id)
        if isinstance(selector, int):
            row = s.scalar(query.where(PresetVersionRow.number == selector))
            what = f"version {selector}"
        else:
            tag = selector or LATEST
            version_id = s.scalar(select(PresetTagRow.version_id).where(
                PresetTagRow.preset_id == preset.id, PresetTagRow.tag == tag))
            row = s.get(PresetVersionRow, version_id) if version_id is not None else None
            what = f"tag {tag!r}"
        if row is None:
            raise NotFound(f"preset {preset.name!r} has no {what}: `workbench presets history {preset.name}`")
        return row

    def get_version(self, name: str, selector: int | str | None = None) -> PresetVersion:
        with self._store.session() as s:
            preset = self._preset_row(s, name)
            row = self._version_row(s, preset, selector)
            return self._version(s, preset, row, self._tags_by_version(s, preset.id))

    def version_by_id(self, version_id: int) -> PresetVersion:
        with self._store.session() as s:
            row = s.get(PresetVersionRow, version_id)
            if row is None:
                raise NotFound(f"no preset version with id {version_id}")
            preset = s.get(PresetRow, row.preset_id)
            return self._version(s, preset, row, self._tags_by_version(s, preset.id))

    def history(self, name: str) -> list[PresetVersion]:
        with self._store.session() as s:
            preset = self._preset_row(s, name)
            tags = self._tags_by_version(s, preset.id)
            rows = s.scalars(select(PresetVersionRow).where(PresetVersionRow.preset_id == preset.id)
                             .order_by(PresetVersionRow.number.desc()))
            return [self._version(s, preset, r, tags) for r in rows]

    def list(self) -> list[Preset]:
        with self._store.session() as s:
            result = []
            for preset in s.scalars(select(PresetRow).order_by(PresetRow.name)):
                tags = self._tags_by_version(s, preset.id)
                latest = self._version(s, preset, self._version_row(s, preset, LATEST), tags)
                count = s.scalar(select(func.count()).where(PresetVersionRow.preset_id == preset.id))
                numbers = {v.id: v.number for v in s.scalars(
                    select(PresetVersionRow).where(PresetVersionRow.preset_id == preset.id))}
                tag_map = {t: numbers[vid] for vid, ts in tags.items() for t in ts}
                result.append(Preset(preset.name, preset.created_at, latest, count, tag_map))
            return result

    def exists(self, name: str) -> bool:
        with self._store.session() as s:
            return s.scalar(select(PresetRow.id).where(PresetRow.name == name)) is not None

    # -- writing -----------------------------------------------------------------------------------------
    def save(self, name: str, content: str, content_sha256: str, *, message: str | None = None,
             model_sha256: str | None = None, create: bool = False,
             created_at: datetime | None = None) -> tuple[PresetVersion, bool]:
        """Append a version unless the latest already has this content. Returns (version, created_new).

        created_at (naive UTC) is for versions brought from elsewhere (an air-gap bundle keeps their times)."""
        with self._store.session() as s:
            preset = s.scalar(select(PresetRow).where(PresetRow.name == name))
            if preset is None:
                preset = PresetRow(name=name, created_at=utc_naive_now())
                s.add(preset)
                s.flush()
            elif create:
                raise AlreadyExists(f"a preset named {name!r} already exists: save a new version of it instead")
            latest = s.scalar(select(PresetVersionRow).where(PresetVersionRow.preset_id == preset.id)
                              .order_by(PresetVersionRow.number.desc()).limit(1))
            if latest is not None and latest.content_sha256 == content_sha256:
                return self._version(s, preset, latest, self._tags_by_version(s, preset.id)), False
            row = PresetVersionRow(
                preset_id=preset.id, number=(latest.number + 1) if latest else 1, content=content,
                content_sha256=content_sha256, parent_id=latest.id if latest else None, message=message,
                model_sha256=model_sha256, created_at=created_at or utc_naive_now())
            s.add(row)
            s.flush()
            self._set_tag(s, preset, LATEST, row)
            return self._version(s, preset, row, self._tags_by_version(s, preset.id)), True

    def _set_tag(self, s, preset: PresetRow, tag: str, row: PresetVersionRow) -> None:
        existing = s.get(PresetTagRow, (preset.id, tag))
        if existing is None:
            s.add(PresetTagRow(preset_id=preset.id, tag=tag, version_id=row.id))
        else:
            existing.version_id = row.id
        s.flush()

    def set_tag(self, name: str, tag: str, number: int) -> PresetVersion:
        if tag == LATEST:
            raise InvalidParameter("the 'latest' tag always follows the newest version; pick another tag name")
        with self._store.session() as s:
            preset = self._preset_row(s, name)
            row = self._version_row(s, preset, number)
            self._set_tag(s, preset, tag, row)
            return self._version(s, preset, row, self._tags_by_version(s, preset.id))

    def delete(self, name: str, *, force: bool = False) -> int:
        """Delete a preset and all its versions. Returns how many sessions were detached (force only)."""
        with self._store.session() as s:
            preset = self._preset_row(s, name)
            ids = select(PresetVersionRow.id).where(PresetVersionRow.preset_id == preset.id)
            pinned = s.scalar(select(func.count()).where(SessionRow.preset_version_id.in_(ids)))
            if pinned and not force:
                raise AlreadyExists(
                    f"preset {name!r} is pinned by {pinned} session(s): delete them first or pass --force "
                    "(sessions keep their messages and provenance)")
            if pinned:
                s.execute(update(SessionRow).where(SessionRow.preset_version_id.in_(ids))
                          .values(preset_version_id=None))
            # versions reference their parents; clear the links so the cascade can delete them in any order
            s.execute(update(PresetVersionRow).where(PresetVersionRow.preset_id == preset.id)
                      .values(parent_id=None))
            s.delete(preset)
            return pinned
