"""Eval runs on the tiny model through the real runtime and a real SQLite file: cells, provenance, a failing column,
diff / tag / gate, reports, cancel and resume, embeddings, logprobs, the judge, and the promptfoo configurations."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from workbench.errors import InvalidParameter
from workbench.evals.service import CodeNotAllowed
from workbench.tasks import CancelToken

DATA = Path(__file__).parent / "data" / "evals"
# one thread: the tiny model is fastest that way and the shared cores are not oversubscribed
FAST = "options:\n  parameters: {num_thread: 1, temperature: 0, num_predict: 6}\n"


@pytest.fixture
def tiny(wb, tiny_model_path):
    return wb.library.import_file(tiny_model_path, name="tiny:F32")


def write_suite(folder: Path, body: str, name: str = "suite.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body) + FAST, encoding="utf-8")
    return path


SUITE = """\
description: mechanics
prompts: ["Hello {{name}}", "Bye {{name}}"]
targets:
  - id: ollama:completion:tiny:F32
    label: raw
  - tiny:F32
tests:
  - description: short
    vars: {name: Ann}
    assert: [{type: max-tokens, value: 6}]
  - description: impossible
    vars: {name: Bob}
    assert: [{type: contains, value: "zzzz-not-there"}]
  - description: mixed
    vars: {name: Cy}
    assert: [{type: max-tokens, value: 6}, {type: not-contains, value: "zzzz"}]
