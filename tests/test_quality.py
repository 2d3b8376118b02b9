"""Quality figures on real models through the real runtime: perplexity, and llama-perplexity's KL-divergence report
against a compacted reference.

Checked against independent computations over llama-cpp-python's high-level `Llama` (`logits_all=True`, the
same windows): the perplexity with numpy, and the whole report by a line-by-line translation of
tools/perplexity/perplexity.cpp (its 16-bit reference log-probabilities, its sums, its percentile rule).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import subprocess
import sys
import textwrap
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.tinymodel import write_tiny_model
from workbench.cli import main
from workbench.engine import GenerationRequest, LoadOptions, Runtime, SamplingParams, scoring
from workbench.engine.divergence import ReferenceRows
from workbench.errors import Cancelled, EngineError, InvalidParameter, NotFound, WorkbenchError
from workbench.measure.quality import default_text, figures_text, load_text, quality
from workbench.measure.reference import InvalidReference, StoredReference
from workbench.measure.statistics import divergence_report
from workbench.settings import Settings
from workbench.tasks import CancelToken

TEXT = default_text()


@pytest.fixture(scope="module")
def runtime():
    rt = Runtime(Settings(threads=2, parallel_slots=1, default_context=256, keep_alive_seconds=-1))
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def other_path(tmp_path_factory):
    """The tiny model with other weights (same vocabulary, F32 too): far from it, so every statistic moves."""
    return write_tiny_model(tmp_path_factory.mktemp("other") / "tiny-other.gguf", seed=7)


@pytest.fixture(scope="module")
def f32(runtime, tiny_model_path):
    return runtime.acquire(tiny_model_path, LoadOptions(reproducible=True))


@pytest.fixture(scope="module")
def q4(runtime, tiny_q4_path):
    return runtime.acquire(tiny_q4_path, LoadOptions(reproducible=True))


def against(reference, candidate, tokens, window=256, worst=10):
    """The engine's two passes: the reference compacted into memory, then the candidate against it."""
    rows: dict[int, ReferenceRows] = {}
    cut = scoring.compute_reference(reference, tokens, window=window, sink=rows.__setitem__)
    return scoring.score_against(candidate, tokens, cut, rows.__getitem__, worst=worst), cut


