"""Resumable, sha256-verified download of one file into `paths.downloads`, over the Hub's configured session.

The partial `<key>.part` and its `downloads` row survive a kill: the next pull re-hashes the prefix and asks for
the rest with a Range request. Callers hold `download_lock(key)`, so two pulls of the same bytes never write one
partial. Why not `hf_hub_download`, and the full-disk and cancel rules: docs/design.md §5.4.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from filelock import FileLock, Timeout

from ..errors import Cancelled, ChecksumMismatch, DiskFull, HubError
from ..files import utc_naive_now
from ..paths import safe_child
from ..records import DownloadState
from ..tasks import CancelToken, ProgressCallback, ProgressMeter, check, no_progress
from ..units import human_size

CHUNK = 1 << 20
DISK_RESERVE = 64 * 1024 * 1024  # keep this much free beyond the file itself: a full disk breaks everything else
STATE_EVERY_SECONDS = 2.0  # how often bytes_done reaches the database (the file size stays the real truth)
MAX_RESUMES = 3  # in-place retries after a dropped connection, reset whenever bytes arrive


class StreamInterrupted(HubError):
    """The connection dropped mid-body; the transport raises this so the downloader can resume in place."""


@dataclass(frozen=True)
class FileTarget:
    """One remote file pinned to a commit: what to fetch and what it must hash to."""

    repo: str
    revision: str  # the resolved commit sha
    filename: str
    url: str  # the resolve URL at that commit (re-resolved on every pull: CDN links expire)
    size: int | None
    sha256: str | None  # the LFS sha256; None for a plain git file (then only the size is checked)
    etag: str | None = None

    @property
    def key(self) -> str:
        if self.sha256:
            return self.sha256
        ident = f"{self.repo}@{self.revision}/{self.filename}:{self.etag}"
        return hashlib.sha256(ident.encode()).hexdigest()


@dataclass(frozen=True)
class VerifiedFile:
    path: Path
    sha256: str
    size: int


class Stream(Protocol):
    start: int  # the offset the body starts at (0 when the server ignored our Range)
    chunks: Iterator[bytes]


OpenStream = Callable[[int], AbstractContextManager[Stream]]


class StateStore(Protocol):
    def get(self, key: str) -> DownloadState | None: ...
    def upsert(self, state: DownloadState) -> DownloadState: ...
    def set_status(self, key: str, status: str, *, bytes_done: int | None = None,
                   error: str | None = None) -> DownloadState | None: ...
    def remove(self, key: str) -> bool: ...


def partial_path(downloads: Path, key: str) -> Path:
    return _in_downloads(downloads, key, ".part")


def _in_downloads(downloads: Path, key: str, suffix: str) -> Path:
    """downloads/<key><suffix>: the key is the sha256 the Hub publishes, so a hostile Hub must not make it a path."""
    return safe_child(downloads, f"{key}{suffix}")


def free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def _write(fh, data: bytes) -> None:
    """The write layer (one place, so tests can inject ENOSPC here). An unbuffered write may be short (a disk
    filling up takes what fits): write the rest until it is all written or the OS says why not."""
    view = memoryview(data)
    while view:
        view = view[fh.write(view):]


@contextmanager
def download_lock(downloads: Path, key: str, cancel: CancelToken | None = None,
                  on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """An inter-process lock per file key. Waits (cancellably) while another pull of the same bytes runs."""
    downloads.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(_in_downloads(downloads, key, ".lock")))
    waited = False
    while True:
        try:
            lock.acquire(timeout=0.25)
            break
        except Timeout:
            check(cancel, "pull")
            if not waited and on_wait is not None:
                on_wait()
            waited = True
    try:
        yield
    finally:
        lock.release()


def fetch_file(target: FileTarget, open_stream: OpenStream, *, downloads: Path, states: StateStore,
               on_progress: ProgressCallback = no_progress, cancel: CancelToken | None = None) -> VerifiedFile:
    """Download (or finish downloading) `target` into `downloads/<key>.part`, verify, rename to `<key>.gguf`.

    The caller holds `download_lock(target.key)`. Returns the verified file, which the caller moves into the
    library. Raises Cancelled (partial kept), DiskFull, ChecksumMismatch (file deleted) or HubError.
    """
    part = partial_path(downloads, target.key)
    done = _in_downloads(downloads, target.key, ".gguf")
    if done.exists():  # verified by an earlier pull that stopped before the library took it: check again
        part.unlink(missing_ok=True)
        os.replace(done, part)
    _record_start(target, part, states)
    have = _usable_prefix(part, target.size)
    _check_space(target, downloads, have)
    hasher = hashlib.sha256()
    _hash_prefix(part, have, hasher, target, on_progress, cancel)
    meter = ProgressMeter(f"pulling {target.filename}", target.size, on_progress, start_at=have)
    written = have
    if target.size is None or have < target.size:
        written, hasher = _download_rest(target, open_stream, part, hasher, meter, states, cancel)
    meter.finish("verifying")
    return _verify_and_finish(target, part, done, hasher.hexdigest(), written, states)


def _record_start(target: FileTarget, part: Path, states: StateStore) -> None:
    now = utc_naive_now()
    previous = states.get(target.key)
    states.upsert(DownloadState(
        key=target.key, repo=target.repo, revision=target.revision, filename=target.filename, url=target.url,
        expected_sha256=target.sha256, etag=target.etag, size_bytes=target.size, partial_path=str(part),
        bytes_done=part.stat().st_size if part.exists() else 0, status="active",
        started_at=previous.started_at if previous else now, updated_at=now,
    ))


def _usable_prefix(part: Path, size: int | None) -> int:
    if not part.exists():
        return 0
    have = part.stat().st_size
    if size is not None and have > size:  # not a prefix of this file: start over
        part.unlink()
        return 0
    return have


def _check_space(target: FileTarget, downloads: Path, have: int) -> None:
    if target.size is None:
        return
    need = target.size - have
    free = free_bytes(downloads)
    if free < need + DISK_RESERVE:
        raise DiskFull(
            f"pulling {target.filename} needs {human_size(need)} more (plus {human_size(DISK_RESERVE)} spare) but "
            f"only {human_size(free)} is free on {downloads}: free some space and pull again"
        )


def _hash_prefix(part: Path, have: int, hasher, target: FileTarget, on_progress: ProgressCallback,
                 cancel: CancelToken | None) -> None:
    """Re-hash the bytes a previous pull left behind, so the final sha256 covers the whole file."""
    if have == 0:
        return
    meter = ProgressMeter(f"checking {target.filename}", have, on_progress)
    with part.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            check(cancel, "pull")
            hasher.update(chunk)
            meter.advance(len(chunk), "checking the partial download")
    meter.finish("checking the partial download")


def _download_rest(target: FileTarget, open_stream: OpenStream, part: Path, hasher, meter: ProgressMeter,
                   states: StateStore, cancel: CancelToken | None) -> tuple[int, object]:
    """Stream from the partial's end to the file's end, resuming in place after dropped connections.

    Returns the bytes on disk and the sha256 state covering them.
    """
    written = part.stat().st_size if part.exists() else 0
    retries = MAX_RESUMES
    last_state = time.monotonic()
    # buffering=0: every chunk reaches the OS at once, so a kill -9 loses nothing that was received
    with part.open("ab", buffering=0) as fh:
        while True:
            try:
                with open_stream(written) as stream:
                    if stream.start != written:
                        written, hasher = _restart(fh, meter, stream.start, written, target)
                    for chunk in stream.chunks:
                        _write_chunk(fh, chunk, target, part, written, states)
                        hasher.update(chunk)
                        written += len(chunk)
                        meter.advance(len(chunk))
                        retries = MAX_RESUMES
                        if time.monotonic() - last_state >= STATE_EVERY_SECONDS:
                            states.set_status(target.key, "active", bytes_done=written)
                            last_state = time.monotonic()
                        _check_cancel(cancel, target, written, states)
                return written, hasher
            except StreamInterrupted as exc:
                retries -= 1
                if retries < 0:
                    _pause(states, target, written, str(exc))
                    raise HubError(f"the download of {target.filename} stopped at {human_size(written)} of "
                                   f"{human_size(target.size)} ({exc}): pull again to resume") from exc
            except BaseException as exc:  # Ctrl-C, cancel, Hub errors: the partial stays for a resume
                if not isinstance(exc, DiskFull):
                    _pause(states, target, written, str(exc) or type(exc).__name__)
                raise


def _restart(fh, meter: ProgressMeter, start: int, written: int, target: FileTarget) -> tuple[int, object]:
    """The server ignored our Range (answered 200): drop the prefix and take the whole body from byte 0."""
    if start != 0:
        raise HubError(f"the Hub answered a request for {target.filename} from byte {written} with bytes "
                       f"from {start}: pull again, or check a proxy in between")
    fh.truncate(0)
    fh.seek(0)
    meter.completed = 0
    return 0, hashlib.sha256()


def _write_chunk(fh, chunk: bytes, target: FileTarget, part: Path, written: int, states: StateStore) -> None:
    try:
        _write(fh, chunk)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        fh.truncate(written)  # a short write may have left part of this chunk: end where the hash ends
        left = f"{human_size(target.size - written)} more" if target.size is not None else "some space"
        message = (f"the disk filled up while writing {target.filename} ({human_size(written)} of "
                   f"{human_size(target.size)} written to {part.parent}): the partial file is kept; free {left} "
                   "and pull again to resume")
        _pause(states, target, written, message)
        raise DiskFull(message) from exc


def _check_cancel(cancel: CancelToken | None, target: FileTarget, written: int, states: StateStore) -> None:
    if cancel is not None and cancel.cancelled:
        _pause(states, target, written, "cancelled")
        raise Cancelled(f"pull of {target.filename} was cancelled at {human_size(written)} of "
                        f"{human_size(target.size)}; the partial file is kept: pull again to resume")


def _pause(states: StateStore, target: FileTarget, written: int, reason: str) -> None:
    # never let bookkeeping hide the real error (e.g. a Ctrl-C that lands during the DB write)
    with suppress(Exception):
        states.set_status(target.key, "paused", bytes_done=written, error=reason[:500])


def _verify_and_finish(target: FileTarget, part: Path, done: Path, digest: str, written: int,
                       states: StateStore) -> VerifiedFile:
    if target.size is not None and written != target.size:
        _pause(states, target, written, "incomplete")
        raise HubError(f"the Hub sent {human_size(written)} of {target.filename} but announced "
                       f"{human_size(target.size)}: pull again to resume")
    if target.sha256 and digest != target.sha256:
        part.unlink(missing_ok=True)
        states.remove(target.key)
        raise ChecksumMismatch(
            f"{target.filename} from {target.repo} does not match the Hub's LFS checksum: expected sha256 "
            f"{target.sha256}, got {digest}. The downloaded file was deleted; pull again (if it repeats, a proxy "
            "or mirror is serving different bytes)"
        )
    with part.open("rb+") as fh:
        os.fsync(fh.fileno())  # the bytes are on disk before the name says "verified"
    os.replace(part, done)
    states.set_status(target.key, "done", bytes_done=written, error=None)
    return VerifiedFile(done, digest, written)
