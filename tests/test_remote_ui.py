"""The app's side of "beyond one machine", on real widgets offscreen: the Settings page's remote endpoints panel,
a remote pane on the Compare page, "Promote…" on the Presets page and the Server page's load curve — against the
project's own endpoint on another port as the remote."""

from __future__ import annotations

import pytest

from tests.remote_support import MemoryKeyring, add_terse_preset, served_side, using_keyring
from tests.ui_helpers import open_page, wait_done
from workbench.modelfile import parser as mf

KEY = "ui-remote-key-0123456789abc"


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_model_path):
    with served_side(tmp_path_factory.mktemp("remote-side"), tiny_model_path, api_key=KEY) as url:
        yield url


@pytest.fixture
def local(wb, tiny_model_path, served):
    add_terse_preset(wb, tiny_model_path)
    with using_keyring(MemoryKeyring()) as keyring:
        wb.keyring = keyring
        yield wb


def test_settings_panel_adds_tests_and_removes_a_remote(qtbot, local, served):
    _window, page = open_page(qtbot, local, "Settings")
    panel = page.remotes
    panel.name.setText("side")
    panel.url.setText(served)
    panel.model.setText("terse")
    panel.key.setText(KEY)
    panel.add_button.click()
    assert "keyring" in panel.status.text() and panel.key.text() == ""
    assert panel.table.rowCount() == 1 and panel.table.item(0, 3).text() == "keyring"
    assert KEY in local.keyring.secrets.values()
    panel.table.selectRow(0)
    panel.test_button.click()
    wait_done(qtbot, panel.task)
    assert "answered in" in panel.status.text() and "server model terse" in panel.status.text()
    panel.remove_button.click()
    assert panel.table.rowCount() == 0 and local.keyring.secrets == {}


def test_a_remote_pane_on_the_compare_page(qtbot, local, served):
    local.remotes.add("side", served, "terse", key=KEY)
    window, page = open_page(qtbot, local, "Compare")
    window.show_error = lambda title, message, details="": pytest.fail(message)
    assert "remote:side" in [page.panes[1].target.itemText(i) for i in range(page.panes[1].target.count())]
    page.panes[0].target.setCurrentText("terse")
    page.panes[1].target.setCurrentText("remote:side")
    page.prompt.setPlainText("Hello")
    page.temperature.setText("0")
    page.num_predict.setValue(4)
    with qtbot.waitSignal(page.compare_finished, timeout=60000) as done:
        page.run_button.click()
    result = done.args[0]
    assert result.panes[1].error is None and result.panes[1].identical
    assert "served as terse" in page.panes[1].stats.text()
    assert page.panes[1].text.toPlainText() == result.panes[1].text


def test_promote_from_the_presets_page(qtbot, local, tmp_path):
    _window, page = open_page(qtbot, local, "Presets")
    page.open_preset("terse")
    assert page.promote_button.isEnabled()
    dialog = page.promote_selected(show=False)
    dialog.engine.setCurrentText("ollama")
    dialog.folder.setText(str(tmp_path / "out"))
    result = dialog.write()
    assert result is not None and "Modelfile" in dialog.report.toPlainText()
    written = mf.parse((tmp_path / "out" / "Modelfile").read_text())
    assert written.system == "You are terse." and written.from_ == "/models/tiny-llama.gguf"


def test_the_load_curve_runs_against_a_remote_and_draws_the_clis_figure(qtbot, local, served):
    local.remotes.add("side", served, "terse", key=KEY)
    _window, page = open_page(qtbot, local, "Server")
    panel = page.bench
    panel.refresh_targets()
    panel.target.setCurrentText("remote:side")
    panel.levels.setText("1,2")
    panel.max_tokens.setValue(3)
    task = panel.run()
    wait_done(qtbot, task, timeout=60000)
    assert [level.concurrency for level in panel.series["remote:side"]] == [1, 2]
    axes = panel.canvas.figure.axes
    assert [ax.get_title() for ax in axes] == ["Throughput", "Time to first token", "Inter-token latency"]
    assert all(ax.get_lines() for ax in axes) and "best" in panel.status.text()


def test_the_load_curve_says_what_is_missing(qtbot, local):
    _window, page = open_page(qtbot, local, "Server")
    page.bench.target.setCurrentText("this app's endpoint")
    assert page.bench.run() is None and "start this app's endpoint first" in page.bench.status.text()
    local.remotes.add("far", "http://127.0.0.1:9/v1", "m")
    local.update_settings(offline=True)
    page.bench.refresh_targets()
    page.bench.target.setCurrentText("remote:far")
    assert page.bench.run() is None and "offline mode is on" in page.bench.status.text()
