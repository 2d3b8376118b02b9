"""`Hub.pull` end to end against the fake Hub: registration, kill -9 + resume, checksum, gated, concurrency."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.fakehub import FakeHub, fake_hub  # noqa: F401  (fixture)
from workbench.errors import Cancelled, ChecksumMismatch, DiskFull, GatedRepo, InvalidName, NotFound
from workbench.hub import download as hub_download
from workbench.hub.download import partial_path
from workbench.tasks import CancelToken, Progress

REPO = "alice/tiny-GGUF"
REF = f"hf.co/{REPO}:Q8_0"
PULL_SCRIPT = "import sys; from workbench.cli import main; sys.exit(main(sys.argv[1:]))"


def wait_for(condition, timeout: float = 30.0) -> bool:
    """Poll a real condition until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        threading.Event().wait(0.01)
    return True


@pytest.fixture
def tiny_bytes(tiny_model_path: Path) -> bytes:
    return tiny_model_path.read_bytes()


@pytest.fixture
def served(fake_hub: FakeHub, tiny_bytes: bytes) -> FakeHub:  # noqa: F811
    fake_hub.add_repo(REPO, {"tiny-Q8_0.gguf": tiny_bytes, "README.md": b"hi"})
    fake_hub.add_repo("carol/gated-GGUF", {"g-Q4_K_M.gguf": tiny_bytes}, gated=True, token="hf_carol")
    fake = fake_hub.add_repo("mallory/bad-GGUF", {"b-Q4_K_M.gguf": tiny_bytes})
    fake.files["b-Q4_K_M.gguf"].corrupt = True  # the CDN serves other bytes than the LFS sha256 says
    return fake_hub


def test_pull_downloads_verifies_and_registers(wb, served: FakeHub, tiny_bytes: bytes) -> None:
    reports: list[Progress] = []
    model = wb.hub.pull(REF, on_progress=reports.append)
    sha = hashlib.sha256(tiny_bytes).hexdigest()
    repo = served.repos[REPO]
    assert model.sha256 == sha and model.size_bytes == len(tiny_bytes)
    assert (model.source_repo, model.source_revision, model.source_file) == (REPO, repo.commit, "tiny-Q8_0.gguf")
    assert model.path.is_relative_to(wb.paths.blobs) and model.path.read_bytes() == tiny_bytes
    assert not model.in_place and wb.library.get(model.name) == model
    assert list(wb.paths.downloads.glob("*.part")) == [] and list(wb.paths.downloads.glob("*.gguf")) == []
    assert reports[-1].completed == reports[-1].total == len(tiny_bytes)
    assert wb.hub.pending_downloads() == []
    gets = len(served.cdn_gets())
    assert wb.hub.pull(REF) == model  # already there: nothing downloaded again
    assert len(served.cdn_gets()) == gets
    wb.update_settings(offline=True)  # a preset's FROM hf.co/... finds the pulled model with no network
    assert wb.hub.find_local(REF) == model
    assert wb.hub.find_local(f"hf.co/{REPO}:Q2_K") is None


def test_pulling_bytes_imported_by_hand_records_where_they_are_on_the_hub(wb, served: FakeHub,
                                                                         tiny_model_path: Path) -> None:
    """The file was imported locally first: the pull downloads nothing, and the model (and an alias made by the
    pull) now know their Hub source, so a preset's FROM hf.co/... finds them offline."""
    local = wb.library.import_file(tiny_model_path, name="by-hand")
    assert local.source_repo is None
    gets = len(served.cdn_gets())
    alias = wb.hub.pull(REF, name="pulled")
    assert len(served.cdn_gets()) == gets and alias.files == local.files
    commit = served.repos[REPO].commit
    for model in (alias, wb.library.get("by-hand")):
        assert (model.source_repo, model.source_revision, model.source_file) == (REPO, commit, "tiny-Q8_0.gguf")
    wb.update_settings(offline=True)
    assert wb.hub.find_local(REF) is not None


def test_pull_under_a_name_and_a_second_name_is_an_alias(wb, served: FakeHub) -> None:
    first = wb.hub.pull(REF, name="mine")
    assert first.name == "mine"
    second = wb.hub.pull(REF, name="other:q8")
    assert second.name == "other:q8" and second.path == first.path and len(served.cdn_gets()) == 1
    assert {m.name for m in wb.library.list()} == {"mine", "other:q8"}


