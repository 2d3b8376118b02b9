"""`workbench compare PROMPT --model A --model B [--json]`: one prompt on 2–4 targets, seed and sampler locked.

A thin face over `workbench.compare.compare`: a table of the figures (tokens, TTFT, tok/s, memory, where the
output first diverges from the first target) followed by each target's text, or the whole result as JSON.
"""

from __future__ import annotations

import json

import typer

from .common import app, console, human_size, open_workbench


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
    from ..compare import compare as run_compare

    parameters = {k: v for k, v in (("temperature", temperature), ("num_predict", num_predict)) if v is not None}
    with open_workbench() as wb:
        result = run_compare(wb, prompt, models, parameters=parameters, seed=seed, raw=raw)
    if as_json:
        print(json.dumps(result.as_dict(), indent=2, default=str))
        return
    _print_table(result)


def _print_table(result) -> None:
    from rich.table import Table

    from ..compare import divergence_text

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

