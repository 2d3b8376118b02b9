"""Quantize: the type table, the requantize rule, the child-process run with progress and cancel, the service.

Real llama.cpp quantizes real files: the tiny F32 model for mechanics, gemma (Q4_K_M → Q4_0, about a second)
for the requantize path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import llama_cpp
import pytest

from workbench.engine import FinalEvent, GenerationRequest, Runtime, SamplingParams
from workbench.engine import quantize as q
from workbench.errors import (
    AlreadyExists,
    Cancelled,
    EngineError,
    InvalidModelFile,
    InvalidName,
    InvalidParameter,
    NotFound,
)
from workbench.gguf.info import read_gguf_info
from workbench.library import quantize as lq
from workbench.records import LocalModel
from workbench.settings import Settings
from workbench.tasks import CancelToken


def _model(name: str, file_type: int | None, quantization: str | None) -> LocalModel:
    metadata = {} if file_type is None else {"general.file_type": file_type}
    return LocalModel(name=name, sha256="0" * 64, path=Path("/nonexistent.gguf"), in_place=True, size_bytes=1,
                      added_at=datetime.now(UTC), quantization=quantization, metadata=metadata)


def test_type_table_matches_llama_cpp_enum():
    for qt in q.QUANT_TYPES.values():
        constant = "LLAMA_FTYPE_ALL_F32" if qt.name == "F32" else f"LLAMA_FTYPE_MOSTLY_{qt.name}"
        assert getattr(llama_cpp, constant) == qt.ftype, qt.name
    for ftype, name in q.FTYPE_NAMES.items():
        constant = "LLAMA_FTYPE_ALL_F32" if name == "F32" else f"LLAMA_FTYPE_MOSTLY_{name}"
        assert getattr(llama_cpp, constant) == ftype, name


def test_type_names_are_case_insensitive_and_unknown_ones_list_the_valid_ones():
    assert q.quant_type("q4_k_m").ftype == llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    assert q.quant_type(" Q8_0 ").name == "Q8_0"
    with pytest.raises(InvalidParameter) as err:
        q.quant_type("Q9_9")
    message = str(err.value)
    assert "'Q9_9'" in message
    for name in ("Q8_0", "Q6_K", "Q5_K_M", "Q5_0", "Q4_K_M", "Q4_K_S", "Q4_0", "Q3_K_M", "Q2_K", "IQ4_NL", "F16"):
        assert name in message


def test_default_name_replaces_the_tag():
    assert lq.default_name("gemma-3-270m:Q4_K_M", q.quant_type("Q8_0")) == "gemma-3-270m:Q8_0"
    assert lq.default_name("tiny", q.quant_type("Q4_0")) == "tiny:Q4_0"


def test_requantizing_is_refused_unless_asked_and_float_sources_are_not_requantized():
    gemma = _model("gemma-3-270m:Q4_K_M", 15, "Q4_K_M")
    with pytest.raises(InvalidParameter) as err:
        lq.check_allowed(gemma, q.quant_type("Q4_0"), allow_requantize=False)
    assert str(err.value) == (
        "gemma-3-270m:Q4_K_M is already quantized (Q4_K_M); requantizing loses quality — "
        "pass --allow-requantize to do it anyway"
    )
    assert lq.check_allowed(gemma, q.quant_type("Q4_0"), allow_requantize=True) is True
    with pytest.raises(InvalidParameter, match="bigger file"):
        lq.check_allowed(gemma, q.quant_type("F16"), allow_requantize=True)
    for file_type, label in ((0, "F32"), (1, "F16"), (32, "BF16"), (None, "F32"), (1024 | 1, "F16")):
        assert lq.check_allowed(_model("f", file_type, label), q.quant_type("Q8_0"), allow_requantize=False) is False
    # no file type recorded: the dominant tensor type decides
    with pytest.raises(InvalidParameter, match=r"already quantized \(Q4_K\)"):
        lq.check_allowed(_model("x", None, "Q4_K"), q.quant_type("Q4_0"), allow_requantize=False)


def test_log_lines_parse():
    assert q.parse_log_line("[  12/ 236] blk.0.attn_k.weight - [ 640, 256], type = q5_0") == (
        "tensor", 12, 236, "blk.0.attn_k.weight")
    assert q.parse_log_line("llama_model_quantize_impl: quant size  =   224.00 MiB (7.01 BPW)") == (
        "quant_mib", 224.0)
    assert q.parse_log_line("llama_model_quantize: failed to quantize: boom\n") == ("failed", "boom")
    assert q.parse_log_line("something else") is None
    assert q.estimate_output_bytes(10 * 1024 * 1024 + 100, 10.0, 5.0) == 5 * 1024 * 1024 + 100


@pytest.mark.parametrize("target", ["Q8_0", "Q4_0"])
def test_quantize_file_writes_a_model_of_the_target_type_with_progress(tiny_model_path, tmp_path, target):
    out = tmp_path / f"tiny-{target}.gguf"
    reports = []
    assert q.quantize_file(tiny_model_path, out, q.quant_type(target), on_progress=reports.append) == out
    info = read_gguf_info(out)
    assert info.file_type == q.quant_type(target).ftype
    assert info.quantization == target
    assert out.stat().st_size < tiny_model_path.stat().st_size / 2
    final = reports[-1]
    assert final.completed == final.total == out.stat().st_size
    completed = [r.completed for r in reports]
    assert completed == sorted(completed)


def test_quantize_file_to_f16_from_f32(tiny_model_path, tmp_path):
    out = q.quantize_file(tiny_model_path, tmp_path / "tiny-f16.gguf", q.quant_type("F16"))
    assert read_gguf_info(out).quantization == "F16"


def test_cancel_stops_the_child_and_leaves_no_partial(tiny_model_path, tmp_path):
    out = tmp_path / "cancelled.gguf"
    token = CancelToken()
    seen = []

    def cancel_at_first_report(progress):
        seen.append(progress)
        token.cancel()

    with pytest.raises(Cancelled):
        q.quantize_file(tiny_model_path, out, q.quant_type("Q8_0"), on_progress=cancel_at_first_report,
                        cancel=token)
    assert seen
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_model_is_a_typed_error_and_leaves_nothing(tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file at all" * 100)
    out = tmp_path / "out.gguf"
    with pytest.raises(InvalidModelFile, match=r"bogus\.gguf"):
        q.quantize_file(bogus, out, q.quant_type("Q8_0"))
    assert not out.exists()


def test_quantize_file_refuses_to_overwrite(tiny_model_path, tmp_path):
    out = tmp_path / "exists.gguf"
    out.write_bytes(b"keep me")
    with pytest.raises(InvalidParameter, match="already exists"):
        q.quantize_file(tiny_model_path, out, q.quant_type("Q8_0"))
    assert out.read_bytes() == b"keep me"


@pytest.mark.gemma
def test_gemma_requantize_is_refused_by_llama_cpp_too_and_cancel_mid_write_leaves_nothing(gemma_model_path,
                                                                                          tmp_path):
    out = tmp_path / "gemma-q4_0.gguf"
    with pytest.raises(EngineError, match=r"requantizing from type .* is disabled"):
        q.quantize_file(gemma_model_path, out, q.quant_type("Q4_0"), allow_requantize=False)
    assert not out.exists()

    token = CancelToken()
    written = []

    def cancel_once_writing(progress):
        if progress.completed > 0:
            written.append(progress.completed)
            token.cancel()

    with pytest.raises(Cancelled):
        q.quantize_file(gemma_model_path, out, q.quant_type("Q4_0"), allow_requantize=True,
                        on_progress=cancel_once_writing, cancel=token)
    assert written and not out.exists()


# --- the service: library in, library out ----------------------------------------------------------------------


def _greedy(model: LocalModel, prompt: str, n: int = 8) -> FinalEvent:
    """Load the model through the engine's Runtime and decode `n` greedy tokens: the file works in llama.cpp."""
    with Runtime(Settings(threads=2, parallel_slots=1, default_context=128, keep_alive_seconds=-1)) as runtime:
        request = GenerationRequest(prompt=prompt, sampling=SamplingParams(temperature=0), max_tokens=n)
        _text, final = runtime.generate(model, request).collect()
    return final


