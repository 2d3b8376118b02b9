"""Reports of a run (and of its diff to a baseline): Markdown, JSON, CSV and JUnit XML (HTML: report_html.py).

Each function returns the text; `Evals.export` picks one by format. JUnit XML is for CI: one testsuite per target,
one testcase per cell; with a baseline, a cell that passed there and fails now is a failure marked as a regression,
and a cell that failed in the baseline too is reported as skipped ("known failure"), because the gate fails only on
regressions."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from .records import EvalCell, EvalRun, RunDiff

STATUS_MARK = {"passed": "✅", "failed": "❌", "error": "⚠️"}


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def number(value: float | None, digits: int = 1, unit: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def failure_reasons(cell: EvalCell) -> str:
    if cell.status == "error":
        return cell.error or "error"
    return "; ".join(f"{a.type}: {a.reason}" for a in cell.assertions if not a.passed)


def matrix(run: EvalRun, cells: list[EvalCell]) -> tuple[list[str], list[tuple[str, dict[str, list[EvalCell]]]]]:
    """(target labels, rows): one row per (test, prompt), each mapping a target to its cells (one per repeat)."""
    targets = [t.target for t in run.targets] or list(dict.fromkeys(c.target for c in cells))
    rows: dict[tuple, tuple[str, dict[str, list[EvalCell]]]] = {}
    for cell in sorted(cells, key=lambda c: (c.test_index, c.prompt_index, c.target_index, c.repeat)):
        label = cell.test_description + (f" · {cell.prompt_label}" if _many_prompts(cells) else "")
        row = rows.setdefault((cell.test_index, cell.prompt_index), (label, {}))
        row[1].setdefault(cell.target, []).append(cell)
    return targets, list(rows.values())


def _many_prompts(cells: Iterable[EvalCell]) -> bool:
    return len({c.prompt_index for c in cells}) > 1


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(run: EvalRun, cells: list[EvalCell], diff: RunDiff | None = None) -> str:
    lines = [f"# Eval run {run.id}: {run.description or 'suite'}", "",
             f"{run.status} · {run.done_cells}/{run.total_cells} cells · pass rate {percent(run.pass_rate)} · "
             f"suite {run.suite_sha256[:12]} · {run.created_at:%Y-%m-%d %H:%M} UTC"
             + (f" · tags: {', '.join(run.tags)}" if run.tags else ""), "",
             "| target | model | pass rate | passed | failed | errors | tok/s | TTFT | latency |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for t in run.targets:
        lines.append(f"| {_md_cell(t.target)} | {_md_cell(t.model or '-')} | {percent(t.pass_rate)} | {t.passed} | "
                     f"{t.failed} | {t.errors} | {number(t.mean_tokens_per_second)} | "
                     f"{number(t.mean_ttft_seconds, 3, ' s')} | {number(t.mean_latency_ms, 0, ' ms')} |")
    targets, rows = matrix(run, cells)
    lines += ["", "## Matrix", "", "| test | " + " | ".join(map(_md_cell, targets)) + " |",
              "| --- |" + " :---: |" * len(targets)]
    for label, by_target in rows:
        marks = ["".join(STATUS_MARK[c.status] for c in by_target.get(t, [])) or "·" for t in targets]
        lines.append(f"| {_md_cell(label)} | " + " | ".join(marks) + " |")
    failing = [c for c in cells if c.status != "passed"]
    if failing:
        lines += ["", "## Failures", ""]
        for cell in failing:
            lines.append(f"- **{_md_cell(cell.test_description)}** on {_md_cell(cell.target)}"
                         f"{f' (repeat {cell.repeat + 1})' if cell.repeat else ''}: {_md_cell(failure_reasons(cell))}")
    if diff is not None:
        lines += ["", diff_markdown(diff, heading="##")]
    return "\n".join(lines) + "\n"


def diff_markdown(diff: RunDiff, heading: str = "#") -> str:
    lines = [f"{heading} Run {diff.b.id} against run {diff.a.id}", "",
             f"{len(diff.regressions)} regressions (pass → fail) · {len(diff.fixes)} fixes (fail → pass) · "
             f"{len(diff.changed_outputs)} other changed outputs · gate {'passed' if diff.gate_passed else 'FAILED'}",
             "", "| target | pass rate A | pass rate B | Δ | tok/s A | tok/s B |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for t in diff.targets:
        delta = t.pass_rate_delta
        lines.append(f"| {_md_cell(t.target)} | {percent(t.pass_rate_a)} | {percent(t.pass_rate_b)} | "
                     f"{'-' if delta is None else f'{delta * 100:+.1f} pt'} | {number(t.tokens_per_second_a)} | "
                     f"{number(t.tokens_per_second_b)} |")
    for title, changes in (("Regressions", diff.regressions), ("Fixes", diff.fixes),
                           ("Changed outputs", diff.changed_outputs)):
        if not changes:
            continue
        lines += ["", f"{heading}# {title}", ""]
        for change in changes:
            lines.append(f"- **{_md_cell(change.test_description)}** on {_md_cell(change.target)}: "
                         f"{change.before_status} → {change.after_status}")
            if change.diff:
                lines += ["", "  ```diff", *("  " + line for line in change.diff.splitlines()), "  ```"]
    return "\n".join(lines)


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def as_json(run: EvalRun, cells: list[EvalCell], diff: RunDiff | None = None) -> str:
    data = {"run": _jsonable(dataclasses.asdict(run)) | {"pass_rate": run.pass_rate},
            "cells": [_jsonable(dataclasses.asdict(c)) for c in cells]}
    if diff is not None:
        data["diff"] = diff_as_dict(diff)
    return json.dumps(data, indent=2, ensure_ascii=False)


def diff_as_dict(diff: RunDiff) -> dict:
    data = _jsonable(dataclasses.asdict(diff))
    data["a"], data["b"] = diff.a.id, diff.b.id
    data["gate_passed"] = diff.gate_passed
    return data


CSV_COLUMNS = ("run", "target", "prompt", "test", "repeat", "status", "score", "output", "reasons", "latency_ms",
               "completion_tokens", "tokens_per_second", "ttft_seconds", "finish_reason", "model_sha256", "seed")


def as_csv(cells: list[EvalCell]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for c in cells:
        writer.writerow([c.run_id, c.target, c.prompt_label, c.test_description, c.repeat, c.status,
                         f"{c.score:.4f}", c.output, failure_reasons(c), _opt(c.latency_ms), c.completion_tokens,
                         _opt(c.tokens_per_second), _opt(c.ttft_seconds), c.finish_reason,
                         c.provenance.get("model_sha256"), c.provenance.get("seed")])
    return buffer.getvalue()


def _opt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def junit_xml(run: EvalRun, cells: list[EvalCell], diff: RunDiff | None = None) -> str:
    regressions = {c.key for c in diff.regressions} if diff else set()
    root = ET.Element("testsuites", name=f"workbench eval run {run.id}", tests=str(len(cells)))
    for target in dict.fromkeys(c.target for c in cells):
        mine = [c for c in cells if c.target == target]
        suite = ET.SubElement(root, "testsuite", name=target, tests=str(len(mine)),
                              failures=str(sum(c.status == "failed" for c in mine)),
                              errors=str(sum(c.status == "error" for c in mine)))
        for cell in mine:
            _junit_case(suite, cell, diff, regressions)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _junit_case(suite: ET.Element, cell: EvalCell, diff: RunDiff | None, regressions: set[str]) -> None:
    name = cell.test_description + (f" [{cell.prompt_label}]" if cell.prompt_index else "") + \
        (f" #{cell.repeat + 1}" if cell.repeat else "")
    case = ET.SubElement(suite, "testcase", name=name, classname=cell.target,
                         time=f"{(cell.latency_ms or 0) / 1000:.3f}")
    if cell.status == "passed":
        return
    reasons = failure_reasons(cell)
    if diff is not None and cell.key not in regressions:
        why = (f"new in this run, not in baseline run {diff.a.id}" if cell.key in diff.only_in_b
               else f"known failure, not passing in baseline run {diff.a.id} either")
        ET.SubElement(case, "skipped", message=f"{why}: {reasons}")
        return
    tag = "error" if cell.status == "error" else "failure"
    prefix = f"regression (passed in baseline run {diff.a.id}): " if diff is not None else ""
    element = ET.SubElement(case, tag, message=prefix + reasons)
    element.text = cell.output
