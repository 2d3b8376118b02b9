"""The `workbench` command: Ollama's verbs over the same services the app and endpoint use.

Exit codes: 0 ok, 1 a user error (one line on stderr, no traceback), 2 bad usage, 130 Ctrl-C.
Each command group lives in its own module and registers itself on `app` when imported (`register_commands`).
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.markup import escape

from ..errors import WorkbenchError
from .common import app, console_err

COMMAND_MODULES = (  # in the order `workbench --help` lists their commands
    "library_cmds",
    "hub_cmds",
    "engine_cmds",
    "preset_cmds",
    "session_cmds",
    "serve_cmds",
    "bench_cmds",
    "gui_cmds",
    "compare_cmds",
    "eval_cmds",
    "audit_cmds",
    "retention_cmds",
    "bundle_cmds",
    "remote_cmds",
    "promote_cmds",
)


def register_commands() -> None:
    """Import the command modules, whose decorators add their commands to `app`."""
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}")


def main(argv: list[str] | None = None) -> int:
    register_commands()
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
