"""What the runtime computes on: backend, devices, CPU features, llama.cpp/ggml build (for ps, GUI, /api/version).

ggml's device registry is not wrapped by llama-cpp-python, so it is read through ctypes from the bundled libggml.
"""

from __future__ import annotations

import ctypes
import platform
from dataclasses import dataclass

import llama_cpp
import llama_cpp._ggml

from .native import ensure_backend


@dataclass(frozen=True)
class BackendInfo:
    """What the runtime computes on: shown by `workbench ps`, the GUI's status bar and /api/version."""

    backend: str  # "CPU", "Metal", "CUDA", "Vulkan", ...
    devices: tuple[str, ...]
    gpu_offload: bool
    cpu_features: tuple[str, ...]
    system_info: str
    llama_cpp_python: str
    ggml_version: str
    ggml_commit: str
    machine: str


def _ggml_devices() -> list[tuple[str, str, int]]:
    lib = llama_cpp._ggml.libggml
    lib.ggml_backend_dev_count.restype = ctypes.c_size_t
    lib.ggml_backend_dev_get.restype = ctypes.c_void_p
    lib.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
    for fn in (lib.ggml_backend_dev_name, lib.ggml_backend_dev_description):
        fn.restype, fn.argtypes = ctypes.c_char_p, [ctypes.c_void_p]
    lib.ggml_backend_dev_type.restype, lib.ggml_backend_dev_type.argtypes = ctypes.c_int, [ctypes.c_void_p]
    out = []
    for i in range(lib.ggml_backend_dev_count()):
        dev = lib.ggml_backend_dev_get(i)
        name = (lib.ggml_backend_dev_name(dev) or b"?").decode()
        desc = (lib.ggml_backend_dev_description(dev) or b"").decode("utf-8", "replace")
        out.append((name, desc, lib.ggml_backend_dev_type(dev)))
    return out


def _ggml_string(symbol: str) -> str:
    try:
        fn = getattr(llama_cpp._ggml.libggml, symbol)
    except AttributeError:
        return "unknown"
    fn.restype, fn.argtypes = ctypes.c_char_p, []
    return (fn() or b"unknown").decode()


_GPU_NAMES = ("Metal", "CUDA", "Vulkan", "ROCm", "HIP", "SYCL", "OpenCL", "MUSA", "CANN")


def backend_info() -> BackendInfo:
    ensure_backend()
    system = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    features = tuple(
        part.split("=")[0].strip()
        for part in system.replace("CPU :", "|").split("|")
        if "=" in part and part.split("=")[1].strip() == "1"
    )
    devices = _ggml_devices()
    gpus = [name for name, _desc, kind in devices if kind in (1, 2)]  # GGML_BACKEND_DEVICE_TYPE_GPU / IGPU
    backend = next((g for g in _GPU_NAMES for d in gpus if g.lower() in d.lower()), gpus[0] if gpus else "CPU")
    return BackendInfo(
        backend=backend,
        devices=tuple(f"{name}: {desc}" for name, desc, _kind in devices),
        gpu_offload=bool(llama_cpp.llama_supports_gpu_offload()),
        cpu_features=features,
        system_info=system.strip(),
        llama_cpp_python=llama_cpp.__version__,
        ggml_version=_ggml_string("ggml_version"),
        ggml_commit=_ggml_string("ggml_commit"),
        machine=platform.machine(),
    )
