"""A comparison kept as a file: Compare's result and quality figures as JSON, Markdown or HTML (`write_report`).

The suffix picks the format (`.md` Markdown, `.html` HTML with the divergence plot, anything else JSON); either
part may be missing. Model output and text are quoted as code, so none of it is read as Markdown.
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
from .statistics import report_rows


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
        lines += quality_markdown(quality)
    return "\n".join(lines) + "\n"


def quality_markdown(quality: QualityResult) -> list[str]:
    """The quality figures, llama-perplexity's statistics per candidate, and where each diverges most."""
    lines = ["", f"## Quality over {quality.text_tokens} tokens ({quality.windows} window(s) of "
             f"{quality.window}; text sha256 {quality.text_sha256[:12]})", "",
             "| # | target | quant | figures |", "| --- | --- | --- | --- |"]
    for i, row in enumerate(quality.targets):
        lines.append(f"| {i + 1} | {_cell(row.target)} | {row.quantization or '-'} | "
                     f"{_cell(figures_text(row, i))} |")
    compared = [(i, row) for i, row in enumerate(quality.targets) if row.report is not None]
    if compared:
        lines += ["", f"### Against 1. {_cell(quality.targets[0].target)} (as llama-perplexity --kl-divergence)", "",
                  "| statistic | " + " | ".join(f"{i + 1}. {_cell(row.target)}" for i, row in compared) + " |",
                  "| --- |" + " --- |" * len(compared)]
        columns = [report_rows(row.report) for _, row in compared]
        for r, (label, _) in enumerate(columns[0]):
            lines.append(f"| {label} | " + " | ".join(column[r][1] for column in columns) + " |")
    for i, row in compared:
        if row.worst:
            lines += ["", f"### Where {i + 1}. {_cell(row.target)} diverges most", "",
                      "| token # | KLD | Δp | context → next token | reference's top | its top |",
                      "| --- | --- | --- | --- | --- | --- |"]
            lines += [f"| {w.token_index} | {w.kld:.4f} | {w.delta_p_percent:+.2f}% | "
                      f"{_code(w.context[-60:])} → {_code(w.token)} | {_tops(w.reference_top)} | "
                      f"{_tops(w.candidate_top)} |" for w in row.worst]
    return lines


def _code(text: str) -> str:
    """Inline code in a table cell: newlines shown as \\n, pipes escaped, fenced past any backticks inside."""
    text = text.replace("\n", "\\n").replace("|", "\\|")
    fence = "`"
    while fence in text:
        fence += "`"
    return f"{fence} {text} {fence}"


def _tops(top) -> str:
    return " ".join(f"{_code(text)} {100 * p:.1f}%" for text, p in top)


def write_report(path: str | os.PathLike, *, compare: CompareResult | None = None,
                 quality: QualityResult | None = None) -> Path:
    path = Path(path).expanduser()
    if path.suffix.lower() == ".md":
        text = report_markdown(compare, quality)
    elif path.suffix.lower() in (".html", ".htm"):
        from .report_html import report_html

        data = report_dict(compare, quality)
        text = report_html(f"Comparison ({data['exported_at']}, Workbench {data['workbench_version']})", compare,
                           quality)
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
