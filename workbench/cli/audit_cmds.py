"""Audit commands: `audit` (list events), `audit verify` (check the hash chain), `audit export FILE`.

Thin wrappers over `Workbench.audit`. `audit verify` exits 1 naming the first event that breaks the chain, so a
cron job or a compliance script can run it as is. Subjects and details are user text: escaped, never markup.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import typer
from rich.markup import escape

from ..audit import details_line
from .common import app, column_table, console_err, open_workbench, print_table, say

audit_app = typer.Typer(help="The append-only audit trail. Alone: list the newest events.",
                        invoke_without_command=True, no_args_is_help=False)
app.add_typer(audit_app, name="audit")


@audit_app.callback()
def _audit(
    ctx: typer.Context,
    since: str = typer.Option(None, "--since", help="Only events at or after this UTC date/time (YYYY-MM-DD[THH:MM])."),
    kind: str = typer.Option(None, "--kind", help="A kind (model.pulled) or a prefix (preset., endpoint)."),
    limit: int = typer.Option(100, "--limit", "-n", min=1, help="How many of the newest events."),
    as_json: bool = typer.Option(False, "--json", help="Print the events (with hashes) as a JSON array."),
) -> None:
    """List the newest audit events, oldest first."""
    if ctx.invoked_subcommand is not None:
        return
    with open_workbench() as wb:
        events = wb.audit.list(since=since, kind=kind, limit=limit)
    if as_json:
        sys.stdout.write(json.dumps([dataclasses.asdict(e) for e in events], indent=2, ensure_ascii=False) + "\n")
        return
    if not events:
        say("no audit events" + (" match" if since or kind else " yet"))
        return
    table = column_table("ID", "TIME (UTC)", "ACTOR", "KIND", "SUBJECT", "DETAILS", no_wrap=("TIME (UTC)",))
    for e in events:
        table.add_row(str(e.id), e.at[:19].replace("T", " "), escape(f"{e.actor} {e.os_user} pid {e.pid}"),
                      e.kind, escape(e.subject), escape(details_line(e.details)))
    print_table(table)


@audit_app.command()
def verify(
    anchor: str = typer.Option(None, "--anchor", metavar="HASH",
                               help="A head hash printed by an earlier verify: it must still be in the chain."),
) -> None:
    """Recompute the hash chain; exit 1 with the first bad event when it is broken."""
    with open_workbench() as wb:
        result = wb.audit.verify(anchor)
    if result.ok:
        head = f"head event {result.head_id} {result.head_hash}" if result.head_id else "the trail is empty"
        pruned = f"; {result.pruned} older event(s) pruned by retention, checked from their checkpoints" \
            if result.pruned else ""
        say(f"[green]ok[/green]: {result.checked} event(s) checked, the chain is unbroken ({head}){pruned}")
        return
    where = f"event {result.first_bad_id}: " if result.first_bad_id is not None else ""
    console_err.print(f"[red]broken[/red]: {escape(where + (result.problem or ''))} "
                      f"({result.checked} event(s) before it verified)", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@audit_app.command()
def export(file: Path = typer.Argument(..., help="Where to write the events as JSON lines.")) -> None:
    """Export every event (with hashes) as JSON lines, oldest first."""
    with open_workbench() as wb:
        count = wb.audit.export(file)
    say(f"exported {count} event(s) to {escape(str(file))}")
