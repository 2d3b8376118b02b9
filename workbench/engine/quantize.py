"""Make another quantization of a GGUF with llama.cpp's `llama_model_quantize`, with progress and cancel.

The work runs in a child process that reports back over a pipe; progress is the output file's size against a
dry-run estimate, and cancel terminates the child and deletes the partial file (why: docs/design.md §4.10).
The pure parts (type table, name rules, log parsing) import no llama_cpp.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import Cancelled, DiskFull, EngineError, InvalidModelFile, InvalidParameter
from ..tasks import CancelToken, ProgressCallback, ProgressMeter, no_progress

POLL_SECONDS = 0.1
DISK_RESERVE = 256 * 1024 * 1024  # never fill the disk to the last byte
_CHILD_FLAG = "--quantize-child"
_MIB = 1024 * 1024


@dataclass(frozen=True)
class QuantType:
    """A target `llama-quantize` offers: `ftype` is llama.cpp's `enum llama_ftype` value (llama.h)."""

    name: str
    ftype: int
    bits_per_weight: float
    description: str

    @property
    def is_float(self) -> bool:
        return self.ftype in FLOAT_FTYPES


# Ordered from largest to smallest. Left out on purpose: IQ1_S/IQ1_M/IQ2_XXS/IQ2_XS/IQ2_S/IQ2_M/Q2_K_S need an
# importance matrix (llama.cpp refuses them without one), TQ1_0/TQ2_0 only suit ternary (BitNet) models,
# MXFP4_MOE only MoE models; NVFP4/Q1_0/Q2_0 are too new for other runtimes to read.
QUANT_TYPES: dict[str, QuantType] = {
    t.name: t
    for t in (
        QuantType("F32", 0, 32.0, "full precision; only from an F32/F16/BF16 source"),
        QuantType("F16", 1, 16.0, "half precision; only from an F32/F16/BF16 source"),
        QuantType("BF16", 32, 16.0, "bfloat16; only from an F32/F16/BF16 source"),
        QuantType("Q8_0", 7, 8.5, "nearly lossless"),
        QuantType("Q6_K", 18, 6.56, "very low loss"),
        QuantType("Q5_K_M", 17, 5.7, "low loss, recommended when it fits"),
        QuantType("Q5_K_S", 16, 5.5, "low loss"),
        QuantType("Q5_1", 9, 6.0, "legacy 5-bit"),
        QuantType("Q5_0", 8, 5.5, "legacy 5-bit"),
        QuantType("Q4_K_M", 15, 4.85, "balanced size and quality, the usual default"),
        QuantType("Q4_K_S", 14, 4.6, "smaller, a little more loss than Q4_K_M"),
        QuantType("Q4_1", 3, 5.0, "legacy 4-bit"),
        QuantType("Q4_0", 2, 4.5, "legacy 4-bit, fast on CPUs (runtime repacking)"),
        QuantType("IQ4_NL", 25, 4.5, "non-linear 4-bit"),
        QuantType("IQ4_XS", 30, 4.25, "non-linear 4-bit, smaller"),
        QuantType("Q3_K_L", 13, 4.3, "3-bit, larger"),
        QuantType("Q3_K_M", 12, 3.9, "3-bit, noticeable loss"),
        QuantType("Q3_K_S", 11, 3.5, "3-bit, high loss"),
        QuantType("IQ3_M", 27, 3.7, "non-linear 3-bit"),
        QuantType("IQ3_S", 26, 3.44, "non-linear 3-bit"),
        QuantType("IQ3_XXS", 23, 3.06, "non-linear 3-bit, smallest"),
        QuantType("Q2_K", 10, 3.0, "2-bit, very high loss"),
    )
}

FLOAT_FTYPES = frozenset({0, 1, 32})  # ALL_F32, MOSTLY_F16, MOSTLY_BF16

# Every llama_ftype a GGUF's general.file_type may hold, for naming a source (also those we cannot target).
FTYPE_NAMES: dict[int, str] = {
    **{t.ftype: t.name for t in QUANT_TYPES.values()},
    19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 24: "IQ1_S", 28: "IQ2_S", 29: "IQ2_M",
    31: "IQ1_M", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0", 41: "Q2_0",
}


