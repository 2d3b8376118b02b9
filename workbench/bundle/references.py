"""Stored quality references in bundles: which ones a bundle carries (those of its models, and those asked for by
model name), and installing one that arrived — checked as a reference file of the model, text and window its
manifest entry names — into the data dir's reference store.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import NotFound
from ..files import fsync_dir, sha256_file
from ..measure.reference import StoredReference, list_references, reference_path
from ..tasks import ProgressMeter, no_progress
from .format import BundleReference, InvalidBundle, reference_member_name

if TYPE_CHECKING:
    from ..app import Workbench
    from ..records import LocalModel

_KEY = re.compile(r"^(?P<text>[0-9a-f]{64})-w(?P<window>\d{1,7})\.wbref$")


def bundle_references(wb: Workbench, models: Iterable[LocalModel], names: Iterable[str] = ()
                      ) -> tuple[list[BundleReference], dict[str, Path]]:
    """The references of the bundled `models`, plus every reference of each model named in `names` (a library
    model, or a model known here only by its references); NotFound for a name with none."""
    stored = list_references(wb.paths)
    wanted = {m.sha256 for m in models}
    for name in names:
        shas = {info.model_sha256 for _, info in stored if name in (info.model_name, info.model_sha256)}
        with contextlib.suppress(NotFound):  # a name may be a library model's, or only its references'
            shas.add(wb.library.get(name).sha256)
        if not any(info.model_sha256 in shas for _, info in stored):
            raise NotFound(f"no stored quality reference of {name}: compute one first with `workbench quality "
                           f"--reference-only -m {name}`")
        wanted |= shas
    entries, sources = [], {}
    for path, info in stored:
        key = _KEY.match(path.name)
        if info.model_sha256 not in wanted or key is None:
            continue
        sha = sha256_file(path, ProgressMeter("hashing", None, no_progress), None, "bundle export")
        entries.append(BundleReference(
            member=reference_member_name(sha), sha256=sha, size=path.stat().st_size, model_sha256=info.model_sha256,
            model_name=info.model_name, text_sha256=info.text_sha256, window=int(key["window"]),
            quantization=info.quantization))
        sources[reference_member_name(sha)] = path
    return entries, sources


def reference_present(wb: Workbench, entry: BundleReference) -> bool:
    target = reference_path(wb.paths, entry.model_sha256, entry.text_sha256, entry.window)
    return target.is_file() and target.stat().st_size == entry.size and \
        sha256_file(target, ProgressMeter("hashing", None, no_progress), None, "bundle import") == entry.sha256


def install_reference(wb: Workbench, copied: Path, entry: BundleReference, bundle: Path) -> None:
    """Move a copied, sha256-verified reference file into the store after checking every window of it."""
    try:
        with StoredReference(copied) as stored:
            info = stored.validate()
    except (NotFound, ValueError) as exc:
        raise InvalidBundle(f"{bundle}'s {entry.member} is not a usable quality reference ({exc})") from None
    if (info.model_sha256, info.text_sha256) != (entry.model_sha256, entry.text_sha256) or info.window > entry.window:
        raise InvalidBundle(f"{bundle}'s {entry.member} is not the reference its manifest says it is")
    target = reference_path(wb.paths, entry.model_sha256, entry.text_sha256, entry.window)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(copied, target)
    fsync_dir(target.parent)
