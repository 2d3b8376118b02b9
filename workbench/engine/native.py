"""The thin layer over llama-cpp-python's low-level ctypes API: the only place that touches raw pointers.

Backend initialisation (llama.cpp's log is routed by native_log.py), model and context creation with typed
errors, a reusable `Batch`, tokenize/detokenize, the backend report.
Why the low-level API and not `llama_cpp.Llama`: docs/design.md §4.1.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import llama_cpp  # the package's __init__ has set process_env's defaults before this first import

from ..errors import EngineError, ModelLoadError
from .native_log import LogCapture, failure_reason, quietly_or_with_reason, route_to_python

_init_lock = threading.Lock()
_initialized = False


def ensure_backend() -> None:
    """Initialise llama.cpp's backends once per process and route its log into Python logging."""
    global _initialized
    with _init_lock:
        if _initialized:
            return
        route_to_python()
        llama_cpp.llama_backend_init()
        _initialized = True


# ---------------------------------------------------------------------------------------------- model/context


@functools.cache
def amx_compiled() -> bool:
    """Whether this llama.cpp build has the AMX weight layout (a `-march=native` build on Sapphire Rapids or newer).

    Its matrix kernel crashes the process on Q4_K models with several sequences (llama.cpp issue #20824, open
    upstream), so AMX builds load without extra buffer types (no weight repacking: ~0.8x decode speed);
    scripts/setup.sh builds without AMX, where this never applies.
    """
    ensure_backend()
    return "AMX_INT8 = 1" in llama_cpp.llama_print_system_info().decode("utf-8", "replace")


def load_model(path: Path, *, gpu_layers: int, use_extra_bufts: bool):
    """Load a GGUF with mmap; gpu_layers -1 = all layers when the backend can offload, else none."""
    ensure_backend()
    params = llama_cpp.llama_model_default_params()
    params.load_mode = llama_cpp.LLAMA_LOAD_MODE_MMAP if llama_cpp.llama_supports_mmap() else 0
    if gpu_layers < 0:
        params.n_gpu_layers = -1 if llama_cpp.llama_supports_gpu_offload() else 0
    else:
        params.n_gpu_layers = gpu_layers
    params.use_extra_bufts = use_extra_bufts and not amx_compiled()
    if not Path(path).is_file():
        raise ModelLoadError(f"cannot load {path}: the file does not exist")
    return quietly_or_with_reason(lambda: llama_cpp.llama_model_load_from_file(os.fsencode(path), params),
                                  f"llama.cpp could not load {path}", ModelLoadError)


def free_model(model) -> None:
    if model:
        llama_cpp.llama_model_free(model)


@dataclass(frozen=True)
class ContextConfig:
    """Everything a llama_context is created from (resolved values, no 'auto' left except flash attention)."""

    n_ctx: int
    n_batch: int
    n_ubatch: int
    n_seq_max: int
    n_threads: int
    flash_attn: str  # auto / on / off
    type_k: str
    type_v: str
    kv_unified: bool
    swa_full: bool = True
    embeddings: bool = False


_CACHE_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "bf16": 30}
_FLASH = {"auto": -1, "off": 0, "on": 1}


def new_context(model, cfg: ContextConfig, path: Path):
    params = llama_cpp.llama_context_default_params()
    params.n_ctx = cfg.n_ctx
    params.n_batch = cfg.n_batch
    params.n_ubatch = cfg.n_ubatch
    params.n_seq_max = cfg.n_seq_max
    params.n_threads = params.n_threads_batch = cfg.n_threads
    params.flash_attn_type = _FLASH[cfg.flash_attn]
    params.type_k = _CACHE_TYPES[cfg.type_k]
    params.type_v = _CACHE_TYPES[cfg.type_v]
    params.kv_unified = cfg.kv_unified
    params.swa_full = cfg.swa_full
    params.embeddings = cfg.embeddings
    params.no_perf = True
    return quietly_or_with_reason(lambda: llama_cpp.llama_init_from_model(model, params),
                                  f"llama.cpp could not create a context for {path}", ModelLoadError)


def free_context(ctx) -> None:
    if ctx:
        llama_cpp.llama_free(ctx)


def attach_lora(model, ctx, lora_path: Path, scale: float, path: Path):
    with LogCapture() as lines:
        adapter = llama_cpp.llama_adapter_lora_init(model, os.fsencode(lora_path))
    if not adapter:
        raise ModelLoadError(f"could not load the LoRA adapter {lora_path} for {path}: {failure_reason(lines)}")
    adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(adapter)
    scales = (ctypes.c_float * 1)(scale)
    if llama_cpp.llama_set_adapters_lora(ctx, adapters, 1, scales) != 0:
        llama_cpp.llama_adapter_lora_free(adapter)
        raise ModelLoadError(f"the LoRA adapter {lora_path} does not fit {path}")
    return adapter


def free_lora(adapter) -> None:
    if adapter:
        llama_cpp.llama_adapter_lora_free(adapter)


# ---------------------------------------------------------------------------------------------- decode


class DecodeError(EngineError):
    """llama_decode returned non-zero; `code` is its return value."""

    def __init__(self, code: int):
        self.code = code
        if code == 1:
            text = "the KV cache has no room for this batch (decode returned 1): shorten the prompt or lower max_tokens"
        elif code == 2:
            text = "decoding was aborted (decode returned 2)"
        else:
            text = f"llama.cpp failed while decoding (decode returned {code}); see the log for details"
        super().__init__(text)


