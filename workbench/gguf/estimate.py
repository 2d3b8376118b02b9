"""Will this model fit? A memory estimate from GGUF metadata alone, before a single weight is downloaded.

total = weights + KV cache (sliding-window aware) + compute buffer + runtime overhead, calibrated against
llama.cpp's measured memory (`tests/test_estimate.py` holds it to ±25%); the verdict against available memory
is fits / tight / won't fit. The formula and its calibration: docs/design.md §5.2.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..units import human_size

MIB = 1024 * 1024
KV_PAD = 256
FIXED_OVERHEAD = 8 * MIB
BYTES_PER_VOCAB_TOKEN = 160
DEFAULT_UBATCH = 512
FITS_RATIO = 0.8

CACHE_TYPE_BYTES = {  # bytes per element of the KV cache types llama.cpp accepts
    "f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q5_1": 24 / 32, "q5_0": 22 / 32,
    "q4_1": 20 / 32, "q4_0": 18 / 32, "iq4_nl": 18 / 32,
}
# Every Nth layer is full attention, the rest use the sliding window (llama.cpp's set_swa_pattern per arch).
SWA_PATTERNS = {"gemma2": 2, "gemma3": 6, "gemma3n": 5, "cohere2": 4, "gpt-oss": 2, "exaone4": 4, "llama4": 4}


@dataclass(frozen=True)
class ModelShape:
    """The numbers of a model the estimate needs, read from its GGUF metadata."""

    architecture: str
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: tuple[int, ...]  # per layer
    key_length: int
    value_length: int
    n_vocab: int
    weights_bytes: int
    sliding_window: int | None = None
    swa_layers: tuple[bool, ...] = ()  # per layer: True when the layer uses the sliding window
    context_length: int | None = None  # the training context

    @classmethod
    def from_metadata(cls, kv: Mapping[str, Any], weights_bytes: int) -> ModelShape:
        arch = str(kv.get("general.architecture") or "llama")

        def num(key: str, default: int = 0) -> int:
            value = kv.get(f"{arch}.{key}", default)
            items = _items(value)
            return int(max(items)) if items else int(value or default)

        n_layer = num("block_count")
        n_embd = num("embedding_length")
        n_head = num("attention.head_count") or 1
        kv_heads = _per_layer(kv.get(f"{arch}.attention.head_count_kv", n_head), n_layer)
        head_dim = n_embd // n_head if n_head else n_embd
        n_ff = num("expert_feed_forward_length") * max(1, num("expert_used_count")) or num("feed_forward_length")
        window = num("attention.sliding_window") or None
        return cls(
            architecture=arch, n_layer=n_layer, n_embd=n_embd, n_ff=n_ff, n_head=n_head, n_head_kv=kv_heads,
            key_length=num("attention.key_length") or head_dim, value_length=num("attention.value_length") or head_dim,
            n_vocab=_vocab_size(kv, arch), weights_bytes=int(weights_bytes), sliding_window=window,
            swa_layers=_swa_layers(kv, arch, n_layer, window), context_length=num("context_length") or None,
        )

    @classmethod
    def from_info(cls, info, weights_bytes: int | None = None) -> ModelShape:
        """From a `gguf.info.GGUFInfo` (complete file or header only); `weights_bytes` overrides its tensor
        bytes (a split model's weights span every shard)."""
        kv = dict(info.metadata)
        kv.setdefault("general.architecture", info.architecture or "llama")
        if info.vocab_size:
            kv[f"{kv['general.architecture']}.vocab_size"] = info.vocab_size
            kv.pop("tokenizer.ggml.tokens", None)
        return cls.from_metadata(kv, info.tensor_bytes if weights_bytes is None else weights_bytes)


@dataclass(frozen=True)
class FitEstimate:
    """Memory a model needs at a context size, against what this machine has free."""

    context: int
    parallel: int
    cache_type: str
    weights_bytes: int
    kv_cache_bytes: int
    compute_bytes: int
    overhead_bytes: int
    ram_needed: int
    vram_needed: int
    ram_available: int | None
    vram_available: int | None
    verdict: str  # "fits" | "tight" | "won't fit"
    notes: tuple[str, ...] = ()

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.compute_bytes + self.overhead_bytes

    def summary(self) -> str:
        parts = (f"weights {human_size(self.weights_bytes)} + KV cache {human_size(self.kv_cache_bytes)} "
                 f"({self.context} ctx, {self.cache_type}) + compute {human_size(self.compute_bytes)} + "
                 f"overhead {human_size(self.overhead_bytes)} = {human_size(self.total_bytes)}")
        free = f"{human_size(self.ram_available)} RAM free" if self.ram_available is not None else "RAM unknown"
        if self.vram_available is not None:
            free += f", {human_size(self.vram_available)} VRAM free"
        return f"{self.verdict}: {parts}; {free}"


def kv_cache_bytes(shape: ModelShape, context: int, *, cache_type: str = "f16", parallel: int = 1,
                   n_ubatch: int = DEFAULT_UBATCH, swa_full: bool = True) -> int:
    per_elem = _cache_bytes(cache_type)
    full = _pad(context)
    windowed = full
    if shape.sliding_window and not swa_full:
        windowed = min(full, _pad(shape.sliding_window * parallel + n_ubatch))
    total = 0.0
    for layer in range(shape.n_layer):
        cells = windowed if layer < len(shape.swa_layers) and shape.swa_layers[layer] else full
        total += cells * shape.n_head_kv[layer] * (shape.key_length + shape.value_length) * per_elem
    return int(total)


def compute_bytes(shape: ModelShape, context: int, *, parallel: int = 1, n_ubatch: int = DEFAULT_UBATCH) -> int:
    tokens = min(n_ubatch, context)
    activations = tokens * (6 * shape.n_embd + 3 * shape.n_ff) * 4
    return activations + shape.n_vocab * parallel * 4


def overhead_bytes(shape: ModelShape) -> int:
    return FIXED_OVERHEAD + BYTES_PER_VOCAB_TOKEN * shape.n_vocab


def estimate_fit(shape: ModelShape, *, context: int, cache_type: str = "f16", parallel: int = 1,
                 n_ubatch: int = DEFAULT_UBATCH, swa_full: bool = True, gpu_layers: int = 0,
                 ram_available: int | None = None, vram_available: int | None = None) -> FitEstimate:
    """The estimate for one load configuration. `gpu_layers` (-1 = all) only counts when VRAM is known."""
    if context < 1 or parallel < 1:
        from ..errors import InvalidParameter

        raise InvalidParameter(f"context ({context}) and parallel ({parallel}) must be at least 1")
    weights = shape.weights_bytes
    kv = kv_cache_bytes(shape, context, cache_type=cache_type, parallel=parallel, n_ubatch=n_ubatch,
                        swa_full=swa_full)
    compute = compute_bytes(shape, context, parallel=parallel, n_ubatch=n_ubatch)
    overhead = overhead_bytes(shape)
    on_gpu = _gpu_fraction(shape, gpu_layers) if vram_available is not None else 0.0
    vram = int(on_gpu * (weights + kv) + (compute if on_gpu else 0))
    ram = weights + kv + compute + overhead - vram
    if ram_available is None:
        ram_available = available_ram()
    notes = _notes(shape, context, swa_full)
    verdict = _verdict(ram, ram_available)
    if vram:
        verdict = _worst(verdict, _verdict(vram, vram_available))
    return FitEstimate(context, parallel, cache_type, weights, kv, compute, overhead, ram, vram,
                       ram_available, vram_available, verdict, notes)


def estimate_local(paths: list[Path], *, context: int, cache_type: str = "f16", parallel: int = 1,
                   **options) -> FitEstimate:
    """The estimate for a model on disk: its first (or only) file's header, every shard's tensor bytes."""
    from .info import read_gguf_header

    infos = [read_gguf_header(p) for p in paths]
    shape = ModelShape.from_info(infos[0], sum(i.tensor_bytes for i in infos))
    return estimate_fit(shape, context=context, cache_type=cache_type, parallel=parallel, **options)


def available_ram() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def _verdict(needed: int, available: int | None) -> str:
    if available is None:
        return "fits"
    if needed <= FITS_RATIO * available:
        return "fits"
    return "tight" if needed <= available else "won't fit"


def _worst(a: str, b: str) -> str:
    order = ["fits", "tight", "won't fit"]
    return order[max(order.index(a), order.index(b))]


def _gpu_fraction(shape: ModelShape, gpu_layers: int) -> float:
    if gpu_layers == 0:
        return 0.0
    layers = shape.n_layer + 1  # llama.cpp counts the output layer as one more offloadable layer
    return 1.0 if gpu_layers < 0 else min(gpu_layers, layers) / layers


def _notes(shape: ModelShape, context: int, swa_full: bool) -> tuple[str, ...]:
    notes = []
    if shape.context_length and context > shape.context_length:
        notes.append(f"the model was trained for {shape.context_length} tokens of context; more may degrade output")
    if shape.sliding_window and not shape.swa_layers and not swa_full:
        notes.append("sliding-window layout unknown for this architecture: counted every layer at full context")
    return tuple(notes)


def _cache_bytes(cache_type: str) -> float:
    try:
        return CACHE_TYPE_BYTES[cache_type.lower()]
    except KeyError:
        from ..errors import InvalidParameter

        raise InvalidParameter(f"unknown KV cache type {cache_type!r}: use one of "
                               f"{', '.join(CACHE_TYPE_BYTES)}") from None


def _pad(n: int) -> int:
    return -(-n // KV_PAD) * KV_PAD


def _items(value: Any) -> list:
    """The items of a GGUF array value (a list or the parser's complete ArrayValue), else [].

    An abbreviated array ({"type": "array", "length": N, "head": [...]} in GGUFInfo.metadata) gives [].
    """
    if isinstance(value, list | tuple):
        return list(value)
    items = getattr(value, "items", None)
    if isinstance(items, tuple) and getattr(value, "complete", False):
        return list(items)
    return []


def _length(value: Any) -> int:
    if isinstance(value, dict):
        return int(value.get("length") or 0)
    length = getattr(value, "length", None)
    if isinstance(length, int):
        return length
    return len(value) if isinstance(value, list | tuple) else 0


def _per_layer(value: Any, n_layer: int) -> tuple[int, ...]:
    items = _items(value)
    if items:
        return tuple(int(v) for v in (items + [items[-1]] * n_layer)[:n_layer])
    return (int(value or 0),) * n_layer


def _vocab_size(kv: Mapping[str, Any], arch: str) -> int:
    return _length(kv.get("tokenizer.ggml.tokens")) or int(kv.get(f"{arch}.vocab_size") or 0)


def _swa_layers(kv: Mapping[str, Any], arch: str, n_layer: int, window: int | None) -> tuple[bool, ...]:
    if not window:
        return ()
    pattern = _items(kv.get(f"{arch}.attention.sliding_window_pattern"))
    if pattern:
        return tuple(bool(p) for p in (pattern + [False] * n_layer)[:n_layer])
    every = SWA_PATTERNS.get(arch)
    if every is None:
        return ()
    return tuple(layer % every < every - 1 for layer in range(n_layer))
