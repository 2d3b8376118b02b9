"""Engine commands: `quantize` (another quantization of a local model) and `tokenize` (ids and pieces).

Thin wrappers: the work is in `engine.quantize` and the runtime (`LoadedModel.tokenize`). Heavy imports
happen inside the commands, so registering them does not load llama.cpp for a quick `workbench list`.
"""

from __future__ import annotations

import dataclasses

import typer

from ..tasks import CancelToken, Progress
from .common import app, console, human_size, open_workbench, progress_bar

_TYPES_HELP = (
    "Target type: F32 F16 BF16 Q8_0 Q6_K Q5_K_M Q5_K_S Q5_1 Q5_0 Q4_K_M Q4_K_S Q4_1 Q4_0 IQ4_NL IQ4_XS "
    "Q3_K_L Q3_K_M Q3_K_S IQ3_M IQ3_S IQ3_XXS Q2_K."
)


@app.command()
def quantize(
    name: str = typer.Argument(..., metavar="NAME", help="The library model to quantize (best: an F16 original)."),
    target_type: str = typer.Argument(..., metavar="TYPE", help=_TYPES_HELP),
    new_name: str = typer.Option(None, "--name", help="Name for the new model (default NAME's base:TYPE)."),
    allow_requantize: bool = typer.Option(
        False, "--allow-requantize", help="Quantize an already-quantized model (loses quality; labelled)."),
    threads: int = typer.Option(None, "--threads", "-t", min=1, help="Threads to use (default: all cores)."),
) -> None:
    """Make another quantization of a local model and add it to the library, linked to its parent."""
    cancel = CancelToken()
    with open_workbench() as wb, progress_bar(f"quantizing {name} to {target_type.upper()}") as bar:

        def on_progress(p: Progress) -> None:  # the bar's text: the phase and its step, without tensor names
            step = p.message.split(":")[0]
            bar(dataclasses.replace(p, message=f"{p.task}: {step}" if step else p.task))

        try:
            model = wb.library.quantize(name, target_type, name=new_name, allow_requantize=allow_requantize,
                                        threads=threads or wb.settings.threads, on_progress=on_progress,
                                        cancel=cancel)
        except KeyboardInterrupt:
            cancel.cancel("interrupted")  # the child process is gone and the partial file deleted by now
            raise
    label = " [yellow](requantized)[/yellow]" if model.requantized else ""
    console.print(f"[green]created[/green] {model.name}{label} ({human_size(model.size_bytes)}) "
                  f"from {name}, sha256 {model.sha256[:12]}", highlight=False)


@app.command()
def tokenize(
    name: str = typer.Argument(..., metavar="NAME", help="The library model whose tokenizer to use."),
    text: str = typer.Argument(..., metavar="TEXT", help="The text to tokenize."),
    no_special: bool = typer.Option(False, "--no-special", help="Do not add BOS/EOS the way a prompt gets them."),
    parse_special: bool = typer.Option(
        False, "--parse-special", help="Read special-token text such as <|end|> as the special token."),
) -> None:
    """Show the token ids and pieces the model's tokenizer makes of TEXT."""
    from rich.table import Table

    from ..engine import LoadOptions

    with open_workbench() as wb:
        model = wb.library.get(name)
        loaded = wb.runtime.acquire(model, LoadOptions(n_ctx=64, n_parallel=1))  # the tokenizer needs no KV room
        tokens = loaded.tokenize(text, add_special=not no_special, parse_special=parse_special)
        pieces = [loaded.token_text(t) for t in tokens]
    table = Table(box=None, header_style="bold")
    for column, justify in (("#", "right"), ("ID", "right"), ("PIECE", "left")):
        table.add_column(column, justify=justify)
    for index, (token, piece) in enumerate(zip(tokens, pieces, strict=True)):
        table.add_row(str(index), str(token), repr(piece))
    console.print(table)
    console.print(f"{len(tokens)} tokens", highlight=False)
