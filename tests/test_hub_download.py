"""The resumable, verified file download (hub/download.fetch_file) over huggingface_hub's session to the fake Hub."""

from __future__ import annotations

import errno
import hashlib
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest

from tests.fakehub import FakeHub, fake_hub  # noqa: F401  (fixture)
from workbench.errors import Cancelled, ChecksumMismatch, DiskFull
from workbench.hub import download as hub_download
from workbench.hub.download import FileTarget, fetch_file, partial_path
from workbench.hub.http import HubClient
from workbench.tasks import CancelToken, Progress

REPO = "alice/tiny-GGUF"
FILE = "tiny-Q8_0.gguf"


@pytest.fixture
def served(fake_hub: FakeHub, tiny_model_path: Path) -> FakeHub:  # noqa: F811
    fake_hub.add_repo(REPO, {FILE: tiny_model_path.read_bytes()})
    return fake_hub


def _target(hub: FakeHub) -> FileTarget:
    repo = hub.repos[REPO]
    f = repo.files[FILE]
    url = f"{hub.endpoint}/{REPO}/resolve/{repo.commit}/{FILE}"
    return FileTarget(REPO, repo.commit, FILE, url, len(f.data), f.sha256)


def _fetch(wb, target: FileTarget, **kwargs):
    opener = partial(HubClient(None).stream, target.url)
    return fetch_file(target, opener, downloads=wb.paths.downloads, states=wb.store.downloads, **kwargs)


def test_full_download_is_verified_and_renamed(wb, served: FakeHub, tiny_model_path: Path) -> None:
    target = _target(served)
    reports: list[Progress] = []
    result = _fetch(wb, target, on_progress=reports.append)
    assert result.sha256 == hashlib.sha256(tiny_model_path.read_bytes()).hexdigest() == target.sha256
    assert result.path == wb.paths.downloads / f"{target.sha256}.gguf" and result.path.read_bytes() == \
        tiny_model_path.read_bytes()
    assert not partial_path(wb.paths.downloads, target.key).exists()
    assert wb.store.downloads.get(target.key).status == "done"
    assert reports[-1].completed == reports[-1].total == target.size
    assert reports[-1].rate and reports[-1].rate > 0 and reports[-1].eta_seconds == 0  # bytes, rate, ETA
    assert served.ranges_seen() == []  # nothing to resume: no Range


def test_partial_left_by_a_dead_process_is_rehashed_and_resumed(wb, served: FakeHub, tiny_model_path: Path) -> None:
    target = _target(served)
    data = tiny_model_path.read_bytes()
    wb.paths.downloads.mkdir(parents=True, exist_ok=True)
    partial_path(wb.paths.downloads, target.key).write_bytes(data[:123_457])
    reports: list[Progress] = []
    result = _fetch(wb, target, on_progress=reports.append)
    assert served.ranges_seen() == ["bytes=123457-"]
    assert result.path.read_bytes() == data
    assert reports[0].task.startswith("checking")  # the kept prefix was hashed again first


def test_corrupt_prefix_fails_the_checksum_and_is_deleted(wb, served: FakeHub, tiny_model_path: Path) -> None:
    target = _target(served)
    part = partial_path(wb.paths.downloads, target.key)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"\0" * 1000)
    with pytest.raises(ChecksumMismatch) as info:
        _fetch(wb, target)
    assert target.sha256 in str(info.value) and "deleted" in str(info.value)
    assert not part.exists() and wb.store.downloads.get(target.key) is None


def test_server_ignoring_range_restarts_from_zero(wb, served: FakeHub, tiny_model_path: Path) -> None:
    target = _target(served)
    served.ignore_range = True
    partial_path(wb.paths.downloads, target.key).write_bytes(tiny_model_path.read_bytes()[:5000])
    result = _fetch(wb, target)
    assert served.ranges_seen() == ["bytes=5000-"]
    assert result.path.read_bytes() == tiny_model_path.read_bytes()


def test_dropped_connection_resumes_in_place(wb, served: FakeHub, tiny_model_path: Path) -> None:
    target = _target(served)
    served.drop_at(200_000)
    result = _fetch(wb, target)
    assert result.sha256 == target.sha256
    assert len(served.cdn_gets()) == 2 and served.ranges_seen() == ["bytes=200000-"]


def test_disk_full_while_writing_keeps_the_partial_for_a_resume(wb, served: FakeHub,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    target = _target(served)
    written = []

    def fill_up(fh, data: bytes) -> None:
        if sum(written) > 100_000:
            fh.write(data[:1000])  # a short write first, as a filling disk gives
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(len(data))
        fh.write(data)

    monkeypatch.setattr(hub_download, "_write", fill_up)
    with pytest.raises(DiskFull) as info:
        _fetch(wb, target)
    message = str(info.value)
    assert "disk filled up" in message and "partial file is kept" in message and "of 436.9 KB" in message
    assert partial_path(wb.paths.downloads, target.key).stat().st_size == sum(written)  # the short write undone
    state = wb.store.downloads.get(target.key)
    assert (state.status, state.bytes_done) == ("paused", sum(written))
    monkeypatch.undo()  # space is back
    assert _fetch(wb, target).sha256 == target.sha256
    assert served.ranges_seen() == [f"bytes={sum(written)}-"]


def test_too_little_free_space_refuses_before_downloading(wb, served: FakeHub,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_download, "free_bytes", lambda folder: 10_000_000)
    with pytest.raises(DiskFull) as info:
        _fetch(wb, _target(served))
    assert "needs 436.9 KB more" in str(info.value) and "only 10.0 MB is free" in str(info.value)
    assert served.cdn_gets() == []


def test_cancel_keeps_the_partial_for_a_resume(wb, served: FakeHub, tiny_model_path: Path) -> None:
    target = _target(served)
    cancel = CancelToken()
    gate = served.pause_at(131_072)
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(_fetch, wb, target, cancel=cancel)
        assert gate.reached.wait(30)
        cancel.cancel()  # from another thread, while the server holds the rest back
        gate.release()
        with pytest.raises(Cancelled, match="partial file is kept"):
            future.result(30)
    part = partial_path(wb.paths.downloads, target.key)
    kept = part.stat().st_size
    assert 0 < kept < target.size and part.read_bytes() == tiny_model_path.read_bytes()[:kept]
    state = wb.store.downloads.get(target.key)
    assert (state.status, state.bytes_done) == ("paused", kept)
    assert _fetch(wb, target).sha256 == target.sha256
    assert served.ranges_seen() == [f"bytes={kept}-"]


def test_partial_longer_than_the_file_starts_over(wb, served: FakeHub, tiny_model_path: Path) -> None:
    target = _target(served)
    partial_path(wb.paths.downloads, target.key).write_bytes(b"x" * (target.size + 10))
    assert _fetch(wb, target).path.read_bytes() == tiny_model_path.read_bytes()
    assert served.ranges_seen() == []
