"""The Settings page's audit trail panel on real widgets offscreen over a real Workbench and SQLite file."""

from __future__ import annotations

import sqlite3

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView

from tests.ui_helpers import open_page, wait_done
from workbench.settings import load_settings


def settings_page(qtbot, wb):
    """The Settings page in a shown window: the panel fills its table when it comes up."""
    window, page = open_page(qtbot, wb, "Settings")
    window.show()
    qtbot.waitExposed(window)
    return page


def column(table, index: int) -> list[str]:
    return [table.item(row, index).text() for row in range(table.rowCount())]


def test_the_panel_lists_newest_first_filters_and_is_read_only(qtbot, wb):
    for name in ("alpha", "beta"):
        wb.audit.record("preset.deleted", name, {"sessions_detached": 0})
    wb.audit.record("model.removed", "tiny:F32", {"sha256": "a" * 64})
    page = settings_page(qtbot, wb)
    panel = page.audit
    assert column(panel.table, 3) == ["model.removed", "preset.deleted", "preset.deleted"]
    assert column(panel.table, 4) == ["tiny:F32", "beta", "alpha"] and column(panel.table, 0) == ["3", "2", "1"]
    assert panel.table.item(0, 2).text().startswith("api · ") and 'sha256="aaaa' in panel.table.item(0, 5).text()
    assert panel.table.editTriggers() == QAbstractItemView.EditTrigger.NoEditTriggers
    qtbot.keyClicks(panel.kind, "preset.")
    qtbot.keyClick(panel.kind, Qt.Key.Key_Return)
    assert column(panel.table, 4) == ["beta", "alpha"]


def test_saving_strict_audit_is_recorded_and_shown(qtbot, wb):
    page = settings_page(qtbot, wb)
    assert page.audit.table.rowCount() == 0
    page.audit_strict.setChecked(True)
    page.save()
    assert load_settings(wb.paths.settings_file).audit_strict and wb.settings.audit_strict
    assert column(page.audit.table, 3) == ["settings.changed"] and column(page.audit.table, 4) == ["audit_strict"]


def test_verify_reports_an_unbroken_chain_then_the_tampered_event(qtbot, wb):
    for i in range(4):
        wb.audit.record("model.verified", f"m{i}", {"status": "ok"})
    page = settings_page(qtbot, wb)
    panel = page.audit
    qtbot.mouseClick(panel.verify_button, Qt.MouseButton.LeftButton)
    wait_done(qtbot, panel.task)
    assert panel.status.text().startswith("Unbroken: 4 event(s) checked. Head: event 4, ")
    assert panel.verify_button.isEnabled()
    with sqlite3.connect(wb.paths.db, isolation_level=None) as conn:
        conn.execute("DROP TRIGGER audit_events_no_update")
        conn.execute("UPDATE audit_events SET details = '{\"status\":\"changed\"}' WHERE id = 3")
    qtbot.mouseClick(panel.verify_button, Qt.MouseButton.LeftButton)
    wait_done(qtbot, panel.task)
    assert panel.status.text().startswith("Broken at event 3: event 3's contents do not match its hash")
    assert "(2 event(s) before it verified)" in panel.status.text()
