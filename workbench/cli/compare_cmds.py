"""`workbench compare` (one prompt on 2–4 targets, seed and sampler locked) and `workbench quality` (perplexity,
KL divergence and same top token over a text): thin wrappers over workbench.measure, as tables or JSON.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import typer

from .common import app, console, console_err, human_size, open_workbench


@app.command()
def compare(
    prompt: str = typer.Argument(..., metavar="PROMPT", help="The prompt sent to every target."),
    models: list[str] = typer.Option(..., "--model", "-m", help="A preset or library model; give 2 to 4."),
    seed: int = typer.Option(None, "--seed", help="The seed every target uses (default: one random seed)."),
    temperature: float = typer.Option(None, "--temperature", help="Locked temperature (default: the first "
                                      "target's preset, else the engine default)."),
    num_predict: int = typer.Option(None, "--num-predict", "-n", help="Most tokens per target (default 256)."),
    raw: bool = typer.Option(False, "--raw", help="Send the prompt as-is, without a chat template."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    images: list[Path] = typer.Option(None, "--image", help="An image sent with the prompt (vision models)."),
) -> None:
    """Compare models, quantizations or presets on one prompt, side by side."""
    from ..chat.media import Media
    from ..measure.compare import compare as run_compare

    parameters = {k: v for k, v in (("temperature", temperature), ("num_predict", num_predict)) if v is not None}
    with open_workbench() as wb:
        result = run_compare(wb, prompt, models, parameters=parameters, seed=seed, raw=raw,
                             images=[Media.from_path(p) for p in images or ()])
    if as_json:
        print(json.dumps(result.as_dict(), indent=2, default=str))
        return
    _print_table(result)


def _print_table(result) -> None:
    from rich.table import Table

    from ..measure.compare import divergence_text

    table = Table(box=None, header_style="bold")
    for column in ("#", "TARGET", "QUANT", "TOKENS", "TTFT", "TOK/S", "MEMORY", "DIVERGES AT"):
        table.add_column(column, justify="left" if column in ("TARGET", "QUANT", "DIVERGES AT") else "right",
                         no_wrap=column != "DIVERGES AT")
    for index, pane in enumerate(result.panes):
        if pane.error:
            table.add_row(str(index + 1), pane.target, pane.quantization or "-", "-", "-", "-", "-",
                          f"error: {pane.error}")
            continue
        table.add_row(str(index + 1), pane.target, pane.quantization or "-", str(pane.completion_tokens),
                      f"{pane.ttft_seconds or 0:.3f} s", f"{pane.tokens_per_second or 0:.1f}",
                      human_size(pane.memory_bytes), divergence_text(pane, index).removeprefix("diverges at "))
    console.print(f"seed {result.seed} · locked: " + ", ".join(f"{k}={v}" for k, v in result.parameters.items()),
                  highlight=False)
    console.print(table)
    for index, pane in enumerate(result.panes):
        console.rule(f"{index + 1}. {pane.target}")
        console.print(pane.error or pane.text, highlight=False, markup=False, emoji=False)


@app.command()
def quality(
    models: list[str] = typer.Option(..., "--model", "-m", help="A preset or library model; give 2 to 4, the "
                                     "first is the reference (with --reference-only: just the reference)."),
    text_path: Path = typer.Option(None, "--text", help="A UTF-8 text file, or a folder whose files are scored as "
                                   "one corpus (default: the bundled chapter of Pride and Prejudice)."),
    window: int = typer.Option(512, "--window", help="Tokens per window; the second half of each is scored."),
    worst: int = typer.Option(10, "--worst", min=0, help="How many of the most divergent positions to show."),
    reference_only: bool = typer.Option(False, "--reference-only", help="Only compute and store the reference's "
                                        "distributions (reused by later runs and carried by bundles)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """llama-perplexity's KL-divergence report: each target's perplexity over a text, and against the first
    target KL divergence, Δp and same top token, with the positions where they diverge most."""
    from ..errors import InvalidParameter
    from ..measure.quality import ensure_reference, load_text, resolve_reference
    from ..measure.quality import quality as run_quality

    text = None if text_path is None else load_text(text_path)
    if reference_only and len(models) != 1:
        raise InvalidParameter(f"--reference-only takes one model (the reference), got {len(models)}")
    with open_workbench() as wb, _windows_bar(as_json) as on_progress:
        if reference_only:
            use = ensure_reference(wb, resolve_reference(wb, models[0]), text if text is not None else
                                   _default_text(), window=window, on_progress=on_progress)
        else:
            result = run_quality(wb, models, text=text, window=window, worst=worst, on_progress=on_progress)
    if reference_only:
        _print_reference(use, as_json)
    elif as_json:
        print(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    else:
        _print_quality(result)


def _default_text() -> str:
    from ..measure.quality import default_text

    return default_text()


def _print_reference(use, as_json: bool) -> None:
    import dataclasses

    if as_json:
        print(json.dumps(dataclasses.asdict(use), indent=2))
        return
    state = "already stored" if use.reused else "computed and stored"
    console.print(f"reference {state}: {use.path}\n{human_size(use.size_bytes)}, "
                  f"{use.tokens_per_position:.0f} tokens kept per position, computed {use.created_at} "
                  f"by {use.runtime}", highlight=False, markup=False)


@contextmanager
def _windows_bar(quiet: bool):
    """A rich bar counting scored windows (on stderr, gone when done); nothing when printing JSON."""
    if quiet:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("windows"),
                  TimeRemainingColumn(), console=console_err, transient=True) as bar:
        task_id = bar.add_task("scoring", total=None)
        yield lambda p: bar.update(task_id, completed=p.completed, total=p.total, description=p.message)


def _print_quality(result) -> None:
    from rich.table import Table

    from ..measure.statistics import report_lines

    table = Table(box=None, header_style="bold")
    for column in ("#", "TARGET", "QUANT", "TOKENS", "PPL", "KL MEAN", "KL P99", "KL MAX", "SAME TOP"):
        table.add_column(column, justify="left" if column in ("TARGET", "QUANT") else "right", no_wrap=True)
    for index, row in enumerate(result.targets):
        if row.error:
            table.add_row(str(index + 1), row.target, row.quantization or "-", f"error: {row.error}")
            continue
        kl = ("reference", "", "", "") if index == 0 else ("-", "-", "-", "-") if row.kl_mean is None else (
            f"{row.kl_mean:.5f}", f"{row.kl_p99:.4f}", f"{row.kl_max:.4f}", f"{row.same_top_percent:.1f}%")
        table.add_row(str(index + 1), row.target, row.quantization or "-", str(row.tokens_scored),
                      f"{row.perplexity:.4f}", *kl)
    reference = result.reference
    console.print(f"{result.text_tokens} tokens · {result.windows} window(s) of {result.window} · scored in "
                  f"{result.seconds:.1f} s · reference {'reused' if reference.reused else 'stored'}: "
                  f"{reference.path}", highlight=False, markup=False)
    console.print(table)
    for index, row in enumerate(result.targets[1:], 2):
        if row.report is None:
            continue
        console.rule(f"{index}. {row.target} against 1. {result.targets[0].target}")
        console.print("\n".join(report_lines(row.report)), highlight=False, markup=False)
        _print_worst(row)


def _print_worst(row) -> None:
    from rich.table import Table
    from rich.text import Text

    if not row.worst:
        return
    table = Table(box=None, header_style="bold", title="where it diverges most", title_justify="left")
    for column in ("TOKEN #", "KLD", "CONTEXT → NEXT", "REFERENCE TOP", "THIS MODEL'S TOP"):
        table.add_column(column, justify="right" if column in ("TOKEN #", "KLD") else "left")
    for w in row.worst:
        # model text is shown as Python literals in plain Text: no markup, newlines visible
        table.add_row(str(w.token_index), f"{w.kld:.4f}", Text(f"…{w.context[-40:]!r} → {w.token!r}"),
                      Text(_tops(w.reference_top)), Text(_tops(w.candidate_top)))
    console.print(table, highlight=False)


def _tops(top) -> str:
    return "  ".join(f"{text!r} {100 * p:.1f}%" for text, p in top)
