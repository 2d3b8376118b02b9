"""The Presets page on real widgets over a real Workbench: create and version from the editor, live validation
underlines the right line, diff with +/- colouring, rollback, inline errors that save nothing, "Try it"."""

from __future__ import annotations

import pytest

from tests.ui_helpers import open_page, wait_done


@pytest.fixture
def page(qtbot, wb, tiny_model_path):
    model = wb.library.import_file(tiny_model_path, name="tiny")
    window, page = open_page(qtbot, wb, "Presets")
    page.model = model
    yield page
    window.close()


def save_and_wait(qtbot, page) -> None:
    task = page.save()
    assert task is not None, page.status.text()
    wait_done(qtbot, task)


def test_create_and_version_a_preset_from_the_editor(qtbot, wb, page):
    assert page.new_preset("helper")
    assert page.editor.plain_text().startswith("FROM tiny\n")
    page.message.setText("first try")
    save_and_wait(qtbot, page)
    assert page.status.text() == "Saved helper@1."
    (first,) = wb.presets.history("helper")
    assert first.message == "first try" and first.model_sha256 == page.model.sha256
    page.editor.set_text(first.content.replace("temperature 0.7", "temperature 0.2"))
    page.message.setText("cooler")
    save_and_wait(qtbot, page)
    assert [v.number for v in wb.presets.history("helper")] == [2, 1]
    assert page.version_list.count() == 2 and "cooler" in page.version_list.item(0).text()
    assert page.presets.currentItem().text() == "helper  (v2)"
    save_and_wait(qtbot, page)  # unchanged text: no new version
    assert page.status.text() == "Nothing to save: the text is the same as helper@2."
    assert len(wb.presets.history("helper")) == 2


def test_diff_between_two_versions_and_rollback(qtbot, wb, page):
    wb.presets.create("helper", "FROM tiny\nPARAMETER temperature 0.7\n", message="one")
    wb.presets.save("helper", "FROM tiny\nPARAMETER temperature 0.9\nSYSTEM hi\n", message="two")
    page.refresh(select="helper")
    page.diff_a.setCurrentText("v1")
    page.diff_b.setCurrentText("v2")
    text = page.show_diff()
    assert text == wb.presets.diff("helper", 1, 2)
    lines = page.diff.toPlainText().split("\n")
    kinds = dict(zip(lines, page.diff.line_kinds(), strict=True))
    assert kinds["-PARAMETER temperature 0.7"] == "removed"
    assert kinds["+PARAMETER temperature 0.9"] == "added" and kinds["+SYSTEM hi"] == "added"
    assert kinds[" FROM tiny"] is None
    page.version_list.setCurrentRow(1)  # v1 (newest first)
    new = page.rollback_selected()
    assert new.number == 3 and new.content == "FROM tiny\nPARAMETER temperature 0.7\n"
    assert wb.presets.get("helper").content == new.content and page.editor.plain_text() == new.content
    assert page.version_list.count() == 3 and "rollback to version 1" in page.version_list.item(0).text()


def test_live_validation_underlines_the_line_with_the_error(qtbot, page):
    page.new_preset("broken")
    editor = page.editor
    editor.text.setPlainText("FROM tiny\n# a comment\nPARAMETER temperature warm\nSYSTEM fine\n")
    qtbot.waitUntil(lambda: editor.underlined_lines() == [3], timeout=5000)  # after the typing pause
    assert [d.line for d in editor.errors] == [3]
    assert editor.problems.item(0).text().startswith("line 3, column ")
    assert not page.save_button.isEnabled()
    editor.text.setPlainText("FROM tiny\nPARAMETER temperature 0.5\n")
    qtbot.waitUntil(lambda: editor.underlined_lines() == [] and page.save_button.isEnabled(), timeout=5000)
    assert editor.problems.item(0).text() == "No problems found."


def test_highlighter_colours_instructions_strings_and_comments(qtbot, page):
    page.new_preset("colours")
    page.editor.set_text('# note\nFROM tiny\nSYSTEM """multi\nline"""\n')
    doc = page.editor.text.document()

    def formats(line: int) -> list[tuple[int, int, str]]:
        block = doc.findBlockByNumber(line)
        return [(r.start, r.length, r.format.foreground().color().name()) for r in block.layout().formats()]

    fmts = page.editor.highlighter.formats
    comment, instruction, string = (fmts[k].foreground().color().name() for k in ("comment", "instruction", "string"))
    assert formats(0) == [(0, 6, comment)]
    assert formats(1)[0] == (0, 4, instruction)
    assert formats(2) == [(0, 6, instruction), (7, 8, string)]
    assert formats(3) == [(0, 7, string)]  # still inside the triple-quoted value


def test_a_rejected_save_is_reported_inline_and_saves_nothing(qtbot, wb, page):
    page.new_preset("ghost")
    page.editor.set_text("FROM no-such-model\n")
    save_and_wait(qtbot, page)
    assert page.status.text().startswith("Not saved: ") and "no-such-model" in page.status.text()
    assert not wb.presets.exists("ghost")
    assert not page.new_preset("Bad Name")
    assert "not allowed" in page.status.text()


def test_try_it_opens_a_chat_on_the_saved_preset(qtbot, wb, page):
    wb.presets.create("helper", "FROM tiny\n")
    page.refresh(select="helper")
    chat = page.window_.pages["Chat"]
    assert page.try_button.isEnabled()
    assert page.try_it()
    assert page.window_.current_page() is chat and chat.session_id is not None
    assert wb.sessions.get(chat.session_id).preset_ref == wb.presets.get("helper").ref
