"""Endpoint commands: `serve` (the OpenAI/Ollama-compatible endpoint), `ps` (what it has loaded), `bench`.

`serve` runs in the foreground until Ctrl-C; the safe defaults live in serve/config.py (loopback only, a key
for anything else, no CORS unless origins are given). `ps` asks a running endpoint (its /api/ps), because the
models live in that process. `bench` sweeps concurrency against any OpenAI-compatible URL (workbench/measure/bench.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from ..errors import WorkbenchError
from ..serve.config import MAX_PARALLEL, ServeConfig
from .common import app, console, console_err, first_start, human_size, open_workbench

DEFAULTS = ServeConfig()
DEFAULT_URL = f"http://{DEFAULTS.host}:{DEFAULTS.port}"


@app.command()
def serve(
    host: str = typer.Option(DEFAULTS.host, "--host", help="Address to bind (anything but loopback needs a key)."),
    port: int = typer.Option(DEFAULTS.port, "--port", "-p", help="TCP port (0 = any free port)."),
    api_key: str = typer.Option(None, "--api-key", envvar="WORKBENCH_API_KEY", show_envvar=True,
                                help="Bearer key clients must send (≥ 16 characters)."),
    cors_origin: list[str] = typer.Option([], "--cors-origin", help="Allow this browser origin (repeatable)."),
    allowed_host: list[str] = typer.Option([], "--allowed-host",
                                           help="Also accept this Host header, e.g. a LAN name (repeatable)."),
    parallel: int = typer.Option(DEFAULTS.parallel, "--parallel", min=1, max=MAX_PARALLEL,
                                 help="Slots per model (default: settings)."),
    queue_size: int = typer.Option(DEFAULTS.queue_size, "--queue-size", min=0,
                                   help="Waiting requests per model before 503."),
    max_tokens_cap: int = typer.Option(DEFAULTS.max_tokens_cap, "--max-tokens-cap", min=1,
                                       help="Largest max_tokens accepted."),
    reproducible: bool = typer.Option(DEFAULTS.reproducible, "--reproducible/--throughput",
                                      help="Output independent of concurrent load, or the faster mode."),
) -> None:
    """Serve the OpenAI (/v1) and Ollama (/api) compatible endpoint until Ctrl-C."""
    from ..serve.server import EndpointServer

    config = ServeConfig(host=host, port=port, api_key=api_key, cors_origins=tuple(cors_origin),
                         allowed_hosts=tuple(allowed_host), parallel=parallel, queue_size=queue_size,
                         max_tokens_cap=max_tokens_cap, reproducible=reproducible).validate()
    with open_workbench() as wb:
        first_start(wb)  # the bundled model and its `default` preset, as `list` and `run` prepare them
        _apply_retention(wb)
        server = EndpointServer(wb, config)
        mode = "reproducible" if reproducible else "throughput"
        console_err.print(f"serving on http://{host}:{port} ({mode} mode; OpenAI at /v1, Ollama at /api; "
                          "Ctrl-C stops)", highlight=False)
        server.serve_forever()


def _apply_retention(wb) -> None:
    """The retention limits, applied at each start (as the app does); a failure is a warning, not a refusal."""
    try:
        report = wb.retention.apply()
    except WorkbenchError as exc:
        console_err.print(f"[yellow]warning:[/yellow] retention was not applied: {exc}", highlight=False)
        return
    if report.removed_anything:
        console_err.print(f"retention removed {report.sessions} session(s), {report.eval_runs} eval run(s), "
                          f"{sum(report.audit_events.values())} audit event(s), {report.partial_pulls} partial "
                          "pull(s) (`workbench audit --kind retention` has the counts)", highlight=False)


@app.command()
def ps(
    url: str = typer.Option(DEFAULT_URL, "--url", help="The running endpoint to ask."),
    api_key: str = typer.Option(None, "--api-key", envvar="WORKBENCH_API_KEY"),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
) -> None:
    """List the models a running endpoint has loaded (and when keep-alive unloads them)."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.get(url.rstrip("/") + "/api/ps", headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        raise WorkbenchError(f"no endpoint answers at {url} ({type(exc).__name__}): start one with "
                             "`workbench serve`") from None
    if response.status_code != 200:
        raise WorkbenchError(f"{url} answered HTTP {response.status_code}: {response.text[:200]}")
    rows = response.json().get("models", [])
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    if not rows:
        console.print("no models loaded")
        return
    table = Table("NAME", "SIZE", "CONTEXT", "UNTIL", box=None)
    for row in rows:
        table.add_row(row["name"], human_size(row.get("size", 0)), str(row.get("context_length", "-")),
                      row.get("expires_at", "-"))
    console.print(table)


def _levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of integers, e.g. 1,2,4,8") from None
    if not levels or min(levels) < 1:
        raise typer.BadParameter("concurrency levels must be positive integers")
    return levels


@app.command()
def bench(
    url: str = typer.Argument(..., help="Base URL of an OpenAI-compatible endpoint (…/v1 optional)."),
    model: str = typer.Option(..., "--model", "-m", help="Model name the endpoint knows."),
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
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Sweep concurrency against an endpoint: tok/s, TTFT and inter-token latency per level."""
    from ..measure import bench as core

    levels = _levels(concurrency)
    table = Table("CLIENTS", "REQS", "ERRORS", "TOK/S", "TTFT P50", "TTFT P95", "ITL P50", "ITL P95", box=None)

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.0f} ms"

    def show(level) -> None:
        if not as_json:
            console_err.print(f"{level.concurrency} clients: {level.tokens_per_second:.1f} tok/s", highlight=False)
        table.add_row(str(level.concurrency), str(level.requests), str(level.errors),
                      f"{level.tokens_per_second:.1f}", ms(level.ttft_p50), ms(level.ttft_p95), ms(level.itl_p50),
                      ms(level.itl_p95))

    results = core.run_sweep(url, model, levels, prompts=core.load_prompts(prompts), max_tokens=max_tokens,
                             requests_per_client=requests, chat=chat, api_key=api_key, usage=not no_usage,
                             ignore_eos=ignore_eos, on_level=show)
    if as_json:
        sys.stdout.write(json.dumps(core.as_json(results), indent=2) + "\n")
        return
    console.print(table)
    errors = [r.first_error for r in results if r.first_error]
    if errors:
        console_err.print(f"first error: {errors[0]}", highlight=False, markup=False)

