"""llama.cpp's log, routed into Python `logging`: captured per thread (so a failure can say why) and switched off
while a model or context is made.

Why the switch: llama.cpp logs ~750 lines while it loads a model and as many while it makes a context, and a
Python log callback takes the GIL for each. When another thread is busy in Python (the endpoint importing its
routes during `serve --preload`, the app's UI thread), every line waits for the GIL's switch interval: a 0.3 s
load took 1.0 s (measured with a thread spinning beside it). So loads run with a C function that ignores its
arguments as the callback, and a load that fails is tried once more with the Python callback to get
llama.cpp's own words for why. The Python callback stays on while any thread captures, or when DEBUG logging
is on.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import llama_cpp

_log = logging.getLogger("workbench.engine.llama")
_log.addHandler(logging.NullHandler())  # llama.cpp's chatter goes wherever the app configures logging, not stderr
_tls = threading.local()
_switch_lock = threading.Lock()
_quiet_depth = 0  # threads inside quiet(): the silent callback is on while this is > 0 and nobody captures
_capture_depth = 0  # threads inside LogCapture

# ggml_log_level (ggml.h of this build): 0 none, 1 debug, 2 info, 3 warn, 4 error, 5 continuation of the last line
_LEVELS = {0: logging.CRITICAL, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
_last_level = [logging.DEBUG]


@llama_cpp.llama_log_callback
def _on_log(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
    py_level = _last_level[0] if level == 5 else _LEVELS.get(level, logging.DEBUG)
    _last_level[0] = py_level
    message = text.decode("utf-8", "replace").rstrip("\n")
    capture = getattr(_tls, "capture", None)
    if capture is not None and py_level >= logging.WARNING and message:
        capture.append(message)
    # llama.cpp is chatty at INFO (every tensor, every KV setting): keep it at DEBUG in our log
    if py_level >= logging.WARNING and _log.isEnabledFor(py_level):
        _log.log(py_level, "%s", message)
    elif _log.isEnabledFor(logging.DEBUG):
        _log.debug("%s", message)


LOG_CALLBACK = _on_log  # libmtmd takes the same callback (engine/vision.py), so its log lands here too


@functools.cache
def _silent_callback():
    """The C library's abs() as a log callback: it reads its first argument and returns, without Python. A C
    callee ignores arguments it does not declare under every calling convention llama.cpp runs on (the caller
    cleans up), so this is a safe "do nothing". None where no C library is found (the Python callback stays)."""
    try:
        libc = ctypes.cdll.msvcrt if sys.platform == "win32" else ctypes.CDLL(None)
        return llama_cpp.llama_log_callback(ctypes.cast(libc.abs, ctypes.c_void_p).value)
    except (OSError, AttributeError):
        return None


def route_to_python() -> None:
    """Send llama.cpp's log to Python logging (once the backend is initialised)."""
    llama_cpp.llama_log_set(_on_log, ctypes.c_void_p(0))


def _apply() -> None:
    """Install the callback the counters call for (held under _switch_lock)."""
    silent = _silent_callback()
    wanted = silent is not None and _quiet_depth > 0 and _capture_depth == 0 and not _log.isEnabledFor(logging.DEBUG)
    llama_cpp.llama_log_set(silent if wanted else _on_log, ctypes.c_void_p(0))


@contextmanager
def quiet() -> Iterator[None]:
    """llama.cpp's log goes nowhere while the block runs (unless someone captures it or DEBUG is on)."""
    global _quiet_depth
    with _switch_lock:
        _quiet_depth += 1
        _apply()
    try:
        yield
    finally:
        with _switch_lock:
            _quiet_depth -= 1
            _apply()


class LogCapture:
    """Collects llama.cpp warnings/errors logged on this thread while the block runs (for error messages)."""

    def __enter__(self) -> list[str]:
        global _capture_depth
        self.lines: list[str] = []
        _tls.capture = self.lines
        with _switch_lock:
            _capture_depth += 1
            if _capture_depth == 1 and _quiet_depth:
                _apply()
        return self.lines

    def __exit__(self, *exc) -> None:
        global _capture_depth
        _tls.capture = None
        with _switch_lock:
            _capture_depth -= 1
            if _capture_depth == 0 and _quiet_depth:
                _apply()


def failure_reason(lines: list[str]) -> str:
    """The last line llama.cpp logged while a call failed: its own words for why."""
    errors = [line.strip() for line in lines if line.strip()]
    return errors[-1] if errors else "llama.cpp gave no reason (see the log)"


def quietly_or_with_reason(make, what: str, error: type[Exception]):
    """make() with llama.cpp's log off; when it returns NULL, make() once more while capturing the log and raise
    error(f"{what}: <llama.cpp's reason>") if it fails again."""
    with quiet():
        made = make()
    if made:
        return made
    with LogCapture() as lines:
        made = make()
    if not made:
        raise error(f"{what}: {failure_reason(lines)}")
    return made
