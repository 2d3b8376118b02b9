"""Library commands: `import`, `list`, `show`, `rm`, `verify` — thin wrappers over `Workbench.library`."""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import datetime
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import ChecksumMismatch, WorkbenchError
from ..library import facts
from ..records import LocalModel
from .common import (
    app,
    column_table,
    console_err,
    first_start,
    human_size,
    open_workbench,
    print_table,
    progress_bar,
    say,
)


@app.command("import")
def import_(
    path: Path = typer.Argument(..., help="A .gguf file (for a split model, any of its shards)."),
    name: str = typer.Option(None, "--name", help="Name to register it under (default: from its metadata)."),
    copy: bool = typer.Option(False, "--copy", help="Copy it into the library's store instead of using it in place."),
    mmproj: Path = typer.Option(None, "--mmproj", help="The model's projector (mmproj-*.gguf) for images/audio."),
) -> None:
    """Import a local GGUF model into the library (in place, or copied with --copy), with its projector."""
    with open_workbench() as wb:
        before = {m.name for m in wb.library.list()}
        with progress_bar(f"{'copying' if copy else 'hashing'} {path.name}") as on_progress:
            model = wb.library.import_file(path, name=name, copy=copy, on_progress=on_progress, mmproj=mmproj)
    if mmproj is not None:
        say(f"paired projector {escape(mmproj.name)} ({model.projector_modalities}, "
            f"sha256 {model.projector_sha256[:12]})")
    if model.name in before:
        say(f"already in the library as [bold]{escape(model.name)}[/bold] (sha256 {model.sha256[:12]})")
        return
    where = f"in place at {escape(str(model.path))}" if model.in_place else "copied into the library's store"
    say(f"[green]imported[/green] [bold]{escape(model.name)}[/bold] ({human_size(model.size_bytes)}, "
         f"sha256 {model.sha256[:12]}) {where}")


@app.command("list")
def list_() -> None:
    """List the models in the library."""
    with open_workbench() as wb:
        first_start(wb)
        models = wb.library.list()
    if not models:
        console_err.print("no models yet: `workbench import FILE.gguf` or `workbench pull hf.co/OWNER/REPO`")
        return
    table = column_table(*(short for _, short in facts.SUMMARY_COLUMNS), fold=True)
    for m in models:
        table.add_row(*(escape(c) for c in facts.summary_row(m)))
    print_table(table)


@app.command()
def show(
    name: str = typer.Argument(..., help="Model name (or a sha256 prefix of 12+ digits)."),
    as_json: bool = typer.Option(False, "--json", help="All facts and the full GGUF metadata as JSON."),
    template: bool = typer.Option(False, "--template", help="Print only the chat template."),
) -> None:
    """Show everything known about a model."""
    with open_workbench() as wb:
        model = wb.library.get(name)
    if as_json:
        sys.stdout.write(json.dumps(model_json(model), indent=2, ensure_ascii=False) + "\n")
        return
    if template:
        text = model.metadata.get("tokenizer.chat_template")
        if not isinstance(text, str):
            raise WorkbenchError(f"{model.name} has no chat template: give it one with TEMPLATE in a preset")
        sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))
        return
    table = Table(box=None, show_header=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for label, value in facts.detail_rows(model):
        table.add_row(label, escape(value))
    print_table(table)


def model_json(m: LocalModel) -> dict:
    """Every field of the record, JSON-ready (paths and times as strings, the full GGUF metadata)."""
    def plain(value):
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, datetime):
            return value.isoformat() + "Z"
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        return value

    data = {f.name: plain(getattr(m, f.name)) for f in dataclasses.fields(m)}
    data["files"] = plain(m.files)
    return data


@app.command()
def rm(name: str = typer.Argument(..., help="Model name (or a sha256 prefix of 12+ digits).")) -> None:
    """Remove a model from the library (a model imported in place keeps its file)."""
    with open_workbench() as wb:
        model = wb.library.remove(name)
    label = escape(model.name)
    if model.in_place:
        say(f"removed {label} (its file stays at {escape(str(model.path))})")
    elif model.path.exists():
        say(f"removed {label} (its stored file is still used by another name)")
    else:
        say(f"removed {label} and its stored copy ({human_size(model.size_bytes)} freed)")


@app.command()
def verify(name: str = typer.Argument(..., help="Model name (or a sha256 prefix of 12+ digits).")) -> None:
    """Rehash a model's files and compare them with the sha256 recorded when it was added."""
    with open_workbench() as wb, progress_bar(f"verifying {name}") as on_progress:
        result = wb.library.verify(name, on_progress=on_progress)
    for f in result.files:
        style = {"ok": "green", "changed": "red", "missing": "red"}[f.status]
        say(f"[{style}]{f.status:8}[/{style}] {escape(str(f.path))}")
    if not result.ok:
        bad = [f for f in result.files if f.status != "ok"]
        raise ChecksumMismatch(f"{result.name} failed verification ({len(bad)} of {len(result.files)} file(s) "
                               "changed or missing): import or pull it again")
    say(escape(f"{result.name}: {result}"))
