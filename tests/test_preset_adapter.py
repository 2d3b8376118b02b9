"""A preset's ADAPTER applied at load (chat/prepare.py → LoadOptions.lora_path → llama.cpp's LoRA on the real
runtime): the answer changes with it while the same seed without it stays as it was, in the core and through the
endpoint; an adapter made for another model size is refused at create naming the line; one gone since create is a
clear error at load."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import openai
import pytest

from tests.serve_support import open_workbench, serving
from tests.tinymodel import N_EMBD, N_LAYER, write_tiny_lora
from workbench.app import Workbench
from workbench.chat.prepare import prepare_chat, prepare_completion
from workbench.errors import InvalidModelfile, ModelLoadError

SAMPLED = "PARAMETER seed 7\nPARAMETER temperature 0.9\nPARAMETER num_predict 24\n"


def _answer(wb: Workbench, name: str, chat: bool = True) -> tuple[str, str | None]:
    """The answer's text and the adapter its model was loaded with."""
    prepared = (prepare_chat(wb, name, [{"role": "user", "content": "Hello there"}]) if chat
                else prepare_completion(wb, name, "Once upon a time"))
    text, _final = prepared.generate(wb.runtime).collect()
    return text, prepared.load.lora_path


def _write_lora_for_a_wider_model(path: Path, width: int = N_EMBD * 2, rank: int = 4) -> Path:
    """A LoRA of the right architecture (llama) whose pairs fit a model with n_embd `width`, not the tiny one."""
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", 8.0)
    rng = np.random.default_rng(3)
    for i in range(N_LAYER):
        writer.add_tensor(f"blk.{i}.attn_q.weight.lora_a", rng.standard_normal((rank, width)).astype(np.float32))
        writer.add_tensor(f"blk.{i}.attn_q.weight.lora_b", rng.standard_normal((width, rank)).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture
def tiny_wb(wb: Workbench, tiny_model_path: Path) -> Workbench:
    wb.library.import_file(tiny_model_path, name="tiny:F32")
    wb.update_settings(default_context=512, keep_alive_seconds=-1)
    return wb


def test_a_presets_adapter_changes_the_answer_and_the_same_seed_without_it_does_not(tiny_wb: Workbench,
                                                                                     tmp_path: Path):
    lora = write_tiny_lora(tmp_path / "tiny-lora.gguf")
    tiny_wb.presets.create("plain", f"FROM tiny:F32\n{SAMPLED}")
    tiny_wb.presets.create("tuned", f"FROM tiny:F32\n{SAMPLED}ADAPTER {lora}\n")
    for chat in (True, False):  # chat (the app, the endpoint's chat routes) and raw completions
        before, no_adapter = _answer(tiny_wb, "plain", chat)
        tuned, adapter = _answer(tiny_wb, "tuned", chat)
        after, _ = _answer(tiny_wb, "plain", chat)
        assert no_adapter is None and adapter == str(lora)
        assert before and tuned and tuned != before
        assert after == before  # the adapter's load is its own: the plain model answers as it did
    assert len(tiny_wb.runtime.loaded()) == 2  # the model alone, and the model with its adapter


def test_an_adapter_for_another_model_size_or_a_second_one_is_refused_at_create(tiny_wb: Workbench, tmp_path: Path):
    wider = _write_lora_for_a_wider_model(tmp_path / "wider-lora.gguf")
    with pytest.raises(InvalidModelfile, match="line 3: ") as info:
        tiny_wb.presets.create("tuned", f"FROM tiny:F32\nPARAMETER seed 7\nADAPTER {wider}\n")
    message = str(info.value)
    assert "does not fit tiny:F32" in message and "blk.0.attn_q.weight" in message
    assert "made for another model size" in message
    lora = write_tiny_lora(tmp_path / "tiny-lora.gguf")
    with pytest.raises(InvalidModelfile, match="line 3: one ADAPTER per preset"):
        tiny_wb.presets.create("tuned", f"FROM tiny:F32\nADAPTER {lora}\nADAPTER {lora}\n")
    assert tiny_wb.presets.list() == []


def test_an_adapter_gone_since_create_is_a_clear_error_at_load(tiny_wb: Workbench, tmp_path: Path):
    lora = write_tiny_lora(tmp_path / "tiny-lora.gguf")
    tiny_wb.presets.create("tuned", f"FROM tiny:F32\n{SAMPLED}ADAPTER {lora}\n")
    lora.unlink()
    with pytest.raises(ModelLoadError, match=f"the ADAPTER of tuned@1 is gone: no such file {lora}"):
        _answer(tiny_wb, "tuned")
    assert tiny_wb.runtime.loaded() == []  # nothing was loaded for it


def test_the_endpoint_serves_a_preset_with_its_adapter(tmp_path: Path, tiny_model_path: Path):
    lora = write_tiny_lora(tmp_path / "tiny-lora.gguf")
    wb = open_workbench(tmp_path / "wb")
    try:
        wb.library.import_file(tiny_model_path, name="tiny:F32")
        wb.presets.create("plain", f"FROM tiny:F32\n{SAMPLED}")
        wb.presets.create("tuned", f"FROM tiny:F32\n{SAMPLED}ADAPTER {lora}\n")
        with serving(wb, parallel=1) as server:
            client = openai.OpenAI(base_url=server.url + "/v1", api_key="none")

            def answer(model: str) -> str:
                return client.completions.create(model=model, prompt="Once upon a time").choices[0].text

            plain = answer("plain")
            assert answer("tuned") != plain and answer("plain") == plain
    finally:
        wb.close()
