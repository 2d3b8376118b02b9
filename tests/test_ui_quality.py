"""The Compare page's "Measure quality" on real widgets: F32 vs Q4_0 of the tiny model through the real runtime,
each pane's stats line gaining its perplexity / KL / same-top figures; Stop cancels; figures survive a Compare run.
"""

from __future__ import annotations

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
