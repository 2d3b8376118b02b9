"""resolve.py on a real library and SQLite file with the tiny model: one case per kind of name, and precedence."""

from __future__ import annotations

import pytest

from workbench.chat.prepare import resolve_target
from workbench.errors import InvalidModelfile, NotFound
from workbench.records import ModelSource
from workbench.resolve import GGUFPath, HubReference, ModelMatch, NoMatch, PresetMatch, parse_preset_ref, resolve

REPO = "alice/tiny-GGUF"


@pytest.fixture
def tiny(wb, tiny_model_path):
    # registered as if pulled from the Hub: the library remembers the repo and file it came from
    return wb.library.import_file(tiny_model_path, name="tiny:F32",
                                  source=ModelSource(REPO, "0" * 40, "tiny-F32.gguf"))


def test_a_preset_version(wb, tiny):
    v1 = wb.presets.create("helper", "FROM tiny:F32\n")
    v2, _ = wb.presets.save("helper", "FROM tiny:F32\nPARAMETER temperature 0.1\n")
    wb.presets.tag("helper", "stable", 1)
    assert resolve(wb, "helper") == PresetMatch(v2) == resolve(wb, "helper:latest")
    assert resolve(wb, "helper@1").version.id == v1.id == resolve(wb, "helper:stable").version.id
    assert isinstance(resolve(wb, "helper:stable", scope="latest"), NoMatch)  # there a tag names a model
    assert parse_preset_ref("helper@3") == ("helper", 3) and parse_preset_ref("helper:x") == ("helper", "x")


def test_a_preset_wins_over_a_library_model_of_the_same_name(wb, tiny):
    wb.library.alias("tiny:F32", "helper")
    version = wb.presets.create("helper", "FROM tiny:F32\nPARAMETER temperature 0.1\n")
    assert resolve(wb, "helper") == PresetMatch(version)
    assert resolve(wb, "helper", scope="models").model.name == "helper"
    target = resolve_target(wb, "helper")
    assert target.preset == version and target.modelfile.parameter_values() == {"temperature": 0.1}
    # "tiny:F32" reads as tag F32 of a preset "tiny" too: that preset has no such tag, so the model is meant
    wb.presets.create("tiny", "FROM tiny:F32\n")
    assert resolve(wb, "tiny:F32") == ModelMatch(tiny)
    missing = resolve(wb, "tiny:nosuch")
    assert isinstance(missing, NoMatch) and missing.preset == "tiny" and "nosuch" in missing.message


def test_a_library_model_by_name_alias_sha256_prefix_or_case(wb, tiny):
    alias = wb.library.alias("tiny:F32", "spare:F32")
    assert resolve(wb, "tiny:F32") == ModelMatch(tiny)
    assert resolve(wb, "spare:F32") == ModelMatch(alias) and alias.sha256 == tiny.sha256
    assert resolve(wb, tiny.sha256[:12]).model.sha256 == tiny.sha256
    assert resolve(wb, "TINY:f32") == ModelMatch(tiny)
    assert resolve_target(wb, "spare:F32").model == alias and resolve_target(wb, "spare:F32").preset is None


def test_an_hf_co_reference_pulled_or_not(wb, tiny):
    pulled = resolve(wb, f"hf.co/{REPO}:F32")
    assert isinstance(pulled, ModelMatch) and pulled.model == tiny and pulled.pulled_by.repo == REPO
    assert resolve_target(wb, f"hf.co/{REPO}:f32").model == tiny  # the name Ollama's clients keep using
    not_yet = resolve(wb, f"hf.co/{REPO}:Q8_0")
    assert isinstance(not_yet, HubReference) and (not_yet.ref.repo, not_yet.ref.quant) == (REPO, "Q8_0")
    with pytest.raises(NotFound, match=f"neither a preset .*`workbench pull hf.co/{REPO}:Q8_0`"):
        resolve_target(wb, f"hf.co/{REPO}:Q8_0")


def test_a_path_to_a_gguf_file(wb, tiny, tiny_model_path, tmp_path):
    assert resolve(wb, str(tiny_model_path)) == GGUFPath(tiny_model_path, tiny)  # imported in place
    elsewhere = tmp_path / "other.gguf"
    assert resolve(wb, str(elsewhere)) == GGUFPath(elsewhere, None)
    with pytest.raises(NotFound, match=f"`workbench import {elsewhere}`"):
        resolve_target(wb, str(elsewhere))
    for odd in ("~nobody-by-this-name/x.gguf", "/tmp/nul\x00.gguf"):  # what an HTTP client may send: a clean miss
        assert resolve(wb, odd).model is None
        with pytest.raises(NotFound):
            resolve_target(wb, odd)
    # a library name that looks like a file: a name typed anywhere is the model, a Modelfile FROM is the file
    wb.library.alias("tiny:F32", "odd.gguf")
    assert resolve(wb, "odd.gguf").model.name == "odd.gguf"
    as_from = resolve(wb, "odd.gguf", scope="from")
    assert isinstance(as_from, GGUFPath) and as_from.model is None


def test_nothing_by_that_name_lists_close_names(wb, tiny):
    wb.presets.create("helper", "FROM tiny:F32\n")
    missing = resolve(wb, "helpr")
    assert isinstance(missing, NoMatch) and missing.close == ("helper",) and missing.preset is None
    assert "neither a preset" in missing.message and "did you mean helper?" in missing.message
    with pytest.raises(NotFound, match="did you mean tiny:F32"):
        resolve_target(wb, "tiny:F3")
    assert resolve(wb, "helpr", scope="models").close == ()  # presets are not offered where a model is needed
    with pytest.raises(InvalidModelfile, match=r"no such model in the library .* did you mean tiny:F32"):
        wb.presets.create("other", "FROM tiny:F16\n")
