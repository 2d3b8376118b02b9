"""The llama.cpp runtime: the only package that imports `llama_cpp` (DESIGN §4).

Public API: `Runtime` (loaded models, keep-alive), `LoadedModel` (tokenize, facts, `generate`),
`LoadOptions`, `SamplingParams`, `GenerationRequest`, `Generation` (iterator of `TextEvent`s then one
`FinalEvent`), `BackendInfo`, `LoadedInfo`. Importing this package does not load llama.cpp's shared
libraries until a Runtime loads a model or reports the backend... except that `llama_cpp` itself loads them on
import; keep `from .engine import ...` inside functions in code paths that must stay light (app.py does).
"""

from .backend import BackendInfo
from .generation import Generation
from .model import LoadedModel
from .params import FinalEvent, GenerationRequest, LoadOptions, SamplingParams, TextEvent
from .runtime import LoadedInfo, Runtime

__all__ = [
    "BackendInfo",
    "FinalEvent",
    "Generation",
    "GenerationRequest",
    "LoadOptions",
    "LoadedInfo",
    "LoadedModel",
    "Runtime",
    "SamplingParams",
    "TextEvent",
]
