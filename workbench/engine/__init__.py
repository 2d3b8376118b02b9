"""The llama.cpp runtime — the only package that imports `llama_cpp` (DESIGN §4).

Public API:
  Runtime(settings)                 loaded models keyed by (model, resolved LoadOptions), keep-alive unloading
    .acquire(path | LocalModel, LoadOptions | None) -> LoadedModel
    .generate(path | LocalModel, GenerationRequest, LoadOptions | None) -> Generation
    .loaded() -> list[LoadedInfo]   (for `ps`)     .unload(model)     .backend_info() -> BackendInfo     .close()
  LoadedModel                       tokenize / detokenize / token_text, n_ctx, n_ctx_train, bos/eos,
                                    chat_template, metadata, memory_bytes, generate(GenerationRequest),
                                    embed(texts), score(tokens) (perplexity; scoring.score_models for KL),
                                    prompt_logprobs(GenerationRequest, top_n) (echo logprobs)
  Generation                        iterator of TextEvent(text, logprobs)… then one FinalEvent; cancel()/close();
                                    collect() (GenerationRequest.logprobs = n: TokenLogprob entries on TextEvents)
  LoadOptions, SamplingParams, GenerationRequest, TextEvent, FinalEvent, BackendInfo, LoadedInfo

Importing this package imports llama_cpp (which loads its shared libraries): callers that must stay light
import it lazily, as app.py does.
"""

from . import process_env  # noqa: F401  (first: environment llama.cpp's libraries read at load)
from .backend import BackendInfo
from .generation import Generation
from .model import LoadedModel
from .params import FinalEvent, GenerationRequest, LoadOptions, SamplingParams, TextEvent, TokenLogprob
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
    "TokenLogprob",
]
