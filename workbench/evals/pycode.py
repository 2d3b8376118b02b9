"""promptfoo-style `python` assertions, run in a child Python process (only when a run allows code).

The code is the suite author's, not ours: a child process keeps a crash, an endless loop (killed after
TIMEOUT_SECONDS) or a stray `sys.exit` out of the run. promptfoo's forms are accepted: a one-line expression
(`output` and `context` in scope), a multi-line body that `return`s, or a file defining `get_assert(output,
context)`. The result may be a bool, a number (a score) or a dict {pass, score, reason}.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

TIMEOUT_SECONDS = 30

_CHILD = r"""
import json, sys
data = json.loads(sys.stdin.read())
code, output, context = data["code"], data["output"], data["context"]
scope = {"output": output, "context": context, "json": json}
if "def get_assert" in code:
    exec(compile(code, "<assertion>", "exec"), scope)
    result = scope["get_assert"](output, context)
elif "\n" not in code.strip():
    result = eval(compile(code.strip(), "<assertion>", "eval"), scope)
else:
    body = "\n".join("    " + line for line in code.splitlines())
    exec(compile("def _assertion(output, context):\n" + body, "<assertion>", "exec"), scope)
    result = scope["_assertion"](output, context)
sys.stdout.write("\x1e" + json.dumps(result, default=str))
"""


def run_python_assertion(code: str, output: str, context: dict[str, Any],
                         threshold: float | None) -> tuple[bool, float, str, dict]:
    """(passed, score, reason, details) from the code's result; a failure of the code fails the assertion."""
    payload = json.dumps({"code": code, "output": output, "context": context}, default=str)
    try:
        done = subprocess.run([sys.executable, "-I", "-c", _CHILD], input=payload, capture_output=True, text=True,
                              timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return False, 0.0, f"the python assertion ran over {TIMEOUT_SECONDS} s and was stopped", {}
    if done.returncode != 0 or "\x1e" not in done.stdout:
        last = (done.stderr.strip().splitlines() or ["it exited without a result"])[-1]
        return False, 0.0, f"the python assertion failed: {last}", {}
    result = json.loads(done.stdout.rsplit("\x1e", 1)[1])
    return _interpret(result, threshold)


def _interpret(result: Any, threshold: float | None) -> tuple[bool, float, str, dict]:
    if isinstance(result, bool):
        return result, float(result), f"python returned {result}", {}
    if isinstance(result, int | float):
        passed = result >= threshold if threshold is not None else result > 0
        return passed, float(result), f"python returned the score {result:g}", {}
    if isinstance(result, dict) and "pass" in result:
        passed = bool(result["pass"])
        score = float(result.get("score", 1.0 if passed else 0.0))
        return passed, score, str(result.get("reason", f"python returned pass={passed}")), {}
    return False, 0.0, f"python returned {result!r}; expected a bool, a number or {{pass, score, reason}}", {}
