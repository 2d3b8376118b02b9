"""Preset commands: `create NAME -f FILE` and the `presets` group — thin wrappers over `wb.presets`.

`create` makes version 1 or saves the next version (unchanged content is a no-op, said so); `presets` lists,
shows history, diffs, rolls back, tags, exports and deletes. Modelfile text goes to stdout as-is, never as markup.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import InvalidParameter, WorkbenchError
from ..modelfile.parser import parse
from ..records import PresetVersion
from .common import app, column_table, console_err, open_workbench, print_table, progress_bar, say

presets_app = typer.Typer(help="Versioned presets (Modelfiles with history). Alone: list them.",
                          invoke_without_command=True, no_args_is_help=False)
app.add_typer(presets_app, name="presets")


def _read_modelfile(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorkbenchError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkbenchError(f"{path} cannot be read as a UTF-8 Modelfile ({exc})") from None


@app.command()
def create(
    name: str = typer.Argument(..., help="Preset name (lowercase letters, digits, '.', '_', '-')."),
    file: Path = typer.Option(..., "--file", "-f", help="The Modelfile to save."),
    message: str = typer.Option(None, "--message", "-m", help="What changed (kept in the history)."),
) -> None:
    """Create a preset from a Modelfile, or save the file as its next version."""
    text = _read_modelfile(file)
    with open_workbench() as wb:
        exists = wb.presets.exists(name)
        with progress_bar(f"preparing FROM of {name}") as on_progress:
            if exists:
                version, created = wb.presets.save(name, text, message=message, on_progress=on_progress)
            else:
                version, created = wb.presets.create(name, text, message=message, on_progress=on_progress), True
    if not created:
        say(f"unchanged: [bold]{escape(version.ref)}[/bold] already has this content (nothing saved)")
    else:
        verb = "saved" if exists else "created"
        say(f"[green]{verb}[/green] [bold]{escape(version.ref)}[/bold] (sha256 {version.content_sha256[:12]}, "
            f"model {(version.model_sha256 or '?')[:12]})")
    for ignored in parse(text).ignored_parameters:
        console_err.print(f"note: PARAMETER {escape(ignored)} is an Ollama setting with no effect here (kept)",
                          highlight=False, emoji=False)


@presets_app.callback()
def _presets(ctx: typer.Context) -> None:
    """Versioned presets (Modelfiles with history). Alone: list them."""
    if ctx.invoked_subcommand is None:
        list_presets()


@presets_app.command("list")
def list_presets() -> None:
    """List the presets: latest version, tags, model."""
    with open_workbench() as wb:
        presets = wb.presets.list()
    if not presets:
        console_err.print("no presets yet: `workbench create NAME -f Modelfile`", highlight=False)
        return
    table = column_table("NAME", "VERSION", "VERSIONS", "TAGS", "MODEL", "UPDATED")
    for p in presets:
        tags = ", ".join(f"{t}@{n}" for t, n in sorted(p.tags.items()) if t != "latest") or "-"
        model = parse(p.latest.content).from_
        table.add_row(*(escape(c) for c in (p.name, str(p.latest.number), str(p.version_count), tags, model,
                                              f"{p.latest.created_at:%Y-%m-%d %H:%M}")))
    print_table(table)


@presets_app.command()
def history(name: str = typer.Argument(..., help="Preset name.")) -> None:
    """Every version of a preset, newest first."""
    with open_workbench() as wb:
        versions = wb.presets.history(name)
    table = column_table("VERSION", "CREATED", "SHA256", "PARENT", "TAGS", "MESSAGE")
    for v in versions:
        table.add_row(*(escape(c) for c in (str(v.number), f"{v.created_at:%Y-%m-%d %H:%M:%S}",
                                              v.content_sha256[:12], str(v.parent_number or "-"),
                                              ", ".join(v.tags) or "-", v.message or "")))
    print_table(table)


@presets_app.command()
def diff(
    name: str = typer.Argument(..., help="Preset name."),
    a: int = typer.Argument(..., help="Old version number."),
    b: int = typer.Argument(..., help="New version number."),
) -> None:
    """Unified diff between two versions of a preset."""
    with open_workbench() as wb:
        text = wb.presets.diff(name, a, b)
    if not text:
        console_err.print(escape(f"{name}@{a} and {name}@{b} have the same content"), highlight=False)
        return
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


@presets_app.command()
def rollback(
    name: str = typer.Argument(..., help="Preset name."),
    number: int = typer.Argument(..., metavar="N", help="The version whose content becomes the newest again."),
    message: str = typer.Option(None, "--message", "-m", help="Why (kept in the history)."),
) -> None:
    """Save an old version's content as a new version (history is never rewritten)."""
    with open_workbench() as wb:
        version = wb.presets.rollback(name, number, message=message)
    say(f"[green]rolled back[/green] {escape(name)} to version {number}: now [bold]{escape(version.ref)}[/bold]")


@presets_app.command()
def show(ref: str = typer.Argument(..., metavar="REF", help="NAME, NAME:TAG or NAME@N.")) -> None:
    """A version's facts, then its Modelfile text."""
    with open_workbench() as wb:
        version = wb.presets.get(ref)
    _facts(version)
    sys.stdout.write("\n" + version.content + ("" if version.content.endswith("\n") else "\n"))


def _facts(v: PresetVersion) -> None:
    table = Table(box=None, show_header=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    rows = (("preset", v.ref), ("created", f"{v.created_at:%Y-%m-%d %H:%M:%S} UTC"),
            ("sha256", v.content_sha256), ("parent", f"version {v.parent_number}" if v.parent_number else "-"),
            ("model sha256", v.model_sha256 or "-"), ("tags", ", ".join(v.tags) or "-"),
            ("message", v.message or "-"))
    for label, value in rows:
        table.add_row(label, escape(value))
    print_table(table)


@presets_app.command()
def export(
    ref: str = typer.Argument(..., metavar="REF", help="NAME, NAME:TAG or NAME@N."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """The Modelfile text of a version, exactly as saved (for Ollama, or `workbench create`)."""
    with open_workbench() as wb:
        text = wb.presets.export(ref)
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    say(f"wrote {escape(ref)} to {escape(str(output))}")


@presets_app.command()
def tag(
    name: str = typer.Argument(..., help="Preset name."),
    tag_name: str = typer.Argument(..., metavar="TAG", help="Tag to set (then NAME:TAG refers to it)."),
    number: int = typer.Argument(..., metavar="N", help="Version number."),
) -> None:
    """Point a tag at a version (moves it if it exists)."""
    if not tag_name or ":" in tag_name or "@" in tag_name:
        raise InvalidParameter(f"tag {tag_name!r} is not allowed: no ':' or '@'")
    with open_workbench() as wb:
        version = wb.presets.tag(name, tag_name, number)
    say(f"tagged {escape(version.ref)} as [bold]{escape(name)}:{escape(tag_name)}[/bold]")


@presets_app.command("rm")
def rm_preset(
    name: str = typer.Argument(..., help="Preset name."),
    force: bool = typer.Option(False, "--force", help="Delete even while sessions pin it (they keep messages)."),
) -> None:
    """Delete a preset and all its versions."""
    with open_workbench() as wb:
        detached = wb.presets.delete(name, force=force)
    extra = f" ({detached} session(s) detached, their messages kept)" if detached else ""
    say(f"deleted preset {escape(name)}{extra}")
