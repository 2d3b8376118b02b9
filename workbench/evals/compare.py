"""Two runs of a suite compared cell by cell (matched by cell key) and target by target."""

from __future__ import annotations

import difflib

from .records import CellChange, EvalCell, EvalRun, RunDiff, TargetDelta


def text_diff(before: str, after: str, *, context: int = 2) -> str:
    """A unified line diff of two outputs (difflib), without the file header lines."""
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), "before", "after", lineterm="", n=context)
    return "\n".join(list(lines)[2:])


def _change(a: EvalCell, b: EvalCell) -> CellChange:
    return CellChange(key=b.key, target=b.target, prompt_label=b.prompt_label, test_description=b.test_description,
                      repeat=b.repeat, before_status=a.status, after_status=b.status, before_output=a.output,
                      after_output=b.output, diff=text_diff(a.output, b.output) if a.output != b.output else "")


def diff_runs(run_a: EvalRun, cells_a: list[EvalCell], run_b: EvalRun, cells_b: list[EvalCell]) -> RunDiff:
    by_key_a = {c.key: c for c in cells_a}
    by_key_b = {c.key: c for c in cells_b}
    regressions, fixes, changed = [], [], []
    for key, b in by_key_b.items():
        a = by_key_a.get(key)
        if a is None:
            continue
        change = _change(a, b)
        if change.regression:
            regressions.append(change)
        elif change.fix:
            fixes.append(change)
        elif a.output != b.output:
            changed.append(change)
    return RunDiff(a=run_a, b=run_b, regressions=tuple(regressions), fixes=tuple(fixes),
                   changed_outputs=tuple(changed),
                   only_in_a=tuple(k for k in by_key_a if k not in by_key_b),
                   only_in_b=tuple(k for k in by_key_b if k not in by_key_a),
                   targets=_deltas(run_a, run_b))


def _deltas(run_a: EvalRun, run_b: EvalRun) -> tuple[TargetDelta, ...]:
    summary_a = {t.target: t for t in run_a.targets}
    summary_b = {t.target: t for t in run_b.targets}
    names = list(summary_a) + [n for n in summary_b if n not in summary_a]
    deltas = []
    for name in names:
        a, b = summary_a.get(name), summary_b.get(name)
        deltas.append(TargetDelta(name, a.pass_rate if a else None, b.pass_rate if b else None,
                                  a.mean_tokens_per_second if a else None, b.mean_tokens_per_second if b else None,
                                  a.mean_ttft_seconds if a else None, b.mean_ttft_seconds if b else None))
    return tuple(deltas)
