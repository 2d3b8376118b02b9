"""Stored reference distributions: one file per (model sha256, text sha256, window) under the data dir's
models/references/, written once and read back window by window, so a later comparison loads only the model being
judged; bundles carry these files too. Format and error bounds: docs/design.md §4.8.
"""

from __future__ import annotations

import errno
import json
import logging
import re
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import __version__
from ..errors import DiskFull, NotFound, WorkbenchError
from ..files import atomic_writer, sweep_stale_temps, utc_text
from ..tasks import CancelToken, ProgressCallback, no_progress

if TYPE_CHECKING:
    from ..engine.divergence import ReferenceRows
    from ..engine.scoring import Plan
    from ..paths import Paths

log = logging.getLogger(__name__)

FORMAT = "workbench-reference"
FORMAT_VERSION = 1
SUFFIX = ".wbref"
META = "meta.json"
TOKENS = "tokens.npy"
MAX_META = 64 << 10
_SHA = re.compile(r"^[0-9a-f]{64}$")
_NO_SPACE = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
# each window's arrays: name -> dtype, and whether it has one value per position or one per kept token
_ARRAYS = {"counts": ("<i4", False), "ids": ("<i4", True), "levels": ("<u2", True), "scale": ("<f4", False),
           "offset": ("<f4", False), "target_logp": ("<f4", False), "top": ("<i4", False)}


class InvalidReference(WorkbenchError, ValueError):
    """A stored reference file that is damaged, truncated, hostile or of a newer format."""


@dataclass(frozen=True)
class ReferenceInfo:
    """What a stored reference is of (its meta.json): model, text, plan, size and the runtime that computed it."""

    model_sha256: str
    model_name: str
    quantization: str | None
    text_sha256: str
    text_tokens: int
    window: int
    windows: int
    batch: int
    n_vocab: int
    positions: int
    entries: int
    runtime: str
    created_at: str
    workbench_version: str
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    @property
    def per_window(self) -> int:
        return self.window - 1 - self.window // 2

    def plan(self) -> Plan:
        from ..engine.scoring import Plan

        return Plan(window=self.window, windows=self.windows, batch=self.batch, n_vocab=self.n_vocab)


def reference_path(paths: Paths, model_sha256: str, text_sha256: str, window: int) -> Path:
    if not (_SHA.match(model_sha256) and _SHA.match(text_sha256)) or not isinstance(window, int):
        raise InvalidReference("a reference is keyed by two lowercase hex sha256 and a window size")
    return paths.references / f"sha256-{model_sha256}" / f"{text_sha256}-w{window}{SUFFIX}"


def list_references(paths: Paths, model_sha256: str | None = None) -> list[tuple[Path, ReferenceInfo]]:
    """Every readable stored reference (of one model, if given), with its file; damaged files are logged, skipped."""
    pattern = f"sha256-{model_sha256}/*{SUFFIX}" if model_sha256 else f"sha256-*/*{SUFFIX}"
    found = []
    for path in sorted(paths.references.glob(pattern)) if paths.references.is_dir() else ():
        try:
            with StoredReference(path) as stored:
                found.append((path, stored.info))
        except WorkbenchError as exc:
            log.warning("skipping stored reference %s: %s", path, exc)
    return found


# ---- writing ---------------------------------------------------------------------------------------------------
class _Sink:
    """Writes each window's arrays as members `w<i>.<name>.npy` as the engine hands them over."""

    def __init__(self, archive: zipfile.ZipFile):
        self.archive, self.positions, self.entries = archive, 0, 0

    def __call__(self, index: int, rows: ReferenceRows) -> None:
        for name in _ARRAYS:
            _put(self.archive, f"w{index}.{name}.npy", getattr(rows, name))
        self.positions += rows.positions
        self.entries += len(rows.ids)


def _put(archive: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    with archive.open(name, "w", force_zip64=True) as member:
        np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)


def store_reference(path: Path, loaded, *, model_name: str, quantization: str | None, model_sha256: str,
                    text_sha256: str, tokens: Sequence[int], window: int, runtime: str,
                    on_progress: ProgressCallback = no_progress, cancel: CancelToken | None = None) -> ReferenceInfo:
    """Compute the reference's distributions on `loaded` and write them to `path` (whole or not at all)."""
    from ..engine.scoring import compute_reference

    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(path.parent)  # what a killed writer left
    try:
        with atomic_writer(path) as out, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            _put(archive, TOKENS, np.asarray(tokens, dtype="<i4"))
            sink = _Sink(archive)
            cut = compute_reference(loaded, tokens, sink=sink, window=window, on_progress=on_progress, cancel=cancel)
            info = ReferenceInfo(
                model_sha256=model_sha256, model_name=model_name, quantization=quantization, text_sha256=text_sha256,
                text_tokens=len(tokens), window=cut.window, windows=cut.windows, batch=cut.batch,
                n_vocab=cut.n_vocab, positions=sink.positions, entries=sink.entries, runtime=runtime,
                created_at=utc_text(), workbench_version=__version__)
            archive.writestr(META, json.dumps(asdict(info), indent=2))
    except OSError as exc:
        if isinstance(exc, WorkbenchError) or exc.errno not in _NO_SPACE:
            raise
        raise DiskFull(f"no room to store the reference in {path.parent} ({exc.strerror}): nothing was kept; free "
                       "some space (or move the data folder with WORKBENCH_HOME) and measure again") from None
    return info