def test_pull_killed_mid_file_then_resumed_with_range(wb, served: FakeHub, tiny_bytes: bytes,
                                                      workbench_home: Path) -> None:
    cut = 200_000
    gate = served.pause_at(cut)
    sha = hashlib.sha256(tiny_bytes).hexdigest()
    part = partial_path(wb.paths.downloads, sha)
    env = {**os.environ, "WORKBENCH_HOME": str(workbench_home), "HF_ENDPOINT": served.endpoint}
    proc = subprocess.Popen([sys.executable, "-c", PULL_SCRIPT, "pull", REF], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert gate.reached.wait(60), "the pull never reached the pause point"
        assert wait_for(lambda: part.exists() and part.stat().st_size == cut), "partial never reached the cut"
        state = wb.store.downloads.get(sha)
        assert state is not None and state.status == "active" and state.expected_sha256 == sha
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        gate.release()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert part.stat().st_size == cut and wb.library.list() == []
    assert [s.key for s in wb.hub.pending_downloads()] == [sha]
    model = wb.hub.pull(REF)
    assert served.ranges_seen() == [f"bytes={cut}-"]
    assert model.sha256 == sha and model.path.read_bytes() == tiny_bytes
    assert not part.exists() and wb.hub.pending_downloads() == []


def test_checksum_mismatch_deletes_the_file_and_registers_nothing(wb, served: FakeHub, tiny_bytes: bytes) -> None:
    sha = hashlib.sha256(tiny_bytes).hexdigest()
    with pytest.raises(ChecksumMismatch) as info:
        wb.hub.pull("hf.co/mallory/bad-GGUF")
    message = str(info.value)
    assert f"expected sha256 {sha}" in message and "got " in message and "deleted" in message
    assert list(wb.paths.downloads.glob("*.part")) == [] and wb.library.list() == []


def test_a_published_sha256_that_is_a_path_never_leaves_the_downloads_folder(wb, fake_hub: FakeHub,  # noqa: F811
                                                                           tiny_bytes: bytes, workbench_home) -> None:
    """The LFS sha256 the Hub publishes names the partial file: a hostile Hub or mirror cannot aim it elsewhere."""
    repo = fake_hub.add_repo("mallory/escape-GGUF", {"e-Q4_K_M.gguf": tiny_bytes})
    repo.files["e-Q4_K_M.gguf"].published_sha256 = "../../../escaped"
    with pytest.raises(InvalidName, match="escaped"):
        wb.hub.pull("hf.co/mallory/escape-GGUF")
    assert list(workbench_home.rglob("escaped*")) == [] and wb.library.list() == []


def test_gated_repo_needs_the_right_token(wb, served: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = "hf.co/carol/gated-GGUF"
    with pytest.raises(GatedRepo) as info:
        wb.hub.pull(ref)
    assert "carol/gated-GGUF is gated: accept its license" in str(info.value) and "HF_TOKEN" in str(info.value)
    wb.update_settings(hf_token="hf_wrong")
    with pytest.raises(GatedRepo, match="your token has no access yet"):
        wb.hub.pull(ref)
    assert wb.library.list() == []
    wb.update_settings(hf_token=None)
    monkeypatch.setenv("HF_TOKEN", "hf_carol")
    assert wb.hub.pull(ref).source_repo == "carol/gated-GGUF"
    resolves = [r for r in served.requests if r.server == "hub" and "/resolve/" in r.path]
    assert resolves[-1].headers.get("authorization") == "Bearer hf_carol"
    assert all("authorization" not in r.headers for r in served.cdn_gets())  # the token never leaves the Hub


def test_token_from_settings(wb, served: FakeHub) -> None:
    wb.update_settings(hf_token="hf_carol")
    assert wb.hub.pull("hf.co/carol/gated-GGUF:Q4_K_M").quantization is not None


def test_missing_repo_file_and_quant(wb, served: FakeHub) -> None:
    with pytest.raises(NotFound, match="repo nobody/nothing was not found"):
        wb.hub.pull("hf.co/nobody/nothing")
    with pytest.raises(NotFound, match=r"other\.gguf is not in alice/tiny-GGUF"):
        wb.hub.pull(f"hf.co/{REPO}/other.gguf")
    with pytest.raises(NotFound, match="has no Q4_K_M file: available quantizations are Q8_0"):
        wb.hub.pull(f"hf.co/{REPO}")


def test_cancelled_pull_keeps_the_partial_and_resumes(wb, served: FakeHub, tiny_bytes: bytes) -> None:
    gate = served.pause_at(100_000)
    cancel = CancelToken()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(wb.hub.pull, REF, cancel=cancel)
        assert gate.reached.wait(30)
        cancel.cancel()
        gate.release()
        with pytest.raises(Cancelled, match="pull again to resume"):
            future.result(30)
    pending = wb.hub.pending_downloads()
    assert [s.status for s in pending] == ["paused"] and wb.library.list() == []
    kept = Path(pending[0].partial_path).stat().st_size
    assert wb.hub.pull(REF).sha256 == hashlib.sha256(tiny_bytes).hexdigest()
    assert served.ranges_seen() == [f"bytes={kept}-"]


def test_a_stopped_download_can_be_discarded(wb, served: FakeHub) -> None:
    gate = served.pause_at(100_000)
    cancel = CancelToken()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(wb.hub.pull, REF, cancel=cancel)
        assert gate.reached.wait(30)
        cancel.cancel()
        gate.release()
        with pytest.raises(Cancelled):
            future.result(30)
    (state,) = wb.hub.pending_downloads()
    assert wb.hub.discard_download(state.key)
    assert not Path(state.partial_path).exists() and wb.hub.pending_downloads() == []
    assert not wb.hub.discard_download(state.key)


def test_not_enough_disk_refuses_before_downloading(wb, served: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_download, "free_bytes", lambda folder: 1_000_000)
    import workbench.hub.service as hub_module

    monkeypatch.setattr(hub_module, "free_bytes", lambda folder: 1_000_000)
    with pytest.raises(DiskFull, match=r"needs 436\.9 KB more .* only 1\.0 MB is free"):
        wb.hub.pull(REF)
    assert served.cdn_gets() == []


def test_two_pulls_of_the_same_file_at_once(wb, served: FakeHub, tiny_bytes: bytes) -> None:
    gate = served.pause_at(150_000)
    second_reports: list[Progress] = []
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(wb.hub.pull, REF)
        assert gate.reached.wait(30)
        second = pool.submit(wb.hub.pull, REF, on_progress=second_reports.append)
        waiting = wait_for(lambda: any("waiting for another pull" in r.message for r in list(second_reports)))
        gate.release()
        a, b = first.result(60), second.result(60)
    assert waiting, "the second pull did not wait for the first"
    assert a == b and a.path.read_bytes() == tiny_bytes
    assert len(served.cdn_gets()) == 1 and len(wb.library.list()) == 1


@pytest.mark.gemma
def test_remote_estimate_reads_only_the_header(wb, fake_hub: FakeHub, gemma_model_path: Path) -> None:  # noqa: F811
    from workbench.gguf.estimate import estimate_local

    fake_hub.add_repo("google/gemma-GGUF", {"gemma-3-270m-Q4_K_M.gguf": gemma_model_path.read_bytes()})
    remote = wb.hub.estimate("hf.co/google/gemma-GGUF", context=8192)
    local = estimate_local([gemma_model_path], context=8192)
    assert remote.total_bytes == local.total_bytes and remote.weights_bytes == local.weights_bytes
    # gemma's header (262k-token vocabulary) is 6.5 MB: the 4 MiB first Range is grown once, nothing more is read
    assert fake_hub.ranges_seen() == ["bytes=0-4194303", "bytes=0-16777215"]
    again = wb.hub.estimate("hf.co/google/gemma-GGUF", context=2048)  # the header is cached
    assert len(fake_hub.ranges_seen()) == 2 and again.kv_cache_bytes < remote.kv_cache_bytes


def test_split_model_is_pulled_as_one_model(wb, fake_hub: FakeHub, tmp_path: Path) -> None:  # noqa: F811
    from tests.gguf_samples import write_split

    shards = write_split(tmp_path / "shards", count=3)
    fake_hub.add_repo("bob/split-GGUF", {f"F32/{p.name}": p.read_bytes() for p in shards})
    listing = wb.hub.files("bob/split-GGUF")
    assert [(e.name, e.quant, len(e.files)) for e in listing.entries] == [("F32/sample.gguf", "F32", 3)]
    model = wb.hub.pull("hf.co/bob/split-GGUF:F32")
    assert len(model.files) == 3 and [p.read_bytes() for p in model.files] == [p.read_bytes() for p in shards]
    assert model.sha256 == hashlib.sha256(shards[0].read_bytes()).hexdigest()
    assert model.source_file == "F32/sample-00001-of-00003.gguf"
    assert len(fake_hub.cdn_gets()) == 3 and list(wb.paths.downloads.glob("*.gguf")) == []


def test_a_taken_name_fails_before_downloading(wb, served: FakeHub, tmp_path: Path) -> None:
    from tests.gguf_samples import write_sample
    from workbench.errors import AlreadyExists, InvalidName

    wb.library.import_file(write_sample(tmp_path / "other.gguf"), name="taken")
    with pytest.raises(AlreadyExists, match="'taken' already exists"):
        wb.hub.pull(REF, name="taken")
    with pytest.raises(InvalidName):
        wb.hub.pull(REF, name="../escape")
    assert served.cdn_gets() == []
