"""Shared pieces of the CLI: the typer app, consoles, the Workbench opener and rich progress."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

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


@app.callback()
def _root() -> None:
    """Workbench: run open-weight language models locally."""

console_err = Console(stderr=True)


def open_workbench() -> Workbench:
    return Workbench.open()


@contextmanager
def progress_bar(description: str, transient: bool = True) -> Iterator[tasks.ProgressCallback]:
    """A rich progress bar fed by core Progress reports (bytes, rate, ETA)."""
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
