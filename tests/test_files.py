"""The shared file helpers: atomic writes (whole or not at all, nothing left behind) and the UTC timestamp texts
the services persist, which must keep their exact formats (the audit trail's hash chain covers its times)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from workbench.files import atomic_write_bytes, atomic_write_text, atomic_writer, utc_naive_now, utc_text
from workbench.settings import Settings, load_settings, save_settings

MOMENT = datetime(2026, 12, 3, 9, 8, 7, 123456, tzinfo=UTC)


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "notes.txt"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second ✓")
    assert target.read_text(encoding="utf-8") == "second ✓"
    atomic_write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_failure_inside_the_block_keeps_the_old_file_and_removes_the_partial_one(tmp_path):
    target = tmp_path / "export.jsonl"
    target.write_text("the old export\n")
    with pytest.raises(RuntimeError), atomic_writer(target, "w", encoding="utf-8") as out:
        out.write("half of a new export")
        raise RuntimeError("the disk went away")
    assert target.read_text() == "the old export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["export.jsonl"]


def test_an_explicit_temporary_name_is_used_and_cleaned_up(tmp_path):
    target, partial = tmp_path / "b.wbundle", tmp_path / "b.wbundle.partial"
    with atomic_writer(target, temp=partial) as out:
        out.write(b"bundle")
        assert partial.exists() and not target.exists()  # the bytes go to the partial name first
    assert target.read_bytes() == b"bundle" and not partial.exists()


def test_settings_are_saved_atomically_and_read_back(tmp_path):
    path = tmp_path / "config" / "settings.json"
    save_settings(path, Settings(theme="dark", threads=3))
    assert load_settings(path) == Settings(theme="dark", threads=3)
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({}, "2026-12-03T09:08:07+00:00"),  # bundle manifests, comparison reports
    ({"timespec": "microseconds"}, "2026-12-03T09:08:07.123456+00:00"),  # the audit trail
    ({"timespec": "milliseconds", "zulu": True}, "2026-12-03T09:08:07.123Z"),  # answer provenance
    ({"timespec": "auto", "zulu": True}, "2026-12-03T09:08:07.123456Z"),  # Ollama's created_at
])
def test_utc_text_formats(kwargs, expected):
    assert utc_text(MOMENT, **kwargs) == expected


def test_utc_text_takes_epoch_seconds_naive_utc_and_other_zones():
    assert utc_text(MOMENT.timestamp(), timespec="microseconds") == "2026-12-03T09:08:07.123456+00:00"
    assert utc_text(MOMENT.replace(tzinfo=None)) == "2026-12-03T09:08:07+00:00"  # naive: the store's UTC
    berlin = MOMENT.astimezone(timezone(timedelta(hours=1)))
    assert utc_text(berlin, zulu=True) == "2026-12-03T09:08:07Z"


def test_now_is_utc_and_the_stored_form_is_naive():
    before = datetime.now(UTC).replace(tzinfo=None)
    stored = utc_naive_now()
    assert stored.tzinfo is None and before <= stored <= datetime.now(UTC).replace(tzinfo=None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", utc_text())


def test_the_audit_trail_keeps_its_time_format(wb):
    event = wb.audit.record("model.verified", "x", {"ok": True})
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", event.at)
    assert wb.audit.verify().ok
