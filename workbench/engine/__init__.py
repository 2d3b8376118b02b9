"""The llama.cpp runtime — the only package that imports `llama_cpp` (docs/design.md §4).

`Runtime` loads models (keyed by model and load options, with keep-alive) and hands out `LoadedModel`s, whose
`generate()` returns a `Generation`: `TextEvent`s, then one `FinalEvent`. Importing this package loads
llama.cpp's shared libraries, so callers that must stay light import it lazily, as app.py does.
"""

from . import process_env  # noqa: F401  (first: environment llama.cpp's libraries read at load)
from .backend import BackendInfo
from .generation import Generation
from .model import LoadedModel
from .params import (
    FinalEvent,
    GenerationRequest,
    LoadOptions,
    SamplingParams,
    Speculation,
    TextEvent,
    ThinkingBudget,
    TokenLogprob,
)
from .runtime import LoadedInfo, Runtime
from .sampling import schema_grammar

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
    "Speculation",
    "TextEvent",
    "ThinkingBudget",
    "TokenLogprob",
    "schema_grammar",
]
