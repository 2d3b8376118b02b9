"""The Hub page against the fake Hub (real huggingface_hub client, real HTTP on 127.0.0.1): search, files with
fit badges, pull with progress, cancel and resume (from a new window after a quit, and after a kill -9), discard,
offline mode."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakehub import FakeHub, fake_hub  # noqa: F401  (fixture)
from tests.test_hub_pull import PULL_SCRIPT
from tests.ui_helpers import open_page, wait_done
from workbench.hub.download import partial_path

REPO = "alice/tiny-GGUF"


@pytest.fixture
def served(fake_hub: FakeHub, tiny_model_path: Path) -> FakeHub:  # noqa: F811
    fake_hub.add_repo(REPO, {"tiny-Q8_0.gguf": tiny_model_path.read_bytes(), "README.md": b"hi"})
    fake_hub.add_repo("bob/other-GGUF", {"o-Q4_K_M.gguf": tiny_model_path.read_bytes()})
    return fake_hub


def list_files(qtbot, page) -> None:
    page.query.setText("tiny")
    wait_done(qtbot, page.search())
    assert page.results.rowCount() == 1 and page.results.item(0, 0).text() == REPO
    page.results.selectRow(0)  # selecting a repository lists its files
    qtbot.waitUntil(lambda: page.files.rowCount() == 1, timeout=30000)


def test_search_lists_repos_and_files_with_a_fit_badge(qtbot, wb, served):
    window, page = open_page(qtbot, wb, "Hub")
    list_files(qtbot, page)
    assert [page.files.item(0, c).text() for c in range(3)] == ["tiny-Q8_0.gguf", "Q8_0", "436.9 KB"]
    qtbot.waitUntil(lambda: page.badge(0) == "fits", timeout=30000)
    assert page.files.item(0, 3).toolTip().startswith("fits: weights ")
    window.close()


def test_a_model_too_big_for_this_machine_gets_a_wont_fit_badge(qtbot, wb, served):
    wb.update_settings(default_context=2**30)  # a KV cache of hundreds of GB at this context
    window, page = open_page(qtbot, wb, "Hub")
    list_files(qtbot, page)
    qtbot.waitUntil(lambda: page.badge(0) == "won't fit", timeout=30000)
    window.close()


def test_pull_shows_progress_and_registers_the_model(qtbot, wb, served, tiny_model_path):
    window, page = open_page(qtbot, wb, "Hub")
    list_files(qtbot, page)
    page.files.selectRow(0)
    assert page.pull_button.isEnabled()
    reports = []
    task = page.pull_selected()
    task.progress.connect(reports.append)
    wait_done(qtbot, task)
    (model,) = wb.library.list()
    assert model.sha256 == hashlib.sha256(tiny_model_path.read_bytes()).hexdigest() and model.source_repo == REPO
    (row,) = page.downloads.rows.values()
    assert row.state == "done" and row.bar.value() == 1000
    assert row.detail.text() == f"done: registered as {model.name} (436.9 KB)"
    assert reports and reports[-1].completed == reports[-1].total == model.size_bytes
    assert [m.name for m in window.pages["Library"].table_model.models] == [model.name]  # the library refreshed
    window.close()


def cancel_at(qtbot, page, served, offset: int):
    qtbot.waitUntil(lambda: page.badge(0) == "fits", timeout=30000)  # the estimate's header fetch is over
    gate = served.pause_at(offset)  # so the pull is what reaches this offset
    page.files.selectRow(0)
    task = page.pull_selected()
    (row,) = page.downloads.rows.values()
    qtbot.waitUntil(gate.reached.is_set, timeout=30000)
    with qtbot.waitSignal(task.done, timeout=30000):  # connected before the pull can end
        row.action.click()  # Cancel: sets the token directly
        gate.release()
    assert row.state == "paused", row.detail.text()
    return row


def paused_pull(qtbot, wb, served):
    """A Hub page whose pull of the tiny model was cancelled part-way: (window, page, its download row)."""
    window, page = open_page(qtbot, wb, "Hub")
    list_files(qtbot, page)
    return window, page, cancel_at(qtbot, page, served, 100_000)


def test_cancel_keeps_the_partial_and_resume_continues_it(qtbot, wb, served):
    window, _page, row = paused_pull(qtbot, wb, served)
    assert row.state == "paused" and row.action.text() == "Resume" and not row.discard.isHidden()
    (state,) = wb.hub.pending_downloads()
    assert state.status == "paused" and wb.library.list() == []
    assert row.detail.text().startswith("paused: ") and "Resume continues from there" in row.detail.text()
    kept = state.bytes_done
    row.action.click()  # Resume
    assert row.task is not None and row.action.text() == "Cancel"
    wait_done(qtbot, row.task)
    assert row.state == "done"
    assert len(wb.library.list()) == 1 and wb.hub.pending_downloads() == []
    assert served.ranges_seen()[-1] == f"bytes={kept}-"
    window.close()


def test_an_interrupted_download_is_offered_again_in_a_new_window(qtbot, wb, served):
    window, _page, row = paused_pull(qtbot, wb, served)
    window.close()  # as if the app quit mid-download
    again, page2 = open_page(qtbot, wb, "Hub")
    wait_done(qtbot, page2.pending_task)
    (row2,) = page2.downloads.rows.values()
    assert row2.ref == row.ref and row2.action.text() == "Resume" and 0 < row2.bar.value() < 1000
    task = page2.downloads.pull(row2.ref)
    wait_done(qtbot, task)
    assert row2.state == "done" and len(wb.library.list()) == 1
    again.close()


def test_a_pull_killed_mid_file_is_offered_as_interrupted_and_resumes(qtbot, wb, served, tiny_model_path,
                                                                     workbench_home):
    cut = 200_000
    gate = served.pause_at(cut)
    sha = hashlib.sha256(tiny_model_path.read_bytes()).hexdigest()
    part = partial_path(wb.paths.downloads, sha)
    env = {**os.environ, "WORKBENCH_HOME": str(workbench_home), "HF_ENDPOINT": served.endpoint}
    proc = subprocess.Popen([sys.executable, "-c", PULL_SCRIPT, "pull", f"hf.co/{REPO}:Q8_0"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        qtbot.waitUntil(lambda: gate.reached.is_set() and part.exists() and part.stat().st_size == cut,
                        timeout=60000)
        os.kill(proc.pid, signal.SIGKILL)  # a crash: the store still says "active"
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        gate.release()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    window, page = open_page(qtbot, wb, "Hub")
    wait_done(qtbot, page.pending_task)
    (row,) = page.downloads.rows.values()
    assert row.detail.text().startswith("interrupted (the app quit or crashed): ")
    size = tiny_model_path.stat().st_size
    assert row.action.text() == "Resume" and row.bar.value() == int(1000 * cut / size)
    row.action.click()
    wait_done(qtbot, row.task)
    assert row.state == "done" and wb.library.list()[0].sha256 == sha
    assert served.ranges_seen()[-1] == f"bytes={cut}-"
    window.close()


def test_discard_deletes_the_partial(qtbot, wb, served):
    window, page, row = paused_pull(qtbot, wb, served)
    (state,) = wb.hub.pending_downloads()
    row.discard.click()
    assert wb.hub.pending_downloads() == [] and not Path(state.partial_path).exists()
    assert page.downloads.rows == {} and not page.downloads.empty.isHidden()
    window.close()


def test_offline_mode_greys_the_page_out_with_the_reason(qtbot, wb, served):
    window, page = open_page(qtbot, wb, "Hub")
    assert page.content.isEnabled() and page.offline_banner.isHidden()
    settings = window.pages["Settings"]
    settings.offline.setChecked(True)
    settings.save()
    assert not page.content.isEnabled() and not page.offline_banner.isHidden()
    assert "Offline mode is on" in page.offline_banner.text()
    served.requests.clear()
    page.query.setText("tiny")
    status = page.status.text()
    page.search_button.click()  # disabled: it does not even start a search
    assert not page.search_button.isEnabled() and page.status.text() == status
    failures = []
    task = page.search()  # and a search started anyway is refused by the Hub service, before any request
    task.failed.connect(lambda message, _details: failures.append(message))
    wait_done(qtbot, task)
    assert len(failures) == 1 and "offline mode is on" in failures[0]
    assert page.status.text().startswith("Search failed: ") and served.requests == []
    settings.offline.setChecked(False)
    settings.save()
    assert page.content.isEnabled() and page.offline_banner.isHidden()
    window.close()


def test_offline_from_the_environment_greys_the_page_at_start(qtbot, wb, served, monkeypatch):
    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    window, page = open_page(qtbot, wb, "Hub")
    assert not page.content.isEnabled() and "WORKBENCH_OFFLINE" in page.offline_banner.text()
    window.close()
