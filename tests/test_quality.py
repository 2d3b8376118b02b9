"""Quality figures (perplexity, KL divergence, same top token) on real quantizations of the tiny model.

The perplexity is checked against an independent computation: llama-cpp-python's high-level `Llama` with
`logits_all=True` evaluating the same windows, the NLL computed here with numpy over its logits.
"""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest

from workbench.cli import main
from workbench.engine import GenerationRequest, LoadOptions, Runtime, SamplingParams
from workbench.engine.scoring import score_models
from workbench.errors import Cancelled, EngineError, InvalidParameter, NotFound, WorkbenchError
from workbench.measure.quality import default_text, figures_text, quality
from workbench.settings import Settings
from workbench.tasks import CancelToken

TEXT = default_text()


@pytest.fixture(scope="module")
def runtime():
    rt = Runtime(Settings(threads=2, parallel_slots=1, default_context=256, keep_alive_seconds=-1))
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def f32(runtime, tiny_model_path):
    return runtime.acquire(tiny_model_path, LoadOptions(reproducible=True))


@pytest.fixture(scope="module")
def q4(runtime, tiny_q4_path):
    return runtime.acquire(tiny_q4_path, LoadOptions(reproducible=True))


def _independent_perplexity(path, tokens: list[int], window: int, bos: int) -> tuple[float, int]:
    """llama-perplexity's method written out again over `Llama`'s logits: windows, BOS first, second half."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=window, n_batch=window, logits_all=True, n_threads=2, verbose=False)
    nll: list[float] = []
    try:
        for start in range(0, len(tokens) - window + 1, window):
            chunk = [bos, *tokens[start + 1:start + window]]
            llm.reset()
            llm.eval(chunk)
            logits = np.asarray(llm.scores[:window], dtype=np.float64)
            for pos in range(window // 2, window - 1):
                row = logits[pos]
                log_z = row.max() + math.log(np.exp(row - row.max()).sum())
                nll.append(log_z - row[chunk[pos + 1]])
    finally:
        llm.close()
    return math.exp(math.fsum(nll) / len(nll)), len(nll)


def test_perplexity_matches_an_independent_computation(f32, tiny_model_path):
    tokens = f32.tokenize(TEXT)[:700]  # 2 windows of 256 and a tail that is dropped
    score = f32.score(tokens, window=256)
    expected, count = _independent_perplexity(tiny_model_path, tokens, 256, f32.bos_token_id)
    assert score.tokens_scored == count == 2 * 127
    assert math.isclose(score.perplexity, expected, rel_tol=1e-3)
    assert math.isclose(math.exp(score.nll_mean), score.perplexity, rel_tol=1e-12)


def test_windows_decoded_in_several_batches_give_the_same_figures(f32, q4, tiny_model_path, monkeypatch):
    """gemma's 262k vocabulary means 64-token batches; force that shape here (batches of 50 straddle the half)."""
    from workbench.engine import scoring

    tokens = f32.tokenize(TEXT)[:520]
    whole = score_models(f32, [q4], tokens, window=256)
    monkeypatch.setattr(scoring, "LOGITS_BUDGET_BYTES", 50 * 4 * f32.n_vocab)
    assert scoring.plan(len(tokens), 256, f32.n_ctx_train, f32.n_vocab).batch == 50
    batched = score_models(f32, [f32, q4], tokens, window=256)
    expected, count = _independent_perplexity(tiny_model_path, tokens, 256, f32.bos_token_id)
    assert batched.reference.tokens_scored == count
    assert math.isclose(batched.reference.perplexity, expected, rel_tol=1e-3)
    assert math.isclose(batched.candidates[1].kl_mean, whole.candidates[0].kl_mean, rel_tol=1e-2)
    assert batched.candidates[0].kl_max < 1e-9 and batched.candidates[0].same_top_percent == 100.0


