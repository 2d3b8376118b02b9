"""`workbench run MODEL --image FILE "question"` through the real CLI entry point on the tiny pair."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli_library import assert_one_line_error, run
from tests.test_cli_sessions import CLI
from tests.tinyvision import N_IMAGE_TOKENS, tiny_png, write_tiny_projector
from workbench.app import Workbench
from workbench.paths import default_paths


@pytest.fixture
def seer(tiny_model_path: Path, tmp_path: Path) -> str:
    with Workbench(default_paths()) as wb:
        wb.library.import_file(tiny_model_path, name="seer", mmproj=write_tiny_projector(tmp_path / "mmproj.gguf"))
        wb.presets.create("seer-brief", "FROM seer\nPARAMETER num_predict 4\n")  # a preset runs its model's projector
    return "seer-brief"


def fails(result: tuple[int, str, str], text: str) -> None:
    code, _, err = result
    assert code == 1
    assert_one_line_error(err, text)


def answers() -> list:
    with Workbench(default_paths()) as wb:
        return [wb.sessions.path(s.id) for s in reversed(wb.sessions.list())]


def test_run_with_images_answers_about_them_and_stores_them(seer, tmp_path: Path, capsys):
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    first.write_bytes(tiny_png(1))
    second.write_bytes(tiny_png(2))
    code, out, _ = run(capsys, "run", seer, "--image", str(first), "-i", str(second), "what", "is", "it?")
    assert code == 0 and out.strip()
    code, _, _ = run(capsys, "run", seer, "what is it?")  # the same question without images, for contrast
    (user, answer), (_, plain_answer) = answers()
    assert [m.sha256 for m in user.media] and len(user.media) == 2 and user.content == "what is it?"
    assert answer.provenance["prompt_tokens"] == plain_answer.provenance["prompt_tokens"] + 2 * N_IMAGE_TOKENS


def test_run_with_a_bad_image_is_one_line_and_stores_nothing(seer, tmp_path: Path, capsys):
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    fails(run(capsys, "run", seer, "--image", str(notes), "look"), "notes.png: the attachment is not an image")
    fails(run(capsys, "run", seer, "--image", str(tmp_path / "gone.png"), "look"), "no such file")
    assert answers() == []


def test_run_with_an_image_on_a_model_without_projector_fails_clearly(tiny_model_path: Path, tmp_path: Path,
                                                                       capsys):
    with Workbench(default_paths()) as wb:
        wb.library.import_file(tiny_model_path, name="blind")
    picture = tmp_path / "a.png"
    picture.write_bytes(tiny_png(1))
    fails(run(capsys, "run", "blind", "--image", str(picture), "look"), "projector")
    with Workbench(default_paths()) as wb:
        assert wb.sessions.list() == []  # refused before a session was made


def test_an_interactive_session_takes_images_from_the_command_line_and_slash_image(seer, tmp_path: Path):
    first, second = tmp_path / "a.png", tmp_path / "my picture.png"
    first.write_bytes(tiny_png(1))
    second.write_bytes(tiny_png(2))
    script = "\n".join(["/set parameter num_predict 3", "look", "and now?", f"/image {second}", "/image notes.txt",
                        "and this one?", "/bye"])
    done = subprocess.run([sys.executable, "-c", CLI, "run", seer, "--image", str(first)], input=script + "\n",
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "attached " + str(second) in done.stderr and "notes.txt: no such file" in " ".join(done.stderr.split())
    ([*messages],) = answers()
    users = [m for m in messages if m.role == "user"]
    assert [m.content for m in users] == ["look", "and now?", "and this one?"]
    assert [len(m.media) for m in users] == [1, 0, 1]  # each image goes with the next message only
    assert users[0].media[0].sha256 != users[2].media[0].sha256
