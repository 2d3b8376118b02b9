"""Air-gap bundles: carry models and presets to a machine with no network in one file (like `docker save`/`load`).

`export_bundle` streams and re-hashes models into `<path>.partial`, then renames; `inspect_bundle` reads only
the manifest; `import_bundle` validates everything before copying, hashes while copying and registers models
with their Hub source. How presets merge and name clashes are refused: docs/design.md §5.6.
"""

from __future__ import annotations

import errno
import io
import os
import re
import tarfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from ..errors import AlreadyExists, ChecksumMismatch, DiskFull, NotFound, WorkbenchError
from ..files import CHUNK, atomic_writer, remove_tree_or_file, temp_path, utc_naive_now, utc_text
from ..modelfile import parser as mf
from ..presets import content_hash
from ..records import LocalModel, ModelSource, PresetVersion
from ..tasks import CancelToken, ProgressCallback, ProgressMeter, check, no_progress
from .format import (
    MANIFEST,
    BundleFile,
    BundleManifest,
    BundleModel,
    BundlePreset,
    BundleReference,
    BundleVersion,
    HashingReader,
    InvalidBundle,
    member_name,
    open_members,
    open_tar,
    read_manifest,
)
from .references import bundle_references, install_reference, reference_present
from .sessions import bundle_sessions, import_session, read_session

if TYPE_CHECKING:
    from ..app import Workbench

__all__ = ["BundleManifest", "ImportReport", "InvalidBundle", "export_bundle", "import_bundle", "inspect_bundle"]

_NO_SPACE = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_FROM_LINE = re.compile(r"^([ \t]*FROM[ \t]+)(.*?)[ \t]*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class ImportReport:
    """What `import_bundle` did, by name. `changed` is False for a re-import of the same bundle."""

    bundle: str
    models_added: tuple[str, ...] = ()
    models_present: tuple[str, ...] = ()
    presets_created: tuple[str, ...] = ()
    presets_updated: tuple[str, ...] = ()
    presets_unchanged: tuple[str, ...] = ()
    bytes_copied: int = 0
    references_added: tuple[str, ...] = ()  # "<model name> w<window>" per stored quality reference
    sessions_added: tuple[str, ...] = ()  # titles
    sessions_present: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.models_added or self.presets_created or self.presets_updated or self.references_added
                    or self.sessions_added)


# ---- export ------------------------------------------------------------------------------------------------
def _bundle_model(model: LocalModel) -> BundleModel:
    shas = (model.sha256, *model.split_sha256)
    files = []
    for path, sha in zip(model.files, shas, strict=True):
        if not path.is_file():
            raise NotFound(f"model {model.name}'s file {path} is missing: `workbench verify {model.name}`")
        files.append(BundleFile(member_name(sha), sha, path.stat().st_size))
    projector = None
    if model.projector_path:
        path = Path(model.projector_path)
        if not path.is_file():
            raise NotFound(f"model {model.name}'s projector {path} is missing: `workbench verify {model.name}`")
        projector = BundleFile(member_name(model.projector_sha256), model.projector_sha256, path.stat().st_size)
    return BundleModel(
        name=model.name, sha256=model.sha256, size=sum(f.size for f in files), files=tuple(files),
        architecture=model.architecture, quantization=model.quantization, parameter_count=model.parameter_count,
        source_repo=model.source_repo, source_revision=model.source_revision, source_file=model.source_file,
        parent_sha256=model.parent_sha256, requantized=model.requantized, added_at=model.added_at.isoformat(),
        projector=projector)


def _bundle_preset(wb: Workbench, name: str) -> tuple[BundlePreset, LocalModel]:
    history = list(reversed(wb.presets.history(name)))  # oldest first
    versions = tuple(BundleVersion(
        number=v.number, text=v.content, created_at=v.created_at.isoformat(), message=v.message,
        model_sha256=v.model_sha256, tags=tuple(t for t in v.tags if t != "latest")) for v in history)
    return BundlePreset(name, versions), wb.presets.resolve(history[-1]).model


