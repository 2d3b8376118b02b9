"""What the audit trail costs, each figure against a reference measured in the same run on the same disk.

    .venv/bin/python tests/benchmarks/bench_audit.py [--events 2000] [--repeats 3]

  * record: `wb.audit.record(...)` (hash chain, BEGIN IMMEDIATE, commit) per event, against a bare sqlite3
    INSERT + commit of a row of the same size into a table of its own in the same WAL-mode file;
  * endpoint listener: what a finished request pays on the event loop (`endpoint_request`: build the event and
    enqueue it), against `Metrics.record` of the same request without any listener (what it paid before);
  * background writer: events/s from enqueue to committed (batched), against the bare per-row inserts;
  * verify: events/s recomputing the chain, against hashing the same bytes with hashlib alone.
Each figure is the best of --repeats (a shared machine's load only ever slows a run).
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from workbench.app import Workbench
from workbench.paths import Paths
from workbench.serve.metrics import Metrics, RequestRecord

DETAILS = {"sha256": "a" * 64, "size_bytes": 253_000_000, "in_place": True, "path": "/models/gemma.gguf"}
REQUEST = RequestRecord(time=0.0, client="127.0.0.1", route="/v1/chat/completions", model="default", status=200,
                        prompt_tokens=40, completion_tokens=128, ttft_seconds=0.05, tokens_per_second=80.0,
                        finish_reason="stop")


def best(fn, repeats: int) -> float:
    return min(fn() for _ in range(repeats))


def timed(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def bare_inserts(db: Path, n: int) -> float:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS bare (id INTEGER PRIMARY KEY, row TEXT)")
    row = str(DETAILS) * 2  # about the size of an audit row with its two hashes

    def insert() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO bare (row) VALUES (?)", (row,))
        conn.execute("COMMIT")

    try:
        return timed(insert, n)
    finally:
        conn.close()


def writer_rate(wb: Workbench, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        wb.audit.record_later("endpoint.request", "default", {"n": i}, caller="endpoint")
    wb.audit.flush(timeout=600)
    return (time.perf_counter() - start) / n


def verify_time(wb: Workbench) -> tuple[float, int]:
    start = time.perf_counter()
    result = wb.audit.verify()
    assert result.ok
    return time.perf_counter() - start, result.checked


def hash_only(wb: Workbench) -> float:
    rows = [repr(e).encode() for e in wb.audit.list(limit=1_000_000)]
    start = time.perf_counter()
    for r in rows:
        hashlib.sha256(r).hexdigest()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n = args.events
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        wb = Workbench(Paths(data=root / "d", config=root / "c", cache=root / "ca", logs=root / "l"))
        record = best(lambda: timed(lambda: wb.audit.record("model.verified", "gemma", DETAILS), n), args.repeats)
        bare = best(lambda: bare_inserts(wb.paths.db, n), args.repeats)
        quiet = Metrics()
        heard = Metrics()
        heard.subscribe(wb.audit.endpoint_request)
        plain = best(lambda: timed(lambda: quiet.record(REQUEST), n), args.repeats)
        listened = best(lambda: timed(lambda: heard.record(REQUEST), n), args.repeats)
        wb.audit.flush(timeout=600)
        queued = best(lambda: writer_rate(wb, n), args.repeats)
        verify, checked = min(verify_time(wb) for _ in range(args.repeats))
        hashing = best(lambda: hash_only(wb), args.repeats)
        wb.close()
    print(f"record (sync, one event per transaction): {record * 1e3:.3f} ms/event; bare sqlite3 insert+commit "
          f"{bare * 1e3:.3f} ms -> {record / bare:.2f}x")
    print(f"endpoint listener on the event loop: Metrics.record {plain * 1e6:.1f} us without the audit, "
          f"{listened * 1e6:.1f} us with it (+{(listened - plain) * 1e6:.1f} us per request, {listened / plain:.2f}x)")
    print(f"background writer: {1 / queued:,.0f} events/s enqueue-to-commit ({queued * 1e6:.1f} us/event) vs bare "
          f"per-row inserts {1 / bare:,.0f}/s -> {bare / queued:.1f}x the rate")
    print(f"verify: {checked:,} events in {verify:.3f} s ({checked / verify:,.0f} events/s); sha256 of the same "
          f"rows alone {hashing:.3f} s -> {verify / hashing:.1f}x")


if __name__ == "__main__":
    main()
