"""Python's cyclic garbage collector paused while a command starts.

Starting `workbench serve` imports ~1,500 modules (SQLAlchemy, FastAPI, the endpoint's pydantic schemas,
llama-cpp-python), and each import allocates enough objects to trigger collections that find nothing to free:
measured, the serve path's imports take 0.51 s with the collector off against 0.60 s with it on, 15% of a cold
start. So `main` pauses it first thing; a long-running command resumes it once it has started (`resume`, as
`serve` does before it listens, freezing what the start made), and a timer resumes it anyway after
STARTUP_SECONDS, so no command runs for long without it.
"""

from __future__ import annotations

import gc
import threading

STARTUP_SECONDS = 3.0
_paused = False  # by pause(), not by someone else


def pause() -> None:
    """Pause the collector until `resume` or STARTUP_SECONDS from now, whichever comes first."""
    global _paused
    if not gc.isenabled():
        return  # someone else (a caller, a test) turned it off: theirs to turn on
    gc.disable()
    _paused = True
    timer = threading.Timer(STARTUP_SECONDS, resume)
    timer.daemon = True
    timer.start()


def resume(*, freeze: bool = False) -> None:
    """Collect again (if pause() stopped it). freeze: first move everything alive into the permanent generation
    (`gc.freeze`), for a process that serves from here on: with the collector paused, every object the start
    made is still young, and the first collection would walk them all — measured ~50 ms, in the first
    request's answer time. They are modules, classes and schemas that live as long as the process anyway."""
    global _paused
    if freeze:
        gc.freeze()
    if _paused:
        _paused = False
        gc.enable()
