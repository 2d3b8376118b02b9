"""`workbench promote PRESET --to vllm|tgi|llama-server|ollama [-o DIR]`: a thin wrapper over workbench.promote."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import app, open_workbench, say


@app.command()
def promote(
    preset: str = typer.Argument(..., metavar="PRESET", help="The preset (name, name@N or name:tag)."),
    engine: str = typer.Option(..., "--to", help="vllm, tgi, llama-server or ollama."),
    out: Path = typer.Option(None, "--output", "-o", help="Folder to write (default ./promote-PRESET-ENGINE)."),
) -> None:
    """Write what a serving engine needs to serve a preset: model reference, chat template, sampling, context,
    compose file, Kubernetes Deployment and a README of caveats."""
    from ..promote import promote as run_promote

    with open_workbench() as wb:
        result = run_promote(wb, preset, engine, out)
    say(f"wrote {len(result.files)} files to {result.folder}: {', '.join(result.files)}")
    say(f"model: {result.model_note}")
    for caveat in result.caveats:
        say(f"caveat: {caveat}")
