"""Session media on disk: attached images stored once by content (`media/sha256-<hex>`), read back as `Media`.

Files are written before the database row that refers to them (an interrupted send leaves at most an
unreferenced file, which retention removes after a day), never changed afterwards, and shared by every
message that attaches the same bytes (docs/design.md §6.4).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import InvalidMedia
from ..files import atomic_write_bytes
from ..records import MediaRef
from .media import Media

STORED = re.compile(r"^sha256-(?P<sha>[0-9a-f]{64})$")


class MediaStore:
    def __init__(self, folder: Path):
        self.folder = folder

    def path(self, sha256: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise InvalidMedia(f"{sha256!r} is not a sha256 content address")
        return self.folder / f"sha256-{sha256}"

    def put(self, media: Media) -> MediaRef:
        """Store the bytes under their sha256 unless they are there already; the reference to keep on a message."""
        target = self.path(media.sha256)
        if target.is_file():
            os.utime(target)  # attached again: retention's grace period for unreferenced files starts anew
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, media.data)
        return MediaRef(media.sha256, media.kind, media.mime, len(media.data))

    def put_all(self, items: Sequence[Media]) -> tuple[MediaRef, ...]:
        return tuple(self.put(m) for m in items)

    def get(self, ref: MediaRef) -> Media:
        """The stored bytes of `ref` (InvalidMedia when the file is gone, e.g. removed by hand)."""
        try:
            data = self.path(ref.sha256).read_bytes()
        except FileNotFoundError:
            raise InvalidMedia(f"the attached {ref.kind} sha256 {ref.sha256[:12]} is missing from "
                               f"{self.folder}: it was removed outside Workbench") from None
        return Media(data, ref.kind, ref.mime, ref.sha256)

    def stored(self) -> Iterable[tuple[str, Path]]:
        """Every stored file as (sha256, path); temporary files of an interrupted write are not listed."""
        if not self.folder.is_dir():
            return []
        return [(m["sha"], p) for p in self.folder.iterdir() if (m := STORED.match(p.name))]


def as_media(item: Media | bytes | str | Path) -> Media:
    """An attachment given as Media, raw bytes or a file path, checked (InvalidMedia names the problem)."""
    if isinstance(item, Media):
        return item
    if isinstance(item, bytes | bytearray):
        return Media.from_bytes(bytes(item))
    if isinstance(item, str | Path):
        return Media.from_path(item)
    raise InvalidMedia(f"an attachment must be image bytes or a file path, not {type(item).__name__}")
