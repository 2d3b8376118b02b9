"""`/save` edits the preset's own text: comments and layout stay, the result always parses to what was wanted."""

from __future__ import annotations

import dataclasses

from workbench.modelfile import parser as mf
from workbench.modelfile.edit import apply_changes

TEXT = '''# my helper, tuned by hand
FROM tiny:F32

# be careful with this one
SYSTEM """You are
terse."""
PARAMETER temperature 0.2
PARAMETER stop "User:"
PARAMETER stop "###"
# context for long chats
PARAMETER num_ctx 256
MESSAGE user Hi
'''


def wanted(**changes) -> mf.Modelfile:
    return dataclasses.replace(mf.parse(TEXT), **changes)


def test_nothing_changed_keeps_the_text_byte_for_byte():
    assert apply_changes(TEXT, mf.parse(TEXT)) == TEXT


def test_system_parameters_and_messages_are_edited_where_they_stand_and_comments_stay():
    base = mf.parse(TEXT)
    target = wanted(system="Be brief.",
                    parameters=(("temperature", 0.7), ("num_ctx", 256), ("top_k", 20)),  # stop removed
                    messages=(*base.messages, mf.Message("assistant", "Hello."), mf.Message("user", 'two\nlines')))
    edited = apply_changes(TEXT, target)
    assert mf.parse(edited) == target
    assert edited.splitlines() == [
        "# my helper, tuned by hand", "FROM tiny:F32", "", "# be careful with this one", "SYSTEM Be brief.",
        "PARAMETER temperature 0.7", "# context for long chats", "PARAMETER num_ctx 256", "PARAMETER top_k 20",
        "MESSAGE user Hi", "MESSAGE assistant Hello.", 'MESSAGE user "two', 'lines"']


def test_a_system_is_added_after_from_when_the_text_has_none():
    text = "# plain\nFROM tiny:F32\nPARAMETER temperature 1\n"
    target = dataclasses.replace(mf.parse(text), system="New.")
    assert apply_changes(text, target) == "# plain\nFROM tiny:F32\nSYSTEM New.\nPARAMETER temperature 1\n"


def test_what_the_editor_does_not_handle_falls_back_to_the_canonical_rendering():
    other_from = wanted(from_="tiny:Q4_0")
    assert apply_changes(TEXT, other_from) == mf.render(other_from)
    fewer_messages = wanted(messages=())  # removing existing MESSAGEs is not an append
    assert apply_changes(TEXT, fewer_messages) == mf.render(fewer_messages)
    assert mf.parse(apply_changes("FROM x\nPARAMETER broken", wanted())) == wanted()  # unparsable text
