"""Air-gap bundles end to end: export from one real Workbench, import into a second fresh one (tiny model).

Two data dirs on tmp_path, real SQLite files, real tar files, the real library and runtime; the hostile cases
are real tar files made by hand with `tarfile`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.fakehub import FakeHub, fake_hub  # noqa: F401  (fixture)
from workbench.app import Workbench
from workbench.bundle.format import InvalidBundle
from workbench.bundle.service import export_bundle, import_bundle, inspect_bundle
from workbench.cli import main
from workbench.engine import GenerationRequest, LoadOptions
from workbench.errors import AlreadyExists, Cancelled, ChecksumMismatch, NotFound
from workbench.measure.quality import default_text, ensure_reference, quality, resolve_reference
from workbench.paths import Paths
from workbench.tasks import CancelToken

TEXT_1 = "FROM tiny:F32\nPARAMETER temperature 0.2\n"
TEXT_2 = "# warmer\nFROM tiny:F32\nPARAMETER temperature 0.7\nSYSTEM You are terse.\n"


def open_wb(root: Path) -> Workbench:
    return Workbench(Paths(data=root / "data", config=root / "config", cache=root / "cache", logs=root / "logs"))


@pytest.fixture
def source(tmp_path: Path, tiny_model_path: Path):
    with open_wb(tmp_path / "connected") as wb:
        wb.library.import_file(tiny_model_path, name="tiny:F32")
        wb.presets.create("helper", TEXT_1, message="first")
        wb.presets.save("helper", TEXT_2, message="warmer")
        wb.presets.tag("helper", "stable", 1)
        yield wb


@pytest.fixture
def target(tmp_path: Path):
    with open_wb(tmp_path / "airgapped") as wb:
        yield wb


@pytest.fixture
def bundle(source, tmp_path: Path) -> Path:
    path = tmp_path / "carry.wbundle"
    export_bundle(source, path, presets=["helper"])
    return path


def snapshot(wb) -> tuple:
    models = sorted((m.name, m.sha256) for m in wb.library.list())
    presets = sorted((p.name, p.version_count) for p in wb.presets.list())
    blobs = sorted(p.name for p in wb.paths.blobs.iterdir())
    leftovers = sorted(p.name for p in wb.paths.downloads.iterdir())
    return models, presets, blobs, leftovers


def test_a_preset_brings_its_model_and_history_across(source, target, bundle: Path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")  # the air-gapped side never needs the network
    with tarfile.open(bundle) as tar:
        assert tar.getnames()[0] == "manifest.json"
    tiny = source.library.get("tiny:F32")
    report = import_bundle(target, bundle)
    assert report.models_added == ("tiny:F32",) and report.presets_created == ("helper",) and report.changed
    model = target.library.get("tiny:F32")
    assert model.sha256 == tiny.sha256 and not model.in_place and model.path.is_relative_to(target.paths.blobs)
    assert target.library.verify("tiny:F32").ok

    history = list(reversed(target.presets.history("helper")))
    assert [(v.number, v.content, v.message) for v in history] == [(1, TEXT_1, "first"), (2, TEXT_2, "warmer")]
    originals = list(reversed(source.presets.history("helper")))
    assert [v.created_at for v in history] == [v.created_at for v in originals]  # when each was written, there
    assert target.presets.get("helper:stable").number == 1 and target.presets.get("helper").number == 2
    resolved = target.presets.resolve("helper")
    assert resolved.model.sha256 == tiny.sha256 and resolved.modelfile.system == "You are terse."
    final = target.runtime.generate(model, GenerationRequest(prompt="Hi", max_tokens=4), LoadOptions(n_ctx=128))
    assert final.collect()[1].completion_tokens == 4

    before = snapshot(target)
    again = import_bundle(target, bundle)
    assert not again.changed and again.models_present == ("tiny:F32",) and again.presets_unchanged == ("helper",)
    assert snapshot(target) == before


def test_inspect_reads_what_export_wrote(source, bundle: Path):
    manifest = inspect_bundle(bundle)
    tiny = source.library.get("tiny:F32")
    assert (manifest.format, manifest.format_version) == ("workbench-bundle", 1)
    [model] = manifest.models
    assert (model.name, model.sha256, model.size, model.member) == (
        "tiny:F32", tiny.sha256, tiny.size_bytes, f"models/{tiny.sha256}.gguf")
    [preset] = manifest.presets
    assert [(v.number, v.text, v.tags) for v in preset.versions] == [(1, TEXT_1, ("stable",)), (2, TEXT_2, ())]
    assert all(v.model_sha256 == tiny.sha256 for v in preset.versions)


def test_a_changed_local_preset_gets_the_bundle_text_as_a_new_version(source, target, bundle: Path,
                                                                      tiny_model_path: Path):
    target.library.import_file(tiny_model_path, name="tiny:F32")
    target.presets.create("helper", "FROM tiny:F32\nPARAMETER top_k 5\n")
    report = import_bundle(target, bundle)
    assert report.presets_updated == ("helper",) and report.models_present == ("tiny:F32",)
    history = target.presets.history("helper")
    assert [v.number for v in history] == [2, 1] and history[0].content == TEXT_2
    assert history[0].message == f"imported from bundle {bundle.name}" and "top_k 5" in history[1].content


def test_a_flipped_byte_is_a_checksum_mismatch_and_nothing_is_registered(target, bundle: Path, tmp_path: Path):
    damaged = tmp_path / "damaged.wbundle"
    data = bytearray(bundle.read_bytes())
    with tarfile.open(bundle) as tar:
        member = tar.getmembers()[1]
    data[member.offset_data + member.size // 2] ^= 0x01
    damaged.write_bytes(bytes(data))
    before = snapshot(target)
    with pytest.raises(ChecksumMismatch, match="does not match its sha256"):
        import_bundle(target, damaged)
    assert snapshot(target) == before
    (refused,) = target.audit.list(kind="bundle.")
    assert (refused.kind, refused.subject, refused.details["error"]) == ("bundle.refused", "damaged.wbundle",
                                                                         "ChecksumMismatch")
    assert not target.audit.list(kind="model.imported")


def test_export_and_import_leave_audit_events_without_preset_text(source, target, bundle: Path):
    tiny = source.library.get("tiny:F32")
    (exported,) = source.audit.list(kind="bundle.")
    assert (exported.kind, exported.subject) == ("bundle.exported", "carry.wbundle")
    assert exported.details["models"] == [{"name": "tiny:F32", "sha256": tiny.sha256, "size_bytes": tiny.size_bytes}]
    assert exported.details["presets"] == [{"name": "helper", "versions": 2}]
    import_bundle(target, bundle)
    import_bundle(target, bundle)  # the second changes nothing, and says so in the trail too
    (model,) = target.audit.list(kind="model.imported")
    assert model.subject == "tiny:F32" and model.details["sha256"] == tiny.sha256
    assert model.details["bundle"] == "carry.wbundle"
    first, second = target.audit.list(kind="bundle.imported")
    assert first.details["changed"] and first.details["models_added"] == ["tiny:F32"]
    assert first.details["presets_created"] == ["helper"]
    assert not second.details["changed"] and second.details["models_present"] == ["tiny:F32"]
    assert target.audit.verify().ok
    for wb in (source, target):  # the preset's text (its SYSTEM prompt) never reaches the trail
        trail = json.dumps([(e.subject, e.details) for e in wb.audit.list(limit=1000)])
        assert "bundle" in trail and "You are terse" not in trail


def test_a_truncated_bundle_is_refused_before_anything_is_copied(target, bundle: Path, tmp_path: Path):
    short = tmp_path / "short.wbundle"
    short.write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 2])
    before = snapshot(target)
    with pytest.raises(InvalidBundle, match="truncated"):
        import_bundle(target, short)
    assert snapshot(target) == before
    inspect_bundle(short)  # the manifest is intact: inspecting still works


def rebuilt(bundle: Path, out: Path, extra: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """The bundle's own members plus hand-made extra ones."""
    with tarfile.open(bundle) as src, tarfile.open(out, "w") as tar:
        for info in src.getmembers():
            tar.addfile(info, src.extractfile(info))
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out


