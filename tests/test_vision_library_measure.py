"""An image per prompt in Compare and per test case in Evals: the tiny model paired with the tiny projector on the
real runtime (libmtmd), a model without one beside it, real suite files beside real PNGs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.tinymodel import write_tiny_model
from tests.tinyvision import N_IMAGE_TOKENS, tiny_png, write_tiny_projector
from workbench.chat.media import Media
from workbench.errors import InvalidParameter
from workbench.evals.suite_types import SuiteError
from workbench.measure.compare import compare

TEMPLATE = '"""{{ range .Messages }}<|{{ .Role }}|>{{ .Content }}<|end|>{{ end }}<|assistant|>"""'
FAST = "PARAMETER num_predict 4\nPARAMETER num_thread 1\n"


@pytest.fixture
def presets(wb, tiny_model_path, tmp_path: Path):
    wb.library.import_file(tiny_model_path, name="tiny:F32", mmproj=write_tiny_projector(tmp_path / "mmproj.gguf"))
    wb.library.import_file(write_tiny_model(tmp_path / "blind.gguf", seed=1), name="blind:F32")
    for name, model in (("seeing", "tiny:F32"), ("blind", "blind:F32")):
        wb.presets.create(name, f"FROM {model}\nTEMPLATE {TEMPLATE}\n{FAST}")
    return ("seeing", "blind")


def test_compare_sends_the_image_to_every_pane_and_a_blind_one_says_why(wb, presets):
    plain = compare(wb, "What is this?", ["seeing", "seeing"], seed=1)
    seen = compare(wb, "What is this?", ["seeing", "blind"], seed=1, images=[Media.from_bytes(tiny_png(1))])
    assert seen.panes[0].error is None
    assert seen.panes[0].prompt_tokens == plain.panes[0].prompt_tokens + N_IMAGE_TOKENS  # the image went in
    assert "blind:F32 has no projector" in seen.panes[1].error
    with pytest.raises(InvalidParameter, match="turn raw prompt off"):
        compare(wb, "What is this?", ["seeing", "blind"], raw=True, images=[Media.from_bytes(tiny_png(1))])


def _suite(folder: Path, tests: str) -> Path:
    (folder / "cat.png").write_bytes(tiny_png(2))
    (folder / "dog.png").write_bytes(tiny_png(3))
    path = folder / "suite.yaml"
    path.write_text(textwrap.dedent("""\
        description: images
        prompts: ["What is in the picture?"]
        targets: [seeing]
        options:
          parameters: {num_thread: 1, temperature: 0, num_predict: 4}
        tests:
        """) + textwrap.dedent(tests), encoding="utf-8")
    return path


def test_an_eval_case_sends_its_image_var(wb, presets, tmp_path: Path):
    suite = _suite(tmp_path, """\
        - description: no image
          assert: [{type: max-tokens, value: 4}]
        - vars: {image: [file://cat.png, file://dog.png]}
          assert: [{type: max-tokens, value: 4}]
        """)
    run = wb.evals.run(suite)
    cells = {c.test_description: c for c in wb.evals.cells(run.id)}
    assert run.errors == 0 and len(cells) == 3  # the list is one case per image, as promptfoo expands vars
    plain = cells["no image"].prompt_tokens
    assert {c.prompt_tokens for name, c in cells.items() if name != "no image"} == {plain + N_IMAGE_TOKENS}


def test_an_image_var_outside_the_folder_is_a_suite_error_and_a_non_image_fails_its_cell(wb, presets,
                                                                                          tmp_path: Path):
    bad = _suite(tmp_path, """\
        - vars: {image: file://../elsewhere.png}
        - vars: {image: cat.png}
        """)
    with pytest.raises(SuiteError) as error:
        wb.evals.load(bad)
    messages = [d.message for d in error.value.diagnostics]
    assert any("outside the suite's folder" in m for m in messages)
    assert any("file://PATH beside the suite" in m for m in messages)
    (tmp_path / "notes.png").write_text("not a picture")
    run = wb.evals.run(_suite(tmp_path, """\
        - vars: {image: file://notes.png}
        """))
    [cell] = wb.evals.cells(run.id)
    assert cell.status == "error" and "notes.png" in cell.error and "not an image" in cell.error


def test_cli_compare_takes_an_image(presets, tmp_path: Path, capsys):
    import json

    from workbench.cli import main

    (tmp_path / "cat.png").write_bytes(tiny_png(2))
    code = main(["compare", "What is this?", "-m", "seeing", "-m", "blind", "--image", str(tmp_path / "cat.png"),
                 "--json"])
    result = json.loads(capsys.readouterr().out)
    panes = result["panes"]
    assert code == 0 and panes[0]["error"] is None and "has no projector" in panes[1]["error"]
    assert result["images"] == [Media.from_bytes(tiny_png(2)).sha256]  # the report says what was shown
    (tmp_path / "notes.png").write_text("not a picture")
    code = main(["compare", "What?", "-m", "seeing", "-m", "blind", "--image", str(tmp_path / "notes.png")])
    assert code == 1 and "notes.png" in capsys.readouterr().err


def test_an_eval_image_is_part_of_the_suite_hash_and_a_changed_one_is_refused(wb, presets, tmp_path: Path):
    path = _suite(tmp_path, """\
        - vars: {image: file://cat.png}
        """)
    (tmp_path / "plain").mkdir()
    plain = _suite(tmp_path / "plain", """\
        - description: none
        """)
    assert '"images":' not in wb.evals.load(plain).to_json()  # suites without images hash as before
    loaded = wb.evals.load(path)
    assert loaded.images == {"file://cat.png": Media.from_bytes(tiny_png(2)).sha256}
    (tmp_path / "cat.png").write_bytes(tiny_png(9))
    assert wb.evals.load(path).sha256 != loaded.sha256
    run = wb.evals.run(loaded)  # the suite as it was loaded, the picture changed since
    [cell] = wb.evals.cells(run.id)
    assert cell.status == "error" and "cat.png changed since the suite was loaded" in cell.error
