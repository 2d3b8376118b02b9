"""`Runtime`: the set of loaded models, keyed by (model, resolved load options), with Ollama's keep-alive.

`acquire` loads once per key (concurrent callers share the load); `generate` acquires and queues under one lock,
so a keep-alive unload cannot slip between; a reaper thread unloads idle models (docs/design.md §4.2).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InvalidParameter, ModelLoadError
from ..records import LocalModel
from ..settings import Settings
from . import backend
from .generation import Generation, Sink
from .model import LoadedModel, ResolvedLoad
from .native import ContextConfig
from .params import GenerationRequest, LoadOptions

_log = logging.getLogger(__name__)

ModelRef = LocalModel | Path | str


@dataclass(frozen=True)
class LoadedInfo:
    """One row of `workbench ps`."""

    name: str
    path: Path
    sha256: str | None
    options: LoadOptions
    memory_bytes: int
    busy: bool
    loaded_at: float  # time.time()
    expires_in: float | None  # seconds until keep-alive unload; None = never (or busy)
    backend: str


def _physical_cores() -> int:
    import psutil  # here, not at the top: ~30 ms of every cold start, for a value read once per load

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


class Runtime:
    def __init__(self, settings: Settings | None = None, *, max_queue: int = 64):
        self.settings = settings or Settings()
        self.max_queue = max_queue
        self.on_load = None  # on_load(model) after each load: the audit trail's model.loaded event
        self._models: dict[tuple, LoadedModel] = {}
        self._loading: dict[tuple, threading.Event] = {}
        self._lock = threading.Condition()
        self._closed = False
        self._backend: backend.BackendInfo | None = None
        self._reaper = threading.Thread(target=self._reap_loop, name="engine-keepalive", daemon=True)
        self._reaper.start()

    # ------------------------------------------------------------------ options

    def resolve(self, ref: ModelRef, options: LoadOptions | None = None) -> ResolvedLoad:
        """Fill LoadOptions' None fields from the settings and the model; build the context config."""
        opts = options or LoadOptions()
        s = self.settings
        reproducible = s.reproducible if opts.reproducible is None else opts.reproducible
        n_parallel = opts.n_parallel or max(1, s.parallel_slots)
        n_ctx = opts.n_ctx or s.default_context
        train = _context_length(ref)
        if train:
            n_ctx = min(n_ctx, train)
        n_threads = opts.n_threads or s.threads or _physical_cores()
        gpu_layers = opts.gpu_layers if opts.gpu_layers != -1 else s.gpu_layers
        flash = opts.flash_attn
        if reproducible:
            if flash == "on":
                raise InvalidParameter("reproducible mode needs flash_attn off (CPU kernels vary with batch shape)")
            if opts.type_v not in ("f16", "f32"):
                raise InvalidParameter("reproducible mode needs an f16 V cache: a quantized one needs flash attention")
            flash = "off"
        n_batch = max(opts.n_batch, n_parallel)
        resolved = replace(opts, n_ctx=n_ctx, n_threads=n_threads, n_parallel=n_parallel, n_batch=n_batch,
                           n_ubatch=min(opts.n_ubatch, n_batch), reproducible=reproducible, gpu_layers=gpu_layers,
                           flash_attn=flash, speculative=bool(opts.speculative and reproducible))
        cfg = ContextConfig(
            n_ctx=n_ctx * n_parallel, n_batch=n_batch, n_ubatch=resolved.n_ubatch, n_seq_max=n_parallel,
            n_threads=n_threads, flash_attn=flash, type_k=opts.type_k, type_v=opts.type_v,
            kv_unified=not reproducible, swa_full=opts.swa_full, embeddings=opts.embeddings,
        )
        return ResolvedLoad(options=resolved, context=cfg)

    # ------------------------------------------------------------------ loading

    def acquire(self, ref: ModelRef, options: LoadOptions | None = None) -> LoadedModel:
        """The loaded model for (ref, options), loading it if needed. Raises ModelLoadError naming the file."""
        path, sha, name = _identity(ref)
        resolved = self.resolve(ref, options)
        key = (sha or str(path.resolve()), resolved.options)
        while True:
            with self._lock:
                if self._closed:
                    raise ModelLoadError("the runtime is closed")
                model = self._models.get(key)
                if model is not None and not model.closed:
                    model.touch()
                    return model
                pending = self._loading.get(key)
                if pending is None:
                    self._loading[key] = threading.Event()
                    break
            pending.wait()
        try:
            model = LoadedModel(path, resolved, name=name, sha256=sha, max_queue=self.max_queue)
        except BaseException:
            with self._lock:
                self._loading.pop(key).set()
            raise
        model._scheduler.on_idle = self._poke
        with self._lock:
            self._models[key] = model
            self._loading.pop(key).set()
            self._lock.notify_all()
        _log.info("loaded %s (%s)", name, resolved.options)
        if self.on_load is not None:
            self.on_load(model)
        return model

    def generate(self, ref: ModelRef, request: GenerationRequest, options: LoadOptions | None = None,
                 sink: Sink | None = None) -> Generation:
        """Acquire and queue in one go (no keep-alive unload can happen in between); sink: see generation.py."""
        while True:
            model = self.acquire(ref, options)
            with self._lock:
                if not model.closed:
                    return model.generate(request, sink)

    def unload(self, ref: ModelRef | LoadedModel) -> int:
        """Unload every loaded instance of a model (running requests end "cancelled"); returns how many."""
        with self._lock:
            if isinstance(ref, LoadedModel):
                victims = [k for k, m in self._models.items() if m is ref]
            else:
                path, sha, _ = _identity(ref)
                ident = sha or str(path.resolve())
                victims = [k for k in self._models if k[0] == ident]
            models = [self._models.pop(k) for k in victims]
        for model in models:
            model.close()
        return len(models)

    def set_keep_alive(self, model: LoadedModel, seconds: float | None) -> None:
        """Keep this loaded model for `seconds` after its last request (None: back to the settings' value)."""
        with self._lock:
            model.keep_alive = seconds
            model.touch()  # the new duration counts from now, like Ollama's
            self._lock.notify_all()

    def _keep_alive(self, model: LoadedModel) -> float:
        return self.settings.keep_alive_seconds if model.keep_alive is None else model.keep_alive

    def loaded(self) -> list[LoadedInfo]:
        now = time.monotonic()
        backend = self.backend_info().backend
        with self._lock:
            models = list(self._models.values())
        rows = []
        for m in models:
            busy, keep = m.busy, self._keep_alive(m)
            expires = None if busy or keep < 0 else max(0.0, keep - (now - m.idle_since))
            rows.append(LoadedInfo(m.name, m.path, m.sha256, m.options, m.memory_bytes, busy, m.loaded_at, expires,
                                   backend))
        return rows

    def backend_info(self) -> backend.BackendInfo:
        if self._backend is None:
            self._backend = backend.backend_info()
        return self._backend

    # ------------------------------------------------------------------ keep-alive

    def _poke(self) -> None:
        with self._lock:
            self._lock.notify_all()

    def _reap_loop(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                victims, wait = self._expired()
                for key in victims:
                    self._models.pop(key)
                if not victims:  # at most an hour at a time: a keep-alive of years overflows the wait's clock
                    self._lock.wait(None if wait is None else min(wait, 3600.0))
                    continue
            for model in victims.values():
                _log.info("keep-alive expired: unloading %s", model.name)
                model.close()

    def _expired(self) -> tuple[dict[tuple, LoadedModel], float | None]:
        now = time.monotonic()
        victims: dict[tuple, LoadedModel] = {}
        wait: float | None = None
        for key, model in self._models.items():
            keep = self._keep_alive(model)
            if model.busy or keep < 0:
                continue
            if keep == 0:  # "at once": when its last request has ended (not before the first one)
                if model.served_since_touch:
                    victims[key] = model
                continue
            left = keep - (now - model.idle_since)
            if left <= 0:
                victims[key] = model
            else:
                wait = left if wait is None else min(wait, left)
        return victims, wait

    def close(self) -> None:
        with self._lock:
            self._closed = True
            models = list(self._models.values())
            self._models.clear()
            self._lock.notify_all()
        for model in models:
            model.close()
        self._reaper.join(timeout=10)

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _identity(ref: ModelRef) -> tuple[Path, str | None, str]:
    if isinstance(ref, LocalModel):
        return Path(ref.path), ref.sha256, ref.name
    path = Path(ref)
    return path, None, path.name


def _context_length(ref: ModelRef) -> int | None:
    """The training context from the library record (the engine caps again after loading if unknown)."""
    return ref.context_length if isinstance(ref, LocalModel) else None