def test_the_reference_against_itself_is_zero_and_a_quantization_is_not(f32, q4):
    tokens = f32.tokenize(TEXT)
    reports = []
    result = score_models(f32, [f32, q4], tokens, window=512, on_progress=reports.append)
    same, quant = result.candidates
    assert result.windows == len(tokens) // 512 and result.reference.tokens_scored == result.windows * 255
    assert abs(same.kl_mean) < 1e-9 and abs(same.kl_max) < 1e-9 and same.same_top_percent == 100.0
    assert same.score.perplexity == result.reference.perplexity
    assert quant.kl_mean > 1e-4 and quant.kl_p99 >= quant.kl_mean and quant.kl_max >= quant.kl_p99
    assert quant.same_top_percent < 100.0
    assert quant.score.perplexity != result.reference.perplexity
    assert reports[0].completed == 1 and reports[-1].completed == reports[-1].total == result.windows
    assert all(r.unit == "windows" and r.total == result.windows for r in reports)
    assert [r.completed for r in reports] == sorted(r.completed for r in reports)
    alone = q4.score(tokens, window=512)  # lockstep or alone: the same figure
    assert alone.perplexity == quant.score.perplexity


def test_a_short_text_is_one_window(f32):
    tokens = f32.tokenize("It is a truth universally acknowledged.")
    score = f32.score(tokens, window=512)
    assert score.tokens_scored == len(tokens) - 1 - len(tokens) // 2 and score.perplexity > 1
    assert f32.score(f32.tokenize(TEXT)[:1000], window=512).tokens_scored == 255  # under 2 windows: one


def test_too_little_to_score_is_a_typed_error(f32):
    for text in ("", "a"):
        with pytest.raises(InvalidParameter, match="too short to score"):
            f32.score(f32.tokenize(text))
    with pytest.raises(InvalidParameter, match="window"):
        f32.score(f32.tokenize(TEXT), window=2)
    with pytest.raises(InvalidParameter, match="outside the vocabulary"):
        f32.score([1, 2, 10**6])


def test_generation_on_the_same_model_runs_while_scoring(f32):
    request = GenerationRequest(prompt="Hello", sampling=SamplingParams(temperature=0), max_tokens=40)
    before, _ = f32.generate(request).collect()
    tokens = f32.tokenize(TEXT)
    started, results = threading.Event(), []

    def score() -> None:
        results.append(f32.score(tokens, window=256, on_progress=lambda _p: started.set()))

    worker = threading.Thread(target=score)
    worker.start()
    assert started.wait(30)
    during, final = f32.generate(request).collect()  # queued while the scorer holds its own context
    worker.join(60)
    assert final.finish_reason == "length" and during == before
    assert results and results[0].tokens_scored > 0


def test_cancel_stops_scoring(f32):
    token = CancelToken()
    seen = []

    def on_progress(p):
        seen.append(p.completed)
        if p.completed == 1:
            token.cancel()

    with pytest.raises(Cancelled):
        f32.score(f32.tokenize(TEXT), window=256, on_progress=on_progress, cancel=token)
    assert seen == [1]  # the first window's report; the next batch saw the token


def test_after_unload_is_a_typed_error(tiny_model_path):
    rt = Runtime(Settings(threads=2, parallel_slots=1, default_context=128, keep_alive_seconds=-1))
    try:
        loaded = rt.acquire(tiny_model_path)
        tokens = loaded.tokenize(TEXT)  # before: the vocabulary is freed with the model
        rt.unload(loaded)
        with pytest.raises(EngineError, match="unloaded"):
            loaded.score(tokens)
    finally:
        rt.close()


# --- the service and the CLI over a real Workbench -------------------------------------------------------


@pytest.fixture
def quants(wb, tiny_model_path, tiny_q4_path):
    source = wb.library.import_file(tiny_model_path, name="tiny:F32")
    return source, wb.library.import_file(tiny_q4_path, name="tiny:Q4_0")


