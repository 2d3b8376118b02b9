"""The Compare page on real widgets: two quantizations of the tiny model side by side through the real runtime,
each pane with its figures, the second highlighted from where it first diverges; stop; bad input inline.
"""

from __future__ import annotations

import pytest

from ui.main_window import MainWindow


@pytest.fixture
def window(qtbot, wb, tiny_model_path, tiny_q4_path):
    wb.library.import_file(tiny_model_path, name="tiny:F32")
    wb.library.import_file(tiny_q4_path, name="tiny:Q4_0")
    win = MainWindow(wb)
    qtbot.addWidget(win)
    win.errors = []
    win.show_error = lambda title, message, details="": win.errors.append(message)
    yield win
    win.close()


def _run(qtbot, page):
    with qtbot.waitSignal(page.compare_finished, timeout=60000) as done:
        page.run_button.click()
    return done.args[0]


def test_two_quantizations_stream_side_by_side_with_stats_and_a_divergence_mark(qtbot, window):
    page = window.show_page("Compare")
    assert len(page.panes) == 2 and not page.remove_button.isEnabled()
    page.panes[0].target.setCurrentText("tiny:F32")
    page.panes[1].target.setCurrentText("tiny:Q4_0")
    page.prompt.setPlainText("Hello there")
    page.temperature.setText("0")
    page.num_predict.setValue(48)
    page.seed.setValue(11)
    flushed = []
    page.buffer.flushed.connect(flushed.append)
    result = _run(qtbot, page)
    assert result is not None and window.errors == []
    reference, other = result.panes
    assert [p.target for p in result.panes] == ["tiny:F32", "tiny:Q4_0"] and result.seed == 11
    for index, pane in enumerate(result.panes):
        view = page.panes[index]
        assert view.text.toPlainText() == pane.text and pane.completion_tokens == 48
        assert "".join(f.get(index, "") for f in flushed) == pane.text  # it streamed into the pane
        stats = view.stats.text()
        assert "48 tokens" in stats and "TTFT" in stats and "tok/s" in stats and pane.quantization in stats
    assert page.panes[0].divergence.text() == "reference" and not any(page.panes[0].marked())
    cut = other.diverge_char
    assert cut is not None and reference.text[:cut] == other.text[:cut]
    assert page.panes[1].divergence.text().startswith(f"diverges at char {cut}")
    marked = page.panes[1].marked()
    assert not any(marked[:cut]) and all(m for m, ch in zip(marked[cut:], other.text[cut:], strict=True)
                                         if ch != "\n")
    assert "seed 11" in page.error.text() and "temperature=0" in page.error.text()
    assert page.run_button.isEnabled() and not page.stop_button.isEnabled()


def test_stop_ends_the_running_pane_and_skips_the_rest(qtbot, window):
    page = window.show_page("Compare")
    page.add_pane()
    assert len(page.panes) == 3
    page.prompt.setPlainText("Go")
    page.num_predict.setValue(32768)
    with qtbot.waitSignal(page.compare_finished, timeout=60000) as done:
        page.run_button.click()
        assert not page.add_button.isEnabled() and page.stop_button.isEnabled()
        qtbot.waitUntil(lambda: len(page.panes[0].text.toPlainText()) > 20, timeout=60000)
        page.stop_button.click()
    assert done.args[0] is None
    assert "cancelled" in page.panes[0].stats.text() and page.panes[0].result.finish_reason == "cancelled"
    assert page.panes[1].stats.text() == page.panes[2].stats.text() == "not run"
    page.remove_button.click()
    assert len(page.panes) == 2


def test_bad_input_is_reported_inline(qtbot, window):
    page = window.show_page("Compare")
    page.prompt.setPlainText("Hi")
    page.temperature.setText("warm")
    assert page.run() is None and "temperature" in page.error.text()
    page.temperature.clear()
    page.prompt.setPlainText("   ")
    with qtbot.waitSignal(page.compare_finished, timeout=60000) as done:
        page.run_button.click()
    assert done.args[0] is None and "empty" in page.error.text() and window.errors == []


def test_presets_made_elsewhere_appear_when_the_page_is_shown(qtbot, window):
    window.show()
    window.show_page("Settings")
    window.wb.presets.create("later", "FROM tiny:F32\n")
    page = window.show_page("Compare")
    names = [page.panes[0].target.itemText(i) for i in range(page.panes[0].target.count())]
    assert names == ["later", "tiny:F32", "tiny:Q4_0"]
    chat = window.show_page("Chat")
    assert chat.target_combo.findData("preset:later@1") >= 0


def test_make_a_quantization_from_the_page_and_compare_it(qtbot, window):
    page = window.show_page("Compare")
    row = page.quantize_row
    row.source.setCurrentText("tiny:F32")
    row.qtype.setCurrentText("Q8_0")
    with qtbot.waitSignal(row.created, timeout=60000) as created:
        row.button.click()
    model = created.args[0]
    assert model.name == "tiny:Q8_0" and model.parent_sha256 == window.wb.library.get("tiny:F32").sha256
    assert page.panes[-1].target.currentText() == "tiny:Q8_0" and "added tiny:Q8_0" in row.status.text()
    assert window.pages["Chat"].target_combo.findData("model:tiny:Q8_0") >= 0  # every page heard of it
    qtbot.waitUntil(lambda: row.task is None, timeout=10000)
    row.source.setCurrentText("tiny:Q4_0")
    row.qtype.setCurrentText("Q2_K")
    assert row.start() is not None
    qtbot.waitUntil(lambda: row.task is None, timeout=60000)
    assert "already quantized" in row.status.text() and row.button.isEnabled()
