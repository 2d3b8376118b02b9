"""A disk that fills up during a pull, a bundle import, a quantization and an answer's save: a clear error,
nothing half-registered, nothing saved lost, and the partial pull resumes once there is space again.

The disk is a real one: a small tmpfs mounted over the data folder (or its models folder), filled by a
"neighbour" file at the moment the work is under way, so the write that fails is the real write (ENOSPC).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.fakehub import FakeHub, fake_hub  # noqa: F401  (fixture)
from tests.test_engine_mechanics import wait_until
from workbench.app import Workbench
from workbench.errors import DiskFull
from workbench.paths import default_paths
from workbench.tasks import Progress

REPO = "alice/tiny-GGUF"


def _run_as_root(*command: str) -> subprocess.CompletedProcess:
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    return subprocess.run([*prefix, *command], capture_output=True, text=True)


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted over `folder` for the block (root, or sudo without a password)."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = _run_as_root("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip()}): needs root or passwordless sudo")
    try:
        yield folder
    finally:
        _run_as_root("umount", "-l", str(folder))


def fill(folder: Path, leave: int = 0) -> Path:
    """A neighbour's file that takes all the free space of folder's disk but `leave` bytes."""
    filler = folder / "neighbour.bin"
    with filler.open("wb", buffering=0) as f:
        margin = 65536
        while margin < 64 << 20:  # another writer may take space meanwhile: leave a little more and retry
            try:
                os.posix_fallocate(f.fileno(), 0, max((shutil.disk_usage(folder).free - leave - margin), 1))
                break
            except OSError:
                margin *= 4
        f.seek(0, os.SEEK_END)
        with contextlib.suppress(OSError):  # then page by page up to `leave` (tmpfs counts whole pages)
            while shutil.disk_usage(folder).free > leave:
                f.write(b"\0" * 4096)
    return filler


def filled_at(folder: Path, when) -> tuple[list[Path], callable]:
    """An on_progress callback that fills the disk the first time `when(progress)` holds."""
    fillers: list[Path] = []

    def on_progress(p: Progress) -> None:
        if not fillers and when(p):
            fillers.append(fill(folder))
    return fillers, on_progress


@pytest.fixture
def models_on_small_disk(workbench_home: Path) -> Iterator[Path]:
    with small_disk(default_paths().data / "models", "96m") as models:
        yield models


def test_disk_full_during_a_pull_keeps_the_partial_and_the_next_pull_resumes(
        models_on_small_disk: Path, fake_hub: FakeHub, tiny_model_path: Path):  # noqa: F811
    fake_hub.add_repo(REPO, {"tiny-Q8_0.gguf": tiny_model_path.read_bytes()})
    gate = fake_hub.pause_at(200_000)  # the Hub holds the transfer there while the disk fills up
    with Workbench() as wb, ThreadPoolExecutor(1) as pool:
        pulling = pool.submit(wb.hub.pull, f"hf.co/{REPO}:Q8_0")
        assert gate.reached.wait(60)
        filler = fill(models_on_small_disk, leave=20_000)
        gate.release()
        with pytest.raises(DiskFull, match=r"partial file is kept; free .* and pull again to resume"):
            pulling.result(60)
        assert wb.library.list() == []  # nothing half-registered
        (pending,) = wb.hub.pending_downloads()
        kept = Path(pending.partial_path).stat().st_size
        assert pending.status == "paused" and 200_000 <= kept < tiny_model_path.stat().st_size
        assert pending.bytes_done == kept

        filler.unlink()  # space is back
        model = wb.hub.pull(f"hf.co/{REPO}:Q8_0")
        assert model.path.read_bytes() == tiny_model_path.read_bytes()
        assert fake_hub.ranges_seen()[-1] == f"bytes={kept}-"  # resumed, not started over


def test_disk_full_during_a_bundle_import_registers_nothing(models_on_small_disk: Path, tmp_path: Path,
                                                            tiny_model_path: Path):
    from workbench.bundle import export_bundle, import_bundle
    from workbench.paths import Paths

    source_root = tmp_path / "connected"
    paths = Paths(data=source_root / "d", config=source_root / "c", cache=source_root / "k", logs=source_root / "l")
    with Workbench(paths) as source:
        source.library.import_file(tiny_model_path, name="tiny:F32")
        source.presets.create("helper", "FROM tiny:F32\nSYSTEM Be brief.\n")
        bundle = tmp_path / "carry.wbundle"
        export_bundle(source, bundle, presets=["helper"])
    with Workbench() as wb:
        fillers, on_progress = filled_at(models_on_small_disk, lambda p: p.completed > 0)
        with pytest.raises(DiskFull, match=r"disk .* is full while importing"):
            import_bundle(wb, bundle, on_progress=on_progress)
        assert wb.library.list() == [] and wb.presets.list() == []
        assert [p.name for p in wb.paths.blobs.iterdir()] == []  # no temp file left
        fillers[0].unlink()
        assert import_bundle(wb, bundle).changed and wb.presets.get("helper").content.startswith("FROM tiny:F32")


@pytest.mark.gemma  # big enough that the disk fills while llama.cpp is still writing tensors
def test_disk_full_during_a_quantization_registers_nothing(workbench_home: Path, gemma_model_path: Path):
    from workbench.library.quantize import quantize

    # quantize keeps 256 MB spare before it starts: the disk fills once the tensors are being written
    with small_disk(default_paths().data / "models", "640m") as models, Workbench() as wb:
        wb.library.import_file(gemma_model_path, name="gemma:Q4_K_M")
        fillers, on_progress = filled_at(models, lambda p: p.completed > 0)
        with pytest.raises(DiskFull, match="the disk filled up while quantizing") as info:
            quantize(wb.library, "gemma:Q4_K_M", "Q8_0", allow_requantize=True, on_progress=on_progress)
        assert str(models / "blobs") in str(info.value)
        assert [m.name for m in wb.library.list()] == ["gemma:Q4_K_M"]
        assert list(wb.paths.blobs.iterdir()) == []  # no partial output left
        fillers[0].unlink()


def test_disk_full_during_an_answers_save_loses_nothing_saved(workbench_home: Path, tiny_model_path: Path):
    data = default_paths().data
    with small_disk(data, "96m"), Workbench() as wb:
        wb.update_settings(default_context=512)
        wb.library.import_file(tiny_model_path, name="tiny:F32")
        session = wb.sessions.create(model_name="tiny:F32", title="kept", parameter_overrides={"num_predict": 24})
        first = wb.chat.send(session.id, "the first question").collect()
        wb.store.retention.checkpoint()  # the write-ahead log starts empty: the next save must grow the file
        stream = wb.chat.send(session.id, "the second question")
        filler = None
        with pytest.raises(DiskFull, match=re.escape(f"the disk holding {wb.paths.db} is full")):
            for _piece in stream:
                filler = filler or fill(data)
        assert wait_until(lambda: not wb.runtime.loaded()[0].busy)  # the generation stopped, its slot freed
        filler.unlink()
        user, answer = wb.sessions.path(session.id, first.id)
        assert (user.content, answer.content, answer.status) == ("the first question", first.content, "complete")
        assert wb.sessions.recover_interrupted(force=True) <= 1  # the unsaved answer is marked, not left streaming
