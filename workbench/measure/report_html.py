"""The comparison as one self-contained HTML file: Compare's panes, the quality figures, llama-perplexity's
statistics per candidate, the worst positions, and the KL divergence along the text as an inline SVG plot. No
scripts or network resources; every text from a model or a file is escaped.
"""

from __future__ import annotations

from html import escape

from .compare import CompareResult, divergence_text
from .quality import QualityResult, figures_text
from .statistics import report_rows

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
th{background:#f3f3f3}pre,code{background:#f7f7f7}pre{white-space:pre-wrap;padding:6px;max-width:60em}
.muted{color:#777}
"""
COLOURS = ("#4a7fc1", "#d9822b", "#3a9d5d", "#b8457a")


def report_html(title: str, compare: CompareResult | None, quality: QualityResult | None) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
             f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>"]
    if compare is not None:
        parts.append(_compare_html(compare))
    if quality is not None:
        parts.append(quality_html(quality))
    return "".join(parts) + "</body></html>\n"


def _compare_html(compare: CompareResult) -> str:
    rows = "".join(f"<tr><td>{i + 1}</td><td>{escape(p.target)}</td><td>{p.completion_tokens}</td>"
                   f"<td>{escape(p.error or divergence_text(p, i))}</td></tr>" for i, p in enumerate(compare.panes))
    texts = "".join(f"<h3>{i + 1}. {escape(p.target)}</h3><pre>{escape(p.error or p.text)}</pre>"
                    for i, p in enumerate(compare.panes))
    return (f"<h2>Comparison</h2><p>Seed {compare.seed}</p><pre>{escape(compare.prompt)}</pre><table><tr><th>#</th>"
            f"<th>target</th><th>tokens</th><th>vs pane 1</th></tr>{rows}</table>{texts}")


def quality_html(quality: QualityResult) -> str:
    rows = "".join(f"<tr><td>{i + 1}</td><td>{escape(r.target)}</td><td>{escape(r.quantization or '-')}</td>"
                   f"<td>{escape(figures_text(r, i))}</td></tr>" for i, r in enumerate(quality.targets))
    parts = [f"<h2>Quality over {quality.text_tokens} tokens</h2><p class='muted'>{quality.windows} window(s) of "
             f"{quality.window}, second halves scored; text sha256 {quality.text_sha256[:12]}</p>"
             f"<table><tr><th>#</th><th>target</th><th>quant</th><th>figures</th></tr>{rows}</table>"]
    compared = [(i, r) for i, r in enumerate(quality.targets) if r.report is not None]
    if not compared:
        return "".join(parts)
    parts.append(divergence_svg(quality))
    columns = [report_rows(r.report) for _, r in compared]
    head = "".join(f"<th>{i + 1}. {escape(r.target)}</th>" for i, r in compared)
    body = "".join(f"<tr><td>{escape(label)}</td>" + "".join(f"<td>{escape(c[n][1])}</td>" for c in columns)
                   + "</tr>" for n, (label, _) in enumerate(columns[0]))
    parts.append(f"<h3>Against 1. {escape(quality.targets[0].target)}</h3><table><tr><th>statistic</th>{head}</tr>"
                 f"{body}</table>")
    for i, r in compared:
        parts.append(_worst_html(i, r))
    return "".join(parts)


def _worst_html(index: int, row) -> str:
    if not row.worst:
        return ""
    cells = "".join(f"<tr><td>{w.token_index}</td><td>{w.kld:.4f}</td><td>{w.delta_p_percent:+.2f}%</td>"
                    f"<td><code>{escape(w.context[-80:])}</code> → <code>{escape(w.token)}</code></td>"
                    f"<td>{_tops(w.reference_top)}</td><td>{_tops(w.candidate_top)}</td></tr>" for w in row.worst)
    return (f"<h3>Where {index + 1}. {escape(row.target)} diverges most</h3><table><tr><th>token #</th><th>KLD</th>"
            f"<th>Δp</th><th>context → next token</th><th>reference's top</th><th>its top</th></tr>{cells}</table>")


def _tops(top) -> str:
    return " ".join(f"<code>{escape(text)}</code> {100 * p:.1f}%" for text, p in top)


def divergence_svg(quality: QualityResult, width: int = 900, height: int = 240) -> str:
    """Per-position KL divergence of each candidate along the text, as an SVG polyline per candidate. By hand: a
    few lines of SVG, where pyqtgraph (the app's plotting library) would need a Qt application to export."""
    xs = quality.scored_token_indices()
    series = [(i, r.kld_per_position) for i, r in enumerate(quality.targets) if r.kld_per_position]
    top = max(max(values) for _, values in series) or 1e-9
    left, bottom, span = 50, height - 25, max(xs[-1] - xs[0], 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             'aria-label="KL divergence along the text">',
             f'<text x="{left}" y="14" font-size="13" font-weight="bold">KL divergence per position (nats)</text>',
             f'<line x1="{left}" y1="{bottom}" x2="{width - 10}" y2="{bottom}" stroke="#999"/>',
             f'<text x="0" y="30" font-size="11">{top:.3g}</text><text x="0" y="{bottom}" font-size="11">0</text>',
             f'<text x="{left}" y="{height - 5}" font-size="11">token {xs[0]}</text>',
             f'<text x="{width - 90}" y="{height - 5}" font-size="11">token {xs[-1]}</text>']
    for n, (index, values) in enumerate(series):
        points = " ".join(f"{left + (x - xs[0]) / span * (width - left - 10):.1f},"
                          f"{bottom - v / top * (bottom - 25):.1f}" for x, v in zip(xs, values, strict=True))
        colour = COLOURS[n % len(COLOURS)]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1" points="{points}"/>')
        parts.append(f'<text x="{width - 260}" y="{30 + 14 * n}" font-size="11" fill="{colour}">'
                     f'{index + 1}. {escape(quality.targets[index].target)}</text>')
    return "".join(parts) + "</svg>"
