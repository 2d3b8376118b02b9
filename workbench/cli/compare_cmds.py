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
) -> None:
    """Compare models, quantizations or presets on one prompt, side by side."""
    from ..measure.compare import compare as run_compare

    parameters = {k: v for k, v in (("temperature", temperature), ("num_predict", num_predict)) if v is not None}
    with open_workbench() as wb:
        result = run_compare(wb, prompt, models, parameters=parameters, seed=seed, raw=raw)
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
                                     "first is the reference."),
    text_file: Path = typer.Option(None, "--text", help="A UTF-8 text file to score (default: the bundled "
                                   "chapter of Pride and Prejudice)."),
    window: int = typer.Option(512, "--window", help="Tokens per window; the second half of each is scored."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Perplexity of each target over a text, and KL divergence / same top token against the first target."""
    from ..errors import InvalidParameter
    from ..measure.quality import quality as run_quality

    text = None
    if text_file is not None:
        try:
            text = text_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidParameter(f"cannot read the text file {text_file}: {exc}") from None
    with open_workbench() as wb, _windows_bar(as_json) as on_progress:
        result = run_quality(wb, models, text=text, window=window, on_progress=on_progress)
    if as_json:
        print(json.dumps(result.as_dict(), indent=2))
        return
    _print_quality(result)


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

    table = Table(box=None, header_style="bold")
    for column in ("#", "TARGET", "QUANT", "TOKENS", "PPL", "KL MEAN", "KL P99", "SAME TOP"):
        table.add_column(column, justify="left" if column in ("TARGET", "QUANT") else "right", no_wrap=True)
    for index, row in enumerate(result.targets):
        if row.error:
            table.add_row(str(index + 1), row.target, row.quantization or "-", f"error: {row.error}")
            continue
        kl = ("reference", "", "") if index == 0 else ("-", "-", "-") if row.kl_mean is None else (
            f"{row.kl_mean:.5f}", f"{row.kl_p99:.4f}", f"{row.same_top_percent:.1f}%")
        table.add_row(str(index + 1), row.target, row.quantization or "-", str(row.tokens_scored),
                      f"{row.perplexity:.4f}", *kl)
    console.print(f"{result.text_tokens} tokens · {result.windows} window(s) of {result.window} · "
                  f"scored in {result.seconds:.1f} s", highlight=False)
    console.print(table)
