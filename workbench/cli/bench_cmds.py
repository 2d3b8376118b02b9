"""`workbench bench`: sweep concurrency against one or more OpenAI-compatible endpoints (workbench/measure/bench.py),
as a table, JSON, or a picture of the load curve (`--plot FILE.svg|.png`, measure/bench_plot.py).

A target is a URL (with --model) or a registered remote (`remote:NAME`: its URL, model and keyring-held key;
refused in offline mode before any connection).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from ..errors import InvalidParameter
from .common import app, console, console_err, open_workbench, say


def _levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of integers, e.g. 1,2,4,8") from None
    if not levels or min(levels) < 1:
        raise typer.BadParameter("concurrency levels must be positive integers")
    return levels


def _endpoints(targets: list[str], models: list[str], api_key: str | None) -> list[tuple[str, str, str, str | None]]:
    """Each target as (label, url, model, key): remote:NAME from the registry, a URL with its --model."""
    from ..remote import remote_name

    urls = [t for t in targets if remote_name(t) is None]
    if urls and len(models) not in (1, len(urls)):
        raise InvalidParameter(f"give one --model for all URLs or one per URL ({len(urls)}), not {len(models)}")
    out, url_index = [], 0
    for target in targets:
        name = remote_name(target)
        if name is not None:
            with open_workbench() as wb:
                endpoint, key = wb.remotes.connect(name)
            out.append((target, endpoint.base_url, endpoint.model, key))
            continue
        model = models[url_index] if len(models) > 1 else models[0] if models else None
        if model is None:
            raise InvalidParameter(f"{target}: give the model the endpoint knows with --model")
        out.append((target, target, model, api_key))
        url_index += 1
    return out


@app.command()
def bench(
    targets: list[str] = typer.Argument(..., metavar="URL|remote:NAME...",
                                        help="One or more OpenAI-compatible endpoints (…/v1 optional) or registered "
                                             "remotes; several are swept in turn and plotted side by side."),
    models: list[str] = typer.Option([], "--model", "-m", help="Model name for URL targets: one, or one per URL."),
    concurrency: str = typer.Option("1,2,4,8,16", "--concurrency", "-c", help="Levels to sweep, e.g. 1,2,4,8,16."),
    prompts: Path = typer.Option(None, "--prompts", exists=True, dir_okay=False,
                                 help="Prompts file: one per line, or JSON lines with \"prompt\"."),
    max_tokens: int = typer.Option(128, "--max-tokens", min=1, help="Tokens to generate per request."),
    requests: int = typer.Option(2, "--requests", min=1, help="Requests each client sends per level."),
    chat: bool = typer.Option(False, "--chat", help="Use /chat/completions (default /completions)."),
    api_key: str = typer.Option(None, "--api-key", envvar="WORKBENCH_API_KEY"),
    no_usage: bool = typer.Option(False, "--no-usage", help="Do not ask for stream_options.include_usage."),
    ignore_eos: bool = typer.Option(False, "--ignore-eos",
                                    help="Send ignore_eos (llama-server, vLLM, Workbench): every request runs to "
                                         "--max-tokens, so servers do equal work."),
    plot: Path = typer.Option(None, "--plot", help="Also draw the load curve to FILE.svg or FILE.png."),
    labels: list[str] = typer.Option([], "--label", help="A name per target for the tables and the plot's legend "
                                     "(default: the URL or remote:NAME)."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Sweep concurrency against endpoints: tok/s, TTFT and inter-token latency per level."""
    from ..measure import bench as core

    levels = _levels(concurrency)
    if plot is not None and plot.suffix.lower() not in (".svg", ".png"):
        raise InvalidParameter(f"--plot {plot}: give a .svg or .png file name")
    if labels and len(labels) != len(targets):
        raise InvalidParameter(f"give one --label per target ({len(targets)}), not {len(labels)}")
    series: dict[str, list] = {}
    for index, (label, url, model, key) in enumerate(_endpoints(targets, models, api_key)):
        label = labels[index] if labels else label
        table = Table("CLIENTS", "REQS", "ERRORS", "TOK/S", "TTFT P50", "TTFT P95", "ITL P50", "ITL P95", box=None,
                      title=label if len(targets) > 1 else None, title_justify="left")
        series[label] = core.run_sweep(url, model, levels, prompts=core.load_prompts(prompts), max_tokens=max_tokens,
                                       requests_per_client=requests, chat=chat, api_key=key, usage=not no_usage,
                                       ignore_eos=ignore_eos, on_level=_shower(table, as_json, label))
        if not as_json:
            console.print(table)
            errors = [r.first_error for r in series[label] if r.first_error]
            if errors:
                console_err.print(f"first error: {errors[0]}", highlight=False, markup=False)
    if as_json:
        rows = {label: core.as_json(results) for label, results in series.items()}
        sys.stdout.write(json.dumps(rows if len(rows) > 1 else next(iter(rows.values())), indent=2) + "\n")
    if plot is not None:
        from ..measure.bench_plot import save_plot

        (console_err.print if as_json else say)(f"load curve written to {save_plot(series, plot)}")


def _shower(table: Table, quiet: bool, label: str):
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.0f} ms"

    def show(level) -> None:
        if not quiet:
            console_err.print(f"{label}: {level.concurrency} clients: {level.tokens_per_second:.1f} tok/s",
                              highlight=False)
        table.add_row(str(level.concurrency), str(level.requests), str(level.errors),
                      f"{level.tokens_per_second:.1f}", ms(level.ttft_p50), ms(level.ttft_p95), ms(level.itl_p50),
                      ms(level.itl_p95))

    return show