def _llama_logits(path, tokens: list[int], window: int, bos: int) -> np.ndarray:
    """Each window's scored rows of logits from llama-cpp-python's high-level API (one batch per window)."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=window, n_batch=window, logits_all=True, n_threads=2, verbose=False)
    rows = []
    try:
        for start in range(0, len(tokens) - window + 1, window):
            llm.reset()
            llm.eval([bos, *tokens[start + 1:start + window]])
            rows.append(np.array(llm.scores[window // 2:window - 1], dtype=np.float32))
    finally:
        llm.close()
    return np.concatenate(rows)


def _targets(tokens: list[int], window: int) -> list[int]:
    return [tokens[s + p + 1] for s in range(0, len(tokens) - window + 1, window) for p in range(window // 2,
                                                                                             window - 1)]


def _perplexity_cpp(base: np.ndarray, cand: np.ndarray, targets: list[int]) -> dict:
    """tools/perplexity/perplexity.cpp, line by line: log_softmax(…, uint16_t * log_prob, tok) for the base, then
    log_softmax(…, const uint16_t * base_log_prob, tok, kld) for the candidate, then the final statistics."""
    f32 = np.float32
    sums = dict.fromkeys(("nll", "nll2", "base", "base2", "cross", "kld", "kld2", "dp", "dp2", "dp4"), 0.0)
    klds, dps, same = [], [], 0
    for row, logits, tok in zip(base, cand, targets, strict=True):
        max_logit, min_logit = f32(row.max()), f32(max(row.min(), row.max() - f32(16)))
        log_sum_exp = f32(math.log(math.fsum(float(f32(math.exp(f32(v - max_logit)))) for v in row)))
        min_log_prob, scale = f32(min_logit - max_logit - log_sum_exp), f32((max_logit - min_logit) / f32(65535))
        q = [int(np.rint(f32(f32(1) / scale) * f32(v - min_logit))) if v > min_logit else 0 for v in row]
        p_log_base = [f32(f32(scale * f32(level)) + min_log_prob) for level in q]
        c_max = f32(logits.max())
        c_lse = f32(math.log(math.fsum(float(f32(math.exp(f32(v - c_max)))) for v in logits)))
        nll, nll_base = f32(c_max + c_lse - logits[tok]), -p_log_base[tok]
        norm = f32(c_max + c_lse)
        kld = math.fsum(float(f32(f32(math.exp(p)) * f32(f32(p - logits[i]) + norm)))
                        for i, p in enumerate(p_log_base) if p > -16)
        dp = float(f32(math.exp(-nll)) - f32(math.exp(-nll_base)))
        same += int(np.argmax(logits)) == int(np.argmax(p_log_base))
        for key, value in (("nll", nll), ("nll2", nll * nll), ("base", nll_base), ("base2", nll_base * nll_base),
                           ("cross", nll * nll_base), ("kld", kld), ("kld2", kld * kld), ("dp", dp),
                           ("dp2", dp * dp), ("dp4", dp ** 4)):
            sums[key] += float(value)
        klds.append(kld)
        dps.append(dp)
    return {"sums": sums, "kld": sorted(klds), "dp": sorted(dps), "same": same, "n": len(targets)}


def _cpp_mean_and_error(total: float, total2: float, n: int) -> tuple[float, float]:
    f = total / n
    df = total2 / n - f * f
    return f, math.sqrt(df / (n - 1)) if df > 0 and n > 10 else 0.0


def _cpp_percentile(values: list[float], fraction: float) -> float:
    p = fraction * (len(values) - 1)
    ip = int(p)
    p -= ip
    return (1 - p) * values[ip] + p * values[min(ip + 1, len(values) - 1)]


def test_the_report_is_llama_perplexitys_statistic_for_statistic(f32, tiny_model_path, other_path, runtime):
    other = runtime.acquire(other_path, LoadOptions(reproducible=True))
    tokens = f32.tokenize(TEXT)[:700]  # 2 windows of 256 and a tail that is dropped
    scores, cut = against(f32, other, tokens)
    targets = _targets(tokens, 256)
    cpp = _perplexity_cpp(_llama_logits(tiny_model_path, tokens, 256, f32.bos_token_id),
                          _llama_logits(other_path, tokens, 256, f32.bos_token_id), targets)
    f = scores.figures
    report = divergence_report(f.nll, f.nll_base, f.kld, f.delta_p, f.same_top)
    s, n = cpp["sums"], cpp["n"]
    assert report.positions == n == cut.windows * cut.per_window == 2 * 127
    log_ppl, log_ppl_base = _cpp_mean_and_error(s["nll"], s["nll2"], n), _cpp_mean_and_error(s["base"], s["base2"], n)
    cov = (s["cross"] / n - s["nll"] / n * (s["base"] / n)) / (n - 1)
    kld, dp = _cpp_mean_and_error(s["kld"], s["kld2"], n), _cpp_mean_and_error(s["dp"], s["dp2"], n)
    mse = _cpp_mean_and_error(s["dp2"], s["dp4"], n)
    top = cpp["same"] / n
    expected = {
        "ppl": (math.exp(log_ppl[0]), math.exp(log_ppl[0]) * log_ppl[1]),
        "ppl_base": (math.exp(log_ppl_base[0]), math.exp(log_ppl_base[0]) * log_ppl_base[1]),
        "ln_ppl_ratio": (log_ppl[0] - log_ppl_base[0], math.sqrt(log_ppl[1] ** 2 + log_ppl_base[1] ** 2 - 2 * cov)),
        "kld": kld, "delta_p_percent": (100 * dp[0], 100 * dp[1]),
        "rms_delta_p_percent": (100 * math.sqrt(mse[0]), 100 * 0.5 / math.sqrt(mse[0]) * mse[1]),
        "same_top_percent": (100 * top, 100 * math.sqrt(top * (1 - top) / (n - 1)))}
    for name, (value, error) in expected.items():
        got = getattr(report, name)
        assert math.isclose(got.value, value, rel_tol=1e-4, abs_tol=1e-7), name
        assert math.isclose(got.error, error, rel_tol=1e-3, abs_tol=1e-7), name
    assert math.isclose(report.ppl_correlation, cov / (log_ppl[1] * log_ppl_base[1]), rel_tol=1e-3)
    for level, value in report.kld_spread.percentiles.items():
        assert math.isclose(value, _cpp_percentile(cpp["kld"], float(level) / 100), rel_tol=1e-3, abs_tol=1e-6)
    for level, value in report.delta_p_spread.percentiles.items():
        assert math.isclose(value, 100 * _cpp_percentile(cpp["dp"], float(level) / 100), abs_tol=1e-3), level
    assert math.isclose(report.kld_spread.maximum, cpp["kld"][-1], rel_tol=1e-4)
    assert math.isclose(report.kld_spread.minimum, cpp["kld"][0], rel_tol=1e-3, abs_tol=1e-7)
    assert math.isclose(report.kld_spread.median, 0.5 * (cpp["kld"][126] + cpp["kld"][127]), rel_tol=1e-4)
    assert report.kld.value > 0.3 and 10 < report.same_top_percent.value < 95  # far apart: nothing trivial


def test_perplexity_matches_an_independent_computation(f32, tiny_model_path):
    tokens = f32.tokenize(TEXT)[:700]
    score = f32.score(tokens, window=256)
    rows = _llama_logits(tiny_model_path, tokens, 256, f32.bos_token_id).astype(np.float64)
    log_z = rows.max(axis=1) + np.log(np.exp(rows - rows.max(axis=1, keepdims=True)).sum(axis=1))
    nll = log_z - rows[np.arange(len(rows)), _targets(tokens, 256)]
    assert score.tokens_scored == len(nll) == 2 * 127
    assert math.isclose(score.perplexity, math.exp(nll.mean()), rel_tol=1e-4)


def test_the_reference_against_itself_and_a_quantization(f32, q4):
    tokens = f32.tokenize(TEXT)[:1100]
    same, _ = against(f32, f32, tokens)
    quant, cut = against(f32, q4, tokens, worst=5)
    # the stored reference is in 16-bit steps of 16/65535 nats: against itself, KL is that rounding only
    assert np.abs(same.figures.kld).max() < 1e-4 and same.figures.same_top.all()
    assert np.allclose(same.figures.nll, same.figures.nll_base, atol=2e-4)
    kld = quant.figures.kld
    assert kld.mean() > 100 * np.abs(same.figures.kld).mean() and not quant.figures.same_top.all()
    assert [w.kld for w in quant.worst] == sorted(kld, reverse=True)[:5]
    worst = quant.worst[0]
    position = int(np.argmax(kld))
    assert worst.token_index == (position // cut.per_window) * 256 + cut.first + position % cut.per_window + 1
    assert len(worst.reference_top) == len(worst.candidate_top) == 3
    assert worst.reference_top[0][1] >= worst.reference_top[1][1] and 0 < worst.candidate_top[0][1] <= 1


def test_windows_decoded_in_several_batches_give_the_same_figures(f32, q4, monkeypatch):
    """gemma's 262k vocabulary means 64-token batches; force that shape here (batches of 50 straddle the half)."""
    tokens = f32.tokenize(TEXT)[:520]
    whole, _ = against(f32, q4, tokens)
    monkeypatch.setattr(scoring, "LOGITS_BUDGET_BYTES", 50 * 4 * f32.n_vocab)
    batched, cut = against(f32, q4, tokens)
    assert cut.batch == 50 and len(batched.figures.kld) == len(whole.figures.kld) == 2 * 127
    assert math.isclose(batched.figures.kld.mean(), whole.figures.kld.mean(), rel_tol=1e-2)
    assert math.isclose(batched.figures.nll.mean(), whole.figures.nll.mean(), rel_tol=1e-3)


