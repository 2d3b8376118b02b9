"""The Evals page on real widgets over a real Workbench and the tiny model: the suite editor's diagnostics, a run
to completion filling the matrix, a cell opened, "Set as baseline" and the next run's diff, Stop and Resume, the
large-suite question, export, and the Presets ("Run a suite on this version", two versions) and Compare ("Add this
prompt to a suite") hooks."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from tests.ui_helpers import open_page
from workbench.evals import load_suite

SUITE = """\
description: ui suite
prompts:
  - "Tell me about {{{{topic}}}}"
targets:
  - tiny
tests:
  - description: never says zzqx
    vars: {{topic: cats}}
    assert:
      - type: {first}
        value: zzqx
  - description: says paris
    vars: {{topic: France}}
    assert:
      - type: {second}
        value: paris
  - description: short answer
    vars: {{topic: dogs}}
    assert:
      - type: max-tokens
        value: 8

# sampling for every target
options:
  parameters:
    num_predict: {tokens}
"""


def suite_text(first: str = "not-icontains", second: str = "icontains", tokens: int = 4) -> str:
    return SUITE.format(first=first, second=second, tokens=tokens)


@pytest.fixture
def page(qtbot, wb, tiny_model_path):
    wb.library.import_file(tiny_model_path, name="tiny")
    window, page = open_page(qtbot, wb, "Evals")
    yield page
    window.close()


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "suites" / "ui.yaml"
    path.parent.mkdir()
    path.write_text(suite_text(), encoding="utf-8")
    return path


def run_to_end(qtbot, page, task=None, timeout: int = 120_000):
    with qtbot.waitSignal(page.run_finished, timeout=timeout) as finished:
        task = task if task is not None else page.run()
        assert task is not None, page.summary.text()
    return finished.args[0]


def test_the_editor_underlines_suite_problems_at_their_line(qtbot, page):
    editor = page.editor
    assert editor.errors == [] and page.run_button.isEnabled()  # the starter suite is valid, on the first model
    assert "targets:\n  - tiny\n" in editor.plain_text() and page.title.text() == "<b>new suite (not saved)</b>"
    text = suite_text().replace("type: max-tokens", "type: max-tokenz")
    line = text.split("\n").index("      - type: max-tokenz") + 1
    editor.text.setPlainText(text)
    qtbot.waitUntil(lambda: editor.underlined_lines() == [line], timeout=5000)  # after the typing pause
    assert "unknown assertion type 'max-tokenz'" in editor.errors[0].message
    assert editor.problems.item(0).text().startswith(f"line {line}, column ")
    assert not page.run_button.isEnabled()
    editor.text.setPlainText("prompts:\n  - hi\ntargets: [tiny\n")  # a YAML syntax error
    qtbot.waitUntil(lambda: editor.errors and editor.underlined_lines() == [3], timeout=5000)  # at the end: line 3
    assert editor.errors[0].message.startswith("YAML error")
    editor.text.setPlainText(suite_text())
    qtbot.waitUntil(lambda: editor.underlined_lines() == [] and page.run_button.isEnabled(), timeout=5000)
    assert editor.problems.item(0).text() == "No problems found."


def test_open_and_save_a_suite_file(qtbot, page, suite_file):
    assert page.open_suite(suite_file)
    assert page.editor.plain_text() == suite_text() and page.title.text() == "<b>ui.yaml</b>"
    page.editor.text.appendPlainText("# more")
    assert page.title.text() == "<b>ui.yaml</b> *"
    assert page.save() == suite_file
    assert suite_file.read_text(encoding="utf-8").endswith("# more") and page.title.text() == "<b>ui.yaml</b>"
    assert not page.open_suite(suite_file.parent / "missing.yaml")


def test_a_run_fills_the_matrix_and_a_cell_opens_its_output_and_assertions(qtbot, wb, page, suite_file):
    page.open_suite(suite_file)
    run = run_to_end(qtbot, page)
    assert run.status == "complete" and (run.done_cells, run.passed, run.failed) == (3, 2, 1)
    assert page.matrix.texts() == [["✓ pass"], ["✗ fail"], ["✓ pass"]]
    assert page.matrix.header_text(0) == "tiny\n2/3 passed · 67%"
    assert [page.matrix.verticalHeaderItem(r).text() for r in range(3)] == \
        ["never says zzqx", "says paris", "short answer"]
    assert page.chart.values["Pass rate"] == pytest.approx([200 / 3])
    assert page.chart.values["Decode speed"][0] > 0 and page.chart.values["Time to first token"][0] > 0
    assert page.progress.text().startswith("3/3 cells")
    assert page.history.table.rowCount() == 1 and page.history.table.item(0, 0).text() == f"#{run.id} ui suite"
    cell = page.matrix.cell_at(1, 0)
    view = page.open_cell(cell)
    stored = {c.key: c for c in wb.evals.cells(run.id)}[cell.key]
    assert view.output.toPlainText() == stored.output != ""
    assert view.assertion_rows() == [("icontains", "✗ fail", "0.00", stored.assertions[0].reason)]
    assert "seed 0" in view.figures.text() and "tok/s" in view.figures.text()
    assert view.diff.toPlainText().startswith("No baseline")


def test_set_baseline_and_the_next_run_shows_what_changed(qtbot, wb, page, suite_file):
    page.open_suite(suite_file)
    first = run_to_end(qtbot, page)
    page.history.table.selectRow(0)
    assert page.history.baseline_button.isEnabled()
    page.set_baseline()
    assert wb.evals.resolve_run("baseline") == first.id and "baseline" in page.history.table.item(0, 4).text()
    assert not page.history.baseline_button.isEnabled()
    # the first case now fails, the second passes, and every answer is two tokens longer
    page.editor.set_text(suite_text(first="icontains", second="not-icontains", tokens=6))
    second = run_to_end(qtbot, page)
    assert second.baseline_run_id == first.id
    assert page.matrix.texts() == [["✗ fail  ↓"], ["✓ pass  ↑"], ["✓ pass  ≠"]]
    assert "against baseline run" in page.summary.text() and "1 regression(s), 1 fix(es), 1 changed" in \
        page.summary.text()
    view = page.open_cell(page.matrix.cell_at(0, 0))
    diff_lines = view.diff.toPlainText().split("\n")
    assert diff_lines[0] == f"Baseline run {first.id}: passed → now failed"
    assert "removed" in view.diff.line_kinds() and "added" in view.diff.line_kinds()
    page.history.table.selectRow(1)  # the older run: it is the baseline itself, so nothing to compare
    qtbot.waitUntil(lambda: page.shown_run.id == first.id)
    assert page.diff is None and page.matrix.texts() == [["✓ pass"], ["✗ fail"], ["✓ pass"]]


def test_stop_mid_run_keeps_the_finished_cells_and_resume_finishes_it(qtbot, wb, page, suite_file):
    many = suite_text(tokens=24).replace("options:\n", "options:\n  repeat: 6\n  concurrency: 1\n")
    suite_file.write_text(many, encoding="utf-8")
    page.open_suite(suite_file)
    with qtbot.waitSignal(page.run_finished, timeout=120_000) as finished:
        task = page.run()
        qtbot.waitUntil(lambda: page.live_run_id is not None, timeout=60_000)  # the first cell is stored
        assert page.stop_button.isEnabled() and not page.run_button.isEnabled()
        assert not page.history.table.isEnabled()  # the matrix belongs to the live run meanwhile
        page.stop()
    run = finished.args[0]
    assert not task.running and run.status == "cancelled" and 1 <= run.done_cells < run.total_cells == 18
    shown = [text for row in page.matrix.texts() for text in row]
    assert shown.count("…") == run.total_cells - run.done_cells
    assert page.history.resume_button.isEnabled() and page.run_button.isEnabled()
    kept = {c.key: c.output for c in wb.evals.cells(run.id)}
    resumed = run_to_end(qtbot, page, page.resume_selected())
    assert resumed.id == run.id and resumed.status == "complete" and resumed.done_cells == 18
    assert "…" not in [text for row in page.matrix.texts() for text in row]
    after = {c.key: c.output for c in wb.evals.cells(run.id)}
    assert {k: after[k] for k in kept} == kept  # finished cells were kept, not redone


def test_a_very_large_suite_asks_before_running(qtbot, wb, page, suite_file):
    page.open_suite(suite_file)
    run_to_end(qtbot, page)  # tiny's speed is measured now: the question carries a time estimate
    page.editor.set_text(suite_text().replace("options:\n", "options:\n  repeat: 40000\n"))
    assert page.run() is None and page.task is None
    box = page.confirm_box
    assert box.isVisible() and "120,000 cells" in box.text() and "about " in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert page.task is None and len(wb.evals.runs()) == 1  # nothing started


def test_python_assertions_run_only_when_code_is_allowed(qtbot, wb, page, suite_file):
    text = suite_text().replace("type: max-tokens\n        value: 8", "type: python\n        value: len(output) > 0")
    suite_file.write_text(text, encoding="utf-8")
    page.open_suite(suite_file)
    assert page.run() is None and "Allow code" in page.summary.text() and wb.evals.runs() == []
    page.allow_code.setChecked(True)
    run = run_to_end(qtbot, page)
    cell = page.matrix.cell_at(2, 0)
    assert run.options["allow_code"] and cell.status == "passed" and cell.assertions[0].type == "python"


def test_export_a_run_in_each_format(qtbot, page, suite_file, tmp_path):
    page.open_suite(suite_file)
    run = run_to_end(qtbot, page)
    for fmt in ("md", "html", "json", "csv"):
        path = tmp_path / f"report.{fmt}"
        assert page.export_to(path, fmt) == path and page.summary.text() == f"Saved {path}"
        assert "ui suite" in path.read_text(encoding="utf-8") or fmt == "csv"
    assert "never says zzqx" in (tmp_path / "report.csv").read_text(encoding="utf-8")
    assert f"#{run.id}" in page.history.table.item(0, 0).text()


def test_presets_page_runs_a_suite_on_a_version_and_on_two_versions(qtbot, wb, page, suite_file):
    wb.presets.create("helper", "FROM tiny\nPARAMETER temperature 0.7\n")
    wb.presets.save("helper", "FROM tiny\nPARAMETER temperature 0.2\n")
    presets = page.window_.show_page("Presets")
    presets.refresh(select="helper")
    presets.version_list.setCurrentRow(1)  # v1
    run = run_to_end(qtbot, page, presets.run_suite_on_version(suite_file))
    assert page.window_.current_page() is page
    assert run.options["targets"] == ["helper@1"] and page.matrix.header_text(0).startswith("helper@1\n")
    presets.diff_a.setCurrentText("v1")
    presets.diff_b.setCurrentText("v2")
    run = run_to_end(qtbot, page, presets.compare_versions_on_suite(suite_file))
    assert run.options["targets"] == ["helper@1", "helper@2"] and run.done_cells == 6
    assert [page.matrix.header_text(c).split("\n")[0] for c in range(2)] == ["helper@1", "helper@2"]
    assert page.chart.values["Pass rate"] == pytest.approx([200 / 3, 200 / 3])


def test_compare_page_adds_its_prompt_to_a_suite(qtbot, wb, page, suite_file):
    page.open_suite(suite_file)
    compare = page.window_.show_page("Compare")
    assert compare.add_to_suite() is None  # no prompt yet
    compare.prompt.setPlainText("the moon\nand the stars")
    dialog = compare.add_to_suite()
    dialog.path.setText(str(suite_file))
    dialog.suite_chosen()
    assert dialog.variable.currentText() == "topic"
    dialog.expect.setText("moon")
    assert dialog.add() == suite_file
    text = suite_file.read_text(encoding="utf-8")
    before, after = suite_text().split("\n\n# sampling")
    assert text.startswith(before + "\n  - description: the moon and the stars\n")  # inserted after the last case
    assert text.endswith("\n\n# sampling" + after)  # and the rest kept as written
    suite = load_suite(suite_file)
    added = suite.tests[-1]
    assert len(suite.tests) == 4 and added.vars == {"topic": "the moon\nand the stars"}
    assert [(a.type, a.value) for a in added.asserts] == [("icontains", "moon")]
    assert page.editor.plain_text() == text  # the Evals page reloaded the open (unedited) suite
