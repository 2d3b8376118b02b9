"""Pulling a vision model from the local Hub stand-in: the projector comes too, resumable and sha256-verified."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.fakehub import FakeHub, fake_hub  # noqa: F401  (fixture)
from tests.projector_samples import write_projector
from workbench.cli import main
from workbench.errors import ChecksumMismatch, InvalidParameter
from workbench.hub.refs import group_gguf_files, pick_projector
from workbench.hub.types import RemoteFile

REPO = "alice/tiny-vision-GGUF"


@pytest.fixture
def projectors(tmp_path: Path) -> dict[str, bytes]:
    return {name: write_projector(tmp_path / name, seed=seed).read_bytes()
            for seed, name in enumerate(("mmproj-tiny-Q8_0.gguf", "mmproj-tiny-F16.gguf", "mmproj-tiny-BF16.gguf"))}


@pytest.fixture
def served(fake_hub: FakeHub, tiny_model_path: Path, projectors: dict[str, bytes]) -> FakeHub:  # noqa: F811
    tiny = tiny_model_path.read_bytes()
    fake_hub.add_repo(REPO, {"tiny-Q8_0.gguf": tiny, "tiny-Q4_K_M.gguf": tiny + b"\0" * 32, **projectors})
    return fake_hub


def test_projector_preference_is_f16_then_bf16_then_q8_0() -> None:
    def entries(*names: str):
        return group_gguf_files([RemoteFile(n, 10 + i, f"{i:064x}") for i, n in enumerate(names)])

    assert pick_projector(entries("m-Q4_K_M.gguf", "mmproj-Q8_0.gguf", "mmproj-BF16.gguf", "mmproj-F16.gguf")).name \
        == "mmproj-F16.gguf"
    assert pick_projector(entries("mmproj-Q8_0.gguf", "mmproj-BF16.gguf")).name == "mmproj-BF16.gguf"
    assert pick_projector(entries("mmproj-Q4_0.gguf", "mmproj-Q8_0.gguf")).name == "mmproj-Q8_0.gguf"
    assert pick_projector(entries("m-Q4_K_M.gguf")) is None


def test_pull_fetches_and_pairs_the_f16_projector(wb, served: FakeHub, projectors: dict[str, bytes]) -> None:
    model = wb.hub.pull(f"hf.co/{REPO}:Q8_0")
    f16 = projectors["mmproj-tiny-F16.gguf"]
    assert model.projector_sha256 == hashlib.sha256(f16).hexdigest() and model.modalities == ("vision",)
    assert Path(model.projector_path).parent == wb.paths.blobs and Path(model.projector_path).read_bytes() == f16
    assert list(wb.paths.downloads.glob("*.gguf")) == [] and wb.hub.pending_downloads() == []
    gets = len(served.cdn_gets())
    other = wb.hub.pull(f"hf.co/{REPO}:Q4_K_M")  # the second model of the repo shares the stored projector
    assert other.projector_path == model.projector_path
    assert len(served.cdn_gets()) == gets + 1  # only the model's bytes were fetched
    assert wb.hub.pull(f"hf.co/{REPO}:Q8_0") == model


def test_a_projector_pulled_later_is_added_to_a_model_already_there(wb, served: FakeHub) -> None:
    model = wb.hub.pull(f"hf.co/{REPO}:Q8_0")
    wb.library.unpair_projector(model.name)
    again = wb.hub.pull(f"hf.co/{REPO}:Q8_0")
    assert again.projector_path and Path(again.projector_path).is_file()


def test_a_corrupt_projector_is_deleted_and_the_model_stays_unpaired(wb, served: FakeHub) -> None:
    served.repos[REPO].files["mmproj-tiny-F16.gguf"].corrupt = True
    with pytest.raises(ChecksumMismatch):
        wb.hub.pull(f"hf.co/{REPO}:Q8_0")
    [model] = wb.library.list()
    assert model.projector_path is None
    assert list(wb.paths.downloads.glob("*.gguf")) == [] and list(wb.paths.downloads.glob("*.part")) == []


def test_files_marks_the_projector_pulled_with_the_models(served: FakeHub, capsys) -> None:
    assert main(["files", REPO]) == 0
    out = capsys.readouterr().out
    assert "mmproj-tiny-F16.gguf (projector: pulled with every model)" in out
    assert "mmproj-tiny-Q8_0.gguf (projector)" in out


def test_pulling_a_projector_alone_is_refused(wb, served: FakeHub) -> None:
    with pytest.raises(InvalidParameter, match=r"is a projector .* pull a model of"):
        wb.hub.pull(f"hf.co/{REPO}/mmproj-tiny-F16.gguf")
    assert wb.library.list() == [] and served.cdn_gets() == []


def test_the_hub_page_marks_the_projector(qtbot, wb, served: FakeHub) -> None:
    from tests.ui_helpers import open_page, wait_done

    _, page = open_page(qtbot, wb, "Hub")
    wait_done(qtbot, page.open_repo(REPO))
    names = [page.files.item(row, 0).text() for row in range(page.files.rowCount())]
    assert "mmproj-tiny-F16.gguf  (projector: comes with the models)" in names
    assert "tiny-Q8_0.gguf" in names