def plan_bundle(wb: Workbench, models=(), presets=(), references=(), sessions=()) -> tuple[BundleManifest, dict]:
    """The manifest of a bundle of these models, presets and sessions (with their stored quality references, and
    those of the models named in `references`), and the file (or, for a session, the bytes) behind each member."""
    carried_sessions, session_bytes, session_presets, session_models = bundle_sessions(wb, sessions)
    chosen = {m.name: m for m in (wb.library.get(n) for n in (*models, *session_models))}
    bundled_presets = []
    for name in dict.fromkeys((*presets, *session_presets)):
        preset, model = _bundle_preset(wb, name)
        bundled_presets.append(preset)
        chosen.setdefault(model.name, model)  # by name: FROM names it (the same bytes share one member)
    if not chosen and not bundled_presets and not references:
        raise WorkbenchError("a bundle needs at least one model or preset: name them with --model / --preset")
    carried, sources = bundle_references(wb, chosen.values(), references)
    manifest = BundleManifest(
        created_at=utc_text(), workbench_version=__version__,
        models=tuple(_bundle_model(m) for m in chosen.values()), presets=tuple(bundled_presets),
        references=tuple(carried), sessions=tuple(carried_sessions))
    sources.update(session_bytes)
    for model in chosen.values():
        for path, sha in zip(model.files, (model.sha256, *model.split_sha256), strict=True):
            sources.setdefault(member_name(sha), path)
        if model.projector_path:
            sources.setdefault(member_name(model.projector_sha256), Path(model.projector_path))
    return manifest, sources


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_model_file(tar: tarfile.TarFile, entry: BundleFile, source: Path, meter: ProgressMeter,
                    cancel: CancelToken | None) -> None:
    info = tarfile.TarInfo(entry.member)
    info.size, info.mtime, info.mode = entry.size, int(source.stat().st_mtime), 0o644
    with source.open("rb") as f:
        reader = HashingReader(f, meter, cancel, "bundle export")
        tar.addfile(info, reader)
    if reader.hexdigest() != entry.sha256:
        raise ChecksumMismatch(
            f"{source} changed on disk since it was added to the library (sha256 {reader.hexdigest()[:12]}…, "
            f"recorded {entry.sha256[:12]}…): `workbench verify` it, then import the file again")


def export_bundle(wb: Workbench, path: str | os.PathLike, *, models=(), presets=(), references=(), sessions=(),
                  on_progress: ProgressCallback = no_progress, cancel: CancelToken | None = None,
                  overwrite: bool = False) -> BundleManifest:
    """Write a bundle of library models (by name) and presets (by name, with the model each FROM resolves to)."""
    path = Path(path).expanduser().absolute()
    if path.exists() and not overwrite:
        raise AlreadyExists(f"{path} exists already: choose another file name, or overwrite it (`--force`)")
    manifest, sources = plan_bundle(wb, models, presets, references, sessions)
    partial = path.with_name(path.name + ".partial")
    meter = ProgressMeter(f"bundling {path.name}", manifest.total_size, on_progress)
    try:
        with (atomic_writer(path, temp=partial) as out,
              tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT, copybufsize=CHUNK) as tar):
            _add_bytes(tar, MANIFEST, manifest.to_json())
            for entry in manifest.files:
                if isinstance(sources[entry.member], bytes):  # a session's export, made just now
                    _add_bytes(tar, entry.member, sources[entry.member])
                    continue
                _add_model_file(tar, entry, sources[entry.member], meter, cancel)
                check(cancel, "bundle export")
    except OSError as exc:
        if isinstance(exc, WorkbenchError):
            raise
        raise _write_error(exc, partial) from None
    meter.finish("done")
    wb.audit.record("bundle.exported", path.name, {"path": str(path), **_audit_contents(manifest)})
    return manifest


def _audit_contents(manifest: BundleManifest) -> dict:
    """What a bundle holds, for the audit trail: names, hashes, sizes and version counts (never preset text)."""
    return {"models": [{"name": m.name, "sha256": m.sha256, "size_bytes": m.size} for m in manifest.models],
            "presets": [{"name": p.name, "versions": len(p.versions)} for p in manifest.presets],
            "references": [{"model": r.model_name, "model_sha256": r.model_sha256, "text_sha256": r.text_sha256,
                            "window": r.window, "sha256": r.sha256} for r in manifest.references],
            "sessions": len(manifest.sessions), "bytes": manifest.total_size, "created_at": manifest.created_at,
            "workbench_version": manifest.workbench_version}


