"""Remote endpoints as targets of Compare and Evals, beside the local model: the project's own endpoint on another
port as the good remote, and one that drops mid-answer (its pane / column errors, the others go on)."""

from __future__ import annotations

import textwrap

import pytest

from tests.remote_support import add_terse_preset, dropping_server, served_side
from workbench.cli import main
from workbench.errors import NotFound
from workbench.measure.compare import compare

LOCKED = {"num_predict": 4, "temperature": 0}


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_model_path):
    with served_side(tmp_path_factory.mktemp("remote-side"), tiny_model_path) as url:
        yield url


@pytest.fixture
def local(wb, tiny_model_path, served):
    add_terse_preset(wb, tiny_model_path)
    wb.remotes.add("side", served, "terse")
    return wb


def test_compare_a_local_preset_with_the_same_preset_served_remotely(local):
    with dropping_server() as (url, _seen):
        local.remotes.add("dropper", url, "dropper")
        streamed: dict[int, str] = {}
        result = compare(local, "Hello", ["terse", "remote:side", "remote:dropper"], parameters=LOCKED, seed=7,
                         on_text=lambda i, piece: streamed.__setitem__(i, streamed.get(i, "") + piece))
    here, there, dropped = result.panes
    assert here.error is None and there.error is None and there.text == streamed[1]
    assert there.provenance["reported_model"] == "terse" and there.provenance["endpoint"] == "side"
    assert there.identical  # same weights, template, seed and greedy sampler: the same text
    assert there.diverge_token is None and there.memory_bytes is None
    assert "dropper" in dropped.error and dropped.text == ""


def test_compare_refuses_an_unregistered_remote_before_running(local):
    with pytest.raises(NotFound, match="no remote endpoint named 'ghost'"):
        compare(local, "Hello", ["terse", "remote:ghost"], parameters=LOCKED)


def test_cli_compare_with_a_remote(local, capsys):
    local.close()  # the CLI opens its own Workbench on the same home
    assert main(["compare", "Hello", "-m", "terse", "-m", "remote:side", "-n", "4", "--temperature", "0"]) == 0
    out = capsys.readouterr().out
    assert "remote:side" in out and "identical" in out


SUITE = """\
description: local against served
prompts: ["Hello {{name}}"]
targets:
  - terse
  - remote:side
  - remote:dropper
  - id: openai:chat:terse
    label: by-url
    config: {{apiBaseUrl: "{url}"}}
tests:
  - vars: {{name: Ann}}
    assert: [{{type: max-tokens, value: 4}}]
options:
  parameters: {{temperature: 0, num_predict: 4}}
"""


def test_an_eval_suite_runs_a_remote_column_beside_the_local_one(local, served, tmp_path):
    with dropping_server() as (url, _seen):
        local.remotes.add("dropper", url, "dropper")
        suite = tmp_path / "suite.yaml"
        suite.write_text(textwrap.dedent(SUITE.format(url=served + "/v1")), encoding="utf-8")
        run = local.evals.run(suite, concurrency=2)
    assert run.status == "complete"
    by_target = {t.target: (t.cells, t.passed) for t in run.targets}
    assert by_target == {"terse": (1, 1), "remote:side": (1, 1), "remote:dropper": (1, 0), "by-url": (1, 1)}
    cells = {c.target: c for c in local.evals.cells(run.id)}
    assert cells["remote:side"].output == cells["terse"].output
    assert cells["remote:dropper"].status == "error" and "dropper" in cells["remote:dropper"].error
    assert cells["by-url"].provenance["endpoint"] == "side"
