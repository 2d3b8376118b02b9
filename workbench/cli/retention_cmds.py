"""`workbench retention [apply [--dry-run]] | set LIMIT VALUE`: the data retention limits, and applying them.

Thin over `wb.retention` (workbench/retention.py). Alone it shows the limits and what `apply` would remove now;
`apply` removes it (the app and `workbench serve` also apply it at each start); `set` changes one limit.
"""

from __future__ import annotations

import dataclasses
import json
import sys

import typer

from ..errors import InvalidParameter
from ..retention import LIMITS, RetentionReport, check_limits
from .common import app, console_err, open_workbench, say

retention_app = typer.Typer(help="Data retention: how long sessions, eval runs, logs and partial pulls are kept. "
                                 "Alone: the limits and what `apply` would remove now.",
                            invoke_without_command=True, no_args_is_help=False)
app.add_typer(retention_app, name="retention")

SETTABLE = {name.removeprefix("keep_").replace("_", "-"): name for name in LIMITS} | \
    {"vacuum-free-share": "vacuum_free_share"}


@retention_app.callback()
def _retention(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print it as JSON.")) -> None:
    if ctx.invoked_subcommand is not None:
        return
    with open_workbench() as wb:
        settings, report = wb.settings, wb.retention.plan()
    if as_json:
        limits = {name: getattr(settings, SETTABLE[name]) for name in SETTABLE}
        sys.stdout.write(json.dumps({"limits": limits, "would_remove": report.counts()}, indent=2) + "\n")
        return
    for name, field in SETTABLE.items():
        value = getattr(settings, field)
        say(f"{name:<20} {'keep for ever' if value is None else value}")
    _print(report)


@retention_app.command("apply")
def apply(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only show what would be removed."),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Remove what the limits exclude, for real (secure delete, search index, files), then compact the file."""
    with open_workbench() as wb:
        report = wb.retention.apply(dry_run=dry_run)
    if as_json:
        sys.stdout.write(json.dumps({"dry_run": dry_run, **report.counts()}, indent=2) + "\n")
        return
    _print(report)


@retention_app.command("set")
def set_limit(
    limit: str = typer.Argument(..., help=f"One of: {', '.join(SETTABLE)}."),
    value: str = typer.Argument(..., help="A whole number (days or a count; a share for vacuum-free-share), "
                                          "or `off` to keep for ever."),
) -> None:
    """Change one retention limit (applied at the next start or `retention apply`)."""
    field = SETTABLE.get(limit)
    if field is None:
        raise InvalidParameter(f"no retention limit {limit!r}: use one of {', '.join(SETTABLE)}")
    with open_workbench() as wb:
        parsed = _parse(field, value)
        check_limits(dataclasses.replace(wb.settings, **{field: parsed}))
        wb.update_settings(**{field: parsed})
    say(f"{limit} = {'keep for ever' if parsed is None else parsed}")


def _parse(field: str, value: str):
    text = value.strip().lower()
    if text in ("off", "none", "forever", "never") and field != "vacuum_free_share":
        return None
    try:
        return float(text) if field == "vacuum_free_share" else int(text)
    except ValueError:
        raise InvalidParameter(f"{value!r} is not a number (or `off`)") from None


def _print(report: RetentionReport) -> None:
    say(report.summary())
    if not report.dry_run:
        state = "compacted" if report.vacuumed else "not compacted"
        console_err.print(f"database {state} ({report.free_share:.0%} of it was free)", highlight=False)
