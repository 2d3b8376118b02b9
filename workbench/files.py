"""File work: atomic writes, hashing with progress, copies into the blob store, split shards, temp names, and
the UTC timestamps the services store.

Every write goes to a temporary name in the destination folder, is fsync'ed, then `os.replace`d into place, so
a crash, a cancel or a full disk never leaves a half-written file under the real name.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from .errors import DiskFull, InvalidModelFile, NotFound
from .tasks import CancelToken, ProgressMeter, check
from .units import human_size

CHUNK = 1 << 20
DISK_RESERVE = 64 << 20  # keep this much free after a copy: SQLite and logs still need room
SHARD_NAME = re.compile(r"^(?P<prefix>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)
_NO_SPACE = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _chunks(f, meter: ProgressMeter, cancel: CancelToken | None, what: str) -> Iterator[bytes]:
    while chunk := f.read(CHUNK):
        check(cancel, what)
        yield chunk
        meter.advance(len(chunk))


def sha256_file(path: Path, meter: ProgressMeter, cancel: CancelToken | None, what: str) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in _chunks(f, meter, cancel, what):
            digest.update(chunk)
    return digest.hexdigest()


def copy_hashing(src: Path, dst: Path, meter: ProgressMeter, cancel: CancelToken | None, what: str) -> str:
    """Copy src to the new file dst (fsync'ed) and return src's sha256, in one read. dst is removed on failure."""
    digest = hashlib.sha256()
    try:
        with src.open("rb") as f, dst.open("xb") as out:
            for chunk in _chunks(f, meter, cancel, what):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            dst.unlink()
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
            raise disk_full(exc, dst.parent) from None
        raise
    return digest.hexdigest()


def disk_full(exc: OSError, folder: Path) -> DiskFull:
    if exc.errno == errno.EFBIG:
        return DiskFull(f"the file is too large for the file system (or file size limit) of {folder}: "
                        "move the data dir (WORKBENCH_HOME) to another disk, or import in place")
    return DiskFull(f"the disk holding {folder} is full: free some space, or import in place instead of --copy")


def check_free_space(folder: Path, need: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < need + DISK_RESERVE:
        raise DiskFull(f"copying needs {human_size(need)} (plus {human_size(DISK_RESERVE)} spare) but only "
                       f"{human_size(free)} is free on {folder}: free some space, or import in place")


def temp_path(folder: Path, suffix: str = ".partial") -> Path:
    """A temporary name in `folder` that says which process writes it (host, pid, start time), so that a later
    start can remove what a killed process left (`sweep_stale_temps`) and never what a live one is writing."""
    return folder / f".tmp-{_writer_tag()}-{uuid.uuid4().hex}{suffix}"


@functools.cache
def _writer_tag() -> str:
    import psutil

    host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
    return f"{host}-{os.getpid()}-{int(psutil.Process().create_time())}"


_TEMP_NAME = re.compile(r"^\.tmp-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-(?P<started>\d+)-[0-9a-f]{32}")


def sweep_stale_temps(folder: Path) -> int:
    """Remove temporary files and folders of `temp_path` whose writer process is gone; returns how many."""
    stale = stale_temps(folder)
    for entry in stale:
        remove_tree_or_file(entry)
    return len(stale)


def stale_temps(folder: Path) -> list[Path]:
    """Temporary files and folders of `temp_path` in `folder` whose writer process is gone.

    Only names made by temp_path count; one from another host (a shared data dir) is left alone, as is one
    whose process still runs (a pid now used by another process counts as gone: its start time differs).
    """
    import psutil

    stale = []
    host = _writer_tag().split("-")[0]
    for entry in folder.iterdir() if folder.is_dir() else ():
        match = _TEMP_NAME.match(entry.name)
        if match is None or match["host"] != host:
            continue
        try:
            alive = abs(psutil.Process(int(match["pid"])).create_time() - int(match["started"])) < 2
        except psutil.NoSuchProcess:
            alive = False
        except psutil.AccessDenied:  # it runs, as somebody else: not ours to judge
            alive = True
        if not alive:
            stale.append(entry)
    return stale


def fsync_dir(folder: Path) -> None:
    """Make a rename inside `folder` durable (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_tree_or_file(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def shard_name(index: int, count: int, prefix: str = "model") -> str:
    """The llama.cpp split naming: `<prefix>-00001-of-00003.gguf` (index is 0-based)."""
    return f"{prefix}-{index + 1:05d}-of-{count:05d}.gguf"


def split_siblings(path: Path, count: int) -> list[Path]:
    """All shards of the split model whose shard `path` is, in order; InvalidModelFile if any is missing."""
    match = SHARD_NAME.match(path.name)
    if match is None or int(match["count"]) != count:
        raise InvalidModelFile(
            f"{path} is one shard of a split model of {count} files, but its name does not end in "
            f"-0000N-of-{count:05d}.gguf, so its other shards cannot be found: keep the names gguf-split gave them"
        )
    prefix = match["prefix"]
    shards = [path.with_name(shard_name(i, count, prefix)) for i in range(count)]
    missing = [p.name for p in shards if not p.is_file()]
    if missing:
        raise NotFound(f"{path.name} is part of a split model of {count} files, but {', '.join(missing)} "
                       f"{'is' if len(missing) == 1 else 'are'} missing from {path.parent}: put every shard "
                       "in the same folder")
    return shards


# ---- atomic writes -----------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "wb", *, temp: Path | None = None,
                  encoding: str | None = None) -> Iterator[IO]:
    """Write `path` whole or not at all: yields a file open on a temporary name in the same folder (`temp`, or
    one from temp_path), fsyncs and renames it over `path` when the block ends; an exception inside the block
    removes the temporary file and leaves `path` as it was."""
    path = Path(path)
    tmp = temp or temp_path(path.parent)
    try:
        with open(tmp, mode, encoding=encoding) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_writer(path, "wb") as out:
        out.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    with atomic_writer(path, "w", encoding=encoding) as out:
        out.write(text)


# ---- UTC time ----------------------------------------------------------------------------------------------
def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_naive_now() -> datetime:
    """Now as the store keeps times: a naive datetime that is UTC (SQLite has no time zones)."""
    return datetime.now(UTC).replace(tzinfo=None)


def utc_text(moment: datetime | float | None = None, *, timespec: str = "seconds", zulu: bool = False) -> str:
    """ISO 8601 text of `moment` in UTC (now by default; epoch seconds, or a datetime where a naive one is UTC),
    ending "+00:00", or "Z" with zulu. timespec is datetime.isoformat's ("seconds", "milliseconds", …).

    Persisted texts depend on this staying exact: the audit trail's hash chain covers its "microseconds" text.
    """
    if moment is None:
        moment = utc_now()
    elif isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    text = moment.astimezone(UTC).isoformat(timespec=timespec)
    return text.replace("+00:00", "Z") if zulu else text
