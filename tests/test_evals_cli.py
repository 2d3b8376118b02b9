"""`workbench eval …` through the real CLI entry point: init, the gate's exit code and JUnit file, show / runs / diff /
export, the question before a huge suite, and kill -9 of a real process mid-run followed by `--resume`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.test_cli_library import run
from tests.test_evals_run import SUITE, write_suite
from workbench.app import Workbench
from workbench.evals import validate_suite
from workbench.paths import default_paths

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def tiny(tiny_model_path: Path):
    with Workbench(default_paths()) as wb:
        return wb.library.import_file(tiny_model_path, name="tiny:F32")


def test_init_writes_a_commented_suite_that_validates(capsys, tmp_path):
    path = tmp_path / "evalsuite.yaml"
    code, out, _ = run(capsys, "eval", "init", path)
    assert code == 0 and "wrote" in out and path.read_text().startswith("# An eval suite")
    assert validate_suite(path.read_text(), tmp_path) == []
    code, _, err = run(capsys, "eval", "init", path)
    assert code == 1 and "--force" in err


def test_the_gate_exits_1_on_a_regression_and_writes_junit(capsys, tmp_path, tiny):
    suite = write_suite(tmp_path, SUITE)
    code, out, _ = run(capsys, "eval", "run", suite, "--concurrency", "2", "--tag", "baseline")
    assert code == 0 and "run 1 complete: 12/12 cells, pass rate 66.7% · tags baseline" in out
    junit = tmp_path / "junit.xml"
    code, out, _ = run(capsys, "eval", "run", suite, "--baseline", "baseline", "--junit", junit)
    assert code == 0 and "gate against run 1: passed · 0 regressions" in out  # same suite: nothing regressed
    assert ET.parse(junit).getroot().get("tests") == "12"

    broken = write_suite(tmp_path, SUITE.replace("[{type: max-tokens, value: 6}]", "[{type: max-tokens, value: 2}]"),
                         "broken.yaml")
    code, out, _ = run(capsys, "eval", "run", broken, "--baseline", "baseline", "--junit", junit)
    assert code == 1 and "gate against run 1: FAILED · 4 regressions" in out
    assert out.count("regression short on") == 4
    root = ET.parse(junit).getroot()
    failures = root.findall(".//testcase/failure")
    assert len(failures) == 4 and all(f.get("message").startswith("regression (passed in baseline run 1)")
                                      for f in failures)
    assert len(root.findall(".//testcase/skipped")) == 4  # "impossible" failed in the baseline too
    assert {s.get("name") for s in root.findall("testsuite")} == {"raw", "tiny:F32"}

    code, out, _ = run(capsys, "eval", "run", broken, "--baseline", "1", "--json")
    data = json.loads(out)
    assert code == 1 and data["gate"]["gate_passed"] is False and len(data["cells"]) == 12


def test_runs_show_diff_tag_and_export(capsys, tmp_path, tiny):
    suite = write_suite(tmp_path, SUITE)
    assert run(capsys, "eval", "run", suite)[0] == 0
    assert run(capsys, "eval", "run", suite, "-t", "tiny:F32", "--repeat", "2")[0] == 0
    out = run(capsys, "eval", "runs")[1]
    assert out.splitlines()[0].split()[:4] == ["RUN", "WHEN", "(UTC)", "SUITE"]
    assert out.splitlines()[1].split()[0] == "2" and "12/12" in out
    code, out, _ = run(capsys, "eval", "show", "last")
    assert code == 0 and out.startswith("# Eval run 2: mechanics") and "## Matrix" in out
    assert run(capsys, "eval", "tag", "1", "good")[1] == "run 1 is now tagged good\n"
    code, out, _ = run(capsys, "eval", "diff", "good", "2")
    assert code == 0 and out.startswith("# Run 2 against run 1") and "| raw | 66.7% | - |" in out
    report = tmp_path / "r.html"
    code, out, _ = run(capsys, "eval", "export", "2", "--format", "html", "-o", report)
    assert code == 0 and report.read_text().startswith("<!doctype html>")
    code, out, _ = run(capsys, "eval", "export", "2", "--format", "csv")
    assert code == 0 and len(out.splitlines()) == 13
    code, _, err = run(capsys, "eval", "show", "nope")
    assert code == 1 and "no eval run is tagged 'nope'" in err


def test_a_huge_suite_asks_before_running(capsys, tmp_path, tiny):
    body = SUITE.replace('prompts: ["Hello {{name}}", "Bye {{name}}"]',
                         "prompts: [" + ", ".join(f'"P{i} {{{{name}}}}"' for i in range(25)) + "]")
    body = body.replace("{name: Ann}", "{name: [" + ", ".join(f"n{i}" for i in range(1000)) + "]}")
    suite = write_suite(tmp_path, body)
    code, _, err = run(capsys, "eval", "run", suite)
    assert code == 1 and "this suite has 50,100 cells" in err and "--yes" in err
    with Workbench(default_paths()) as wb:
        assert wb.evals.runs() == []  # nothing started


CHILD = """
import sys
from workbench.app import Workbench
stored = []
def on_cell(cell):
    stored.append(cell.id)
    print("stored", cell.id, flush=True)
    if len(stored) == 4:
        sys.stdin.readline()  # hold the run here until it is killed: it cannot finish first
with Workbench(caller="cli") as wb:
    wb.evals.run(sys.argv[1], concurrency=2, on_cell=on_cell)
"""


def test_kill_9_mid_run_then_resume_finishes_without_redoing_cells(capsys, tmp_path, tiny):
    body = SUITE.replace("{name: Ann}", "{name: [" + ", ".join(f"n{i}" for i in range(8)) + "]}")
    suite = write_suite(tmp_path, body.replace("num_predict: 6", "num_predict: 24"))  # 40 cells
    with (tmp_path / "child.err").open("w") as errors:
        child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(CHILD), str(suite)], cwd=ROOT,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True,
                                 env=os.environ.copy())
        seen = [child.stdout.readline() for _ in range(4)]  # each line is printed after its cell was committed
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        child.stdin.close()
        child.stdout.close()
    assert all(line.startswith("stored ") for line in seen), (seen, (tmp_path / "child.err").read_text())
    with Workbench(default_paths()) as wb:
        [interrupted] = wb.evals.runs()  # the dead writer is noticed
        assert interrupted.status == "interrupted" and 4 <= interrupted.done_cells < 40
        before = {c.key: (c.id, c.output, c.finished_at) for c in wb.evals.cells(interrupted.id)}
    code, out, _ = run(capsys, "eval", "run", "--resume", "last")
    assert code == 0 and f"run {interrupted.id} complete: 40/40 cells" in out
    with Workbench(default_paths()) as wb:
        after = {c.key: (c.id, c.output, c.finished_at) for c in wb.evals.cells(interrupted.id)}
    assert len(after) == 40 and all(after[key] == value for key, value in before.items())
