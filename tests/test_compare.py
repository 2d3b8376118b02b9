"""Compare on real quantizations of the tiny model through the real runtime: figures, divergence, locking, CLI."""

from __future__ import annotations

import json

import pytest

from workbench.cli import main
from workbench.errors import Cancelled, InvalidParameter, NotFound
from workbench.measure.compare import compare, divergence_text, first_difference
from workbench.tasks import CancelToken

GREEDY = {"temperature": 0, "num_predict": 40}


@pytest.fixture
def quants(wb, tiny_model_path, tiny_q4_path):
    """The F32 tiny model and its Q4_0 quantization (greedy output differs a few characters in)."""
    source = wb.library.import_file(tiny_model_path, name="tiny:F32")
    return source, wb.library.import_file(tiny_q4_path, name="tiny:Q4_0")


def test_first_difference():
    assert first_difference("abc", "abc") is None
    assert first_difference("abc", "abd") == 2
    assert first_difference("ab", "abc") == 2
    assert first_difference((), (1,)) == 0


def test_divergence_in_words(wb, quants):
    result = compare(wb, "Hello there", [quants[1].name, quants[0].name, quants[1].name], parameters=GREEDY)
    first, other, same = result.panes
    assert divergence_text(first, 0) == "reference" and divergence_text(same, 2) == "identical"
    assert divergence_text(other, 1) == f"diverges at char {other.diverge_char}, token {other.diverge_token}"


def test_two_quantizations_report_figures_and_where_they_diverge(wb, quants):
    source, q4 = quants
    streamed: dict[int, list[str]] = {0: [], 1: []}
    finished = []
    result = compare(wb, "Hello there", [source.name, q4.name], parameters=GREEDY, seed=7,
                     on_text=lambda i, text: streamed[i].append(text),
                     on_pane=lambda i, pane: finished.append(i))
    first, second = result.panes
    assert finished == [0, 1]
    for index, pane in enumerate(result.panes):
        assert "".join(streamed[index]) == pane.text
        assert pane.error is None and pane.finish_reason == "length" and pane.completion_tokens == 40
        assert pane.ttft_seconds > 0 and pane.tokens_per_second > 0 and pane.seed == 7
        assert pane.memory_bytes > 0 and pane.parameters["temperature"] == 0
        assert pane.cached_tokens == 0  # the warm-up shares no prefix with the prompt: TTFT includes the prefill
    assert (first.quantization, second.quantization) == ("F32", "Q4_0")
    assert first.memory_bytes > second.memory_bytes  # 4-bit weights are smaller
    assert first.diverge_char is None and first.identical
    cut = second.diverge_char
    assert cut is not None and first.text[:cut] == second.text[:cut] and first.text[cut] != second.text[cut]
    tok = second.diverge_token
    assert first.tokens[:tok] == second.tokens[:tok] and first.tokens[tok] != second.tokens[tok]


def test_same_target_and_seed_twice_is_identical_even_when_sampling(wb, quants):
    source, _ = quants
    result = compare(wb, "Tell me", [source.name, source.name], parameters={"temperature": 1.0, "num_predict": 30})
    first, second = result.panes
    assert first.seed == second.seed == result.seed
    assert first.text == second.text and second.identical and second.diverge_token is None
    assert second.cached_tokens > 0  # the same prompt on the same loaded model: reused, and reported


def test_the_sampler_is_locked_across_presets_but_stop_strings_stay_per_preset(wb, quants):
    source, q4 = quants
    wb.presets.create("cool", f"FROM {source.name}\nPARAMETER temperature 0.1\nPARAMETER stop zz\n")
    wb.presets.create("hot", f"FROM {q4.name}\nPARAMETER temperature 1.5\nPARAMETER top_k 3\n")
    result = compare(wb, "Hi", ["cool", "hot"], parameters={"num_predict": 8}, seed=3)
    assert result.parameters["temperature"] == 0.1 and "stop" not in result.parameters
    cool, hot = result.panes
    assert cool.target == "cool@1" and hot.target == "hot@1"
    assert hot.parameters["temperature"] == 0.1 and hot.parameters["top_k"] == 3  # top_k: only hot sets it
    assert cool.parameters["stop"] == ["zz"] and "stop" not in hot.parameters
    overridden = compare(wb, "Hi", ["cool", "hot"], parameters={"num_predict": 8, "temperature": 0.5})
    assert all(p.parameters["temperature"] == 0.5 for p in overridden.panes)


def test_a_target_that_cannot_run_is_reported_in_its_pane(wb, quants):
    source, _ = quants
    wb.presets.create("tiny-ctx", f"FROM {source.name}\nPARAMETER num_ctx 16\n")
    result = compare(wb, "a prompt much longer than sixteen tokens, " * 2, [source.name, "tiny-ctx"],
                     parameters=GREEDY)
    assert result.panes[0].error is None and result.panes[0].text
    assert "16" in result.panes[1].error and "num_ctx" in result.panes[1].error
    assert result.panes[1].diverge_char is None and not result.panes[1].identical


def test_bad_requests_fail_before_anything_runs(wb, quants):
    source, _ = quants
    with pytest.raises(InvalidParameter, match="2 to 4 targets"):
        compare(wb, "Hi", [source.name])
    with pytest.raises(InvalidParameter, match="2 to 4 targets"):
        compare(wb, "Hi", [source.name] * 5)
    with pytest.raises(NotFound, match="no-such"):
        compare(wb, "Hi", [source.name, "no-such"])
    with pytest.raises(InvalidParameter, match="temprature"):
        compare(wb, "Hi", [source.name, source.name], parameters={"temprature": 0})
    with pytest.raises(InvalidParameter, match="empty"):
        compare(wb, "  ", [source.name, source.name])
    assert wb.runtime.loaded() == []


def test_cancel_stops_the_running_pane_and_the_rest(wb, quants):
    source, q4 = quants
    token = CancelToken()
    panes, reports = [], []

    def on_text(index, _text):
        token.cancel()

    with pytest.raises(Cancelled):
        compare(wb, "Hi", [source.name, q4.name], parameters={"num_predict": -1}, on_text=on_text,
                on_pane=lambda i, p: panes.append(p), on_progress=reports.append, cancel=token)
    assert [p.finish_reason for p in panes] == ["cancelled"]
    assert [(r.completed, r.total, r.unit, r.message) for r in reports] == [(0, 2, "targets", source.name)]


def test_compare_command_prints_a_table_and_json(quants, capsys):
    source, q4 = quants
    assert main(["compare", "Hello there", "-m", source.name, "-m", q4.name, "--temperature", "0",
                 "-n", "20", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "seed 1" in out and "reference" in out and "char " in out and "Q4_0" in out
    assert main(["compare", "Hello there", "-m", source.name, "-m", q4.name, "--temperature", "0", "-n", "20",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["target"] for p in data["panes"]] == [source.name, q4.name]
    assert data["panes"][1]["diverge_char"] is not None and "tokens" not in data["panes"][0]
    assert main(["compare", "Hi", "-m", source.name]) == 1
    assert "2 to 4 targets" in capsys.readouterr().err
