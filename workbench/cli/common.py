"""Shared pieces of the CLI: the typer app, consoles, the Workbench opener, message/table output, rich progress."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table

from .. import tasks
from ..app import Workbench
from ..units import human_count, human_size  # noqa: F401  (re-exported for command modules)

app = typer.Typer(
    help="Workbench: run open-weight language models locally.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


def _print_version(shown: bool) -> None:
    if shown:
        from .. import __version__

        console.print(f"workbench {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(show_version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                            help="Show Workbench's version and exit.")) -> None:
    """Workbench: run open-weight language models locally."""

console_err = Console(stderr=True)


def open_workbench() -> Workbench:
    return Workbench.open(caller="cli")


def say(markup: str) -> None:
    """One message line: never hard-wrapped (pipes and logs get whole lines), no emoji codes."""
    console.print(markup, highlight=False, soft_wrap=True, emoji=False)


def column_table(*columns: str, fold: bool = False, no_wrap: tuple[str, ...] = ("NAME",)) -> Table:
    """A borderless table with bold headers; fold: long cells wrap instead of being cut with an ellipsis."""
    table = Table(box=None, header_style="bold")
    for column in columns:
        if column in no_wrap:
            table.add_column(column, no_wrap=True)
        else:
            table.add_column(column, **({"overflow": "fold"} if fold else {}))
    return table


def print_table(table: Table) -> None:
    """Tables take the terminal's width, or whatever they need when piped (never folded at 80 columns)."""
    out = console if console.is_terminal else Console(file=sys.stdout, width=10_000, emoji=False)
    out.print(table, emoji=False)


def first_start(wb: Workbench) -> None:
    """Register the bundled default model on a fresh data dir; a failure here never breaks the command."""
    from ..errors import WorkbenchError
    from ..library.bundled import default_model_pending, ensure_default_model

    if not default_model_pending(wb):
        return
    try:
        with progress_bar("preparing the default model (first start)") as on_progress:
            model = ensure_default_model(wb, on_progress=on_progress)
        if model is not None:
            console_err.print("note: the `default` preset runs the bundled gemma-3-270m, a tiny base model for "
                              "trying things out; for a real assistant pull an instruct model (`workbench search "
                              "instruct`, then `workbench pull hf.co/OWNER/REPO:Q4_K_M`)", highlight=False)
    except WorkbenchError as exc:
        console_err.print(f"[yellow]warning:[/yellow] the bundled default model was not added: {exc}",
                          highlight=False)


@contextmanager
def progress_bar(description: str, transient: bool = True) -> Iterator[tasks.ProgressCallback]:
    """A rich progress bar fed by core Progress reports (bytes, rate, ETA)."""
    from rich.progress import (  # here: every command's start would pay for it (cli/startup.py)
        BarColumn,
        DownloadColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
        DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
    )
    with Progress(*columns, console=console_err, transient=transient) as bar:
        task_id = bar.add_task(description, total=None)

        def on_progress(p: tasks.Progress) -> None:
            bar.update(task_id, completed=p.completed, total=p.total,
                       description=p.message or description)

        yield on_progress


@app.command()
def version() -> None:
    """Show Workbench's version."""
    from .. import __version__

    console.print(f"workbench {__version__}")