def quant_type(name: str) -> QuantType:
    """The target named `name` (case-insensitive), or InvalidParameter listing the valid ones."""
    found = QUANT_TYPES.get(name.strip().upper().replace("-", "_"))
    if found is None:
        raise InvalidParameter(
            f"unknown quantization type {name!r}: choose one of {', '.join(QUANT_TYPES)}"
        )
    return found


# --- log parsing (pure, shared by the child and the tests) ---------------------------------------------------

_TENSOR_LINE = re.compile(r"^\[\s*(\d+)/\s*(\d+)\]\s+(\S+)")
_MODEL_SIZE = re.compile(r"model size\s*=\s*([\d.]+)\s*MiB")
_QUANT_SIZE = re.compile(r"quant size\s*=\s*([\d.]+)\s*MiB")
_FAILED = re.compile(r"failed to quantize:\s*(.+)")


def parse_log_line(text: str) -> tuple | None:
    """One llama.cpp log line → ("tensor", i, n, name) | ("model_mib", x) | ("quant_mib", x) | ("failed", why)."""
    if m := _TENSOR_LINE.match(text):
        return ("tensor", int(m[1]), int(m[2]), m[3])
    if m := _MODEL_SIZE.search(text):
        return ("model_mib", float(m[1]))
    if m := _QUANT_SIZE.search(text):
        return ("quant_mib", float(m[1]))
    if m := _FAILED.search(text):
        return ("failed", m[1].strip())
    return None


def estimate_output_bytes(source_bytes: int, model_mib: float, quant_mib: float) -> int:
    """Final file size ≈ the source's non-tensor bytes (metadata, vocab) + the new tensor data."""
    metadata = max(0, source_bytes - int(model_mib * _MIB))
    return metadata + int(quant_mib * _MIB)


# --- the child process ----------------------------------------------------------------------------------------


def _child_main(source: str, target: str, ftype: int, allow_requantize: bool, threads: int) -> int:
    """Runs in the child: dry run, then the real quantization; reports one JSON list per stdout line."""
    import ctypes
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent owns Ctrl-C and terminates us itself
    parent = os.getppid()
    import llama_cpp

    def send(message: tuple) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    def on_log(_level: int, text: bytes, _user) -> None:
        if os.getppid() != parent:  # the parent died: do not finish a file nobody will register
            os._exit(1)
        parsed = parse_log_line(text.decode("utf-8", "replace"))
        if parsed is not None:
            send(parsed)

    callback = llama_cpp.llama_log_callback(on_log)
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = allow_requantize
    params.nthread = threads
    for dry_run in (True, False):
        params.dry_run = dry_run
        send(("phase", "dry_run" if dry_run else "quantize"))
        rc = llama_cpp.llama_model_quantize(source.encode(), target.encode(), ctypes.byref(params))
        if rc != 0:
            send(("exit", rc))
            return 1
    send(("exit", 0))
    return 0


class _Run:
    """Parent side of one child run: folds child messages into state and Progress reports."""

    def __init__(self, source_bytes: int, target: Path, meter: ProgressMeter):
        self.source_bytes = source_bytes
        self.target = target
        self.meter = meter
        self.model_mib = self.quant_mib = None
        self.tensor = (0, 0, "")
        self.failure: str | None = None
        self.exit_code: int | None = None

    def handle(self, message: list) -> None:
        kind = message[0]
        if kind == "phase":
            self.tensor = (0, 0, "")  # the dry run lists every tensor too: count only the real pass
        elif kind == "tensor":
            self.tensor = tuple(message[1:])
        elif kind == "model_mib":
            self.model_mib = message[1]
        elif kind == "quant_mib":
            self.quant_mib = message[1]
            if self.model_mib is not None:
                self.meter.total = estimate_output_bytes(self.source_bytes, self.model_mib, self.quant_mib)
                self._check_space(self.meter.total)
        elif kind == "failed":
            self.failure = message[1]
        elif kind == "exit":
            self.exit_code = message[1]

    def _check_space(self, need: int) -> None:
        free = shutil.disk_usage(self.target.parent).free
        if free < need + DISK_RESERVE:
            raise DiskFull(f"the quantized file needs about {need / 1e9:.2f} GB (plus "
                           f"{DISK_RESERVE / 1e9:.1f} GB spare) but {free / 1e9:.2f} GB is free on "
                           f"{self.target.parent}: free some space first")

    def report(self) -> None:
        try:
            size = self.target.stat().st_size
        except FileNotFoundError:
            size = 0
        if self.meter.total is not None:
            size = min(size, self.meter.total - 1)  # the estimate may be a little short: never show 100% early
        i, n, name = self.tensor
        self.meter.advance(size - self.meter.completed, f"tensor {i}/{n}: {name}" if n else "reading the model")