def test_quality_over_targets(wb, quants):
    source, q4 = quants
    result = quality(wb, [source.name, q4.name, source.name], window=256)
    ref, quant, same = result.targets
    assert result.windows == result.text_tokens // 256 and ref.tokens_scored == result.windows * 127
    assert ref.kl_mean is None and ref.quantization == "F32" and quant.quantization == "Q4_0"
    assert quant.kl_mean > 0 and quant.same_top_percent < 100 and quant.perplexity != ref.perplexity
    assert same.kl_mean == 0 and same.same_top_percent == 100 and same.perplexity == ref.perplexity
    assert figures_text(ref, 0) == f"PPL {ref.perplexity:.2f} · reference"
    assert "same top" in figures_text(quant, 1) and "KL" in figures_text(quant, 1)
    assert all(info.options.reproducible for info in wb.runtime.loaded())


def test_quality_bad_requests(wb, quants):
    source, _ = quants
    with pytest.raises(InvalidParameter, match="2 to 4 targets"):
        quality(wb, [source.name])
    with pytest.raises(NotFound, match="no-such"):
        quality(wb, [source.name, "no-such"])
    with pytest.raises(InvalidParameter, match="empty"):
        quality(wb, [source.name, source.name], text="  \n")
    with pytest.raises(InvalidParameter, match="window"):
        quality(wb, [source.name, source.name], window=1)
    assert wb.runtime.loaded() == []  # refused before anything loaded


def test_a_candidate_that_cannot_load_is_reported_in_its_row(wb, quants, tmp_path):
    from tests.tinymodel import write_tiny_model

    source, _ = quants
    doomed = write_tiny_model(tmp_path / "gone.gguf", seed=1)  # other weights: another library entry
    gone = wb.library.import_file(doomed, name="tiny:gone")
    doomed.unlink()
    result = quality(wb, [source.name, gone.name], window=256)
    assert result.targets[0].perplexity > 1 and result.targets[1].perplexity is None
    assert "gone.gguf" in result.targets[1].error and figures_text(result.targets[1], 1).startswith("error: ")
    with pytest.raises(WorkbenchError, match=r"gone\.gguf"):  # the reference itself cannot be left out
        quality(wb, [gone.name, source.name])


@pytest.mark.gemma
def test_another_vocabulary_gets_perplexity_but_no_kl(wb, quants, gemma_model_path):
    source, _ = quants
    gemma = wb.library.import_file(gemma_model_path, name="gemma:Q4_K_M")
    text = TEXT[:400]
    result = quality(wb, [source.name, gemma.name], text=text, window=64)
    other = result.targets[1]
    assert not other.same_vocabulary and other.kl_mean is None and other.perplexity > 1
    assert "another vocabulary" in figures_text(other, 1)
    ref_model, gemma_loaded = (wb.runtime.acquire(m, LoadOptions(reproducible=True)) for m in (source, gemma))
    with pytest.raises(InvalidParameter, match="same vocabulary"):
        score_models(ref_model, [gemma_loaded], ref_model.tokenize(text))


def test_quality_command_json_and_table(quants, tmp_path, capsys):
    source, q4 = quants
    text = tmp_path / "text.txt"
    text.write_text(TEXT[:1500], encoding="utf-8")
    assert main(["quality", "-m", source.name, "-m", q4.name, "--text", str(text), "--window", "128",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["window"] == 128 and [t["target"] for t in data["targets"]] == [source.name, q4.name]
    assert data["targets"][1]["kl_mean"] > 0 and data["targets"][0]["kl_mean"] is None
    assert main(["quality", "-m", source.name, "-m", q4.name, "--text", str(text), "--window", "128"]) == 0
    out = capsys.readouterr().out
    assert "reference" in out and "Q4_0" in out and "%" in out and "PPL" in out
    assert main(["quality", "-m", source.name, "-m", q4.name, "--text", str(tmp_path / "missing.txt")]) == 1
    assert "cannot read the text file" in capsys.readouterr().err
