"""Endpoint commands: `serve` (the OpenAI/Ollama-compatible endpoint) and `ps` (what it has loaded).

`serve` runs in the foreground until Ctrl-C; the safe defaults live in serve/config.py (loopback only, a key
for anything else, no CORS unless origins are given). `ps` asks a running endpoint (its /api/ps), because the
models live in that process. `bench` (load curves against any OpenAI-compatible URL) lives in bench_cmds.py.
"""

from __future__ import annotations

import json
import sys
import threading
from concurrent.futures import Future

import typer
from rich.table import Table

from ..errors import WorkbenchError
from ..serve.config import MAX_PARALLEL, ServeConfig
from . import startup
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
    speculative: str = typer.Option(None, "--speculative", metavar="lookup|MODEL",
                                    help="Speculative decoding by default: prompt lookup, or a draft model."),
    preload: list[str] = typer.Option([], "--preload", metavar="NAME",
                                      help="Load this model or preset while the endpoint starts (repeatable)."),
) -> None:
    """Serve the OpenAI (/v1) and Ollama (/api) compatible endpoint until Ctrl-C."""
    config = ServeConfig(host=host, port=port, api_key=api_key, cors_origins=tuple(cors_origin),
                         allowed_hosts=tuple(allowed_host), parallel=parallel, queue_size=queue_size,
                         max_tokens_cap=max_tokens_cap, reproducible=reproducible,
                         speculative=speculative).validate()
    with open_workbench() as wb:
        first_start(wb)  # the bundled model and its `default` preset, as `list` and `run` prepare them
        if speculative:
            _check_draft_model(wb, speculative)
        preloaded = _start_preloads(wb, config, preload)
        from ..serve.server import EndpointServer  # after the preloads start: the load overlaps this import

        _apply_retention(wb)
        server = EndpointServer(wb, config)
        preloaded.set_result(server)
        mode = "reproducible" if reproducible else "throughput"
        console_err.print(f"serving on http://{host}:{port} ({mode} mode; OpenAI at /v1, Ollama at /api; "
                          "Ctrl-C stops)", highlight=False)
        startup.resume(freeze=True)  # started: the garbage collector is back on for the requests
        server.serve_forever()


def _check_draft_model(wb, speculative: str) -> None:
    """A draft model named by --speculative must exist: refuse a bad one before the endpoint starts."""
    from ..chat.speculation import NO_DRAFT_MODEL, draft_file

    if speculative.strip().lower() not in NO_DRAFT_MODEL:
        draft_file(wb, speculative.strip(), "--speculative")


def _start_preloads(wb, config: ServeConfig, names: list[str]) -> Future:
    """Resolve the names now (an unknown one stops the start) and load them on a thread at once, so llama.cpp's
    load (native code, the GIL released) overlaps the endpoint's own start; a request arriving before a load ends
    waits for that same load (Runtime.acquire shares it). Give the returned future the server once it exists: the
    loaded models are then noted as the endpoint's (its /api/ps names them)."""
    from ..chat.prepare import resolve_target, target_load
    from ..engine import prefetch

    targets = [resolve_target(wb, name) for name in names]
    server_made: Future = Future()
    if not targets:
        return server_made
    wb.runtime.max_queue = config.queue_size  # as the endpoint's state sets it (the preload may load first)
    options = {"reproducible": config.reproducible, "n_parallel": config.parallel, "speculative": config.speculative}

    def load() -> None:
        for name, target in zip(names, targets, strict=True):
            try:
                loaded = wb.runtime.acquire(target.model, target_load(wb, target, **options))
            except WorkbenchError as exc:
                console_err.print(f"[yellow]warning:[/yellow] could not preload {target.name}: {exc}",
                                  highlight=False)
                continue
            prefetch.remember(wb.paths, name, **loaded.native_load)  # the next start's head start
            server_made.result().state.note_user(loaded, target)
        prefetch.discard()  # a stale guess from the last start: freed

    threading.Thread(target=load, name="workbench-preload", daemon=True).start()
    return server_made


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

