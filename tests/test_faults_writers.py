"""Several writers on one database at once — processes standing in for the app and the CLI, and the real
endpoint serving requests — with nothing lost, no "database is locked" reaching anyone, the audit chain whole."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.serve_support import serving
from workbench.app import Workbench

ROUNDS = 25
WRITER = textwrap.dedent("""
    import sys
    from workbench.app import Workbench
    caller, rounds = sys.argv[1], int(sys.argv[2])
    with Workbench(caller=caller) as wb:
        sys.stdin.readline()  # every writer begins at the same moment: when the test writes "go"
        for i in range(rounds):
            session = wb.sessions.create(model_name="tiny:F32", title=f"{caller} {i}")
            user = wb.sessions.add_message(session.id, None, "user", f"{caller} question {i}")
            wb.sessions.add_message(user.session_id, user.id, "assistant", f"{caller} answer {i}")
            wb.presets.save(f"p-{caller}", f"FROM tiny:F32\\nSYSTEM round {i}\\n")
            wb.audit.record("test.wrote", caller, {"round": i})
""")


def test_the_app_the_cli_and_the_endpoint_write_at_once_and_nothing_is_lost(
        wb: Workbench, tiny_model_path: Path, workbench_home: Path, tmp_path: Path):
    wb.library.import_file(tiny_model_path, name="tiny:F32")
    wb.update_settings(default_context=256, keep_alive_seconds=-1)
    env = {**os.environ, "WORKBENCH_HOME": str(workbench_home)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, caller, str(ROUNDS)], env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for caller in ("gui", "cli")]
    with serving(wb, parallel=2) as server, ThreadPoolExecutor(4) as pool:
        body = {"model": "tiny:F32", "prompt": "x", "max_tokens": 2}
        for writer in writers:
            writer.stdin.write("go\n")
            writer.stdin.flush()
        answers = list(pool.map(lambda _: httpx.post(server.url + "/v1/completions", json=body, timeout=120),
                                range(2 * ROUNDS)))
        results = [(w.wait(300), *w.communicate()) for w in writers]
    assert [a.status_code for a in answers] == [200] * 2 * ROUNDS
    for code, out, err in results:
        assert code == 0 and "locked" not in err + out, err

    for caller in ("gui", "cli"):
        titles = {s.title for s in wb.sessions.list() if s.title.startswith(caller)}
        assert titles == {f"{caller} {i}" for i in range(ROUNDS)}
        assert len(wb.presets.history(f"p-{caller}")) == ROUNDS
        assert len(wb.sessions.search(f"{caller} answer")) >= ROUNDS
    assert sum(len(wb.sessions.messages(s.id)) for s in wb.sessions.list()) == 4 * ROUNDS
    wb.audit.flush()
    events = wb.audit.list(limit=10_000)
    assert sum(e.kind == "test.wrote" for e in events) == 2 * ROUNDS
    assert sum(e.kind == "endpoint.request" for e in events) == 2 * ROUNDS
    assert wb.audit.verify().ok  # concurrent appends never forked the chain
