"""Projectors (mmproj GGUFs: the vision/audio encoder llama.cpp's libmtmd loads beside a model) as library items.

A projector is checked (a GGUF whose `general.type` is "mmproj", or that has clip.* keys), hashed, kept where it
is or copied into the blob store like a model, and recorded on every library model with the same weights:
`projector_path`, `projector_sha256` and the modalities its metadata declares (docs/design.md §5.3).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ..errors import InvalidModelFile
from ..files import check_free_space, copy_hashing, remove_tree_or_file, sha256_file, temp_path
from ..gguf.info import GGUFInfo, read_gguf_info
from ..records import LocalModel
from ..tasks import CancelToken, ProgressCallback, ProgressMeter, no_progress


def projector_modalities(info: GGUFInfo) -> str:
    """"vision", "audio" or "vision,audio" from a projector's clip.has_*_encoder keys; InvalidModelFile when the
    file is not a projector at all (a text model given by mistake)."""
    meta = info.metadata
    is_projector = meta.get("general.type") == "mmproj" or any(k.startswith("clip.") for k in meta)
    if not is_projector:
        kind = meta.get("general.type") or info.architecture or "unknown"
        raise InvalidModelFile(f"{info.path} is not a projector (mmproj) file: it is a {kind!r} GGUF without clip.* "
                               "keys; pair the mmproj-*.gguf that comes with the model")
    found = [name for name in ("vision", "audio") if meta.get(f"clip.has_{name}_encoder")]
    return ",".join(found or ["vision"])  # early projectors say nothing: they are all image encoders


def read_projector(path: Path) -> tuple[GGUFInfo, str]:
    """The projector's validated header and modalities (raises InvalidModelFile / NotFound)."""
    info = read_gguf_info(path)
    return info, projector_modalities(info)


def pair(library, model_name: str, path: str | os.PathLike, *, copy: bool = False,
         sha256: str | None = None, on_progress: ProgressCallback = no_progress,
         cancel: CancelToken | None = None) -> LocalModel:
    """Pair `path` with a library model. In place unless `copy`; a file already in the data folder (a pull's
    verified download, given with its `sha256`) is moved into the blob store without rehashing."""
    model = library.get(model_name)
    source = Path(path).expanduser().absolute()
    info, modalities = read_projector(source)
    meter = ProgressMeter(f"importing projector {source.name}", info.file_size, on_progress)
    adopt = library._inside_store(source)
    if copy or adopt:
        stored, digest = _store(library, source, meter, cancel, move=adopt, sha256=sha256)
    else:
        stored, digest = source, sha256 or sha256_file(source, meter, cancel, "import")
    meter.finish()
    old = model.projector_path
    paired = record_pair(library, model, str(stored), digest, modalities)
    if old and old != str(stored):
        forget_unused(library, Path(old))
    library._audit.model("model.projector_paired", paired, projector_sha256=digest, projector=str(stored),
                         modalities=modalities)
    return paired


def record_pair(library, model: LocalModel, path: str, sha256: str, modalities: str | None) -> LocalModel:
    """Write the pairing on every name of the same weights (aliases share files, so they share the projector)."""
    changes = dict(projector_path=path, projector_sha256=sha256, projector_modalities=modalities)
    with library._lock:
        updated = [library.store.models.update(dataclasses.replace(m, **changes))
                   for m in library.store.models.by_sha256(model.sha256)]
    return next(m for m in updated if m.name == model.name)


def unpair(library, model_name: str) -> LocalModel:
    """Drop a model's projector; its stored copy is deleted when no other model uses it."""
    model = library.get(model_name)
    if model.projector_path is None:
        return model
    unpaired = record_pair(library, model, None, None, None)
    forget_unused(library, Path(model.projector_path))
    library._audit.model("model.projector_unpaired", unpaired, projector_sha256=model.projector_sha256)
    return unpaired


def forget_unused(library, path: Path) -> None:
    """Delete a stored projector (only inside the blob store) that no model in the library refers to any more."""
    if not path.resolve().is_relative_to(library.paths.blobs.resolve()):
        return
    if any(m.projector_path == str(path) for m in library.store.models.list()):
        return
    remove_tree_or_file(path)


def _store(library, source: Path, meter: ProgressMeter, cancel: CancelToken | None, *, move: bool,
           sha256: str | None) -> tuple[Path, str]:
    """Move (a verified download) or copy-while-hashing into `blobs/sha256-<hex>.gguf`."""
    blobs = library.paths.blobs
    if move:
        digest = sha256 or sha256_file(source, meter, cancel, "import")
        return library._place((source,), (digest,))[0], digest
    check_free_space(blobs, source.stat().st_size)
    temp = temp_path(blobs)
    try:
        digest = copy_hashing(source, temp, meter, cancel, "import")
        return library._place((temp,), (digest,))[0], digest
    finally:
        remove_tree_or_file(temp)  # gone already after a successful place
