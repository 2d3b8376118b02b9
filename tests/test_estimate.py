"""The memory fit estimate: its parts against llama.cpp's own numbers, and the total against real RSS (gemma)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.errors import InvalidParameter
from workbench.gguf.estimate import ModelShape, estimate_fit, estimate_local, kv_cache_bytes
from workbench.gguf.info import read_gguf_info

MIB = 1024 * 1024

# Loads a model with llama.cpp's low-level API (as the engine does), decodes one full 512-token micro-batch and
# one more token, and reports how much the process's RSS grew from just before the load.
RSS_SCRIPT = r"""
import json, sys
import psutil
import llama_cpp as L

path, n_ctx, swa_full = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
proc = psutil.Process()
L.llama_backend_init()
before = proc.memory_info().rss
model = L.llama_model_load_from_file(path.encode(), L.llama_model_default_params())
assert model, "load failed"
cp = L.llama_context_default_params()
cp.n_ctx, cp.n_batch, cp.n_ubatch, cp.n_seq_max = n_ctx, 512, 512, 1
cp.swa_full = swa_full
ctx = L.llama_init_from_model(model, cp)
assert ctx, "context failed"
n_vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(model))
prompt = (L.llama_token * 512)(*[(7 * i + 3) % n_vocab for i in range(512)])  # kept alive while decoding
assert L.llama_decode(ctx, L.llama_batch_get_one(prompt, 512)) == 0
one = (L.llama_token * 1)(5)
assert L.llama_decode(ctx, L.llama_batch_get_one(one, 1)) == 0
print(json.dumps({"rss_growth": proc.memory_info().rss - before}))
"""


def _measured_rss_growth(path: Path, n_ctx: int, swa_full: bool) -> int:
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(path), str(n_ctx), "1" if swa_full else "0"],
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])["rss_growth"]


@pytest.mark.gemma
@pytest.mark.parametrize(("n_ctx", "swa_full"), [(4096, True), (32768, True), (32768, False)])
def test_estimate_within_25_percent_of_real_rss_on_gemma(gemma_model_path: Path, n_ctx: int, swa_full: bool) -> None:
    estimate = estimate_local([gemma_model_path], context=n_ctx, swa_full=swa_full)
    measured = _measured_rss_growth(gemma_model_path, n_ctx, swa_full)
    ratio = estimate.total_bytes / measured
    print(f"gemma ctx={n_ctx} swa_full={swa_full}: estimate {estimate.total_bytes / MIB:.1f} MiB, "
          f"measured RSS growth {measured / MIB:.1f} MiB, ratio {ratio:.3f}")
    assert 0.75 <= ratio <= 1.25, estimate.summary()


@pytest.mark.gemma
def test_gemma_kv_cache_matches_llama_cpp_sliding_window_layout(gemma_model_path: Path) -> None:
    shape = ModelShape.from_info(read_gguf_info(gemma_model_path))
    assert shape.sliding_window == 512
    assert [i for i, swa in enumerate(shape.swa_layers) if not swa] == [5, 11, 17]
    # llama.cpp, swa_full=false, n_ctx 4096: "non-SWA 12.00 MiB (4096 cells, 3 layers)" + "SWA 15.00 MiB (1024 cells,
    # 15 layers)"; at 32768: 96 MiB + 15 MiB; swa_full=true (its default) at 32768: 96 MiB + 480 MiB
    assert kv_cache_bytes(shape, 4096, swa_full=False) == 27 * MIB
    assert kv_cache_bytes(shape, 32768, swa_full=False) == 111 * MIB
    assert kv_cache_bytes(shape, 32768) == 576 * MIB


def test_tiny_model_parts(tiny_model_path: Path) -> None:
    info = read_gguf_info(tiny_model_path)
    shape = ModelShape.from_info(info)
    assert (shape.n_layer, shape.n_head_kv[0], shape.key_length, shape.n_vocab) == (2, 2, 16, info.vocab_size)
    # llama.cpp reports "KV buffer size = 1.00 MiB" for this model at 4096 cells (2 layers × 2 heads × 16+16 × f16)
    assert kv_cache_bytes(shape, 4096) == 1 * MIB
    assert kv_cache_bytes(shape, 4000) == 1 * MIB  # padded to 256 cells like llama.cpp
    assert kv_cache_bytes(shape, 4096, cache_type="q8_0") == int(MIB * 34 / 32 / 2)
    e = estimate_fit(shape, context=4096, ram_available=10 * 1024 * MIB)
    assert e.weights_bytes == info.tensor_bytes
    assert e.total_bytes == e.weights_bytes + e.kv_cache_bytes + e.compute_bytes + e.overhead_bytes
    assert e.verdict == "fits" and e.vram_needed == 0 and "fits" in e.summary()


def test_verdicts_follow_available_memory(tiny_model_path: Path) -> None:
    shape = ModelShape.from_info(read_gguf_info(tiny_model_path))
    total = estimate_fit(shape, context=2048, ram_available=1 << 40).total_bytes
    assert estimate_fit(shape, context=2048, ram_available=int(total / 0.79)).verdict == "fits"
    assert estimate_fit(shape, context=2048, ram_available=int(total / 0.9)).verdict == "tight"
    assert estimate_fit(shape, context=2048, ram_available=total - 1).verdict == "won't fit"


def test_gpu_offload_moves_weights_and_cache_to_vram(tiny_model_path: Path) -> None:
    shape = ModelShape.from_info(read_gguf_info(tiny_model_path))
    cpu = estimate_fit(shape, context=4096, ram_available=1 << 40)
    gpu = estimate_fit(shape, context=4096, gpu_layers=-1, ram_available=1 << 40, vram_available=1)
    assert gpu.vram_needed == gpu.weights_bytes + gpu.kv_cache_bytes + gpu.compute_bytes
    assert gpu.ram_needed == gpu.overhead_bytes and gpu.total_bytes == cpu.total_bytes
    assert gpu.verdict == "won't fit"  # 1 byte of VRAM


def test_bad_parameters_are_named(tiny_model_path: Path) -> None:
    shape = ModelShape.from_info(read_gguf_info(tiny_model_path))
    with pytest.raises(InvalidParameter, match="unknown KV cache type 'q3'"):
        estimate_fit(shape, context=512, cache_type="q3")
    with pytest.raises(InvalidParameter, match="at least 1"):
        estimate_fit(shape, context=0)


def test_long_context_beyond_training_is_noted(tiny_model_path: Path) -> None:
    shape = ModelShape.from_info(read_gguf_info(tiny_model_path))
    assert any("trained for 4096" in n for n in estimate_fit(shape, context=8192).notes)