"""


def test_a_run_stores_every_cell_with_provenance(wb, tiny, tmp_path):
    reports, stored = [], []
    run = wb.evals.run(write_suite(tmp_path, SUITE), concurrency=3, on_progress=reports.append,
                       on_cell=stored.append)
    assert run.status == "complete" and (run.total_cells, run.done_cells) == (12, 12)
    assert (run.passed, run.failed, run.errors) == (8, 4, 0)
    assert [(t.target, t.cells, t.passed) for t in run.targets] == [("raw", 6, 4), ("tiny:F32", 6, 4)]
    assert reports[-1].completed == reports[-1].total == 12 and reports[-1].unit == "cells"
    assert len(stored) == 12 and {c.id for c in stored} == {c.id for c in wb.evals.cells(run.id)}
    cell = next(c for c in wb.evals.cells(run.id) if c.target == "tiny:F32")
    prov = cell.provenance
    assert prov["model_sha256"] == tiny.sha256 and prov["seed"] == 0 and prov["reproducible"] is True
    assert prov["n_parallel"] == 3 and prov["template_sha256"] and prov["parameters"]["num_predict"] == 6
    assert prov["engine"]["llama_cpp_python"] and cell.completion_tokens == 6 and cell.latency_ms > 0
    raw = next(c for c in wb.evals.cells(run.id) if c.target == "raw")
    assert raw.provenance["template_sha256"] is None  # sent as-is
    failed = next(c for c in wb.evals.cells(run.id) if c.status == "failed")
    assert failed.assertions[0].reason == "missing 'zzzz-not-there'" and failed.score == 0.0
    assert wb.evals.get("last") == run and wb.evals.runs()[0].id == run.id


def test_a_target_that_cannot_load_fails_its_own_column(wb, tiny, tmp_path):
    from tests.tinymodel import write_tiny_model

    doomed = write_tiny_model(tmp_path / "doomed.gguf", seed=3)  # other weights: its own sha256, its own load
    wb.library.import_file(doomed, name="doomed:F32")
    doomed.write_bytes(b"GGUF" + b"\0" * 64)  # broken after import: llama.cpp refuses to load it
    body = SUITE.replace("  - tiny:F32\n", "  - doomed:F32\n  - no-such-model\n  - tiny:F32\n")
    run = wb.evals.run(write_suite(tmp_path, body), concurrency=2)
    by_target = {t.target: t for t in run.targets}
    assert by_target["doomed:F32"].errors == 6 and by_target["no-such-model"].errors == 6
    assert by_target["tiny:F32"].passed == 4 and by_target["raw"].passed == 4  # the others still ran
    errors = {c.target: c.error for c in wb.evals.cells(run.id) if c.status == "error"}
    assert "neither a preset" in errors["no-such-model"] and "doomed" in errors["doomed:F32"]


def test_diff_tag_gate_and_reports(wb, tiny, tmp_path):
    first = wb.evals.run(write_suite(tmp_path, SUITE), concurrency=2)
    wb.evals.tag(first.id, "baseline")
    assert wb.evals.get("baseline").tags == ("baseline",)
    changed = SUITE.replace("assert: [{type: max-tokens, value: 6}]", "assert: [{type: max-tokens, value: 5}]")
    changed = changed.replace('value: "zzzz-not-there"', "value: ''")  # always contained: fail → pass
    second = wb.evals.run(write_suite(tmp_path, changed, "v2.yaml"), concurrency=2, baseline="baseline")
    gate = wb.evals.gate(second.id)
    assert not gate.gate_passed and gate.a.id == first.id
    assert len(gate.regressions) == 4 and {c.test_description for c in gate.regressions} == {"short"}
    assert len(gate.fixes) == 4 and gate.changed_outputs == ()  # same seeds, same outputs
    assert {d.target: (d.pass_rate_a, d.pass_rate_b) for d in gate.targets}["raw"] == (4 / 6, 4 / 6)

    junit = wb.evals.export(second.id, "junit", tmp_path / "junit.xml")
    assert (tmp_path / "junit.xml").read_text() == junit
    assert junit.count("<failure") == 4 and junit.count("regression (passed in baseline run") == 4
    assert junit.count("<skipped") == 0 and junit.count("<testcase") == 12
    markdown = wb.evals.export(second.id, "md")
    assert "| raw | tiny:F32 | 66.7% |" in markdown and "\n## Regressions" not in markdown
    assert "### Regressions" in markdown and "gate FAILED" in markdown
    html = wb.evals.export(second.id, "html", tmp_path / "r.html")
    assert "<svg" in html and "Pass rate" in html and not re.search(r"(src|href)=", html)  # self-contained
    data = json.loads(wb.evals.export(second.id, "json"))
    assert len(data["cells"]) == 12 and data["diff"]["gate_passed"] is False
    rows = wb.evals.export(second.id, "csv").splitlines()
    assert rows[0].startswith("run,target,prompt,test,repeat,status") and len(rows) == 13
    with pytest.raises(InvalidParameter, match="unknown report format"):
        wb.evals.export(second.id, "pdf")


def test_cancel_keeps_finished_cells_and_resume_finishes_without_redoing_them(wb, tiny, tmp_path):
    cancel = CancelToken()
    stored = []

    def on_cell(cell):
        stored.append(cell)
        if len(stored) == 3:
            cancel.cancel()

    run = wb.evals.run(write_suite(tmp_path, SUITE), concurrency=1, on_cell=on_cell, cancel=cancel)
    assert run.status == "cancelled" and 3 <= run.done_cells < 12
    kept = {c.key: (c.id, c.output) for c in wb.evals.cells(run.id)}
    resumed = wb.evals.run(resume=run.id, concurrency=2)
    assert resumed.id == run.id and resumed.status == "complete" and resumed.done_cells == 12
    after = {c.key: (c.id, c.output) for c in wb.evals.cells(run.id)}
    assert all(after[key] == value for key, value in kept.items())  # finished cells untouched
    with pytest.raises(InvalidParameter, match="already complete"):
        wb.evals.run(resume=run.id)


def test_outputs_do_not_depend_on_concurrency(wb, tiny, tmp_path):
    body = SUITE.replace("{name: Ann}", "{name: [Ann, Dee, Eve, Fay]}")  # 24 cells
    one = wb.evals.run(write_suite(tmp_path, body), concurrency=1)
    six = wb.evals.run(write_suite(tmp_path, body), concurrency=6)
    outputs = [(c.key, c.output, c.status) for c in wb.evals.cells(one.id)]
    assert outputs == [(c.key, c.output, c.status) for c in wb.evals.cells(six.id)] and len(outputs) == 24


ENGINE_SUITE = """\
description: engine services
prompts: ["Tell me about {{topic}}"]
targets: [tiny:F32]
tests:
  - description: embeddings and logprobs
    vars: {topic: cats}
    assert:
      - {type: similar, value: "Tell me about cats", threshold: -1}
      - {type: perplexity, threshold: 1000000}
  - description: judged
    vars: {topic: dogs}
    assert:
      - {type: llm-rubric, value: "The answer talks about dogs", provider: "tiny:F32"}
