"""Projectors in the library on real files and a real SQLite file: pair, aliases, verify, remove, bad files."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path

import pytest

from tests.gguf_samples import write_sample
from tests.projector_samples import write_projector
from workbench.app import Workbench
from workbench.errors import InvalidModelFile, NotFound


@pytest.fixture
def tiny(tmp_path: Path, tiny_model_path: Path) -> Path:
    return Path(shutil.copy(tiny_model_path, tmp_path / "tiny.gguf"))


def test_pair_in_place_records_path_sha_and_modalities(wb: Workbench, tiny: Path, tmp_path: Path):
    projector = write_projector(tmp_path / "mmproj-tiny-F16.gguf", audio=True)
    model = wb.library.import_file(tiny)
    assert model.projector_path is None and model.modalities == ()
    paired = wb.library.pair_projector(model.name, projector)
    assert paired.projector_path == str(projector)
    assert paired.projector_sha256 == hashlib.sha256(projector.read_bytes()).hexdigest()
    assert paired.modalities == ("vision", "audio")
    assert wb.library.get(model.name) == paired  # stored, not only returned


def test_pair_copy_stores_by_content_and_aliases_share_it(wb: Workbench, tiny: Path, tmp_path: Path):
    projector = write_projector(tmp_path / "mmproj.gguf")
    model = wb.library.import_file(tiny, copy=True)
    alias = wb.library.alias(model.name, "tiny-alias")
    paired = wb.library.pair_projector(alias.name, projector, copy=True)
    digest = hashlib.sha256(projector.read_bytes()).hexdigest()
    assert Path(paired.projector_path) == wb.paths.blobs / f"sha256-{digest}.gguf"
    assert wb.library.get(model.name).projector_sha256 == digest  # the same weights, the same projector
    projector.unlink()
    assert wb.library.verify(model.name).ok  # the stored copy is what is checked


def test_verify_reports_a_changed_projector(wb: Workbench, tiny: Path, tmp_path: Path):
    projector = write_projector(tmp_path / "mmproj.gguf")
    model = wb.library.pair_projector(wb.library.import_file(tiny).name, projector)
    write_projector(projector, seed=1)
    result = wb.library.verify(model.name)
    assert result.status == "changed"
    assert [c.path for c in result.files if c.status != "ok"] == [projector]


def test_remove_deletes_the_stored_projector_only_when_unused(wb: Workbench, tiny: Path, tmp_path: Path):
    projector = write_projector(tmp_path / "mmproj.gguf")
    model = wb.library.import_file(tiny, copy=True)
    wb.library.alias(model.name, "second")
    stored = Path(wb.library.pair_projector(model.name, projector, copy=True).projector_path)
    wb.library.remove(model.name)
    assert stored.is_file()  # "second" still uses it
    wb.library.remove("second")
    assert not stored.exists()
    assert projector.is_file()  # the user's own file is never touched


def test_a_text_model_is_refused_as_projector_and_nothing_changes(wb: Workbench, tiny: Path, tmp_path: Path):
    model = wb.library.import_file(tiny)
    other = write_sample(tmp_path / "text.gguf")
    with pytest.raises(InvalidModelFile, match="not a projector"):
        wb.library.pair_projector(model.name, other, copy=True)
    assert wb.library.get(model.name).projector_path is None
    assert sorted(p.name for p in wb.paths.blobs.iterdir()) == []


def test_unknown_model_and_missing_file_are_clear_errors(wb: Workbench, tiny: Path, tmp_path: Path):
    projector = write_projector(tmp_path / "mmproj.gguf")
    with pytest.raises(NotFound, match="no model named"):
        wb.library.pair_projector("nope", projector)
    model = wb.library.import_file(tiny)
    with pytest.raises(NotFound):
        wb.library.pair_projector(model.name, tmp_path / "absent.gguf")


def test_unpair_forgets_the_projector(wb: Workbench, tiny: Path, tmp_path: Path):
    model = wb.library.import_file(tiny)
    stored = Path(wb.library.pair_projector(model.name, write_projector(tmp_path / "p.gguf"), copy=True)
                  .projector_path)
    assert wb.library.unpair_projector(model.name).projector_path is None
    assert not stored.exists()


def _run(capsys: pytest.CaptureFixture, *argv) -> tuple[int, str, str]:
    from workbench.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_import_mmproj_then_show_says_vision(capsys, tiny: Path, tmp_path: Path):
    projector = write_projector(tmp_path / "mmproj-tiny-F16.gguf")
    code, out, _ = _run(capsys, "import", tiny, "--mmproj", projector)
    assert code == 0 and "paired projector mmproj-tiny-F16.gguf (vision, sha256" in out
    code, out, _ = _run(capsys, "show", "tiny-llama:F32")
    assert code == 0 and "text / vision" in out and f"projector         {projector}" in out
    code, out, _ = _run(capsys, "show", "tiny-llama:F32", "--json")
    assert '"projector_modalities": "vision"' in out


def test_cli_import_with_a_non_projector_registers_nothing(capsys, tiny: Path, tmp_path: Path):
    code, _, err = _run(capsys, "import", tiny, "--mmproj", write_sample(tmp_path / "text.gguf"))
    assert code == 1 and "is not a projector (mmproj) file" in err and "Traceback" not in err
    code, out, err = _run(capsys, "list")
    assert "tiny-llama" not in out


def test_modelfile_second_from_is_the_projector_and_round_trips():
    from workbench.modelfile import parser as mf
    from workbench.modelfile.edit import apply_changes

    text = "FROM ./llava-q4.gguf\nFROM ./mmproj-llava-f16.gguf\nPARAMETER temperature 0.2\n"
    parsed = mf.parse(text)
    assert (parsed.from_, parsed.projector) == ("./llava-q4.gguf", "./mmproj-llava-f16.gguf")
    assert mf.render(parsed) == text and mf.parse(mf.render(parsed)) == parsed
    edited = apply_changes(text, dataclasses.replace(parsed, system="Describe images."))
    assert edited.splitlines()[:3] == ["FROM ./llava-q4.gguf", "FROM ./mmproj-llava-f16.gguf",
                                       "SYSTEM Describe images."]


def test_a_preset_with_a_projector_from_pairs_it_and_runs_with_it(wb: Workbench, tiny: Path, tmp_path: Path):
    projector = write_projector(tmp_path / "mmproj.gguf")
    wb.presets.create("seeing", f"FROM {tiny}\nFROM {projector}\nSYSTEM Look closely.\n")
    resolved = wb.presets.resolve("seeing")
    assert resolved.model.projector_path == str(projector) and resolved.modelfile.projector == str(projector)
    assert wb.chat.target(wb.sessions.create(preset_ref="seeing")).model.projector_path == str(projector)


def test_a_preset_whose_second_from_is_no_projector_is_refused_at_its_line(wb: Workbench, tiny: Path,
                                                                            tmp_path: Path):
    from workbench.errors import InvalidModelfile

    other = write_sample(tmp_path / "text.gguf")
    with pytest.raises(InvalidModelfile, match=r"^line 2: FROM .*text\.gguf: .* is not a projector"):
        wb.presets.create("seeing", f"FROM {tiny}\nFROM {other}\n")
    with pytest.raises(InvalidModelfile, match=r"^line 2: FROM .*: no such projector file"):
        wb.presets.create("seeing", f"FROM {tiny}\nFROM {tmp_path / 'absent.gguf'}\n")
    assert not wb.presets.exists("seeing")