def _write_error(exc: OSError, path: Path) -> WorkbenchError:
    if exc.errno == errno.EFBIG:
        return DiskFull(f"{path.name} grew larger than the file system (or the file size limit) of {path.parent} "
                        "allows: nothing was left behind; write the bundle to another disk")
    if exc.errno in _NO_SPACE:
        return DiskFull(f"the disk holding {path.parent} is full (writing {path.name}): nothing was left behind; "
                        "free some space or write the bundle to another disk")
    # errno None: tarfile's "unexpected end of data", a model file that shrank while it was being read
    return WorkbenchError(f"writing {path.name} failed ({exc.strerror or exc}): nothing was left behind")


# ---- inspect -----------------------------------------------------------------------------------------------
def inspect_bundle(path: str | os.PathLike) -> BundleManifest:
    """The bundle's validated manifest, read without touching the model bytes."""
    path = Path(path).expanduser()
    with open_tar(path) as tar:
        return read_manifest(tar, path)


# ---- import ------------------------------------------------------------------------------------------------
def _local_by_name(wb: Workbench) -> dict[str, LocalModel]:
    return {m.name: m for m in wb.library.list()}


def _preflight(wb: Workbench, manifest: BundleManifest) -> None:
    """Refuse name clashes and unparsable preset texts before a single byte is copied."""
    local = _local_by_name(wb)
    for model in manifest.models:
        mine = local.get(model.name)
        if mine is not None and mine.sha256 != model.sha256:
            raise AlreadyExists(
                f"the bundle's model {model.name} (sha256 {model.sha256[:12]}…) has the name of a different "
                f"model in this library (sha256 {mine.sha256[:12]}…): `workbench rm {model.name}` here (or "
                "re-import yours under another name with --name) and import the bundle again; nothing was changed")
    for preset in manifest.presets:
        for v in preset.versions:
            try:
                mf.parse(v.text)
            except WorkbenchError as exc:
                raise InvalidBundle(f"the bundle's preset {preset.name} version {v.number} is not a valid "
                                    f"Modelfile ({exc}); nothing was changed") from None


def _copy_member(wb: Workbench, tar: tarfile.TarFile, info: tarfile.TarInfo, entry: BundleFile, meter: ProgressMeter,
                 cancel: CancelToken | None, bundle: Path) -> Path:
    """Stream one member into a temp file in the data dir's downloads folder, verifying size and sha256."""
    temp = temp_path(wb.paths.downloads)
    try:
        with tar.extractfile(info) as src, temp.open("xb") as out:
            reader = HashingReader(src, meter, cancel, "bundle import")
            while chunk := reader.read(CHUNK):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if reader.count != entry.size:
            raise InvalidBundle(f"{bundle} is truncated inside {entry.member}: copy it again")
        if reader.hexdigest() != entry.sha256:
            raise ChecksumMismatch(f"{bundle}'s {entry.member} does not match its sha256 (got "
                                   f"{reader.hexdigest()[:12]}…): the bundle was damaged in transit; copy it again")
    except BaseException as exc:
        remove_tree_or_file(temp)
        if isinstance(exc, (tarfile.TarError, OSError)) and not isinstance(exc, WorkbenchError):
            if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
                raise DiskFull(f"the disk holding {wb.paths.data} is full while importing {entry.member}: "
                               "free some space and import again") from None
            raise InvalidBundle(f"{bundle} is damaged or truncated inside {entry.member} ({exc})") from None
        raise
    return temp


def _import_model(wb: Workbench, tar, members, model: BundleModel, meter, cancel, bundle: Path) -> bool:
    """Register one bundle model (and pair its projector); True when its name is new here. Bytes the library
    holds are not copied; every copied file is verified before anything is registered."""
    known = _local_by_name(wb).get(model.name)
    temps: list[Path] = []
    try:
        projector = _projector_file(wb, tar, members, model, meter, cancel, bundle, temps)
        if wb.library.find_present(model.sha256, name=model.name) is not None:  # an alias if only the name is new
            _pair(wb, model, projector)
            return known is None
        files = [_copy_member(wb, tar, members[entry.member], entry, meter, cancel, bundle) for entry in model.files]
        temps += files
        source = ModelSource(model.source_repo, model.source_revision, model.source_file) \
            if model.source_repo else None
        shards = [(t, f.sha256) for t, f in zip(files[1:], model.files[1:], strict=True)]
        local = wb.library.add_verified_file(files[0], model.sha256, name=model.name, source=source,
                                             extra_files=shards)
        wb.audit.model("model.imported", local, bundle=bundle.name)
        _pair(wb, model, projector)
    finally:
        for t in temps:
            remove_tree_or_file(t)  # moved into the blob store on success: gone already
    return True


