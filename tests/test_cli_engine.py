"""`workbench quantize` (and `tokenize`) through the real CLI entry point; Ctrl-C through a real SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.app import Workbench
from workbench.cli import main
from workbench.paths import default_paths


def _import(path: Path) -> str:
    with Workbench(default_paths()) as wb:
        return wb.library.import_file(path).name


def _models() -> dict[str, object]:
    with Workbench(default_paths()) as wb:
        return {m.name: m for m in wb.library.list()}


def _leftovers() -> list[Path]:
    return [p for p in default_paths().blobs.iterdir() if p.name.startswith(".")]


def test_quantize_command_creates_a_child_model(tiny_model_path, capsys):
    source = _import(tiny_model_path)
    assert main(["quantize", source, "q8_0"]) == 0
    out = capsys.readouterr().out
    assert "created tiny-llama:Q8_0" in out and f"from {source}" in out
    models = _models()
    assert models["tiny-llama:Q8_0"].parent_sha256 == models[source].sha256
    assert main(["quantize", source, "Q4_0", "--name", "tiny-small:Q4_0"]) == 0
    assert "tiny-small:Q4_0" in _models()


def test_quantize_command_refuses_requantizing_unless_asked(tiny_model_path, capsys):
    source = _import(tiny_model_path)
    assert main(["quantize", source, "Q8_0"]) == 0
    capsys.readouterr()
    assert main(["quantize", "tiny-llama:Q8_0", "Q4_0"]) == 1
    err = capsys.readouterr().err
    assert "already quantized (Q8_0)" in err and "--allow-requantize" in err
    assert main(["quantize", "tiny-llama:Q8_0", "Q4_0", "--allow-requantize"]) == 0
    assert "(requantized)" in capsys.readouterr().out
    assert _models()["tiny-llama:Q4_0"].requantized is True


def test_quantize_command_unknown_type_lists_the_valid_ones(tiny_model_path, capsys):
    source = _import(tiny_model_path)
    assert main(["quantize", source, "Q9_X"]) == 1
    err = capsys.readouterr().err
    assert "unknown quantization type 'Q9_X'" in err and "Q4_K_M" in err and "IQ4_NL" in err
    assert list(_models()) == [source]


@pytest.mark.gemma
def test_ctrl_c_exits_130_and_leaves_no_partial(gemma_model_path, workbench_home):
    source = _import(gemma_model_path)
    code = "import sys; from workbench.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "quantize", source, "Q8_0", "--allow-requantize", "--threads", "1"],
        env={**os.environ, "WORKBENCH_HOME": str(workbench_home)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while not any(p.stat().st_size > 0 for p in _leftovers() if p.is_file()):  # quantized bytes are being written
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert _leftovers() == []
    assert list(_models()) == [source]


def test_tokenize_command_prints_ids_and_pieces(tiny_model_path, capsys):
    from tests.tinymodel import BOS_ID, END_ID

    source = _import(tiny_model_path)
    assert main(["tokenize", source, "hi"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["0", str(BOS_ID), "'<s>'"] in rows
    assert ["1", str(ord("h")), "'h'"] in rows and ["2", str(ord("i")), "'i'"] in rows
    assert ["3", "tokens"] in rows
    assert main(["tokenize", source, "hi<|end|>", "--no-special", "--parse-special"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["2", str(END_ID), "'<|end|>'"] in rows and ["3", "tokens"] in rows


def test_tokenize_command_unknown_model(capsys):
    assert main(["tokenize", "nope", "hi"]) == 1
    assert "no model named 'nope'" in capsys.readouterr().err
