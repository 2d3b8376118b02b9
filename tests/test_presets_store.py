"""Preset versioning and session trees on a real SQLite file (the repository layer, no engine)."""

from __future__ import annotations

import pytest

from workbench.errors import AlreadyExists, InvalidParameter, NotFound
from workbench.store import Store


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "wb.db")
    yield s
    s.close()


def test_versions_are_immutable_and_unchanged_save_is_a_noop(store):
    v1, new1 = store.presets.save("p", "FROM a\n", "h1")
    v1b, new1b = store.presets.save("p", "FROM a\n", "h1")
    v2, new2 = store.presets.save("p", "FROM b\n", "h2", message="switch")
    assert (new1, new1b, new2) == (True, False, True)
    assert (v1.number, v1b.number, v2.number) == (1, 1, 2)
    assert v2.parent_number == 1 and v2.message == "switch"
    assert [v.number for v in store.presets.history("p")] == [2, 1]
    assert store.presets.get_version("p").number == 2
    assert store.presets.get_version("p", 1).content == "FROM a\n"
    assert store.presets.get_version("p").tags == ("latest",)


def test_tags_and_errors(store):
    store.presets.save("p", "x", "h1")
    store.presets.save("p", "y", "h2")
    store.presets.set_tag("p", "stable", 1)
    assert store.presets.get_version("p", "stable").number == 1
    assert store.presets.list()[0].tags == {"latest": 2, "stable": 1}
    with pytest.raises(InvalidParameter):
        store.presets.set_tag("p", "latest", 1)
    with pytest.raises(NotFound, match="no version 9"):
        store.presets.get_version("p", 9)
    with pytest.raises(AlreadyExists):
        store.presets.save("p", "z", "h3", create=True)


def test_delete_refuses_while_pinned_unless_forced(store):
    v, _ = store.presets.save("p", "x", "h1")
    session = store.sessions.create("s", preset_version_id=v.id)
    with pytest.raises(AlreadyExists, match="pinned by 1 session"):
        store.presets.delete("p")
    assert store.presets.delete("p", force=True) == 1
    assert store.sessions.get(session.id).preset_version_id is None
    assert not store.presets.exists("p")


def test_message_tree_and_search_survive_reopen(tmp_path):
    path = tmp_path / "wb.db"
    store = Store(path)
    s = store.sessions.create("trip planning")
    u = store.sessions.add_message(s.id, None, "user", "Plan a trip to Lisbon")
    a1 = store.sessions.add_message(s.id, u.id, "assistant", "Visit Alfama first", provenance={"seed": 1})
    a2 = store.sessions.add_message(s.id, u.id, "assistant", "Start in Belém", status="streaming")
    store.close()

    store = Store(path)
    assert store.sessions.mark_interrupted() == 1
    messages = store.sessions.messages(s.id)
    assert [m.id for m in messages] == [u.id, a1.id, a2.id]
    assert messages[1].provenance == {"seed": 1} and messages[2].status == "interrupted"
    assert store.sessions.get(s.id).current_leaf_id == a2.id
    hits = store.sessions.search("alfama")
    assert [(h.message_id, h.session_title) for h in hits] == [(a1.id, "trip planning")]
    assert "[Alfama]" in hits[0].snippet
    store.sessions.update_message(a1.id, content="Go to Sintra")
    assert store.sessions.search("alfama") == []
    assert store.sessions.search('sintra" *:') != []  # user text is never FTS5 syntax
    store.sessions.delete(s.id)
    assert store.sessions.search("sintra") == []
    assert store.integrity_check() == "ok"
    store.close()
