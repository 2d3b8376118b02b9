"""Images in sessions on a real SQLite file and data folder: stored once by content, referenced by message,
exported and imported with the session, refused before anything is stored, cleaned up by retention."""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.tinyvision import tiny_png, write_tiny_projector
from workbench.app import Workbench
from workbench.chat.media import Media
from workbench.errors import InvalidMedia, InvalidParameter


@pytest.fixture
def model(wb: Workbench, tmp_path: Path, tiny_model_path: Path):
    tiny = Path(shutil.copy(tiny_model_path, tmp_path / "tiny.gguf"))
    return wb.library.import_file(tiny, mmproj=write_tiny_projector(tmp_path / "mmproj-tiny-F32.gguf"))


def _stored(wb: Workbench) -> list[str]:
    return sorted(p.name for p in wb.paths.media.iterdir()) if wb.paths.media.is_dir() else []


def test_images_are_stored_once_by_content_and_read_back(wb: Workbench, model, tmp_path: Path):
    session = wb.sessions.create(model_name=model.name)
    png = tmp_path / "a.png"
    png.write_bytes(tiny_png(1))
    first = wb.sessions.add_message(session.id, None, "user", "what is this?", images=[png, tiny_png(2)])
    again = wb.sessions.add_message(session.id, first.id, "user", "and this?", images=[tiny_png(1)])
    assert [r.sha256 for r in first.media] == [Media.from_bytes(tiny_png(s)).sha256 for s in (1, 2)]
    assert again.media[0] == first.media[0]
    assert len(_stored(wb)) == 2  # the same picture twice is one file
    [reloaded, _] = wb.sessions.messages(session.id)
    assert reloaded.media == first.media and wb.sessions.message(first.id).media == first.media
    assert [m.data for m in wb.sessions.images(reloaded)] == [tiny_png(1), tiny_png(2)]


def test_a_non_image_is_refused_and_nothing_is_stored(wb: Workbench, model, tmp_path: Path):
    session = wb.sessions.create(model_name=model.name)
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(InvalidMedia, match=r"notes\.png"):
        wb.chat.send(session.id, "look", images=[tiny_png(1), text])
    assert wb.sessions.messages(session.id) == [] and _stored(wb) == []


def test_sending_an_image_to_a_model_without_projector_stores_nothing(wb: Workbench, tmp_path: Path,
                                                                        tiny_model_path: Path):
    model = wb.library.import_file(tiny_model_path)
    session = wb.sessions.create(model_name=model.name)
    with pytest.raises(InvalidMedia, match=r"has no projector.*--mmproj"):
        wb.chat.send(session.id, "look", images=[tiny_png(1)])
    assert wb.sessions.messages(session.id) == [] and _stored(wb) == []


def test_only_user_messages_carry_images(wb: Workbench, model):
    session = wb.sessions.create(model_name=model.name)
    with pytest.raises(InvalidParameter, match="only user messages"):
        wb.sessions.add_message(session.id, None, "assistant", "hi", images=[tiny_png(1)])


def test_json_export_embeds_images_and_import_restores_them(wb: Workbench, model, tmp_path: Path):
    session = wb.sessions.create(model_name=model.name)
    user = wb.sessions.add_message(session.id, None, "user", "what is this?", images=[tiny_png(3)])
    wb.sessions.add_message(session.id, user.id, "assistant", "noise")
    exported = json.loads(json.dumps(wb.sessions.export_json(session.id)))
    assert list(exported["media"]) == [user.media[0].sha256]
    assert "sha256 " + user.media[0].sha256[:12] in wb.sessions.export_markdown(session.id)
    for path in wb.paths.media.iterdir():  # another machine: the file is not here
        path.unlink()
    imported = wb.sessions.import_json(exported)
    first = wb.sessions.messages(imported.id)[0]
    assert first.media == user.media and wb.sessions.images(first)[0].data == tiny_png(3)


def test_an_export_with_changed_image_bytes_imports_nothing(wb: Workbench, model):
    session = wb.sessions.create(model_name=model.name)
    wb.sessions.add_message(session.id, None, "user", "what is this?", images=[tiny_png(3)])
    exported = wb.sessions.export_json(session.id)
    [item] = exported["media"].values()
    item["data_base64"] = "not base64 at all!"
    with pytest.raises(InvalidMedia, match="not valid base64"):
        wb.sessions.import_json(exported)
    item["data_base64"] = base64.b64encode(tiny_png(4)).decode()
    with pytest.raises(InvalidMedia, match="other bytes than its sha256"):
        wb.sessions.import_json(exported)
    assert len(wb.sessions.list()) == 1


def test_retention_removes_images_no_message_keeps(wb: Workbench, model):
    session = wb.sessions.create(model_name=model.name)
    keep = wb.sessions.create(model_name=model.name)
    wb.sessions.add_message(session.id, None, "user", "a", images=[tiny_png(5), tiny_png(6)])
    wb.sessions.add_message(keep.id, None, "user", "b", images=[tiny_png(6)])
    wb.sessions.delete(session.id)
    long_ago = time.time() - 2 * 86_400
    for path in wb.paths.media.iterdir():
        os.utime(path, (long_ago, long_ago))
    report = wb.retention.apply()
    assert report.unreferenced_files == 1
    assert _stored(wb) == [f"sha256-{Media.from_bytes(tiny_png(6)).sha256}"]


TEMPLATE = '"""{{ range .Messages }}<|{{ .Role }}|>{{ .Content }}<|end|>{{ end }}<|assistant|>"""'


def test_a_turn_with_an_image_is_answered_and_the_next_turn_still_sees_it(wb: Workbench, model):
    from tests.tinyvision import N_IMAGE_TOKENS

    wb.presets.create("seeing", f"FROM {model.name}\nTEMPLATE {TEMPLATE}\nPARAMETER num_predict 3\n")
    session = wb.sessions.create(preset_ref="seeing")
    first = wb.chat.send(session.id, "What is this?", images=[tiny_png(1)]).collect()
    assert first.status == "complete", first.provenance
    follow = wb.chat.send(session.id, "And now?").collect()
    assert follow.status == "complete"
    without = wb.chat.send(wb.sessions.create(preset_ref="seeing").id, "What is this?").collect()
    assert first.provenance["prompt_tokens"] == without.provenance["prompt_tokens"] + N_IMAGE_TOKENS
    assert follow.provenance["prompt_tokens"] > first.provenance["prompt_tokens"] + N_IMAGE_TOKENS // 2


def test_cli_shows_a_messages_images_and_carries_them_through_export_and_import(wb: Workbench, model, tmp_path,
                                                                               capsys):
    from workbench.cli import main

    session = wb.sessions.create(model_name=model.name)
    user = wb.sessions.add_message(session.id, None, "user", "what is this?", images=[tiny_png(7)])
    assert main(["sessions", "show", str(session.id)]) == 0
    assert f"[image image/png, {len(tiny_png(7)):,} bytes, sha256 {user.media[0].sha256[:12]}]" in \
        capsys.readouterr().out
    out = tmp_path / "s.json"
    assert main(["sessions", "export", str(session.id), "-f", "json", "-o", str(out)]) == 0
    wb.sessions.delete(session.id)
    for path in wb.paths.media.iterdir():
        path.unlink()
    assert main(["sessions", "import", str(out)]) == 0
    [imported] = wb.sessions.list()
    assert wb.sessions.images(wb.sessions.messages(imported.id)[0])[0].data == tiny_png(7)