def member(name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    if kind == tarfile.SYMTYPE:
        info.linkname = "/etc/passwd"
        return info, None
    info.size = len(data)
    return info, data


@pytest.mark.parametrize("extra", [member("../evil"), member("/tmp/evil"), member("models/unlisted.gguf"),
                                   member("manifest.json", b"{}")], ids=["dotdot", "absolute", "unlisted", "dupe"])
def test_members_the_manifest_does_not_list_are_refused(target, bundle: Path, tmp_path: Path, extra):
    hostile = rebuilt(bundle, tmp_path / "hostile.wbundle", [extra])
    before = snapshot(target)
    with pytest.raises(InvalidBundle, match="refused"):
        import_bundle(target, hostile)
    assert snapshot(target) == before
    assert not (tmp_path / "evil").exists()


def test_a_listed_name_that_is_a_link_is_refused(target, source, tmp_path: Path):
    path = tmp_path / "one.wbundle"
    manifest = export_bundle(source, path, models=["tiny:F32"])
    link = tmp_path / "link.wbundle"
    with tarfile.open(link, "w") as tar:
        data = manifest.to_json()
        info, _ = member("manifest.json", data)
        tar.addfile(info, io.BytesIO(data))
        tar.addfile(member(manifest.models[0].member, kind=tarfile.SYMTYPE)[0])
    with pytest.raises(InvalidBundle, match="not a regular file"):
        import_bundle(target, link)
    assert target.library.list() == []


def test_a_manifest_with_a_bad_name_or_a_newer_format_is_refused(tmp_path: Path):
    def bundle_with(manifest: dict) -> Path:
        path = tmp_path / "made.wbundle"
        with tarfile.open(path, "w") as tar:
            info, data = member("manifest.json", json.dumps(manifest).encode())
            tar.addfile(info, io.BytesIO(data))
        return path

    base = {"format": "workbench-bundle", "format_version": 1, "created_at": "now", "workbench_version": "0",
            "models": [], "presets": []}
    with pytest.raises(InvalidBundle, match="format version 4"):
        inspect_bundle(bundle_with({**base, "format_version": 4}))
    bad = {"name": "../x", "sha256": "0" * 64, "files": [{"member": f"models/{'0' * 64}.gguf",
                                                          "sha256": "0" * 64, "size": 1}]}
    with pytest.raises(InvalidBundle, match="unacceptable name"):
        inspect_bundle(bundle_with({**base, "models": [bad]}))
    sneaky = {**bad, "name": "ok", "files": [{**bad["files"][0], "member": "../../x.gguf"}]}
    with pytest.raises(InvalidBundle, match="must be stored as"):
        inspect_bundle(bundle_with({**base, "models": [sneaky]}))
    with pytest.raises(InvalidBundle, match="not a Workbench bundle"):
        inspect_bundle(bundle_with({"format": "docker"}))


def test_a_name_taken_by_other_bytes_is_refused_and_nothing_changes(target, bundle: Path, tmp_path: Path):
    from tests.tinymodel import write_tiny_model

    other = write_tiny_model(tmp_path / "other.gguf", seed=7)
    target.library.import_file(other, name="tiny:F32")
    before = snapshot(target)
    with pytest.raises(AlreadyExists, match="different model in this library"):
        import_bundle(target, bundle)
    assert snapshot(target) == before


def test_a_path_from_is_rewritten_to_the_library_name(source, target, tmp_path: Path, tiny_model_path: Path):
    source.presets.create("bypath", f"FROM {tiny_model_path}\n# keep me\n")
    path = tmp_path / "bypath.wbundle"
    export_bundle(source, path, presets=["bypath"])
    import_bundle(target, path)
    history = target.presets.history("bypath")
    assert [v.number for v in history] == [2, 1] and history[1].content.startswith(f"FROM {tiny_model_path}")
    assert history[0].content == "FROM tiny:F32\n# keep me\n"
    assert target.presets.resolve("bypath").model.name == "tiny:F32"
    assert not import_bundle(target, path).changed


def test_a_model_file_changed_since_import_fails_the_export(source, tmp_path: Path, tiny_model_path: Path):
    from tests.tinymodel import write_tiny_model

    in_place = write_tiny_model(tmp_path / "in-place.gguf", seed=3)  # other bytes than tiny:F32
    source.library.import_file(in_place, name="mine:F32")
    data = bytearray(in_place.read_bytes())
    data[-64] ^= 0x01  # inside the tensor data
    in_place.write_bytes(bytes(data))
    out = tmp_path / "changed.wbundle"
    with pytest.raises(ChecksumMismatch, match="changed on disk"):
        export_bundle(source, out, models=["mine:F32"])
    assert list(tmp_path.glob("changed.wbundle*")) == []


def test_cancel_during_export_leaves_no_file(source, tmp_path: Path):
    token = CancelToken()
    reports = []

    def on_progress(p):
        reports.append(p)
        token.cancel()

    out = tmp_path / "cancelled.wbundle"
    with pytest.raises(Cancelled):
        export_bundle(source, out, presets=["helper"], on_progress=on_progress, cancel=token)
    assert reports and list(tmp_path.glob("cancelled.wbundle*")) == []


def test_export_refuses_an_existing_file(source, tmp_path: Path):
    out = tmp_path / "exists.wbundle"
    out.write_bytes(b"keep")
    with pytest.raises(AlreadyExists):
        export_bundle(source, out, models=["tiny:F32"])
    assert out.read_bytes() == b"keep"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_create_inspect_import(source, tmp_path: Path, capsys, monkeypatch):
    out = tmp_path / "cli.wbundle"
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "connected-cli"))
    with open_wb(tmp_path / "connected-cli") as wb:
        wb.library.import_file(source.library.get("tiny:F32").path, name="tiny:F32")
        wb.presets.create("helper", TEXT_1)
    code, text, err = run(capsys, "bundle", "create", out, "--preset", "helper")
    assert code == 0 and f"wrote {out}" in text and "1 model, 1 preset" in text, err
    code, text, _ = run(capsys, "bundle", "inspect", out)
    assert code == 0 and "tiny:F32" in text and "helper" in text
    code, text, _ = run(capsys, "bundle", "inspect", out, "--json")
    assert code == 0 and json.loads(text)["models"][0]["name"] == "tiny:F32"

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "airgapped-cli"))
    code, text, err = run(capsys, "bundle", "import", out)
    assert code == 0 and "added model tiny:F32" in text and "created preset helper" in text, err
    code, text, _ = run(capsys, "bundle", "import", out)
    assert code == 0 and "nothing to do" in text
    code, _, err = run(capsys, "bundle", "import", tmp_path / "missing.wbundle")
    assert code == 1 and "no such file" in err and "Traceback" not in err


