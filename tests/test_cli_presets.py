"""`workbench create` and `workbench presets …` through the real CLI entry point, on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_answers import modelfile
from tests.test_cli_library import assert_one_line_error, run
from workbench.app import Workbench
from workbench.paths import default_paths


@pytest.fixture
def tiny(tiny_model_path: Path) -> None:
    with Workbench(default_paths()) as wb:
        wb.library.import_file(tiny_model_path, name="tiny:F32")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_create_iterate_diff_rollback_export_and_run(capsys, tmp_path, tiny):
    v1 = write(tmp_path, "v1", modelfile("PARAMETER num_predict 6", "PARAMETER tfs_z 0.9"))
    v2 = write(tmp_path, "v2", modelfile("PARAMETER num_predict 4", "PARAMETER tfs_z 0.9"))
    code, out, err = run(capsys, "create", "helper", "-f", v1)
    assert code == 0 and out.startswith("created helper@1 (sha256 ")
    assert "PARAMETER tfs_z is an Ollama setting with no effect here" in err
    assert run(capsys, "create", "helper", "-f", v1)[1].startswith("unchanged: helper@1 already has this content")
    code, out, _ = run(capsys, "create", "helper", "-f", v2, "-m", "shorter answers")
    assert code == 0 and out.startswith("saved helper@2")

    out = run(capsys, "presets")[1]
    assert out.splitlines()[1].split()[:5] == ["helper", "2", "2", "-", "tiny:F32"]
    rows = [line.split() for line in run(capsys, "presets", "history", "helper")[1].splitlines()[1:]]
    assert [(r[0], r[-2:]) for r in rows] == [("2", ["shorter", "answers"]), ("1", ["-", "created"])]
    code, out, _ = run(capsys, "presets", "diff", "helper", "1", "2")
    assert code == 0 and out.startswith("--- helper@1\n+++ helper@2\n")
    assert "-PARAMETER num_predict 6\n+PARAMETER num_predict 4\n" in out
    code, out, _ = run(capsys, "presets", "rollback", "helper", "1")
    assert code == 0 and "now helper@3" in out

    assert run(capsys, "presets", "export", "helper@2")[1] == v2.read_text()
    exported = tmp_path / "out.Modelfile"
    assert run(capsys, "presets", "export", "helper", "-o", exported)[0] == 0
    assert exported.read_text() == v1.read_text()  # latest = version 3 = version 1's text
    assert run(capsys, "presets", "tag", "helper", "stable", "2")[0] == 0
    code, out, _ = run(capsys, "presets", "show", "helper:stable")
    assert code == 0 and "helper@2" in out and out.endswith(v2.read_text()) and "stable" in out

    code, out, err = run(capsys, "run", "helper", "say", "hello")
    with Workbench(default_paths()) as wb:
        (session,) = wb.sessions.list()
        user, answer = wb.sessions.path(session.id)
    assert code == 0 and err == "" and out == answer.content + "\n"
    assert (session.preset_ref, session.title, user.content) == ("helper@3", "say hello", "say hello")
    assert answer.provenance["completion_tokens"] == 6 and answer.status == "complete"

    code, _, err = run(capsys, "presets", "rm", "helper")
    assert code == 1
    assert_one_line_error(err, "pinned by 1 session")
    code, out, _ = run(capsys, "presets", "rm", "helper", "--force")
    assert code == 0 and "1 session(s) detached" in out
    assert "no presets yet" in run(capsys, "presets")[2]


def test_a_bad_modelfile_names_its_line_and_saves_nothing(capsys, tmp_path, tiny):
    bad = write(tmp_path, "bad", "FROM tiny:F32\n# a comment\nPARAMETER top_k -3\n")
    code, out, err = run(capsys, "create", "helper", "-f", bad)
    assert code == 1 and out == ""
    assert_one_line_error(err, "line 3: ")
    assert "top_k" in err
    unterminated = write(tmp_path, "open", 'FROM tiny:F32\nSYSTEM """never closed\n')
    code, _, err = run(capsys, "create", "helper", "-f", unterminated)
    assert code == 1
    assert_one_line_error(err, "line 2: ")
    assert "no presets yet" in run(capsys, "presets")[2]
    code, _, err = run(capsys, "create", "helper", "-f", tmp_path / "missing")
    assert code == 1
    assert_one_line_error(err, "no such file")


def test_unknown_presets_and_versions_are_one_line_errors(capsys, tmp_path, tiny):
    for argv, text in ((("run", "nope", "hi"), "neither a preset"), (("presets", "show", "nope"), "no preset named"),
                       (("presets", "history", "nope"), "no preset named")):
        code, _, err = run(capsys, *argv)
        assert code == 1, argv
        assert_one_line_error(err, text)
    run(capsys, "create", "helper", "-f", write(tmp_path, "v1", modelfile()))
    code, _, err = run(capsys, "presets", "diff", "helper", "1", "7")
    assert code == 1
    assert_one_line_error(err, "has no version 7")
    code, _, err = run(capsys, "presets", "tag", "helper", "latest", "1")
    assert code == 1
    assert_one_line_error(err, "always follows the newest")
