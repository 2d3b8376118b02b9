"""`workbench eval init|run|runs|show|diff|tag|export`: eval suites from the command line (thin over `wb.evals`).

`eval run` draws a rich progress bar (cells, rate, ETA) on a terminal, asks before a very large suite, prints the
pass rate per target, and with `--baseline TAG` is the regression gate: exit 1 when a cell that passed in the
baseline fails now; `--junit FILE` writes JUnit XML for CI, `--json` prints the run (and gate) for scripts.
Ctrl-C stops the run keeping its finished cells (`eval run --resume RUN` finishes it) and exits 130.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from ..errors import InvalidParameter
from .common import app, column_table, console, console_err, open_workbench, print_table, say

if TYPE_CHECKING:
    from ..app import Workbench

eval_app = typer.Typer(help="Eval suites: prompts × targets × test cases with assertions, and a regression gate.",
                       no_args_is_help=True)
app.add_typer(eval_app, name="eval")

FORMATS = ("md", "html", "json", "csv", "junit")


@eval_app.command("init")
def init(
    path: Path = typer.Argument(Path("evalsuite.yaml"), help="Where to write the example suite."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented example suite to start from."""
    from importlib.resources import files

    if path.exists() and not force:
        raise InvalidParameter(f"{path} exists: choose another path or add --force")
    path.write_text(files("workbench.resources").joinpath("example_suite.yaml").read_text(encoding="utf-8"),
                    encoding="utf-8")
    say(f"wrote {escape(str(path))}: edit it, then `workbench eval run {escape(str(path))}`")


@eval_app.command("run")
def run(
    suite: Path = typer.Argument(None, help="The suite file (YAML). Not needed with --resume."),
    targets: list[str] = typer.Option(None, "--target", "-t", help="Run on this target instead of the suite's "
                                      "(repeatable): a preset, a library model or a promptfoo id."),
    repeat: int = typer.Option(None, "--repeat", min=1, help="Run every cell N times (default: the suite's)."),
    concurrency: int = typer.Option(None, "--concurrency", min=1, max=64,
                                    help="Cells in flight at once on the engine's slots."),
    baseline: str = typer.Option(None, "--baseline", help="A run id or tag to gate against: exit 1 on regressions."),
    junit: Path = typer.Option(None, "--junit", help="Write the result as JUnit XML to this file (for CI)."),
    as_json: bool = typer.Option(False, "--json", help="Print the run (and the gate) as JSON."),
    resume: str = typer.Option(None, "--resume", metavar="RUN", help="Finish an interrupted or cancelled run."),
    allow_code: bool = typer.Option(False, "--allow-code", help="Let the suite's python assertions run code."),
    judge: str = typer.Option(None, "--judge", help="The preset that grades llm-rubric assertions naming none."),
    tag: str = typer.Option(None, "--tag", help="Tag the finished run (e.g. baseline)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before a very large suite."),
) -> None:
    """Run a suite: every prompt × target × test × repeat, checked by the tests' assertions."""
    from ..tasks import CancelToken

    if suite is None and resume is None:
        raise InvalidParameter("give a suite file to run, or --resume RUN")
    cancel = CancelToken()
    with open_workbench() as wb:
        if resume is None:
            loaded = wb.evals.load(suite).with_options(targets=targets or None, repeat=repeat,
                                                       concurrency=concurrency)
            _warn(loaded)
            _confirm_size(wb, loaded, yes)
        else:
            loaded = None
        with _progress(quiet=as_json) as on_progress:
            try:
                result = wb.evals.run(loaded, baseline=baseline, resume=resume, allow_code=allow_code, judge=judge,
                                      concurrency=concurrency if resume else None, on_progress=on_progress,
                                      cancel=cancel)
            except KeyboardInterrupt:
                cancel.cancel("interrupted")
                console_err.print("interrupted: finished cells are kept; `workbench eval run --resume last` "
                                  "finishes the run", soft_wrap=True, highlight=False)
                raise typer.Exit(130) from None
        if tag:
            result = wb.evals.tag(result.id, tag)
        gate = wb.evals.gate(result.id)
        if junit is not None:
            wb.evals.export(result.id, "junit", junit)
        _report(wb, result, gate, as_json)
    if result.status == "cancelled":
        raise typer.Exit(130)
    if gate is not None and not gate.gate_passed:
        raise typer.Exit(1)


def _warn(suite) -> None:
    for warning in suite.warnings:
        console_err.print(f"[yellow]warning:[/yellow] {escape(str(warning))}", highlight=False, soft_wrap=True)


def _confirm_size(wb: Workbench, suite, yes: bool) -> None:
    estimate = wb.evals.estimate(suite)
    if not estimate.needs_confirmation or yes:
        return
    duration = "an unknown time (these targets were never measured)" if estimate.seconds is None \
        else f"about {_duration(estimate.seconds)}"
    question = f"This suite has {estimate.cells:,} cells and should take {duration}. Run it?"
    if not sys.stdin.isatty():
        raise InvalidParameter(f"this suite has {estimate.cells:,} cells ({duration}): add --yes to run it")
    if not typer.confirm(question, default=False, err=True):
        raise typer.Exit(1)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class _progress:
    """A rich bar of cells (done/total, rate, ETA) on a terminal's stderr; nothing when piped or quiet."""

    def __init__(self, quiet: bool):
        self._enabled = console_err.is_terminal and not quiet
        self._bar = None

    def __enter__(self):
        if not self._enabled:
            return lambda _p: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("cells"), TimeRemainingColumn(), console=console_err, transient=True)
        self._bar.__enter__()
        task = self._bar.add_task("eval", total=None)

        def on_progress(p) -> None:
            self._bar.update(task, completed=p.completed, total=p.total, description=escape(p.message or "eval"))

        return on_progress

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


