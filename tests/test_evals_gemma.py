"""Evals on the real gemma-3-270m (a base model: raw prompts, greedy): deterministic assertions on real answers, and a
40-cell suite that gives the same outputs and verdicts on 8 slots as on 1."""

from __future__ import annotations

import textwrap

import pytest

from workbench.library.bundled import DEFAULT_NAME

pytestmark = pytest.mark.gemma

CAPITALS = """\
description: capitals and sums on gemma
prompts: ["The capital of {{country}} is"]
targets:
  - id: ollama:completion:gemma-3-270m:Q4_K_M
    label: gemma
    config: {temperature: 0, max_tokens: 12}
tests:
  - {description: Italy, vars: {country: Italy}, assert: [{type: contains, value: Rome}]}
  - {description: Japan, vars: {country: Japan}, assert: [{type: icontains-any, value: [tokyo, kyoto]}]}
  - {description: Spain, vars: {country: Spain}, assert: [{type: regex, value: "\\\\bMadrid\\\\b"}]}
  - description: France
    vars: {country: France}
    assert: [{type: icontains, value: paris}]  # greedy gemma-3-270m talks around it
  - description: length
    vars: {country: Spain}
    assert: [{type: finish-reason, value: length}, {type: max-tokens, value: 12}, {type: not-is-json}]
"""


@pytest.fixture
def gemma(wb, gemma_model_path):
    return wb.library.import_file(gemma_model_path, name=DEFAULT_NAME)


def test_deterministic_assertions_on_real_answers(wb, gemma, tmp_path):
    path = tmp_path / "capitals.yaml"
    path.write_text(CAPITALS)
    run = wb.evals.run(path, concurrency=4)
    verdicts = {c.test_description: c.status for c in wb.evals.cells(run.id)}
    assert verdicts == {"Italy": "passed", "Japan": "passed", "Spain": "passed", "France": "failed",
                        "length": "passed"}
    spain = next(c for c in wb.evals.cells(run.id) if c.test_description == "Spain")
    assert "Madrid" in spain.output and spain.provenance["model_sha256"] == gemma.sha256
    assert spain.tokens_per_second > 0 and spain.provenance["template_sha256"] is None  # raw: no template


FORTY = """\
description: forty cells
prompts: ["The capital of {{country}} is", "Q: What is {{n}} plus {{n}}?\\nA:"]
targets:
  - id: ollama:completion:gemma-3-270m:Q4_K_M
    config: {temperature: 0, max_tokens: 8}
tests:
  - vars:
      country: [France, Italy, Japan, Spain, Germany, Peru, Chile, Kenya, Egypt, Canada]
      n: [2, 7]
    assert:
      - {type: icontains-any, value: [Paris, Rome, Tokyo, Madrid, Berlin, Lima, Santiago, Nairobi, Cairo, Ottawa]}
"""


def test_forty_cells_on_eight_slots_equal_one_slot(wb, gemma, tmp_path):
    path = tmp_path / "forty.yaml"
    path.write_text(textwrap.dedent(FORTY))
    one = wb.evals.run(path, concurrency=1)
    eight = wb.evals.run(path, concurrency=8)
    assert one.total_cells == eight.total_cells == 40
    first = [(c.key, c.output, c.status, c.score) for c in wb.evals.cells(one.id)]
    second = [(c.key, c.output, c.status, c.score) for c in wb.evals.cells(eight.id)]
    assert first == second
    assert {c.provenance["n_parallel"] for c in wb.evals.cells(eight.id)} == {8}
    assert len({output for _, output, _, _ in first}) > 10  # real, varied answers, not one repeated string
