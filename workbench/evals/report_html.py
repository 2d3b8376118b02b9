"""The self-contained HTML report: summary, an inline SVG chart of pass rate and tok/s per target, the matrix
(each cell opens its output and assertions), and the diff to a baseline. No scripts, fonts or other network
resources: the file opens the same on an air-gapped machine.
"""

from __future__ import annotations

from html import escape

from .records import EvalCell, EvalRun, RunDiff, TargetSummary
from .report import STATUS_MARK, diff_markdown, failure_reasons, matrix, number, percent

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
th{background:#f3f3f3}.passed{background:#e8f6e8}.failed{background:#fbe5e5}.error{background:#fff4d6}
details summary{cursor:pointer}pre{white-space:pre-wrap;background:#f7f7f7;padding:6px;margin:4px 0;max-width:60em}
.muted{color:#777}
"""


def bar_chart(title: str, labels: list[str], values: list[float | None], *, maximum: float | None = None,
              fmt=lambda v: f"{v:.1f}", colour: str = "#4a7fc1") -> str:
    """A horizontal bar chart as inline SVG. By hand: a dozen rectangles and labels; every plotting library here
    (pyqtgraph) would need a Qt application to export one, which a CLI report must not."""
    row, left, width = 26, 190, 360
    top = max([v for v in values if v is not None] + [maximum or 0, 1e-9])
    height = 30 + row * len(labels)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 90}" height="{height}" '
             f'role="img" aria-label="{escape(title)}">',
             f'<text x="0" y="16" font-weight="bold" font-size="14">{escape(title)}</text>']
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 26 + index * row
        short = label if len(label) <= 28 else label[:27] + "…"
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{escape(short)}</text>')
        if value is None:
            parts.append(f'<text x="{left}" y="{y + 15}" font-size="12" fill="#777">-</text>')
            continue
        length = max(1.0, width * value / top)
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{length:.1f}" height="16" fill="{colour}"/>')
        parts.append(f'<text x="{left + length + 6:.1f}" y="{y + 15}" font-size="12">{escape(fmt(value))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def charts(targets: tuple[TargetSummary, ...]) -> str:
    labels = [t.target for t in targets]
    return "<div>" + bar_chart("Pass rate", labels, [t.pass_rate for t in targets], maximum=1.0,
                               fmt=lambda v: f"{v * 100:.0f}%", colour="#3c9a5f") + \
        bar_chart("Decode tok/s", labels, [t.mean_tokens_per_second for t in targets]) + "</div>"


def _summary(run: EvalRun) -> str:
    rows = "".join(
        f"<tr><td>{escape(t.target)}</td><td>{escape(t.model or '-')}</td><td>{percent(t.pass_rate)}</td>"
        f"<td>{t.passed}</td><td>{t.failed}</td><td>{t.errors}</td><td>{number(t.mean_tokens_per_second)}</td>"
        f"<td>{number(t.mean_ttft_seconds, 3, ' s')}</td><td>{number(t.mean_latency_ms, 0, ' ms')}</td></tr>"
        for t in run.targets)
    return ("<table><tr><th>target</th><th>model</th><th>pass rate</th><th>passed</th><th>failed</th>"
            f"<th>errors</th><th>tok/s</th><th>TTFT</th><th>latency</th></tr>{rows}</table>")


def _cell_html(cells: list[EvalCell]) -> str:
    if not cells:
        return '<td class="muted">·</td>'
    worst = "error" if any(c.status == "error" for c in cells) else \
        "failed" if any(c.status == "failed" for c in cells) else "passed"
    inner = []
    for cell in cells:
        checks = "".join(f"<li>{'✔' if a.passed else '✘'} {escape(a.type)}: {escape(a.reason)}</li>"
                         for a in cell.assertions)
        body = escape(cell.output) if cell.status != "error" else escape(cell.error or "")
        inner.append(f"<details><summary>{STATUS_MARK[cell.status]} {cell.score:.2f}</summary>"
                     f"<pre>{body}</pre><ul>{checks}</ul></details>")
    return f'<td class="{worst}">{"".join(inner)}</td>'


def _matrix(run: EvalRun, cells: list[EvalCell]) -> str:
    targets, rows = matrix(run, cells)
    head = "".join(f"<th>{escape(t)}</th>" for t in targets)
    body = "".join(f"<tr><td>{escape(label)}</td>" + "".join(_cell_html(by.get(t, [])) for t in targets) + "</tr>"
                   for label, by in rows)
    return f"<table><tr><th>test</th>{head}</tr>{body}</table>"


def html_report(run: EvalRun, cells: list[EvalCell], diff: RunDiff | None = None) -> str:
    title = f"Eval run {run.id}: {run.description or 'suite'}"
    meta = (f"{run.status} · {run.done_cells}/{run.total_cells} cells · pass rate {percent(run.pass_rate)} · "
            f"suite {run.suite_sha256[:12]} · {run.created_at:%Y-%m-%d %H:%M} UTC")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
             f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1><p>{escape(meta)}</p>",
             _summary(run), charts(run.targets), "<h2>Matrix</h2>", _matrix(run, cells)]
    failing = [c for c in cells if c.status != "passed"]
    if failing:
        items = "".join(f"<li><b>{escape(c.test_description)}</b> on {escape(c.target)}: "
                        f"{escape(failure_reasons(c))}</li>" for c in failing)
        parts.append(f"<h2>Failures</h2><ul>{items}</ul>")
    if diff is not None:
        parts.append(f"<h2>Against run {diff.a.id}</h2><pre>{escape(diff_markdown(diff, heading='###'))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def diff_html(diff: RunDiff) -> str:
    """A diff on its own as an HTML page (`eval diff A B --html`)."""
    title = f"Run {diff.b.id} against run {diff.a.id}"
    labels = [t.target for t in diff.targets]
    chart = bar_chart(f"Pass rate, run {diff.a.id}", labels, [t.pass_rate_a for t in diff.targets], maximum=1.0,
                      fmt=lambda v: f"{v * 100:.0f}%", colour="#999") + \
        bar_chart(f"Pass rate, run {diff.b.id}", labels, [t.pass_rate_b for t in diff.targets], maximum=1.0,
                  fmt=lambda v: f"{v * 100:.0f}%", colour="#3c9a5f")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{chart}"
            f"<pre>{escape(diff_markdown(diff))}</pre></body></html>\n")