def test_a_candidate_that_does_not_fit_the_reference_is_a_typed_error(f32):
    tokens = f32.tokenize(TEXT)[:600]
    rows: dict[int, ReferenceRows] = {}
    cut = scoring.compute_reference(f32, tokens, window=256, sink=rows.__setitem__)
    with pytest.raises(InvalidParameter, match="same vocabulary"):
        scoring.score_against(f32, tokens, dataclasses.replace(cut, n_vocab=cut.n_vocab + 1), rows.__getitem__)
    with pytest.raises(InvalidParameter, match="trained on"):
        scoring.score_against(f32, tokens * 20, dataclasses.replace(cut, window=8192), rows.__getitem__)


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


# --- the service, its stored references and the CLI over a real Workbench ----------------------------------


@pytest.fixture
def quants(wb, tiny_model_path, tiny_q4_path):
    source = wb.library.import_file(tiny_model_path, name="tiny:F32")
    return source, wb.library.import_file(tiny_q4_path, name="tiny:Q4_0")


def test_quality_over_targets(wb, quants):
    source, q4 = quants
    result = quality(wb, [source.name, q4.name, source.name], text=TEXT[:3000], window=256)
    ref, quant, same = result.targets
    assert result.windows == result.text_tokens // 256 and ref.tokens_scored == result.windows * 127
    assert ref.kl_mean is None and ref.report is None and ref.quantization == "F32" and quant.quantization == "Q4_0"
    report = quant.report
    assert quant.kl_mean == report.kld.value > 0 and quant.kl_p99 == report.kld_spread.percentiles["99"]
    assert quant.kl_max == report.kld_spread.maximum  # as llama-perplexity sorts them: float32
    assert math.isclose(quant.kl_max, max(quant.kld_per_position), rel_tol=1e-6)
    assert quant.perplexity == report.ppl.value and math.isclose(ref.perplexity, report.ppl_base.value)
    assert len(quant.kld_per_position) == len(result.scored_token_indices()) == quant.tokens_scored
    worst = quant.worst[0]
    assert worst.kld == max(quant.kld_per_position) and worst.token in TEXT and worst.context in TEXT[:3000]
    assert result.scored_token_indices()[quant.kld_per_position.index(worst.kld)] == worst.token_index
    assert abs(same.kl_mean) < 1e-4 and same.same_top_percent == 100
    assert figures_text(ref, 0) == f"PPL {ref.perplexity:.2f} · reference"
    assert "same top" in figures_text(quant, 1) and all(info.options.reproducible for info in wb.runtime.loaded())