def test_a_split_model_travels_as_its_shards(source, target, tmp_path: Path):
    from tests.gguf_samples import write_split

    split = source.library.import_file(write_split(tmp_path / "shards")[0])
    path = tmp_path / "split.wbundle"
    manifest = export_bundle(source, path, models=[split.name])
    assert [f.sha256 for f in manifest.models[0].files] == [split.sha256, *split.split_sha256]
    import_bundle(target, path)
    arrived = target.library.get(split.name)
    assert (arrived.sha256, arrived.split_sha256, arrived.size_bytes) == (
        split.sha256, split.split_sha256, split.size_bytes)
    assert len(arrived.files) == 3 and target.library.verify(split.name).ok


def test_a_preset_on_an_alias_brings_the_alias(source, target, tmp_path: Path, tiny_model_path: Path):
    source.library.import_file(tiny_model_path, name="alias:F32")  # the same bytes under a second name
    source.presets.create("aliased", "FROM alias:F32\n")
    path = tmp_path / "alias.wbundle"
    manifest = export_bundle(source, path, models=["tiny:F32"], presets=["aliased"])
    assert [m.name for m in manifest.models] == ["tiny:F32", "alias:F32"] and len(manifest.files) == 1
    report = import_bundle(target, path)
    assert report.models_added == ("tiny:F32", "alias:F32") and report.bytes_copied == manifest.total_size
    assert target.presets.resolve("aliased").model.name == "alias:F32"