def _leftovers(wb) -> list[Path]:
    return [p for p in wb.paths.blobs.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("target", ["Q8_0", "Q4_0"])
def test_quantize_registers_the_new_model_with_its_parent(wb, tiny_model_path, target):
    source = wb.library.import_file(tiny_model_path)
    assert source.quantization == "F32"
    reports = []
    made = wb.library.quantize(source.name, target, on_progress=reports.append)
    assert made.name == lq.default_name(source.name, q.quant_type(target))
    assert made.parent_sha256 == source.sha256 and made.requantized is False
    assert made.quantization == target and not made.in_place
    assert made.path.parent == wb.paths.blobs and made.path.name == f"sha256-{made.sha256}.gguf"
    assert wb.library.get(made.name) == made
    assert _leftovers(wb) == []
    assert any(r.task.startswith("quantizing") for r in reports)
    final = _greedy(made, "Hello")
    assert final.finish_reason == "length" and final.completion_tokens == 8


def test_quantize_service_refuses_requantizing_then_labels_it(wb, tiny_model_path):
    source = wb.library.import_file(tiny_model_path)
    q8 = wb.library.quantize(source.name, "Q8_0")
    with pytest.raises(InvalidParameter, match=r"tiny-llama:Q8_0 is already quantized \(Q8_0\)"):
        wb.library.quantize(q8.name, "Q4_0")
    assert _leftovers(wb) == []
    q4 = wb.library.quantize(q8.name, "Q4_0", allow_requantize=True, name="tiny-requant:Q4_0")
    assert q4.requantized is True and q4.parent_sha256 == q8.sha256
    with pytest.raises(AlreadyExists, match="--name"):
        wb.library.quantize(source.name, "Q8_0")


def test_quantize_service_errors_name_the_problem(wb, tiny_model_path):
    source = wb.library.import_file(tiny_model_path)
    with pytest.raises(NotFound):
        wb.library.quantize("no-such-model", "Q8_0")
    with pytest.raises(InvalidParameter, match="Q4_K_M"):
        wb.library.quantize(source.name, "Q7")
    with pytest.raises(InvalidName):
        wb.library.quantize(source.name, "Q8_0", name="../escape")
    assert len(wb.library.list()) == 1


def test_quantize_service_cancel_leaves_no_partial_and_no_record(wb, tiny_model_path):
    source = wb.library.import_file(tiny_model_path)
    token = CancelToken()
    with pytest.raises(Cancelled):
        wb.library.quantize(source.name, "Q8_0", on_progress=lambda _p: token.cancel(), cancel=token)
    assert _leftovers(wb) == []
    assert [m.name for m in wb.library.list()] == [source.name]


@pytest.mark.gemma
def test_gemma_requantize_is_labelled(wb, gemma_model_path):
    source = wb.library.import_file(gemma_model_path)
    assert source.name == "gemma-3-270m:Q4_K_M"
    with pytest.raises(InvalidParameter) as err:
        wb.library.quantize(source.name, "Q4_0")
    assert "--allow-requantize" in str(err.value)
    made = wb.library.quantize(source.name, "Q4_0", allow_requantize=True)
    assert made.name == "gemma-3-270m:Q4_0" and made.requantized and made.parent_sha256 == source.sha256
    assert made.quantization == "Q4_0"
    final = _greedy(made, "The capital of France is", n=4)
    assert final.finish_reason == "length" and final.completion_tokens == 4