def test_the_reference_is_stored_once_and_reused_without_loading_it(wb, quants):
    source, q4 = quants
    first = quality(wb, [source.name, q4.name], text=TEXT[:2000], window=256)
    path = Path(first.reference.path)
    assert not first.reference.reused and path.is_file() and path.parent.name == f"sha256-{source.sha256}"
    assert path.name == f"{first.text_sha256}-w256.wbref"
    assert wb.runtime.unload(source) == wb.runtime.unload(q4) == 1
    second = quality(wb, [source.name, q4.name], text=TEXT[:2000], window=256)
    assert second.reference.reused and second.reference.path == first.reference.path
    assert [info.sha256 for info in wb.runtime.loaded()] == [q4.sha256]  # only the one being judged
    assert second.targets == first.targets
    other_window = quality(wb, [source.name, q4.name], text=TEXT[:2000], window=128)
    assert not other_window.reference.reused and other_window.reference.path != first.reference.path


def test_a_reference_known_only_by_its_stored_file(wb, quants, capsys):
    source, q4 = quants
    assert main(["quality", "--reference-only", "-m", source.name, "--window", "256"]) == 0
    assert "computed and stored" in capsys.readouterr().out
    wb.library.remove(source.name)
    result = quality(wb, [source.name, q4.name], window=256)  # the bundled text, as --reference-only used
    assert result.reference.reused and result.targets[0].model_sha256 == source.sha256
    assert result.targets[1].kl_mean > 0
    with pytest.raises(NotFound, match="no stored reference over this text"):
        quality(wb, [source.name, q4.name], text=TEXT[:2000], window=256)
    assert main(["quality", "--reference-only", "-m", source.name, "--window", "256", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reused"] is True


def test_a_damaged_stored_reference_is_computed_again_or_refused(wb, quants):
    source, q4 = quants
    first = quality(wb, [source.name, q4.name], text=TEXT[:2000], window=256)
    path = Path(first.reference.path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a truncated copy
    again = quality(wb, [source.name, q4.name], text=TEXT[:2000], window=256)
    assert not again.reference.reused and again.targets == first.targets
    path.write_bytes(b"not a zip at all")
    wb.library.remove(source.name)
    with pytest.raises(InvalidReference, match=rf"{path.name} is damaged"), StoredReference(path):
        pass
    with pytest.raises(NotFound):  # the model is gone and its only reference unreadable: nothing to compare to
        quality(wb, [source.name, q4.name], text=TEXT[:2000], window=256)


def test_a_hostile_reference_file_is_refused_by_name(wb, quants, tmp_path):
    source, q4 = quants
    first = quality(wb, [source.name, q4.name], text=TEXT[:2000], window=256)
    original = Path(first.reference.path)
    with zipfile.ZipFile(original) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    for name, payload, problem in (("w0.ids.npy", _npy(np.full(5, 10**6, dtype="<i4")), "do not add up|outside"),
                                   ("w0.scale.npy", _npy(np.full(127, np.nan, dtype="<f4")), "not finite"),
                                   ("w0.counts.npy", _npy(np.zeros(127, dtype="<f8")), "expected type"),
                                   ("meta.json", b'{"format": "workbench-reference", "format_version": 9}',
                                    "format 9")):
        hostile = tmp_path / f"hostile-{name}.wbref"
        with zipfile.ZipFile(hostile, "w") as archive:
            for member, data in members.items():
                archive.writestr(member, payload if member == name else data)
        with pytest.raises(InvalidReference, match=problem), StoredReference(hostile) as stored:
            stored.validate()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def test_texts_from_a_file_or_a_folder(tmp_path):
    folder = tmp_path / "corpus"
    (folder / "b").mkdir(parents=True)
    (folder / "b" / "2.txt").write_text("second\n", encoding="utf-8")
    (folder / "1.md").write_text("first\n", encoding="utf-8")
    (folder / ".hidden").write_text("never", encoding="utf-8")
    assert load_text(folder) == "first\n\nsecond"
    assert load_text(folder / "1.md") == "first\n"
    (folder / "3.bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InvalidParameter, match=r"3\.bin"):
        load_text(folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidParameter, match="no files"):
        load_text(tmp_path / "empty")


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
    assert wb.runtime.loaded() == [] and not wb.paths.references.exists()  # refused before anything ran


def test_a_candidate_that_cannot_load_is_reported_in_its_row(wb, quants, tmp_path):
    source, _ = quants
    doomed = write_tiny_model(tmp_path / "gone.gguf", seed=1)  # other weights: another library entry
    gone = wb.library.import_file(doomed, name="tiny:gone")
    doomed.unlink()
    result = quality(wb, [source.name, gone.name], text=TEXT[:2000], window=256)
    assert result.targets[0].perplexity > 1 and result.targets[1].perplexity is None
    assert "gone.gguf" in result.targets[1].error and figures_text(result.targets[1], 1).startswith("error: ")
    with pytest.raises(WorkbenchError, match=r"gone\.gguf"):  # the reference itself cannot be left out
        quality(wb, [gone.name, source.name], text=TEXT[:2000], window=256)


@pytest.mark.gemma
def test_another_vocabulary_gets_perplexity_but_no_kl(wb, quants, gemma_model_path):
    source, _ = quants
    gemma = wb.library.import_file(gemma_model_path, name="gemma:Q4_K_M")
    result = quality(wb, [source.name, gemma.name], text=TEXT[:400], window=64)
    other = result.targets[1]
    assert not other.same_vocabulary and other.kl_mean is None and other.perplexity > 1
    assert "another vocabulary" in figures_text(other, 1)


def test_quality_command_json_table_and_folder(quants, tmp_path, capsys):
    source, q4 = quants
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text(TEXT[:900], encoding="utf-8")
    (folder / "b.txt").write_text(TEXT[900:1800], encoding="utf-8")
    args = ["quality", "-m", source.name, "-m", q4.name, "--text", str(folder), "--window", "128"]
    assert main([*args, "--json", "--worst", "3"]) == 0
    data = json.loads(capsys.readouterr().out)
    quant = data["targets"][1]
    assert data["window"] == 128 and [t["target"] for t in data["targets"]] == [source.name, q4.name]
    assert data["text_sha256"] == hashlib.sha256(load_text(folder).encode()).hexdigest()
    assert quant["report"]["kld"]["value"] == quant["kl_mean"] > 0 and len(quant["worst"]) == 3
    assert set(quant["worst"][0]) >= {"token_index", "kld", "context", "token", "reference_top", "candidate_top"}
    assert quant["report"]["kld_spread"]["percentiles"].keys() == {"99.9", "99", "95", "90", "10", "5", "1", "0.1"}
    assert main(args) == 0
    out = capsys.readouterr().out
    for line in ("Mean PPL(Q)", "Mean    KLD", "99.9%   KLD", "RMS Δp", "Same top p", "where it diverges most"):
        assert line in out
    assert main(["quality", "-m", source.name, "-m", q4.name, "--text", str(tmp_path / "missing.txt")]) == 1
    assert "cannot read the text file" in capsys.readouterr().err
    assert main(["quality", "--reference-only", "-m", source.name, "-m", q4.name]) == 1
    assert "takes one model" in capsys.readouterr().err


def test_a_full_disk_while_storing_the_reference_keeps_nothing(quants, workbench_home, tmp_path):
    """A real short write: the child process may not write files over 256 KB (RLIMIT_FSIZE → EFBIG); the
    reference of this text takes ~470 KB (a failed audit write on the way is only logged)."""
    source, q4 = quants
    script = textwrap.dedent(f"""
        import resource, signal, sys
        from workbench.app import Workbench
        from workbench.errors import DiskFull
        from workbench.measure.quality import default_text, quality
        from workbench.paths import default_paths
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        with Workbench(default_paths()) as wb:
            resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))
            try:
                quality(wb, [{source.name!r}, {q4.name!r}], text=default_text()[:8000], window=256)
            except DiskFull as exc:
                print("DiskFull:", exc)
                sys.exit(0)
        sys.exit(3)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).parent.parent, env={"PATH": "/usr/bin:/bin",
                                                                  "WORKBENCH_HOME": str(workbench_home),
                                                                  "WORKBENCH_NO_DEFAULT_MODEL": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "DiskFull: no room to store the reference" in done.stdout and "nothing was kept" in done.stdout
    assert [p.name for p in (workbench_home / "data" / "models" / "references").rglob("*") if p.is_file()] == []