def test_cancel_during_import_registers_nothing_and_leaves_no_temp_file(target, bundle: Path):
    token = CancelToken()

    def on_progress(_):
        token.cancel()

    with pytest.raises(Cancelled):
        import_bundle(target, bundle, on_progress=on_progress, cancel=token)
    assert snapshot(target) == ([], [], [], [])
    assert import_bundle(target, bundle).changed  # the next import does it all


def test_a_full_disk_during_export_leaves_nothing(source, tmp_path: Path):
    """A real short write: the child process may not write files over 64 KB (RLIMIT_FSIZE → EFBIG)."""
    import subprocess
    import sys
    import textwrap

    out = tmp_path / "full.wbundle"
    script = textwrap.dedent(f"""
        import resource, signal, sys
        from pathlib import Path
        from tests.test_bundle import open_wb
        from workbench.bundle import export_bundle
        from workbench.errors import DiskFull
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
        with open_wb(Path({str(tmp_path / "connected")!r})) as wb:
            try:
                export_bundle(wb, {str(out)!r}, presets=["helper"])
            except DiskFull as exc:
                print("DiskFull:", exc)
                sys.exit(0)
        sys.exit(3)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parent.parent, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "DiskFull: full.wbundle.partial grew larger than the file system" in done.stdout
    assert list(tmp_path.glob("full.wbundle*")) == []


def test_a_pulled_model_keeps_its_hub_source_so_a_hub_from_resolves_offline(
        source, target, tmp_path: Path, fake_hub: FakeHub, monkeypatch):  # noqa: F811
    from tests.tinymodel import write_tiny_model

    served = write_tiny_model(tmp_path / "served.gguf", seed=5)  # bytes the source library does not hold yet
    fake_hub.add_repo("alice/tiny-GGUF", {"tiny-Q8_0.gguf": served.read_bytes()})
    ref = "hf.co/alice/tiny-GGUF:Q8_0"
    pulled = source.hub.pull(ref, name="pulled:Q8_0")
    source.presets.create("from-hub", f"FROM {ref}\n")
    path = tmp_path / "hub.wbundle"
    manifest = export_bundle(source, path, presets=["from-hub"])
    assert manifest.models[0].source_repo == "alice/tiny-GGUF"
    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    import_bundle(target, path)
    arrived = target.library.get("pulled:Q8_0")
    assert (arrived.source_repo, arrived.source_revision, arrived.source_file) == (
        pulled.source_repo, pulled.source_revision, pulled.source_file)
    assert target.presets.resolve("from-hub").model.name == "pulled:Q8_0"
    assert target.presets.get("from-hub").content == f"FROM {ref}\n"


# ---- stored quality references ---------------------------------------------------------------------------------
QUALITY_TEXT = default_text()[:2000]


def store_reference(wb, name: str = "tiny:F32", window: int = 128):
    return ensure_reference(wb, resolve_reference(wb, name), QUALITY_TEXT, window=window)


def test_a_stored_reference_travels_without_its_model(source, target, tmp_path: Path, tiny_q4_path: Path):
    """The evaluator's case: the reference computed where the big model is; only the quantization travels."""
    source.library.import_file(tiny_q4_path, name="tiny:Q4_0")
    stored = store_reference(source)
    measured = quality(source, ["tiny:F32", "tiny:Q4_0"], text=QUALITY_TEXT, window=128)
    path = tmp_path / "reference.wbundle"
    manifest = export_bundle(source, path, references=["tiny:F32"])
    assert manifest.models == () and len(manifest.references) == 1
    entry = manifest.references[0]
    assert (entry.model_name, entry.window, entry.size) == ("tiny:F32", 128, stored.size_bytes)
    assert json.loads(inspect_bundle(path).to_json())["format_version"] == 2
    target.library.import_file(tiny_q4_path, name="tiny:Q4_0")
    report = import_bundle(target, path)
    assert report.references_added == ("tiny:F32 w128",) and report.changed and report.models_added == ()
    there = quality(target, ["tiny:F32", "tiny:Q4_0"], text=QUALITY_TEXT, window=128)
    assert there.reference.reused and there.targets == measured.targets
    assert [info.sha256 for info in target.runtime.loaded()] == [target.library.get("tiny:Q4_0").sha256]
    again = import_bundle(target, path)
    assert not again.changed and again.references_added == ()


def test_a_bundled_model_brings_its_references_and_old_bundles_stay_version_1(source, tmp_path: Path):
    plain = tmp_path / "plain.wbundle"
    export_bundle(source, plain, models=["tiny:F32"])
    assert json.loads(inspect_bundle(plain).to_json())["format_version"] == 1  # an older Workbench reads it
    assert "references" not in json.loads(inspect_bundle(plain).to_json())
    store_reference(source)
    carried = export_bundle(source, tmp_path / "carried.wbundle", models=["tiny:F32"])
    assert [r.model_name for r in carried.references] == ["tiny:F32"]
    with pytest.raises(NotFound, match="no stored quality reference of tiny:Q8"):
        export_bundle(source, tmp_path / "none.wbundle", references=["tiny:Q8"])


def damaged_copy(reference: Path) -> bytes:
    """The reference file with one window's scales not finite: it opens, and only reading every window tells."""
    buffer, scales = io.BytesIO(), io.BytesIO()
    np.lib.format.write_array(scales, np.full(63, np.nan, dtype="<f4"), allow_pickle=False)
    with zipfile.ZipFile(reference) as good, zipfile.ZipFile(buffer, "w") as bad:
        for name in good.namelist():
            bad.writestr(name, scales.getvalue() if name == "w1.scale.npy" else good.read(name))
    return buffer.getvalue()


def test_a_reference_member_that_is_not_a_reference_is_refused(source, target, tmp_path: Path):
    stored = store_reference(source)
    good = tmp_path / "good.wbundle"
    manifest = export_bundle(source, good, references=["tiny:F32"])
    junk = damaged_copy(Path(stored.path))
    entry = dataclasses.replace(manifest.references[0], sha256=hashlib.sha256(junk).hexdigest(), size=len(junk),
                                member=f"references/{hashlib.sha256(junk).hexdigest()}.wbref")
    forged = dataclasses.replace(manifest, references=(entry,))
    path = tmp_path / "forged.wbundle"
    with tarfile.open(path, "w") as tar:
        for name, data in (("manifest.json", forged.to_json()), (entry.member, junk)):
            info, payload = member(name, data)
            tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(InvalidBundle, match=r"not a usable quality reference .*not finite"):
        import_bundle(target, path)
    assert not target.paths.references.exists() or not any(target.paths.references.rglob("*.wbref"))
    assert list(target.paths.downloads.iterdir()) == []  # the copy was removed
    bad = json.loads(forged.to_json())
    bad["references"][0]["member"] = "../../x.wbref"
    with tarfile.open(path, "w") as tar:
        info, payload = member("manifest.json", json.dumps(bad).encode())
        tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(InvalidBundle, match="a reference must be stored as"):
        inspect_bundle(path)


def test_a_paired_projector_travels_with_its_model_and_is_verified(source, target, tmp_path: Path):
    from tests.projector_samples import write_projector

    projector = write_projector(tmp_path / "mmproj-tiny-F16.gguf", audio=True)
    paired = source.library.pair_projector("tiny:F32", projector)
    path = tmp_path / "vision.wbundle"
    manifest = export_bundle(source, path, presets=["helper"])
    assert manifest.models[0].projector.sha256 == paired.projector_sha256
    assert inspect_bundle(path).models[0].projector == manifest.models[0].projector
    assert inspect_bundle(path).format_version == 3  # an older Workbench refuses it rather than drop the projector
    import_bundle(target, path)
    here = target.library.get("tiny:F32")
    assert here.projector_sha256 == paired.projector_sha256 and here.modalities == ("vision", "audio")
    assert Path(here.projector_path).parent == target.paths.blobs
    assert Path(here.projector_path).read_bytes() == projector.read_bytes()
    assert target.presets.resolve("helper").model.projector_path == here.projector_path
    assert list(target.paths.downloads.iterdir()) == []
    assert import_bundle(target, path).bytes_copied == 0  # the second time: nothing to copy


def test_a_damaged_projector_member_registers_nothing(source, target, tmp_path: Path):
    from tests.projector_samples import write_projector

    source.library.pair_projector("tiny:F32", write_projector(tmp_path / "mmproj.gguf"))
    path = tmp_path / "vision.wbundle"
    manifest = export_bundle(source, path, models=["tiny:F32"])
    with tarfile.open(path) as tar:
        data = tar.getmember(manifest.models[0].projector.member).offset_data
    raw = bytearray(path.read_bytes())
    raw[data + 100] ^= 0xFF
    path.write_bytes(bytes(raw))
    before = snapshot(target)
    with pytest.raises(ChecksumMismatch):
        import_bundle(target, path)
    assert snapshot(target) == before  # verified before anything was registered


def test_a_session_travels_with_its_images_and_its_preset_once(source, target, tmp_path: Path, capsys, monkeypatch):
    from tests.tinyvision import tiny_png

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "connected"))  # the CLI below opens `source`'s folder

    session = source.sessions.create(preset_ref="helper")
    user = source.sessions.add_message(session.id, None, "user", "what is this?", images=[tiny_png(1)])
    source.sessions.add_message(session.id, user.id, "assistant", "a picture")
    session = source.sessions.get(session.id)
    path = tmp_path / "chat.wbundle"
    code, text, err = run(capsys, "bundle", "create", path, "--session", session.id)
    assert code == 0 and "1 model, 1 preset, 0 quality references, 1 session" in text, err
    manifest = inspect_bundle(path)
    assert manifest.format_version == 3 and [s.title for s in manifest.sessions] == [session.title]
    report = import_bundle(target, path)
    assert report.sessions_added == (session.title,) and report.presets_created == ("helper",)
    [here] = target.sessions.list()
    question, answer = target.sessions.path(here.id)
    assert (question.content, answer.content) == ("what is this?", "a picture")
    assert target.sessions.images(question)[0].data == tiny_png(1) and here.preset_ref == "helper@2"
    again = import_bundle(target, path)
    assert not again.changed and again.sessions_present == (session.title,) and len(target.sessions.list()) == 1


def test_a_damaged_session_member_imports_nothing(source, target, tmp_path: Path):
    from tests.tinyvision import tiny_png

    session = source.sessions.create(preset_ref="helper")
    source.sessions.add_message(session.id, None, "user", "what is this?", images=[tiny_png(1)])
    path = tmp_path / "chat.wbundle"
    manifest = export_bundle(source, path, sessions=[session.id])
    with tarfile.open(path) as tar:
        data = tar.getmember(manifest.sessions[0].member).offset_data
    raw = bytearray(path.read_bytes())
    raw[data + 10] ^= 0x01
    path.write_bytes(bytes(raw))
    before = snapshot(target)
    with pytest.raises(ChecksumMismatch):
        import_bundle(target, path)
    assert snapshot(target) == before and target.sessions.list() == []
