"""`workbench bundle create/inspect/import`: air-gap bundles over `workbench.bundle` (thin wrappers).

`create` draws a rich progress bar; Ctrl-C cancels the token and the export removes its partial file, so an
interrupted bundle leaves nothing behind. `inspect` reads only the manifest. `import` says what was added and
what was already there.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from ..bundle.service import export_bundle, import_bundle, inspect_bundle
from ..tasks import CancelToken
from .common import app, column_table, human_size, open_workbench, print_table, progress_bar, say

bundle_app = typer.Typer(help="Air-gap bundles: models, presets and sessions in one file, imported with no network.",
                         no_args_is_help=True)
app.add_typer(bundle_app, name="bundle")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@bundle_app.command("create")
def create(
    out: Path = typer.Argument(..., help="The bundle file to write (e.g. models.wbundle)."),
    model: list[str] = typer.Option([], "--model", "-m", help="A library model to carry (repeatable)."),
    preset: list[str] = typer.Option([], "--preset", "-p",
                                     help="A preset to carry with its history and its model (repeatable)."),
    reference: list[str] = typer.Option([], "--reference", "-r", help="A model whose stored quality references to "
                                        "carry, without its weights (repeatable; bundled models bring theirs)."),
    session: list[int] = typer.Option([], "--session", "-s", help="A chat session to carry, its images included, "
                                      "with its preset or model (repeatable; `workbench sessions list`)."),
    force: bool = typer.Option(False, "--force", help="Overwrite OUT if it exists."),
) -> None:
    """Write models and presets into one bundle file for an air-gapped machine."""
    cancel = CancelToken()
    with open_workbench() as wb, progress_bar(f"bundling {out.name}") as on_progress:
        try:
            manifest = export_bundle(wb, out, models=model, presets=preset, references=reference, sessions=session,
                                     on_progress=on_progress, cancel=cancel, overwrite=force)
        except KeyboardInterrupt:
            cancel.cancel("interrupted")  # the export removes its .partial file on the way out
            raise
    say(f"[green]wrote[/green] {escape(str(out))} ({_plural(len(manifest.models), 'model')}, "
        f"{_plural(len(manifest.presets), 'preset')}, {_plural(len(manifest.references), 'quality reference')}, "
        f"{_plural(len(manifest.sessions), 'session')}, "
        f"{human_size(out.stat().st_size)})")


@bundle_app.command("inspect")
def inspect(
    file: Path = typer.Argument(..., help="A bundle file."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole manifest as JSON."),
) -> None:
    """Show what a bundle holds (reads only its manifest)."""
    manifest = inspect_bundle(file)
    if as_json:
        typer.echo(manifest.to_json().decode("utf-8"))  # exactly the manifest's JSON, for scripts
        return
    say(f"{escape(str(file))}: made {manifest.created_at} by Workbench {manifest.workbench_version}, "
        f"{human_size(manifest.total_size)} of models")
    if manifest.models:
        table = column_table("MODEL", "SIZE", "SHA256", "SOURCE", no_wrap=("MODEL",))
        for m in manifest.models:
            table.add_row(m.name, human_size(m.size), m.sha256[:12], m.source_repo or "-")
        print_table(table)
    if manifest.presets:
        table = column_table("PRESET", "VERSIONS", "TAGS", no_wrap=("PRESET",))
        for p in manifest.presets:
            tags = ", ".join(f"{t}={v.number}" for v in p.versions for t in v.tags)
            table.add_row(p.name, str(len(p.versions)), tags or "-")
        print_table(table)
    if manifest.references:
        table = column_table("QUALITY REFERENCE OF", "TEXT SHA256", "WINDOW", "SIZE", no_wrap=("QUALITY REFERENCE OF",))
        for r in manifest.references:
            table.add_row(r.model_name, r.text_sha256[:12], str(r.window), human_size(r.size))
        print_table(table)
    if manifest.sessions:
        table = column_table("SESSION", "SIZE", no_wrap=("SIZE",))
        for chat in manifest.sessions:
            table.add_row(escape(chat.title), human_size(chat.size))
        print_table(table)


@bundle_app.command("import")
def import_(file: Path = typer.Argument(..., help="A bundle file made by `workbench bundle create`.")) -> None:
    """Add a bundle's models and presets to this machine's library (no network needed)."""
    cancel = CancelToken()
    with open_workbench() as wb, progress_bar(f"importing {file.name}") as on_progress:
        try:
            report = import_bundle(wb, file, on_progress=on_progress, cancel=cancel)
        except KeyboardInterrupt:
            cancel.cancel("interrupted")  # models finished so far stay registered; run the import again
            raise
    lines = [*(f"[green]added[/green] model {n}" for n in report.models_added),
             *(f"already there: model {n}" for n in report.models_present),
             *(f"[green]created[/green] preset {n}" for n in report.presets_created),
             *(f"[green]updated[/green] preset {n} (a new version)" for n in report.presets_updated),
             *(f"already there: preset {n}" for n in report.presets_unchanged),
             *(f"[green]added[/green] quality reference of {escape(n)}" for n in report.references_added),
             *(f"[green]added[/green] session {escape(n)}" for n in report.sessions_added),
             *(f"already there: session {escape(n)}" for n in report.sessions_present)]
    for line in lines:
        say(line)
    if not report.changed:
        say(f"{escape(file.name)}: nothing to do, everything in it is here already")
