"""A model's native load started before the store can name it: the head start of a cold start.

`serve --preload NAME` and `run NAME` must import and open the SQLite store and resolve NAME before they know which
file to load: ~0.3 s of a ~0.8 s cold start pass before llama.cpp reads a byte. So each load through a name is
remembered (`remember`: the file and the load's flags, in <cache>/prefetch.json), and the next start reads that
first (`start`, before the store is imported) and begins the same load on a thread. LoadedModel takes the
prefetched model when the real resolution asks for the same file with the same flags (`claim`); `discard` frees
whatever nobody claimed. A stale hint costs one background load, never a wrong answer: the resolver (resolve.py)
still decides what is loaded.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from concurrent.futures import Future
from pathlib import Path

from ..paths import Paths

HINT_FILE = "prefetch.json"
MAX_HINTS = 32  # names remembered per data dir (the oldest go first)

_lock = threading.Lock()
_pending: dict[tuple[str, int, bool], Future] = {}  # (file, gpu_layers, extra buffer types) -> llama_model*


def start(paths: Paths, names: Iterable[str]) -> int:
    """Begin loading, each on a thread, the file every name resolved to last time if that file is unchanged.
    Returns how many loads started. Never raises: a hint is only a guess."""
    hints = _read(paths)
    keys = [key for key in (_key_if_current(hints.get(name)) for name in names) if key is not None]
    if not keys:
        return 0
    # llama.cpp's bindings are imported here, not on the thread: two threads importing at once slow each other far
    # more than the sum (each file read lets the other hold the GIL for a whole switch interval)
    from . import native

    started = 0
    for key in keys:
        with _lock:
            if key in _pending:
                continue
            future = _pending[key] = Future()
        threading.Thread(target=_load, args=(native, key, future), name="workbench-prefetch", daemon=True).start()
        started += 1
    return started


def claim(path: Path, gpu_layers: int, use_extra_bufts: bool):
    """The prefetched llama_model* for exactly this load, once its load ends; None when there is none or it failed
    (the caller's own load then reports the error in its words)."""
    with _lock:
        future = _pending.pop((str(path), gpu_layers, use_extra_bufts), None)
    if future is None:
        return None
    try:
        return future.result()
    except Exception:
        return None


def pending() -> list[tuple[str, int, bool]]:
    """The loads started and not yet claimed or discarded, as (file, gpu_layers, use_extra_bufts)."""
    with _lock:
        return list(_pending)


def discard() -> None:
    """Free every prefetched model nobody claimed (waiting for loads still running)."""
    with _lock:
        futures = list(_pending.values())
        _pending.clear()
    for future in futures:
        try:
            model = future.result()
        except Exception:
            continue
        from . import native

        native.free_model(model)


def remember(paths: Paths, name: str, path: Path, gpu_layers: int, use_extra_bufts: bool) -> None:
    """Note that `name` loaded `path` with these flags (LoadedModel.native_load), for the next start's head start
    (best effort: a cache dir that cannot be written only loses it)."""
    hints = _read(paths)
    hints.pop(name, None)
    try:
        stat = os.stat(path)
    except OSError:
        return
    hints[name] = {"path": str(path), "gpu_layers": gpu_layers, "extra_bufts": use_extra_bufts,
                   "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    kept = dict(list(hints.items())[-MAX_HINTS:])
    target = paths.cache / HINT_FILE
    temporary = target.with_name(target.name + ".tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(kept), encoding="utf-8")
        os.replace(temporary, target)
    except OSError:
        pass  # a read-only or full cache dir only loses the head start


def _read(paths: Paths) -> dict:
    try:
        hints = json.loads((paths.cache / HINT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return hints if isinstance(hints, dict) else {}


def _key_if_current(hint) -> tuple[str, int, bool] | None:
    """The load key of a hint whose file is still the one it names (same size and mtime), else None."""
    try:
        stat = os.stat(hint["path"])
        if stat.st_size != hint["size"] or stat.st_mtime_ns != hint["mtime_ns"]:
            return None
        return str(hint["path"]), int(hint["gpu_layers"]), bool(hint["extra_bufts"])
    except (OSError, KeyError, TypeError, ValueError):
        return None


def _load(native, key: tuple[str, int, bool], future: Future) -> None:
    try:
        future.set_result(native.load_model(Path(key[0]), gpu_layers=key[1], use_extra_bufts=key[2]))
    except BaseException as exc:
        future.set_exception(exc)
