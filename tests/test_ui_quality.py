"""The Compare page's "Measure quality" on real widgets: F32 vs Q4_0 of the tiny model through the real runtime,
each pane's stats line gaining its perplexity / KL / same-top figures; Stop cancels; figures survive a Compare run.
"""

from __future__ import annotations

import hashlib

import pytest

from tests.ui_helpers import open_page


@pytest.fixture
def page(qtbot, wb, tiny_model_path, tiny_q4_path):
    wb.library.import_file(tiny_model_path, name="tiny:F32")
    wb.library.import_file(tiny_q4_path, name="tiny:Q4_0")
    window, page = open_page(qtbot, wb, "Compare")
    window.errors = []
    window.show_error = lambda title, message, details="": window.errors.append(message)
    page.panes[0].target.setCurrentText("tiny:F32")
    page.panes[1].target.setCurrentText("tiny:Q4_0")
    yield page
    window.close()


def test_measure_quality_fills_each_panes_stats_line(qtbot, page):
    progress = []
    with qtbot.waitSignal(page.quality_finished, timeout=60000) as done:
        task = page.measure_quality()
        task.progress.connect(progress.append)
        assert not page.quality_button.isEnabled() and not page.run_button.isEnabled()
        assert page.stop_button.isEnabled()
    result = done.args[0]
    assert result is not None and page.window_.errors == []
    reference, quant = result.targets
    assert progress and progress[-1].completed == progress[-1].total == result.windows
    first, second = (pane.stats.text() for pane in page.panes)
    assert first == f"PPL {reference.perplexity:.2f} · reference"
    assert f"KL {quant.kl_mean:.4g}" in second and f"same top {quant.same_top_percent:.1f}%" in second
    assert quant.kl_mean > 0 and "Quality over" in page.error.text()
    assert page.quality_button.isEnabled() and page.run_button.isEnabled() and not page.stop_button.isEnabled()
    page.prompt.setPlainText("Hello")
    page.num_predict.setValue(8)
    with qtbot.waitSignal(page.compare_finished, timeout=60000):
        page.run_button.click()
    stats = page.panes[1].stats.text()
    assert "8 tokens" in stats and "tok/s" in stats and f"KL {quant.kl_mean:.4g}" in stats  # still there


def test_stop_cancels_the_measurement(qtbot, page):
    with qtbot.waitSignal(page.quality_finished, timeout=60000) as done:
        page.quality_button.click()
        page.stop_button.click()  # before the worker starts: its token is already cancelled
    assert done.args[0] is None and page.quality is None
    assert all(pane.stats.text() == "quality: not measured" for pane in page.panes)
    assert page.error.text() == "Quality measurement stopped" and page.quality_button.isEnabled()


def test_export_saves_the_comparison_and_quality_as_markdown_and_json(qtbot, page, tmp_path):
    import json

    assert not page.export_button.isEnabled()  # nothing to export yet
    page.prompt.setPlainText("Hello | there")
    page.temperature.setText("0")
    page.num_predict.setValue(12)
    with qtbot.waitSignal(page.compare_finished, timeout=60000):
        page.run_button.click()
    with qtbot.waitSignal(page.quality_finished, timeout=60000):
        page.measure_quality()
    assert page.export_button.isEnabled()
    data = json.loads(page.export_to(tmp_path / "run.json").read_text())
    assert [p["target"] for p in data["compare"]["panes"]] == ["tiny:F32", "tiny:Q4_0"]
    assert data["compare"]["panes"][1]["text"] == page.result.panes[1].text
    assert data["quality"]["targets"][1]["kl_mean"] == page.quality.targets[1].kl_mean
    markdown = page.export_to(tmp_path / "run.md").read_text()
    assert "| 2 | tiny:Q4_0 | Q4_0 | 12 |" in markdown and "Hello | there" in markdown  # the prompt, fenced
    assert f"PPL {page.quality.targets[0].perplexity:.2f} · reference" in markdown
    assert page.error.text() == f"Saved {tmp_path / 'run.md'}" and page.window_.errors == []
    page.export_to(tmp_path / "missing-dir" / "run.md")  # an unwritable place: one clear error, nothing else
    assert len(page.window_.errors) == 1 and "missing-dir" in page.window_.errors[0]