def _read_lines(stream, messages: queue.Queue) -> None:
    """Reader thread: child stdout lines → parsed messages; None marks the end of the stream."""
    for line in stream:
        with contextlib.suppress(ValueError):
            messages.put(json.loads(line))
    messages.put(None)


def quantize_file(source: Path, target: Path, qtype: QuantType, *, allow_requantize: bool = False,
                  threads: int | None = None, on_progress: ProgressCallback = no_progress,
                  cancel: CancelToken | None = None, source_bytes: int | None = None) -> Path:
    """Write `source` quantized to `qtype` at `target` (which must not exist). Progress is in output bytes.

    `source_bytes` is the whole model's size when it is split over several files (default: `source`'s size).
    Raises Cancelled (partial deleted), DiskFull, InvalidModelFile / EngineError with llama.cpp's own reason.
    """
    if target.exists():
        raise InvalidParameter(f"{target} already exists: quantize will not overwrite a file")
    run = _Run(source_bytes or source.stat().st_size, target,
               ProgressMeter(f"quantizing to {qtype.name}", None, on_progress))
    args = json.dumps([str(source), str(target), qtype.ftype, allow_requantize, threads or 0])
    # A plain child interpreter (not multiprocessing): "spawn" would re-run the caller's __main__ script.
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen([sys.executable, "-m", __name__, _CHILD_FLAG, args], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=errors, text=True, env=_child_env())
        try:
            _pump(child, run, cancel)
        except BaseException:  # Cancelled, errors and Ctrl-C all leave no child and no partial file behind
            _stop(child)
            target.unlink(missing_ok=True)
            raise
        finally:
            child.stdout.close()
        errors.seek(0)
        _raise_failure(run, source, child.returncode, errors.read().decode("utf-8", "replace"))
    run.meter.total = run.meter.completed = target.stat().st_size
    run.meter.finish("done")
    return target


def _child_env() -> dict[str, str]:
    """The parent's environment, plus the folder holding `workbench` so a source checkout imports it too."""
    package_root = str(Path(__file__).resolve().parents[2])
    existing = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([package_root, existing] if existing else [package_root])}


def _pump(child: subprocess.Popen, run: _Run, cancel: CancelToken | None) -> None:
    """Forward messages until the child's output ends, checking the token between polls."""
    messages: queue.Queue = queue.Queue()
    threading.Thread(target=_read_lines, args=(child.stdout, messages), daemon=True,
                     name="quantize-reader").start()
    while True:
        if cancel is not None and cancel.cancelled:
            raise Cancelled("quantization was cancelled")
        try:
            message = messages.get(timeout=POLL_SECONDS)
        except queue.Empty:
            message = ()
        if message is None:
            break
        if message:
            run.handle(message)
        run.report()  # after messages too: tensor lines can arrive faster than the poll interval
    child.wait()


def _stop(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _raise_failure(run: _Run, source: Path, returncode: int | None, stderr: str) -> None:
    if run.exit_code == 0 and returncode == 0:
        return
    folder = run.target.parent
    # llama.cpp reports a failed write as "basic_ios::clear: iostream error": a full disk is told by the disk
    full = folder.is_dir() and shutil.disk_usage(folder).free < 1 << 20
    run.target.unlink(missing_ok=True)
    last_line = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    reason = run.failure or last_line or f"the quantization process ended with code {returncode}"
    if full:
        raise DiskFull(f"the disk filled up while quantizing into {folder} ({reason}): the partial output was "
                       "removed; free some space and quantize again")
    if "failed to load model" in reason or "invalid magic" in reason:
        raise InvalidModelFile(f"llama.cpp cannot read {source.name} as a model ({reason})")
    raise EngineError(f"quantization failed: {reason}")


# --- the service --------------------------------------------------------------------------------------------


if __name__ == "__main__" and sys.argv[1:2] == [_CHILD_FLAG]:
    sys.exit(_child_main(*json.loads(sys.argv[2])))
