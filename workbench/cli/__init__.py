"""The `workbench` command: Ollama's verbs over the same services the app and endpoint use.

Exit codes: 0 ok, 1 a user error (one line on stderr, no traceback), 2 bad usage, 130 Ctrl-C.
Each command group lives in its own module and registers itself on `app` when imported (`register_commands`).
"""

from __future__ import annotations

import importlib
import itertools
import sys

from ..errors import WorkbenchError
from . import startup

COMMAND_MODULES = {  # module: the commands it registers, in the order `workbench --help` lists them
    "library_cmds": ("import", "list", "rm", "show", "verify"),
    "hub_cmds": ("estimate", "files", "pull", "search"),
    "engine_cmds": ("quantize", "tokenize"),
    "preset_cmds": ("create", "presets"),
    "session_cmds": ("run", "sessions"),
    "serve_cmds": ("ps", "serve"),
    "bench_cmds": ("bench",),
    "gui_cmds": ("desktop-install", "gui"),
    "compare_cmds": ("compare", "quality"),
    "eval_cmds": ("eval",),
    "audit_cmds": ("audit",),
    "retention_cmds": ("retention",),
    "bundle_cmds": ("bundle",),
    "remote_cmds": ("remote",),
    "promote_cmds": ("promote",),
}


def register_commands(argv: list[str] | None = None) -> None:
    """Import the command modules, whose decorators add their commands to `app`: only the one that registers the
    invoked command when argv names one (importing all fifteen costs ~0.2 s of every cold start, `serve`'s
    included), all of them for help, usage errors and `version`."""
    invoked = next((arg for arg in argv or () if not arg.startswith("-")), None)
    owners = [module for module, commands in COMMAND_MODULES.items() if invoked in commands]
    for name in owners or COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}")


def prefetch_names(argv: list[str]) -> list[str]:
    """The names a cold start will load: `serve --preload NAME…` and `run NAME` (a guess from the raw arguments,
    before typer parses them: a wrong one costs only a background load, see workbench/engine/prefetch.py)."""
    if argv[:1] == ["serve"]:
        values = (value for option, value in itertools.pairwise(argv) if option == "--preload")
        inline = (arg.removeprefix("--preload=") for arg in argv if arg.startswith("--preload="))
        return [*values, *inline]
    if argv[:1] == ["run"] and len(argv) > 1 and not argv[1].startswith("-"):
        return [argv[1]]
    return []


def _start_prefetch(argv: list[str]) -> None:
    names = prefetch_names(argv)
    if names:
        from ..engine import prefetch
        from ..paths import default_paths

        prefetch.start(default_paths(), names)


def main(argv: list[str] | None = None) -> int:
    startup.pause()  # the garbage collector, while the imports run (startup.py)
    try:
        return _run(sys.argv[1:] if argv is None else argv)
    finally:
        startup.resume()


def _run(argv: list[str]) -> int:
    _start_prefetch(argv)  # first: before typer, rich and the store are imported
    import typer
    from rich.markup import escape

    from .common import app, console_err

    register_commands(argv)
    try:
        result = app(args=argv, standalone_mode=False, prog_name="workbench")
        # typer (>= 0.20) turns Ctrl-C into Exit(130) and, with standalone_mode=False, *returns* an Exit's code
        return result if isinstance(result, int) and not isinstance(result, bool) else 0
    except WorkbenchError as exc:
        # user text (file names, file contents) must never be read as rich markup or emoji codes
        console_err.print("[red]error:[/red] " + escape(str(exc)), highlight=False, emoji=False, soft_wrap=True)
        return 1
    except (KeyboardInterrupt, typer.Abort):
        console_err.print("interrupted")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # usage errors: typer (>= 0.20) vendors click, this is its ClickException
        exc.show()
        return getattr(exc, "exit_code", 2)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