"""


def test_similar_perplexity_and_the_judge_use_the_engine(wb, tiny, tmp_path):
    run = wb.evals.run(write_suite(tmp_path, ENGINE_SUITE), concurrency=2)
    first, judged = wb.evals.cells(run.id)
    similar, perplexity = first.assertions
    assert similar.passed and re.fullmatch(r"cosine similarity -?[01]\.\d{3} ≥ -1", similar.reason)
    assert perplexity.passed and re.fullmatch(r"perplexity [\d.]+ ≤ 1e\+06", perplexity.reason)
    [rubric] = judged.assertions
    judge = rubric.details["judge"]
    verdict = json.loads(judge["verdict"])  # the JSON-schema grammar makes the tiny model answer in shape
    assert set(verdict) == {"reason", "pass", "score"} and rubric.passed is verdict["pass"]
    assert judge["model_sha256"] == tiny.sha256 and judge["template_sha256"] and judge["seed"] == 0
    assert rubric.reason.startswith("judge tiny:F32: ")


def test_python_assertions_need_allow_code(wb, tiny, tmp_path):
    body = SUITE.replace("assert: [{type: max-tokens, value: 6}]",
                         "assert: [{type: python, value: \"len(output) >= 0\"}]")
    path = write_suite(tmp_path, body)
    with pytest.raises(CodeNotAllowed, match="--allow-code"):
        wb.evals.run(path)
    assert wb.evals.runs() == []  # refused before anything was stored
    run = wb.evals.run(path, allow_code=True, targets=["tiny:F32"], concurrency=2)
    assert run.passed == 4 and run.total_cells == 6


def test_the_promptfoo_configurations_run(wb, tiny, tmp_path):
    from tests.test_answers import modelfile

    wb.presets.create("extractor", modelfile("PARAMETER num_predict 8"))
    for name, cells in (("translate", 18), ("support", 6), ("extract", 3)):
        run = wb.evals.run(DATA / name / "promptfooconfig.yaml")
        assert run.status == "complete" and run.done_cells == cells and run.errors == 0, name
    runs = {r.description: r for r in wb.evals.runs()}
    extract = wb.evals.cells(runs["Extract fields as JSON"].id)
    assert {c.provenance["preset"] for c in extract} == {"extractor"}
    assert all(c.passed for c in extract)  # random text is never JSON, and never empty
    support = wb.evals.cells(runs["Support replies"].id)
    assert [c.repeat for c in support if c.test_description == "refund"] == [0, 1]
    assert {c.provenance["seed"] for c in support} == {0, 1}  # each repeat its own seed
    weighted = [c for c in support if c.test_description == "weighted and thresholded"]
    assert all(len(c.assertions) == 3 for c in weighted)


def test_estimate_uses_the_measured_speed(wb, tiny, tmp_path):
    path = write_suite(tmp_path, SUITE)
    before = wb.evals.estimate(path)
    assert before.cells == 12 and before.seconds is None and not before.needs_confirmation
    wb.evals.run(path, concurrency=2)
    after = wb.evals.estimate(path)
    assert after.seconds is not None and after.seconds > 0
    assert [t.cells for t in after.targets] == [6, 6]


@pytest.mark.parametrize("ram, both_loaded", [(None, True), (1, False)])
def test_the_previous_model_is_unloaded_only_when_both_would_not_fit(wb, tiny, tmp_path, monkeypatch, ram,
                                                                      both_loaded):
    """"Load A, run the set, unload, load B": a small machine (free memory set by the test) unloads A before B."""
    from tests.tinymodel import write_tiny_model
    from workbench.gguf import estimate

    other = wb.library.import_file(write_tiny_model(tmp_path / "other.gguf", seed=3), name="other:F32")
    if ram is not None:
        monkeypatch.setattr(estimate, "available_ram", lambda: ram)
    body = SUITE.replace("  - id: ollama:completion:tiny:F32\n    label: raw\n", "").replace(
        "  - tiny:F32\n", "  - tiny:F32\n  - other:F32\n")
    run = wb.evals.run(write_suite(tmp_path, body), concurrency=2)
    assert [t.target for t in run.targets] == ["tiny:F32", "other:F32"] and all(t.errors == 0 for t in run.targets)
    loaded = {info.sha256 for info in wb.runtime.loaded()}
    assert other.sha256 in loaded and (tiny.sha256 in loaded) == both_loaded
