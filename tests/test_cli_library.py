"""`workbench import/list/show/rm/verify`: in-process through `cli.main` and as the installed console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.gguf_samples import write_padded
from workbench.cli import main


@pytest.fixture
def tiny(tmp_path: Path, tiny_model_path: Path) -> Path:
    return Path(shutil.copy(tiny_model_path, tmp_path / "tiny.gguf"))


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, text: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], err
    assert "Traceback" not in err


def test_import_list_show_rm_on_the_tiny_model(capsys, tiny: Path):
    code, out, _ = run(capsys, "import", tiny)
    assert code == 0 and "imported tiny-llama:F32 (436.9 KB, sha256 " in out and f"in place at {tiny}" in out
    code, out, _ = run(capsys, "import", tiny)
    assert code == 0 and "already in the library as tiny-llama:F32" in out

    code, out, _ = run(capsys, "list")
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "ARCH", "PARAMS", "QUANT", "SIZE", "CTX", "SOURCE", "ADDED"]
    assert row.split()[:8] == ["tiny-llama:F32", "llama", "107.7K", "F32", "436.9", "KB", "4,096", "in"]

    code, out, _ = run(capsys, "show", "tiny-llama:F32")
    assert code == 0 and "context length    4,096" in out and "chat template     yes (sha256" in out
    code, out, _ = run(capsys, "show", "tiny-llama:F32", "--json")
    data = json.loads(out)
    assert data["name"] == "tiny-llama:F32" and data["path"] == str(tiny) and data["files"] == [str(tiny)]
    assert data["metadata"]["tokenizer.ggml.tokens"]["length"] == 263 and data["added_at"].endswith("Z")
    code, out, _ = run(capsys, "show", data["sha256"][:12], "--template")
    assert code == 0 and out.startswith("{% for message in messages %}")

    code, out, _ = run(capsys, "rm", "tiny-llama:F32")
    assert code == 0 and f"removed tiny-llama:F32 (its file stays at {tiny})" in out and tiny.exists()
    code, _, err = run(capsys, "list")
    assert code == 0 and "no models yet" in err


def test_copy_then_rm_frees_the_stored_copy(capsys, tiny: Path):
    code, out, _ = run(capsys, "import", tiny, "--copy", "--name", "tiny:copy")
    assert code == 0 and "imported tiny:copy" in out and "copied into the library's store" in out
    code, out, _ = run(capsys, "rm", "tiny:copy")
    assert code == 0 and "removed tiny:copy and its stored copy (436.9 KB freed)" in out


def test_verify_ok_then_changed(capsys, tiny: Path):
    run(capsys, "import", tiny)
    code, out, _ = run(capsys, "verify", "tiny-llama:F32")
    assert code == 0 and out.splitlines()[0].split() == ["ok", str(tiny)]
    with tiny.open("r+b") as f:
        f.seek(-1, os.SEEK_END)
        f.write(b"\x01")
    code, out, err = run(capsys, "verify", "tiny-llama:F32")
    assert code == 1 and out.splitlines()[0].split() == ["changed", str(tiny)]
    assert_one_line_error(err, "tiny-llama:F32 failed verification (1 of 1 file(s) changed or missing)")


@pytest.mark.parametrize(("argv", "message"), [
    (["show", "nope"], "no model named 'nope'"),
    (["rm", "nope"], "no model named 'nope'"),
    (["verify", "nope"], "no model named 'nope'"),
    (["import", "/no/such/file.gguf"], "no file at /no/such/file.gguf"),
])
def test_user_errors_are_one_line_and_exit_1(capsys, argv: list[str], message: str):
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert_one_line_error(err, message)


def test_bad_files_and_names(capsys, tiny: Path, tmp_path: Path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"GGUF" + (1).to_bytes(4, "little") + bytes(16))
    code, _, err = run(capsys, "import", bogus)
    assert code == 1
    assert_one_line_error(err, "is GGUF version 1, which is no longer supported")
    code, _, err = run(capsys, "import", tiny, "--name", "../escape")
    assert code == 1
    assert_one_line_error(err, "model name '../escape'")


def test_ctrl_c_during_a_copy_exits_130_and_leaves_nothing(capsys, tmp_path: Path, wb,
                                                          monkeypatch: pytest.MonkeyPatch):
    """Ctrl-C arrives as KeyboardInterrupt in the hashing loop; here the progress callback raises it there."""
    import workbench.cli.library_cmds as cmds

    @contextmanager
    def interrupting_bar(description: str, transient: bool = True):
        def on_progress(p) -> None:
            if p.completed:
                raise KeyboardInterrupt

        yield on_progress

    monkeypatch.setattr(cmds, "progress_bar", interrupting_bar)
    big = write_padded(tmp_path / "big.gguf", 8)
    code, _, _ = run(capsys, "import", big, "--copy")
    assert code == 130
    assert list(wb.paths.blobs.iterdir()) == [] and wb.library.list() == []


@pytest.mark.gemma
def test_gemma_import_list_show(capsys, gemma_model_path: Path):
    code, out, _ = run(capsys, "import", gemma_model_path)
    assert code == 0 and "imported gemma-3-270m:Q4_K_M (253.1 MB, sha256 a5fd3b62230a)" in out
    code, out, _ = run(capsys, "list")
    assert out.splitlines()[1].split()[:8] == ["gemma-3-270m:Q4_K_M", "gemma3", "268.1M", "Q4_K_M", "253.1", "MB",
                                                "32,768", "in"]
    code, out, _ = run(capsys, "show", "gemma-3-270m:Q4_K_M")
    assert "architecture      gemma3" in out and "chat template     none" in out and "license           gemma" in out
    code, _, err = run(capsys, "show", "gemma-3-270m:Q4_K_M", "--template")
    assert code == 1
    assert_one_line_error(err, "gemma-3-270m:Q4_K_M has no chat template")


def _script(*argv: str, env: dict) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("workbench")
    return subprocess.run([str(exe), *argv], env=env, capture_output=True, text=True, timeout=300)


def test_installed_console_script(tmp_path: Path, tiny: Path):
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path / "home")}
    done = _script("import", str(tiny), "--name", "tiny:cli", env=env)
    assert done.returncode == 0 and "imported tiny:cli" in done.stdout, done.stderr
    shown = _script("show", "tiny:cli", "--json", env=env)
    assert shown.returncode == 0 and json.loads(shown.stdout)["architecture"] == "llama"
    missing = _script("show", "nope", env=env)
    assert missing.returncode == 1 and missing.stderr.strip() == (
        "error: no model named 'nope': `workbench list` shows the library")


@pytest.mark.gemma
def test_first_list_on_a_fresh_machine_shows_the_bundled_model(tmp_path: Path):
    """The README's promise: on a fresh data dir, `workbench list` shows the default model (real 253 MB)."""
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_NO_DEFAULT_MODEL"}
    env["WORKBENCH_HOME"] = str(tmp_path / "fresh")
    done = _script("list", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].split()[:4] == ["gemma-3-270m:Q4_K_M", "gemma3", "268.1M", "Q4_K_M"]
    assert "Traceback" not in done.stderr
