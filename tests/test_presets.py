"""The preset service on a real library and SQLite file: create, version, diff, rollback, FROM resolution."""

from __future__ import annotations

import pytest

from workbench.errors import AlreadyExists, InvalidModelfile, InvalidName


@pytest.fixture
def tiny(wb, tiny_model_path):
    return wb.library.import_file(tiny_model_path, name="tiny:F32")


def test_versions_diff_and_rollback(wb, tiny):
    v1 = wb.presets.create("helper", "FROM tiny:F32\nPARAMETER temperature 0.2\n")
    assert (v1.number, v1.model_sha256) == (1, tiny.sha256)
    same, created = wb.presets.save("helper", "FROM tiny:F32\nPARAMETER temperature 0.2\n")
    assert not created and same.number == 1
    v2, created = wb.presets.save("helper", "FROM tiny:F32\nPARAMETER temperature 0.7\n", message="warmer")
    assert created and v2.number == 2 and v2.parent_number == 1
    diff = wb.presets.diff("helper", 1, 2)
    assert "-PARAMETER temperature 0.2" in diff and "+PARAMETER temperature 0.7" in diff
    v3 = wb.presets.rollback("helper", 1)
    assert v3.number == 3 and v3.content == v1.content and v3.parent_number == 2
    assert [v.number for v in wb.presets.history("helper")] == [3, 2, 1]
    assert wb.presets.get("helper@2").content.endswith("0.7\n")
    assert wb.presets.resolve("helper").model == tiny
    with pytest.raises(AlreadyExists):
        wb.presets.create("helper", "FROM tiny:F32\n")


def test_nothing_is_saved_from_a_modelfile_with_errors(wb, tiny):
    wb.presets.create("p", "FROM tiny:F32\n")
    with pytest.raises(InvalidModelfile) as err:
        wb.presets.save("p", "FROM tiny:F32\nPARAMETER top_k -3\n")
    assert err.value.line == 2
    with pytest.raises(InvalidModelfile, match="no such model"):
        wb.presets.save("p", "FROM nonexistent:Q4\n")
    with pytest.raises(InvalidModelfile):
        wb.presets.save("p", f"FROM tiny:F32\nPARAMETER num_ctx {10**7}\n")  # beyond what the model supports
    with pytest.raises(InvalidName):
        wb.presets.create("../escape", "FROM tiny:F32\n")
    assert [v.number for v in wb.presets.history("p")] == [1]


def test_from_a_path_imports_the_file(wb, tiny_model_path):
    version = wb.presets.create("bypath", f"FROM {tiny_model_path}\nSYSTEM You are terse.\n")
    model = wb.library.get(version.model_sha256[:12])
    assert model.path == tiny_model_path
    assert wb.presets.resolve("bypath").modelfile.system == "You are terse."