def _projector_file(wb: Workbench, tar, members, model: BundleModel, meter, cancel, bundle: Path,
                    temps: list[Path]) -> Path | None:
    """The bundled projector's bytes here: a stored file another model is paired with, or a verified copy."""
    entry = model.projector
    if entry is None:
        return None
    held = next((Path(m.projector_path) for m in wb.library.list() if m.projector_sha256 == entry.sha256
                 and m.projector_path and Path(m.projector_path).is_file()), None)
    if held is not None:
        return held
    temps.append(_copy_member(wb, tar, members[entry.member], entry, meter, cancel, bundle))
    return temps[-1]


def _pair(wb: Workbench, model: BundleModel, projector: Path | None) -> None:
    if projector is not None and wb.library.get(model.name).projector_sha256 != model.projector.sha256:
        wb.library.pair_projector(model.name, projector, sha256=model.projector.sha256)


def _import_reference(wb: Workbench, tar, members, entry: BundleReference, meter, cancel, bundle: Path) -> bool:
    """Install one stored quality reference; False when this data dir holds the same file already."""
    if reference_present(wb, entry):
        return False
    copied = _copy_member(wb, tar, members[entry.member], entry.file, meter, cancel, bundle)
    try:
        install_reference(wb, copied, entry, bundle)
    finally:
        remove_tree_or_file(copied)  # moved into the store on success: gone already
    return True


def _bytes_needed(wb: Workbench, manifest: BundleManifest) -> int:
    """Bytes to copy: each distinct file once, none the library holds already (sessions are read, not copied)."""
    models = wb.library.list()
    present = {sha for m in models if all(p.is_file() for p in m.files) for sha in (m.sha256, *m.split_sha256)}
    present |= {m.projector_sha256 for m in models if m.projector_path and Path(m.projector_path).is_file()}
    present |= {s.sha256 for s in manifest.sessions}
    return sum(f.size for f in manifest.files if f.sha256 not in present)


def _rewrite_from(text: str, new_from: str) -> str | None:
    """`text` with its FROM value replaced (layout and comments kept), or None if the line cannot be found."""
    old = mf.parse(text).from_
    for match in _FROM_LINE.finditer(text):
        if match[2].strip().strip('"') == old:
            rewritten = text[: match.start(2)] + new_from + text[match.end(2):]
            return rewritten if mf.parse(rewritten).from_ == new_from else None
    return None


def _effective_latest(wb: Workbench, preset: BundlePreset, manifest: BundleManifest) -> tuple[str, str]:
    """The text the preset's newest version should have here, and the sha256 of the model it resolves to."""
    text = preset.latest.text
    probe = PresetVersion(preset.name, preset.latest.number, text, content_hash(text), utc_naive_now())
    try:
        here = wb.presets.resolve(probe).model.sha256
    except WorkbenchError as exc:
        model = next((m for m in manifest.models if m.sha256 == preset.latest.model_sha256), None)
        rewritten = _rewrite_from(text, model.name) if model and mf.parse(text).from_kind == "path" else None
        if rewritten is None:
            raise InvalidBundle(f"the bundle's preset {preset.name} cannot run here: {exc}") from None
        return rewritten, model.sha256
    if preset.latest.model_sha256 not in (None, here):
        raise InvalidBundle(f"the bundle's preset {preset.name} would run on other weights here (FROM resolves to "
                            f"sha256 {here[:12]}…, it was bundled with {preset.latest.model_sha256[:12]}…): "
                            "nothing was changed")
    return text, here


def _save(wb: Workbench, name: str, text: str, message: str | None, model_sha256: str | None, create=False,
          created_at: str | None = None) -> int:
    # The repository directly: Presets.save would re-resolve FROM, pulling or importing for old versions
    version, _ = wb.store.presets.save(name, text, content_hash(text), message=message,
                                       model_sha256=model_sha256, create=create, created_at=_utc(created_at))
    return version.number