def test_quality_on_a_chosen_text_and_window_and_an_unreadable_file(qtbot, page, tmp_path):
    text = tmp_path / "mine.txt"
    text.write_text("The quick brown fox jumps over the lazy dog. " * 40, encoding="utf-8")
    page.set_quality_text(text)
    page.window_size.setValue(64)
    assert page.text_button.text() == "Text: mine.txt"
    with qtbot.waitSignal(page.quality_finished, timeout=60000) as done:
        page.measure_quality()
    result = done.args[0]
    assert result is not None and result.window == 64 and result.windows == result.text_tokens // 64
    from workbench.measure.quality import quality
    direct = quality(page.wb, ["tiny:F32", "tiny:Q4_0"], text=text.read_text(encoding="utf-8"), window=64)
    assert direct.text_sha256 == result.text_sha256 and direct.targets[1].kl_mean == result.targets[1].kl_mean
    page.set_quality_text(tmp_path / "gone.txt")
    assert page.measure_quality() is None and "cannot read" in page.error.text()
    assert page.quality_button.isEnabled()  # nothing started: the page is still usable
    page.set_quality_text(None)
    assert page.text_button.text() == "Text: bundled"


def test_the_divergence_plot_and_the_worst_positions(qtbot, page):
    assert not page.divergence.isVisibleTo(page)  # nothing measured yet
    with qtbot.waitSignal(page.quality_finished, timeout=60000) as done:
        page.measure_quality()
    result = done.args[0]
    quant = result.targets[1]
    view = page.divergence
    assert view.isVisibleTo(page) and list(view.curves) == [1]
    xs, ys = view.curves[1].getData()
    assert list(xs) == result.scored_token_indices() and list(ys) == list(quant.kld_per_position)
    assert view.table.rowCount() == len(quant.worst) == 10
    assert float(view.table.item(0, 2).text()) == round(max(quant.kld_per_position), 4)
    assert view.table.item(0, 1).text() == str(quant.worst[0].token_index)
    assert repr(quant.worst[0].token) in view.table.item(0, 3).text()
    view.table.selectRow(3)
    assert view.marker.isVisible() and view.marker.value() == quant.worst[3].token_index
    assert "stored the reference" in page.error.text()
    with qtbot.waitSignal(page.quality_finished, timeout=60000) as again:
        page.measure_quality()
    assert again.args[0].targets == result.targets and "reused the stored reference" in page.error.text()
    page.quality_button.click()
    assert not view.isVisibleTo(page)  # a new measurement clears the old plot first
    qtbot.waitUntil(lambda: page.task is None, timeout=60000)


def test_a_folder_as_one_corpus_and_the_html_export(qtbot, page, tmp_path):
    from workbench.measure.quality import default_text, load_text

    folder = tmp_path / "corpus"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.txt").write_text(default_text()[i * 700:(i + 1) * 700], encoding="utf-8")
    page.set_quality_text(folder)
    page.window_size.setValue(128)
    assert page.text_button.text() == "Folder: corpus"
    with qtbot.waitSignal(page.quality_finished, timeout=60000) as done:
        page.measure_quality()
    result = done.args[0]
    assert result.text_sha256 == hashlib.sha256(load_text(folder).encode()).hexdigest() and result.window == 128
    html = page.export_to(tmp_path / "run.html").read_text(encoding="utf-8")
    assert html.count("<polyline") == 1 and "Where 2. tiny:Q4_0 diverges most" in html and "mean KLD" in html
    assert "<script" not in html
    markdown = page.export_to(tmp_path / "run.md").read_text(encoding="utf-8")
    assert "| mean KLD |" in markdown and "### Where 2. tiny:Q4_0 diverges most" in markdown