# ---- reading: the file may come from a bundle, so everything is checked ----------------------------------------
class StoredReference:
    """An open reference file: `info`, the text's `tokens`, and `window(i)`'s rows, each read when asked for."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self._archive = zipfile.ZipFile(self.path)
        except FileNotFoundError:
            raise NotFound(f"no stored reference at {self.path}") from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise InvalidReference(f"the stored reference {self.path} is damaged ({exc})") from None
        try:
            self.info = _parse_meta(self._bytes(META, MAX_META), self.path)
            self.tokens = self._array(TOKENS, "<i4", self.info.text_tokens)
            if self.tokens.min() < 0 or self.tokens.max() >= self.info.n_vocab:
                raise self._damaged("its tokens are outside the vocabulary")
        except BaseException:
            self._archive.close()
            raise

    def __enter__(self) -> StoredReference:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        self._archive.close()

    def window(self, index: int) -> ReferenceRows:
        from ..engine.divergence import ReferenceRows

        if not 0 <= index < self.info.windows:
            raise InvalidReference(f"{self.path} has no window {index}")
        per = self.info.per_window
        arrays = {name: self._array(f"w{index}.{name}.npy", dtype, per * self.info.n_vocab if many else per,
                                    exact=not many) for name, (dtype, many) in _ARRAYS.items()}
        _check_rows(arrays, self.info.n_vocab, self._damaged)
        return ReferenceRows(**arrays)

    def target_logp(self) -> np.ndarray:
        """The reference's log-probability of each next token, every window (without reading the big arrays)."""
        per = self.info.per_window
        return np.concatenate([self._array(f"w{i}.target_logp.npy", "<f4", per) for i in range(self.info.windows)])

    def validate(self) -> ReferenceInfo:
        """Read and check every window (what an import does before keeping the file)."""
        for index in range(self.info.windows):
            self.window(index)
        return self.info

    def _damaged(self, what: str) -> InvalidReference:
        return InvalidReference(f"the stored reference {self.path} is damaged: {what}")

    def _bytes(self, name: str, limit: int) -> bytes:
        try:
            member = self._archive.getinfo(name)
            if member.file_size > limit:
                raise self._damaged(f"{name} is larger than any real one")
            return self._archive.read(member)
        except KeyError:
            raise self._damaged(f"{name} is missing") from None
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise self._damaged(f"{name} cannot be read ({exc})") from None

    def _array(self, name: str, dtype: str, length: int, *, exact: bool = True) -> np.ndarray:
        """Member `name` as a 1-D array of `dtype`: of `length` values (at most that many unless `exact`)."""
        limit = np.dtype(dtype).itemsize * length + 4096  # the .npy header is far under 4 KiB
        try:
            member = self._archive.getinfo(name)
            if member.file_size > limit:
                raise self._damaged(f"{name} is larger than any real one")
            with self._archive.open(member) as stream:
                array = np.lib.format.read_array(stream, allow_pickle=False)
        except KeyError:
            raise self._damaged(f"{name} is missing") from None
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise self._damaged(f"{name} cannot be read ({exc})") from None
        if array.dtype != np.dtype(dtype) or array.ndim != 1 or (len(array) != length if exact else
                                                                  len(array) > length):
            raise self._damaged(f"{name} does not have the expected type and size")
        return array


def _parse_meta(raw: bytes, path: Path) -> ReferenceInfo:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidReference(f"the stored reference {path} is damaged: its {META} is not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidReference(f"{path} is not a Workbench reference file")
    if data.get("format_version") != FORMAT_VERSION:
        raise InvalidReference(f"{path} has reference format {data.get('format_version')!r}; this Workbench reads "
                               f"{FORMAT_VERSION}: compute the reference again here (`workbench quality "
                               "--reference-only`)")
    values = {}
    for field in fields(ReferenceInfo):
        value = data.get(field.name)
        kind = {"int": int, "str": str, "str | None": (str, type(None))}[str(field.type)]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InvalidReference(f"the stored reference {path} is damaged: {META}.{field.name} is missing or "
                                   "of the wrong type")
        values[field.name] = value
    info = ReferenceInfo(**values)
    sizes_ok = info.window >= 4 and info.batch >= 1 and info.n_vocab >= 1 and info.windows >= 1 and \
        info.windows * info.window <= info.text_tokens and info.positions == info.windows * info.per_window
    if not (_SHA.match(info.model_sha256) and _SHA.match(info.text_sha256) and sizes_ok):
        raise InvalidReference(f"the stored reference {path} is damaged: its {META} is inconsistent")
    return info


def _check_rows(arrays: dict[str, np.ndarray], n_vocab: int, damaged) -> None:
    counts, ids = arrays["counts"], arrays["ids"]
    if counts.min() < 1 or int(counts.sum(dtype=np.int64)) != len(ids) or len(arrays["levels"]) != len(ids):
        raise damaged("a window's token counts do not add up")
    top = arrays["top"]
    if ids.min() < 0 or ids.max() >= n_vocab or top.min() < 0 or top.max() >= n_vocab:
        raise damaged("a window names tokens outside the vocabulary")
    floats = np.concatenate([arrays["scale"], arrays["offset"], arrays["target_logp"]])
    if not np.isfinite(floats).all():
        raise damaged("a window holds values that are not finite")
