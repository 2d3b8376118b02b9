"""A reasoning model's thinking in sessions, `workbench run`, the Chat page and Compare: stored apart from the
answer, fed back only as the template expects, shown dimmed / collapsed. The tiny model "thinks" until its
thinking budget closes the block (real engine, real SQLite, real widgets offscreen)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.reasoning_support import THINKER
from tests.test_answers import modelfile
from tests.test_cli_library import assert_one_line_error, run
from workbench.chat.prepare import prepare_chat
from workbench.measure.compare import compare

# THINKER, plus earlier thinking placed back into the history the way Qwen3's template reads it
READS_THINKING = THINKER.replace(
    "{% else %}{{ '<|' + m['role'] + '|>' + (m['content'] or '') + '<|end|>' }}",
    "{% else %}{{ '<|' + m['role'] + '|>' }}{% if m.reasoning_content %}{{ '<think>' + m.reasoning_content + "
    "'</think>' }}{% endif %}{{ (m['content'] or '') + '<|end|>' }}")
PARAMETERS = ("PARAMETER think_budget 5", "PARAMETER num_predict 20", "PARAMETER temperature 0",
              "PARAMETER num_ctx 1024")


@pytest.fixture
def thinker(wb, tiny_model_path) -> str:
    wb.library.import_file(tiny_model_path, name="tiny:F32")
    wb.presets.create("thinker", modelfile(*PARAMETERS, template=THINKER))
    wb.presets.create("reads-thinking", modelfile(*PARAMETERS, template=READS_THINKING))
    return "thinker"


def _answer(wb, preset: str, text: str = "Why?", session=None):
    session = session or wb.sessions.create(preset_ref=preset)
    return session, wb.chat.send(session.id, text).collect()


def test_a_session_stores_the_thinking_apart_from_the_answer(wb, thinker):
    session, message = _answer(wb, thinker)
    assert message.thinking and message.content  # the budget closed the block; the model answered
    assert "</think>" not in message.thinking + message.content
    assert message.provenance["thinking_tokens"] >= 5 and message.provenance["thinking_seconds"] >= 0
    stored = wb.sessions.message(message.id)
    assert (stored.thinking, stored.content) == (message.thinking, message.content)
    exported = wb.sessions.export_json(session.id)
    assert exported["messages"][-1]["thinking"] == message.thinking
    assert wb.sessions.import_json(exported).id != session.id
    assert "<details><summary>Thinking</summary>" in wb.sessions.export_markdown(session.id)


def test_think_false_answers_without_thinking(wb, thinker):
    session = wb.sessions.create(preset_ref=thinker, parameter_overrides={"think": "false"})
    _, message = _answer(wb, thinker, session=session)
    assert message.thinking == "" and message.content


@pytest.mark.parametrize(("preset", "fed_back"), [("thinker", False), ("reads-thinking", True)])
def test_thinking_goes_back_only_as_the_template_expects(wb, thinker, preset, fed_back):
    session, first = _answer(wb, preset)
    user = wb.sessions.add_message(session.id, first.id, "user", "And then?")
    prepared = wb.chat.prepare(wb.sessions.get(session.id), user, wb.chat.target(wb.sessions.get(session.id)))
    assert (first.thinking in prepared.prompt) is fed_back
    assert first.content in prepared.prompt


def test_thinking_asked_of_a_model_without_it_fails_clearly(wb, thinker):
    with pytest.raises(Exception, match="has no thinking"):
        prepare_chat(wb, "tiny:F32", [{"role": "user", "content": "hi"}], parameters={"think": "high"})


def test_run_prints_the_thinking_dimmed_on_stderr(wb, thinker, capsys):
    wb.close()
    code, out, err = run(capsys, "run", thinker, "Why?")
    assert code == 0 and "Thinking…" in err and "done thinking" in err
    assert "Thinking" not in out and out.strip()  # stdout (a pipe) gets the answer only
    code, out, err = run(capsys, "run", thinker, "Why?", "--hide-thinking")
    assert code == 0 and "Thinking" not in err and out.strip()
    code, _, err = run(capsys, "run", thinker, "Why?", "--think", "maybe")
    assert code == 1
    assert_one_line_error(err, "think 'maybe' is not one of")


def test_compare_judges_the_answer_not_the_thinking(wb, thinker):
    result = compare(wb, "Why?", [thinker, thinker], seed=1)
    pane = result.panes[0]
    assert pane.thinking and pane.text and pane.thinking not in pane.text


def test_chat_page_shows_a_collapsible_thinking_block(qtbot, wb, thinker):
    from ui.main_window import MainWindow

    win = MainWindow(wb)
    qtbot.addWidget(win)
    errors = []
    win.show_error = lambda title, message, details="": errors.append(message)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    assert win.open_chat("thinker")
    page = win.pages["Chat"]
    page.input.setPlainText("Why?")
    page.input.setFocus()
    with qtbot.waitSignal(page.answer_finished, timeout=60000) as done:
        qtbot.keyClick(page.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    message = done.args[0]
    assert not errors
    view = page.views[message.id]
    block = view.thinking
    assert not block.isHidden() and block.text == message.thinking and not block.expanded  # collapsed when stored
    summary = block.toggle.text()
    assert summary.startswith("Thinking · ") and f"{message.provenance['thinking_tokens']} tokens" in summary
    assert summary.endswith(" s") and view.text == message.content
    qtbot.mouseClick(block.toggle, Qt.MouseButton.LeftButton)
    assert block.expanded and not block.body.isHidden()
    win.close()