def _report(wb: Workbench, result, gate, as_json: bool) -> None:
    from ..evals.report import as_json as run_json
    from ..evals.report import diff_as_dict

    if as_json:
        data = json.loads(run_json(result, wb.evals.cells(result.id)))
        if gate is not None:
            data["gate"] = diff_as_dict(gate)
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return
    _summary(result)
    if gate is not None:
        verdict = "[green]passed[/green]" if gate.gate_passed else "[red]FAILED[/red]"
        say(f"gate against run {gate.a.id}: {verdict} · {len(gate.regressions)} regressions, {len(gate.fixes)} "
            "fixes")
        for change in gate.regressions:
            say(f"  [red]regression[/red] {escape(change.test_description)} on {escape(change.target)}: "
                f"{change.before_status} → {change.after_status}")


def _summary(result) -> None:
    from ..evals.report import number, percent

    say(f"run {result.id} {result.status}: {result.done_cells}/{result.total_cells} cells, pass rate "
        f"{percent(result.pass_rate)}" + (f" · tags {', '.join(result.tags)}" if result.tags else ""))
    table = column_table("TARGET", "PASS RATE", "PASSED", "FAILED", "ERRORS", "TOK/S", "TTFT", no_wrap=("TARGET",))
    for t in result.targets:
        table.add_row(escape(t.target), percent(t.pass_rate), str(t.passed), str(t.failed), str(t.errors),
                      number(t.mean_tokens_per_second), number(t.mean_ttft_seconds, 3, " s"))
    print_table(table)


@eval_app.command("runs")
def runs(
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="How many of the newest runs."),
    as_json: bool = typer.Option(False, "--json", help="Print the runs as JSON."),
) -> None:
    """List eval runs, newest first."""
    from ..evals.report import percent

    with open_workbench() as wb:
        items = wb.evals.runs(limit)
    if as_json:
        from ..evals.report import as_json as run_json

        sys.stdout.write(json.dumps([json.loads(run_json(r, []))["run"] for r in items], indent=2) + "\n")
        return
    if not items:
        say("no eval runs yet: `workbench eval init` writes an example suite")
        return
    table = column_table("RUN", "WHEN (UTC)", "SUITE", "STATUS", "CELLS", "PASS RATE", "TARGETS", "TAGS")
    for r in items:
        table.add_row(str(r.id), f"{r.created_at:%Y-%m-%d %H:%M}", escape(r.description or r.suite_sha256[:12]),
                      r.status, f"{r.done_cells}/{r.total_cells}", percent(r.pass_rate),
                      escape(", ".join(t.target for t in r.targets)), escape(", ".join(r.tags)))
    print_table(table)


@eval_app.command("show")
def show(
    run_ref: str = typer.Argument(..., metavar="RUN", help="A run id, a tag, or `last`."),
    as_json: bool = typer.Option(False, "--json", help="Print the run and its cells as JSON."),
) -> None:
    """A run's pass rates per target, its matrix, and why each failing cell failed."""
    with open_workbench() as wb:
        text = wb.evals.export(run_ref, "json" if as_json else "md")
    if as_json:
        sys.stdout.write(text)
    else:
        console.print(text, markup=False, highlight=False, emoji=False, soft_wrap=True)


@eval_app.command("diff")
def diff(
    a: str = typer.Argument(..., metavar="A", help="The earlier run (id, tag or `last`)."),
    b: str = typer.Argument(..., metavar="B", help="The later run."),
    fmt: str = typer.Option("md", "--format", "-f", help="md, html or json."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Cells that went pass→fail and fail→pass, changed outputs (text diffs), pass-rate and speed deltas."""
    from ..evals.report import diff_as_dict, diff_markdown
    from ..evals.report_html import diff_html

    if fmt not in ("md", "html", "json"):
        raise InvalidParameter(f"unknown format {fmt!r}: md, html or json")
    with open_workbench() as wb:
        result = wb.evals.diff(a, b)
    text = {"md": lambda: diff_markdown(result) + "\n", "html": lambda: diff_html(result),
            "json": lambda: json.dumps(diff_as_dict(result), indent=2, ensure_ascii=False) + "\n"}[fmt]()
    _emit(text, output)


@eval_app.command("tag")
def tag(
    run_ref: str = typer.Argument(..., metavar="RUN", help="A run id, a tag, or `last`."),
    name: str = typer.Argument(..., help="The tag, e.g. baseline (moved here from any run that had it)."),
) -> None:
    """Name a run, e.g. as the baseline the gate compares with."""
    with open_workbench() as wb:
        result = wb.evals.tag(run_ref, name)
    say(f"run {result.id} is now tagged {escape(name)}")


@eval_app.command("export")
def export(
    run_ref: str = typer.Argument(..., metavar="RUN", help="A run id, a tag, or `last`."),
    fmt: str = typer.Option("md", "--format", "-f", help="md, html, json, csv or junit."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
    against: str = typer.Option(None, "--against", help="A run to diff with (default: the run's baseline)."),
) -> None:
    """A run's report: Markdown, self-contained HTML (matrix, pass rates, chart), JSON, CSV or JUnit XML."""
    if fmt not in FORMATS:
        raise InvalidParameter(f"unknown format {fmt!r}: {', '.join(FORMATS)}")
    with open_workbench() as wb:
        text = wb.evals.export(run_ref, fmt, output, against=against)
    if output is None:
        sys.stdout.write(text)
    else:
        say(f"wrote {escape(str(output))}")


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    from ..files import atomic_write_text

    atomic_write_text(output, text)
    say(f"wrote {escape(str(output))}")