class Batch:
    """One llama_batch reused for every step (no per-token allocation of ctypes arrays)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._batch = llama_cpp.llama_batch_init(capacity, 0, 1)
        b = self._batch
        self._token, self._pos, self._seq, self._nseq, self._logits = b.token, b.pos, b.seq_id, b.n_seq_id, b.logits
        self.n = 0

    def clear(self) -> None:
        self.n = 0

    def add(self, token: int, pos: int, seq: int, logits: bool) -> int:
        """Append one token; returns its index in the batch (the index to sample from when logits=True)."""
        i = self.n
        if i >= self.capacity:  # writing past the C arrays would corrupt memory
            raise EngineError(f"batch overflow ({self.capacity} tokens)")
        self._token[i] = token
        self._pos[i] = pos
        self._seq[i][0] = seq
        self._nseq[i] = 1
        self._logits[i] = logits
        self.n = i + 1
        return i

    def decode(self, ctx) -> None:
        self._batch.n_tokens = self.n
        code = llama_cpp.llama_decode(ctx, self._batch)  # releases the GIL for the whole forward pass
        if code != 0:
            raise DecodeError(code)

    def free(self) -> None:
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None


# ---------------------------------------------------------------------------------------------- vocabulary


class Vocab:
    """Tokenizer helpers over a model's vocabulary; buffers are per instance, so use one per thread."""

    def __init__(self, model):
        self.ptr = llama_cpp.llama_model_get_vocab(model)
        self.n_tokens = llama_cpp.llama_vocab_n_tokens(self.ptr)
        self.bos = llama_cpp.llama_vocab_bos(self.ptr)
        self.eos = llama_cpp.llama_vocab_eos(self.ptr)
        self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self.ptr))
        self._piece = ctypes.create_string_buffer(256)
        self._piece_cache: dict[int, bytes] = {}
        self._lock = threading.Lock()

    def is_eog(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.ptr, token))

    @functools.cached_property
    def eog_tokens(self) -> tuple[int, ...]:
        """Every end-of-generation token (EOS, EOT, <end_of_turn>, …): a scan of the vocabulary, ~60 ms for 262k."""
        is_eog, ptr = llama_cpp.llama_vocab_is_eog, self.ptr
        return tuple(token for token in range(self.n_tokens) if is_eog(ptr, token))

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        data = text.encode("utf-8")
        size = len(data) + 2
        while True:
            buf = (llama_cpp.llama_token * size)()
            n = llama_cpp.llama_tokenize(self.ptr, data, len(data), buf, size, add_special, parse_special)
            if n >= 0:
                return buf[:n]
            size = -n

    def piece(self, token: int, special: bool = False) -> bytes:
        """The bytes of one token (may be part of a UTF-8 character); cached, the vocabulary never changes."""
        key = token if not special else ~token
        cached = self._piece_cache.get(key)
        if cached is not None:
            return cached
        with self._lock:
            n = llama_cpp.llama_token_to_piece(self.ptr, token, self._piece, 256, 0, special)
            if n < 0:
                big = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(self.ptr, token, big, -n, 0, special)
                data = big.raw[:n]
            else:
                data = self._piece.raw[:n]
        self._piece_cache[key] = data
        return data

    def detokenize(self, tokens: list[int], *, render_special: bool = False) -> str:
        return b"".join(self.piece(t, render_special) for t in tokens).decode("utf-8", "replace")


# ---------------------------------------------------------------------------------------------- facts


def model_meta(model) -> dict[str, str]:
    out: dict[str, str] = {}
    buf = ctypes.create_string_buffer(4096)
    for i in range(llama_cpp.llama_model_meta_count(model)):
        n = llama_cpp.llama_model_meta_key_by_index(model, i, buf, len(buf))
        if n < 0:
            continue
        key = buf.value.decode("utf-8", "replace")
        n = llama_cpp.llama_model_meta_val_str_by_index(model, i, buf, len(buf))
        if n >= len(buf):  # long values (chat templates, token lists) need a bigger buffer
            big = ctypes.create_string_buffer(n + 1)
            llama_cpp.llama_model_meta_val_str_by_index(model, i, big, len(big))
            out[key] = big.value.decode("utf-8", "replace")
        elif n >= 0:
            out[key] = buf.value.decode("utf-8", "replace")
    return out


def chat_template(model) -> str | None:
    raw = llama_cpp.llama_model_chat_template(model, None)
    return raw.decode("utf-8", "replace") if raw else None


@dataclass(frozen=True)
class ModelFacts:
    n_ctx_train: int
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_swa: int
    size_bytes: int
    n_params: int
    description: str
    is_recurrent: bool


def model_facts(model) -> ModelFacts:
    desc = ctypes.create_string_buffer(256)
    llama_cpp.llama_model_desc(model, desc, len(desc))
    return ModelFacts(
        n_ctx_train=llama_cpp.llama_model_n_ctx_train(model),
        n_embd=llama_cpp.llama_model_n_embd(model),
        n_layer=llama_cpp.llama_model_n_layer(model),
        n_head=llama_cpp.llama_model_n_head(model),
        n_head_kv=llama_cpp.llama_model_n_head_kv(model),
        n_swa=llama_cpp.llama_model_n_swa(model),
        size_bytes=llama_cpp.llama_model_size(model),
        n_params=llama_cpp.llama_model_n_params(model),
        description=desc.value.decode("utf-8", "replace"),
        is_recurrent=bool(llama_cpp.llama_model_is_recurrent(model) or llama_cpp.llama_model_is_hybrid(model)),
    )