def _utc(text: str | None) -> datetime | None:
    """A manifest time as the store keeps times (naive UTC); None (= now) when absent or unreadable."""
    try:
        moment = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    if moment is not None and moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _replay(wb: Workbench, preset: BundlePreset, text: str, model_sha256: str, bundle_name: str) -> None:
    numbers = {}
    for i, v in enumerate(preset.versions):
        numbers[v.number] = _save(wb, preset.name, v.text, v.message, v.model_sha256, create=i == 0,
                                  created_at=v.created_at)
    if text != preset.latest.text:
        _save(wb, preset.name, text, f"imported from bundle {bundle_name}: FROM names the library model "
              "(the bundled FROM was a file path on the exporting machine)", model_sha256)
    for v in preset.versions:
        for tag in v.tags:
            wb.presets.tag(preset.name, tag, numbers[v.number])


def _import_presets(wb: Workbench, manifest: BundleManifest, bundle_name: str) -> dict[str, list[str]]:
    outcome: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": []}
    plans = [(p, *_effective_latest(wb, p, manifest)) for p in manifest.presets]  # all checked before writing
    for preset, text, model_sha256 in plans:
        if not wb.presets.exists(preset.name):
            _replay(wb, preset, text, model_sha256, bundle_name)
            outcome["created"].append(preset.name)
        elif wb.presets.get(preset.name).content in (text, preset.latest.text):
            outcome["unchanged"].append(preset.name)
        else:
            _save(wb, preset.name, text, f"imported from bundle {bundle_name}", model_sha256)
            outcome["updated"].append(preset.name)
    return outcome


def import_bundle(wb: Workbench, path: str | os.PathLike, *, on_progress: ProgressCallback = no_progress,
                  cancel: CancelToken | None = None) -> ImportReport:
    """Add a bundle's models and presets to this Workbench; offline, verified, and a no-op the second time.

    Audited: each model added (`model.imported`), then `bundle.imported` with what changed — or
    `bundle.refused` naming the reason when the bundle is damaged, hostile or clashes with this library.
    """
    path = Path(path).expanduser()
    try:
        return _import(wb, path, on_progress, cancel)
    except (InvalidBundle, ChecksumMismatch, AlreadyExists) as exc:
        wb.audit.record("bundle.refused", path.name, {"path": str(path), "error": type(exc).__name__,
                                                      "reason": str(exc)})
        raise


def _import(wb: Workbench, path: Path, on_progress: ProgressCallback, cancel: CancelToken | None) -> ImportReport:
    added, present = [], []
    with open_tar(path) as tar:
        manifest = read_manifest(tar, path)
        members = open_members(tar, path, manifest)
        _preflight(wb, manifest)
        sessions = [(entry, read_session(tar, members[entry.member], entry, path)) for entry in manifest.sessions]
        total = _bytes_needed(wb, manifest)
        meter = ProgressMeter(f"importing {path.name}", total, on_progress)
        for model in manifest.models:
            new = _import_model(wb, tar, members, model, meter, cancel, path)
            (added if new else present).append(model.name)
        references = [f"{r.model_name} w{r.window}" for r in manifest.references
                      if _import_reference(wb, tar, members, r, meter, cancel, path)]
    outcome = _import_presets(wb, manifest, path.name)
    chats = {True: [], False: []}  # after the presets: a session names the preset version it ran
    for entry, data in sessions:
        chats[import_session(wb, data, entry, path)].append(entry.title)
    meter.finish("done")
    report = ImportReport(path.name, tuple(added), tuple(present), tuple(outcome["created"]),
                          tuple(outcome["updated"]), tuple(outcome["unchanged"]), total, tuple(references),
                          tuple(chats[True]), tuple(chats[False]))
    wb.audit.record("bundle.imported", path.name, {
        "path": str(path), "changed": report.changed, "models_added": added, "models_present": present,
        "references_added": references, "sessions_added": len(chats[True]),
        **{f"presets_{k}": v for k, v in outcome.items()}, "bytes_copied": total, **_audit_contents(manifest)})
    return report
