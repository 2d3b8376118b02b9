"""What a new user ran into (issue 19): ADAPTER paths checked at create, and /api/ps naming the presets in use.

The bundled `default` preset (created after a hand import, answering sensibly) is tested in test_defaults.py;
the Hub failing at once when unreachable in test_hub_unreachable.py.
"""

from __future__ import annotations

from pathlib import Path

import ollama
import pytest

from tests.serve_support import serving, tiny_workbench
from tests.test_cli_library import assert_one_line_error, run
from tests.tinymodel import write_tiny_lora
from workbench.app import Workbench
from workbench.errors import InvalidModelfile
from workbench.paths import default_paths


@pytest.fixture
def tiny(tiny_model_path: Path) -> None:
    with Workbench(default_paths()) as wb:
        wb.library.import_file(tiny_model_path, name="tiny:F32")


def test_create_refuses_a_missing_adapter_naming_the_path_and_the_line(capsys, tmp_path: Path, tiny,
                                                                        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text("FROM tiny:F32\n# tuned for support\n\nADAPTER ./adapters/missing-lora.gguf\n")
    code, out, err = run(capsys, "create", "helper", "-f", modelfile)
    assert code == 1 and out == ""
    assert_one_line_error(err, "line 4: ADAPTER ./adapters/missing-lora.gguf: no such file")
    assert str(tmp_path / "adapters" / "missing-lora.gguf") in err
    assert "no presets yet" in run(capsys, "presets")[2]  # nothing saved

    write_tiny_lora(tmp_path / "adapters" / "missing-lora.gguf")  # the file arrives: the same text saves
    code, out, _ = run(capsys, "create", "helper", "-f", modelfile)
    assert code == 0 and out.startswith("created helper@1")


def test_an_adapter_must_be_a_lora_made_for_the_models_architecture(wb: Workbench, tmp_path: Path,
                                                                    tiny_model_path: Path):
    wb.library.import_file(tiny_model_path, name="tiny:F32")
    good = write_tiny_lora(tmp_path / "llama-lora.gguf")
    other = write_tiny_lora(tmp_path / "qwen-lora.gguf", arch="qwen2")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf at all")
    assert wb.presets.create("tuned", f"FROM tiny:F32\nADAPTER {good}\n").number == 1
    cases = {other: "made for the qwen2 architecture, but FROM tiny:F32 is llama",
             tiny_model_path: "not a LoRA adapter (general.type unset, adapter.type unset)",
             junk: "not a readable GGUF adapter"}
    for adapter, message in cases.items():
        with pytest.raises(InvalidModelfile, match="line 3: ") as info:
            wb.presets.create("bad", f"FROM tiny:F32\nPARAMETER temperature 0\nADAPTER {adapter}\n")
        assert message in str(info.value) and info.value.line == 3
    assert [p.name for p in wb.presets.list()] == ["tuned"]


def test_api_ps_lists_the_preset_names_using_each_loaded_model(tmp_path: Path, tiny_model_path: Path):
    wb = tiny_workbench(tmp_path / "wb", tiny_model_path)  # presets terse and tooly over tiny:F32
    try:
        with serving(wb, parallel=1) as server:
            client = ollama.Client(host=server.url)
            assert client.ps().models == []
            client.generate(model="terse", prompt="x", options={"num_predict": 1})
            assert [m.model for m in client.ps().models] == ["terse"]  # not the library model it runs on
            client.generate(model="tooly", prompt="x", options={"num_predict": 1})
            client.generate(model="tiny:F32", prompt="x", options={"num_predict": 1})
            rows = client.ps().models
            assert [m.model for m in rows] == ["terse", "tooly", "tiny:F32"]  # one loaded model, three names
            assert len({(m.digest, m.size) for m in rows}) == 1 and len(wb.runtime.loaded()) == 1
            client.generate(model="terse", prompt="", keep_alive=0)  # unloads it
            assert client.ps().models == []
            client.generate(model="tooly", prompt="x", options={"num_predict": 1})
            assert [m.model for m in client.ps().models] == ["tooly"]  # a new instance: only who uses it now
    finally:
        wb.close()
