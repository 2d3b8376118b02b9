"""A comparison kept as a file: Compare's result and quality figures as JSON or Markdown (`write_report`).

The suffix picks the format (`.md` Markdown, anything else JSON); either part may be missing. In Markdown each
target's text is quoted as code, so no model output is read as Markdown.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .. import __version__
from ..errors import InvalidParameter
from ..files import atomic_write_text, utc_text
from .compare import CompareResult, divergence_text
from .quality import QualityResult, figures_text


def report_dict(compare: CompareResult | None, quality: QualityResult | None) -> dict:
    if compare is None and quality is None:
        raise InvalidParameter("nothing to export yet: run a comparison or measure quality first")
    return {"workbench_version": __version__, "exported_at": utc_text(),
            "compare": compare.as_dict() if compare else None, "quality": quality.as_dict() if quality else None}


def report_markdown(compare: CompareResult | None, quality: QualityResult | None) -> str:
    data = report_dict(compare, quality)  # the same checks, and the same time stamp line
    lines = [f"# Comparison ({data['exported_at']}, Workbench {data['workbench_version']})", ""]
    if compare is not None:
        locked = ", ".join(f"{k}={v}" for k, v in compare.parameters.items())
        lines += [f"Seed {compare.seed} · locked: {locked}", "", "| # | target | quant | tokens | TTFT s | tok/s | "
                  "vs pane 1 |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for i, pane in enumerate(compare.panes):
            lines.append(f"| {i + 1} | {_cell(pane.target)} | {pane.quantization or '-'} | {pane.completion_tokens} "
                         f"| {_number(pane.ttft_seconds, 3)} | {_number(pane.tokens_per_second, 1)} | "
                         f"{_cell(pane.error or divergence_text(pane, i))} |")
        lines += ["", "Prompt:", "", _fenced(compare.prompt)]
        for i, pane in enumerate(compare.panes):
            lines += ["", f"## {i + 1}. {_cell(pane.target)}", "", _fenced(pane.error or pane.text)]
    if quality is not None:
        lines += ["", f"## Quality over {quality.text_tokens} tokens ({quality.windows} window(s) of "
                  f"{quality.window}; text sha256 {quality.text_sha256[:12]})", "",
                  "| # | target | quant | figures |", "| --- | --- | --- | --- |"]
        for i, row in enumerate(quality.targets):
            lines.append(f"| {i + 1} | {_cell(row.target)} | {row.quantization or '-'} | "
                         f"{_cell(figures_text(row, i))} |")
    return "\n".join(lines) + "\n"


def write_report(path: str | os.PathLike, *, compare: CompareResult | None = None,
                 quality: QualityResult | None = None) -> Path:
    path = Path(path).expanduser()
    if path.suffix.lower() == ".md":
        text = report_markdown(compare, quality)
    else:
        text = json.dumps(report_dict(compare, quality), indent=2, ensure_ascii=False, default=str) + "\n"
    atomic_write_text(path, text)  # never a half-written report under the real name
    return path


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fenced(text: str) -> str:
    fence = "```"
    while fence in text:  # a fence longer than any run of backticks inside
        fence += "`"
    return f"{fence}text\n{text}\n{fence}"
