"""The Settings page's Data retention panel (ui/widgets/retention_settings.py), offscreen on a real database:
Preview is a dry run of the limits on screen (nothing saved, nothing removed), Apply now is possible only for
exactly the previewed limits, saves them and removes for real; Stop leaves the finished steps done and recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_retention import age, chat
from tests.ui_helpers import open_page, wait_done
from workbench.app import Workbench
from workbench.errors import Cancelled
from workbench.tasks import CancelToken


@pytest.fixture
def sessions(wb: Workbench, tiny_model_path: Path) -> list[int]:
    """Five chat sessions, the first three untouched for 40 days."""
    wb.library.import_file(tiny_model_path, name="tiny:F32")
    ids = [chat(wb, n) for n in range(5)]
    age(wb, "UPDATE sessions SET updated_at = ? WHERE id = ?", 40, *ids[:3])
    return ids


def _run(qtbot, panel, button) -> None:
    button.click()
    wait_done(qtbot, panel.task)


def test_preview_touches_nothing_and_apply_removes_exactly_what_was_previewed(qtbot, wb: Workbench, sessions):
    wb.update_settings(keep_eval_runs_count=5)
    _window, page = open_page(qtbot, wb, "Settings")
    panel = page.retention
    assert panel.limits()["keep_eval_runs_count"] == 5 and panel.limits()["keep_sessions_days"] is None
    assert not panel.apply_button.isEnabled()  # nothing previewed yet

    panel.boxes["keep_sessions_days"].setValue(30)
    _run(qtbot, panel, panel.preview_button)
    assert "would remove: 3 session(s) (6 messages)" in panel.status.text()
    assert len(wb.sessions.list()) == 5 and wb.settings.keep_sessions_days is None  # a dry run, nothing saved
    assert panel.apply_button.isEnabled()

    panel.boxes["keep_sessions_count"].setValue(1)  # changed after the preview: Apply waits for a new one
    assert not panel.apply_button.isEnabled()
    panel.apply()
    assert len(wb.sessions.list()) == 5
    panel.boxes["keep_sessions_count"].setValue(-1)  # "keep all" again: the previewed limits, but not previewed
    assert not panel.apply_button.isEnabled()

    _run(qtbot, panel, panel.preview_button)
    _run(qtbot, panel, panel.apply_button)
    assert sorted(s.id for s in wb.sessions.list()) == sessions[3:]
    assert wb.settings.keep_sessions_days == 30 and wb.settings.keep_eval_runs_count == 5  # saved
    assert "Done: removed: 3 session(s)" in panel.status.text() and not panel.apply_button.isEnabled()
    (event,) = wb.audit.list(kind="retention.applied", limit=5)
    assert event.details["sessions"] == 3 and "stopped" not in event.details


def test_stop_before_the_first_step_removes_nothing(qtbot, wb: Workbench, sessions):
    _window, page = open_page(qtbot, wb, "Settings")
    panel = page.retention
    panel.boxes["keep_sessions_count"].setValue(2)
    _run(qtbot, panel, panel.preview_button)
    panel.apply_button.click()
    panel.stop()  # the job starts on the next event-loop turn: its token is already cancelled
    wait_done(qtbot, panel.task)
    assert panel.status.text().startswith("Stopped") and panel.preview_button.isEnabled()
    assert len(wb.sessions.list()) == 5 and wb.audit.list(kind="retention.applied") == []
    assert wb.settings.keep_sessions_count == 2  # the limits were saved: the next start applies them


def test_a_stop_between_steps_keeps_what_finished_and_records_it(wb: Workbench, sessions):
    wb.update_settings(keep_sessions_days=30)
    token = CancelToken()

    def after_the_first_step(progress) -> None:
        if progress.completed == 1:
            token.cancel()

    with pytest.raises(Cancelled):
        wb.retention.apply(on_progress=after_the_first_step, cancel=token)
    assert sorted(s.id for s in wb.sessions.list()) == sessions[3:]  # the sessions step finished whole
    (event,) = wb.audit.list(kind="retention.applied", limit=5)
    assert event.details["sessions"] == 3 and event.details["stopped"] is True
