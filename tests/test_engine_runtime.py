"""Runtime: loading (typed failures), one instance per (model, options), keep-alive unloading, ps rows, backend."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.test_engine_mechanics import wait_until
from workbench.engine import GenerationRequest, LoadOptions, Runtime, SamplingParams
from workbench.engine.native import DecodeError
from workbench.errors import EngineError, InvalidParameter, ModelLoadError
from workbench.settings import Settings


def test_bad_model_files_raise_model_load_error_naming_the_file(tmp_path: Path):
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    with Runtime(Settings(keep_alive_seconds=-1)) as rt:
        for path in (garbage, text, tmp_path / "missing.gguf"):
            with pytest.raises(ModelLoadError) as err:
                rt.acquire(path)
            assert str(path) in str(err.value)
        assert rt.loaded() == []


def test_truncated_copy_of_a_real_model_fails_cleanly(tmp_path: Path, tiny_model_path: Path):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_model_path.read_bytes()[:-5000])
    with Runtime(Settings(keep_alive_seconds=-1)) as rt, pytest.raises(ModelLoadError, match=r"cut\.gguf"):
        rt.acquire(cut)


def test_acquire_shares_one_instance_per_model_and_options(tiny_model_path: Path):
    with Runtime(Settings(keep_alive_seconds=-1, default_context=256, parallel_slots=2)) as rt:
        a = rt.acquire(tiny_model_path)
        assert rt.acquire(tiny_model_path) is a
        assert rt.acquire(tiny_model_path, LoadOptions()) is a  # None fields resolve to the same settings
        b = rt.acquire(tiny_model_path, LoadOptions(n_ctx=128))
        assert b is not a and b.n_ctx == 128 and a.n_ctx == 256 and a.n_parallel == 2
        assert a.options.reproducible is True and a.options.flash_attn == "off"  # settings default: reproducible
        rows = rt.loaded()
        assert len(rows) == 2 and all(r.memory_bytes > 400_000 and r.expires_in is None for r in rows)
        assert rt.unload(tiny_model_path) == 2 and a.closed and b.closed
        with pytest.raises(EngineError, match="unloaded"):
            a.generate(GenerationRequest(prompt="x"))
        for use in (lambda: a.tokenize("x"), lambda: a.detokenize([65]), lambda: a.token_text(65),
                    lambda: a.is_eog(65)):  # a freed vocabulary would abort the process: a typed error instead
            with pytest.raises(EngineError, match="unloaded"):
                use()
        c = rt.acquire(tiny_model_path)  # loads again
        assert c is not a and c.generate(GenerationRequest(prompt="x", max_tokens=2)).collect()[1].completion_tokens


def test_concurrent_acquires_load_once(tiny_model_path: Path):
    with Runtime(Settings(keep_alive_seconds=-1)) as rt:
        got, start = [], threading.Barrier(4)

        def worker():
            start.wait()
            got.append(rt.acquire(tiny_model_path, LoadOptions(n_ctx=256)))

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(got) == 4 and len({id(m) for m in got}) == 1


def test_context_is_capped_at_the_training_context(tiny_model_path: Path):
    with Runtime(Settings(keep_alive_seconds=-1)) as rt:
        model = rt.acquire(tiny_model_path, LoadOptions(n_ctx=100_000, n_parallel=1))
        assert model.n_ctx == 4096


def test_keep_alive_zero_unloads_when_the_last_request_ends(tiny_model_path: Path):
    with Runtime(Settings(keep_alive_seconds=0)) as rt:
        model = rt.acquire(tiny_model_path, LoadOptions(n_ctx=256))
        assert not model.closed  # not before its first request
        final = rt.generate(tiny_model_path, GenerationRequest(prompt="x", max_tokens=4), LoadOptions(n_ctx=256))
        assert final.collect()[1].finish_reason == "length"
        assert wait_until(lambda: model.closed)
        assert rt.loaded() == []


def test_keep_alive_timer_unloads_after_idling(tiny_model_path: Path):
    with Runtime(Settings(keep_alive_seconds=0.3)) as rt:
        model = rt.acquire(tiny_model_path, LoadOptions(n_ctx=256))
        model.generate(GenerationRequest(prompt="x", max_tokens=4)).collect()
        rows = rt.loaded()
        assert rows and rows[0].expires_in is not None and rows[0].expires_in <= 0.3
        assert wait_until(lambda: model.closed)


def test_negative_keep_alive_never_unloads(tiny_model_path: Path):
    with Runtime(Settings(keep_alive_seconds=-1)) as rt:
        model = rt.acquire(tiny_model_path, LoadOptions(n_ctx=256))
        model.generate(GenerationRequest(prompt="x", max_tokens=4)).collect()
        assert rt.loaded()[0].expires_in is None and not model.closed
    assert model.closed  # closing the runtime unloads everything


def test_unloading_cancels_running_requests(tiny_model_path: Path):
    rt = Runtime(Settings(keep_alive_seconds=-1))
    model = rt.acquire(tiny_model_path, LoadOptions(n_ctx=4096, n_parallel=1, reproducible=False))
    running = model.generate(GenerationRequest(prompt="a"))
    queued = model.generate(GenerationRequest(prompt="b"))
    next(running)
    rt.close()
    assert running.collect()[1].finish_reason == "cancelled"
    final = queued.collect()[1]
    assert final.finish_reason == "cancelled" and "unloaded" in final.error


def test_reproducible_mode_refuses_what_breaks_it(tiny_model_path: Path):
    with Runtime(Settings(keep_alive_seconds=-1)) as rt:
        with pytest.raises(InvalidParameter, match="flash_attn"):
            rt.acquire(tiny_model_path, LoadOptions(reproducible=True, flash_attn="on"))
        with pytest.raises(InvalidParameter, match="V cache"):
            rt.acquire(tiny_model_path, LoadOptions(reproducible=True, type_v="q8_0"))
        # throughput mode accepts a quantized cache; the tiny model's 16-wide heads cannot hold q8_0 blocks,
        # and llama.cpp's reason reaches the caller as a typed error (gemma runs it: test_engine_gemma.py)
        with pytest.raises(ModelLoadError, match="q8_0"):
            rt.acquire(tiny_model_path, LoadOptions(n_ctx=256, reproducible=False, type_k="q8_0", type_v="q8_0"))


def test_backend_report_and_decode_error_messages():
    with Runtime(Settings()) as rt:
        info = rt.backend_info()
    assert info.backend in ("CPU", "Metal", "CUDA", "Vulkan", "ROCm", "HIP", "SYCL", "OpenCL", "MUSA", "CANN")
    assert info.devices and info.llama_cpp_python and info.ggml_version
    assert info.gpu_offload or info.backend == "CPU"
    assert "no room" in str(DecodeError(1)) and "aborted" in str(DecodeError(2)) and "-3" in str(DecodeError(-3))
    assert isinstance(DecodeError(1), EngineError)


def test_lora_adapter_changes_the_output_and_scale_zero_does_not(tmp_path: Path, tiny_model_path: Path):
    from tests.tinymodel import write_tiny_lora

    lora = write_tiny_lora(tmp_path / "tiny-lora.gguf")
    request = GenerationRequest(prompt="Hello", max_tokens=24, sampling=SamplingParams(temperature=0))
    with Runtime(Settings(keep_alive_seconds=-1)) as rt:
        base = rt.acquire(tiny_model_path, LoadOptions(n_ctx=256)).generate(request).collect()[1].tokens
        tuned = rt.acquire(tiny_model_path, LoadOptions(n_ctx=256, lora_path=str(lora))).generate(request)
        off = rt.acquire(tiny_model_path, LoadOptions(n_ctx=256, lora_path=str(lora), lora_scale=0.0)).generate(request)
        assert tuned.collect()[1].tokens != base
        assert off.collect()[1].tokens == base
        with pytest.raises(ModelLoadError, match="LoRA"):
            rt.acquire(tiny_model_path, LoadOptions(n_ctx=256, lora_path=str(tiny_model_path)))


def test_libgomp_and_ggml_settings_are_in_place_before_llama_cpp_loads():
    """engine/process_env.py: set before the first `import llama_cpp`, and a user's own value still wins."""
    import os
    import subprocess
    import sys

    code = ("import os, sys; import workbench.engine.native; "
            "print(os.environ['OMP_WAIT_POLICY'], os.environ['GOMP_SPINCOUNT'], os.environ['GGML_CPU_TILED_MM'])")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "GGML_CPU_TILED_MM")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["ACTIVE", "300000", "0"]
    mine = subprocess.run([sys.executable, "-c", code], env={**env, "GOMP_SPINCOUNT": "1000"}, capture_output=True,
                          text=True, check=True)
    assert mine.stdout.split() == ["ACTIVE", "1000", "0"]
