"""Hub commands: `search`, `files`, `pull`, `estimate` — thin wrappers over `Workbench.hub`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..gguf.estimate import FitEstimate
from ..hub.refs import is_hub_ref, is_projector, pick_projector
from ..tasks import CancelToken
from .common import (
    app,
    column_table,
    console,
    console_err,
    human_count,
    human_size,
    open_workbench,
    print_table,
    progress_bar,
)

if TYPE_CHECKING:
    from ..app import Workbench

_VERDICT_STYLE = {"fits": "green", "tight": "yellow", "won't fit": "red"}


@app.command()
def search(
    query: str = typer.Argument("", help="Text to look for in repository names."),
    sort: str = typer.Option("downloads", "--sort", help="downloads, likes, updated or trending."),
    limit: int = typer.Option(20, "--limit", "-n", help="How many repositories to show."),
) -> None:
    """Search the Hugging Face Hub for GGUF model repositories."""
    with open_workbench() as wb:
        found = wb.hub.search(query, sort=sort, limit=limit)
    if not found:
        console_err.print(f"no GGUF repositories match {query!r}")
        return
    table = column_table("REPO", "DOWNLOADS", "LIKES", "UPDATED", "GATED")
    for m in found:
        updated = m.last_modified.strftime("%Y-%m-%d") if m.last_modified else "-"
        table.add_row(m.repo, human_count(m.downloads), human_count(m.likes), updated, "yes" if m.gated else "")
    console.print(table)


@app.command()
def files(
    repo: str = typer.Argument(..., help="OWNER/REPO (hf.co/ prefix optional)."),
    revision: str = typer.Option(None, "--revision", "-r", help="Branch, tag or commit (default main)."),
) -> None:
    """List the GGUF files of a Hub repository: quantization, size, split shards, LFS sha256."""
    with open_workbench() as wb:
        listing = wb.hub.files(repo, revision=revision)
    if not listing.entries:
        console_err.print(f"{listing.repo} has no GGUF files")
        return
    table = column_table("QUANT", "SIZE", "FILE", "SHA256")
    projector = pick_projector(listing.entries)
    for e in listing.entries:
        name = f"{e.name} ({len(e.files)} parts)" if e.split else e.name
        if is_projector(e):
            name += " (projector: pulled with every model)" if e == projector else " (projector)"
        sha = (e.files[0].sha256 or "-")[:12]
        table.add_row(e.quant or "-", human_size(e.size), name, sha)
    print_table(table)
    gated = " · gated: accept the license on the Hub and set a token" if listing.gated else ""
    console.print(f"{listing.repo} @ {(listing.revision or '?')[:12]}{gated}", highlight=False)


@app.command()
def pull(
    ref: str = typer.Argument(..., help="hf.co/OWNER/REPO[:QUANT] or hf.co/OWNER/REPO/FILE.gguf, optional @REV."),
    name: str = typer.Option(None, "--name", help="Name to register the model under."),
) -> None:
    """Download a GGUF model from the Hub: resumable, sha256-verified, registered in the library."""
    cancel = CancelToken()
    with open_workbench() as wb, progress_bar(f"pulling {ref}") as on_progress:
        try:
            model = wb.hub.pull(ref, name=name, on_progress=on_progress, cancel=cancel)
        except KeyboardInterrupt:
            cancel.cancel("interrupted")
            console_err.print("the partial download is kept: run the same pull again to resume")
            raise
    source = f"{model.source_repo}@{(model.source_revision or '')[:12]}" if model.source_repo else ""
    console.print(f"[green]pulled[/green] {model.name} ({human_size(model.size_bytes)}) "
                  f"sha256 {model.sha256[:12]} {source}", highlight=False)
    if model.projector_path:
        console.print(f"with its projector ({model.projector_modalities}) sha256 {model.projector_sha256[:12]}",
                      highlight=False)


@app.command()
def estimate(
    ref: str = typer.Argument(..., help="A Hub reference, a library model name or a .gguf path."),
    ctx: int = typer.Option(4096, "--ctx", "-c", help="Context size in tokens."),
    cache_type: str = typer.Option("f16", "--cache-type", help="KV cache type: f16, q8_0, q4_0, ..."),
    parallel: int = typer.Option(1, "--parallel", help="Parallel sequences (slots)."),
) -> None:
    """Estimate whether a model fits in memory at a context size (for Hub models: before downloading)."""
    with open_workbench() as wb:
        if is_hub_ref(ref):
            result = wb.hub.estimate(ref, context=ctx, cache_type=cache_type, parallel=parallel)
        else:
            from ..gguf.estimate import estimate_local

            paths = _local_paths(wb, ref)
            result = estimate_local(paths, context=ctx, cache_type=cache_type, parallel=parallel)
    _print_estimate(ref, result)


def _local_paths(wb: Workbench, ref: str) -> list[Path]:
    model = wb.library.find(ref)
    if model is not None:
        return list(model.files)
    path = Path(ref).expanduser()
    if path.is_file():
        return [path]
    return list(wb.library.get(ref).files)  # raises NotFound naming `workbench list`


def _print_estimate(ref: str, e: FitEstimate) -> None:
    style = _VERDICT_STYLE.get(e.verdict, "bold")
    console.print(f"[{style}]{e.verdict}[/{style}]  {ref} at {e.context} tokens ({e.cache_type} KV cache)",
                  highlight=False)
    rows = [("weights", e.weights_bytes), ("KV cache", e.kv_cache_bytes), ("compute buffer", e.compute_bytes),
            ("runtime overhead", e.overhead_bytes), ("total", e.total_bytes)]
    for label, value in rows:
        console.print(f"  {label:<17}{human_size(value):>10}", highlight=False)
    console.print(f"  {'RAM free':<17}{human_size(e.ram_available):>10}", highlight=False)
    if e.vram_available is not None:
        console.print(f"  {'VRAM free':<17}{human_size(e.vram_available):>10}  (needs {human_size(e.vram_needed)})",
                      highlight=False)
    for note in e.notes:
        console.print(f"  note: {note}", highlight=False)
