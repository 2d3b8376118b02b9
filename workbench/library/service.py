"""The local model library (`wb.library`): GGUF files known by sha256, in place or copied into a blob store.

Import validates the header first, hashes with progress, then registers the file where it is or copies it
atomically to its content address; the same bytes under another name are an alias, and a taken explicit name
is AlreadyExists (docs/design.md §5.3).
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..audit import NullAudit
from ..errors import InvalidModelFile, InvalidName, NotFound
from ..files import (
    check_free_space,
    copy_hashing,
    fsync_dir,
    remove_tree_or_file,
    sha256_file,
    shard_name,
    split_siblings,
    sweep_stale_temps,
    temp_path,
    utc_naive_now,
)
from ..paths import Paths
from ..records import FileCheck, LocalModel, ModelSource, VerifyResult
from ..tasks import CancelToken, ProgressCallback, ProgressMeter, no_progress
from .names import derive_name, validate_name, with_suffix

if TYPE_CHECKING:
    from ..gguf.info import GGUFInfo

SHA_PREFIX = re.compile(r"^(?:sha256[:-])?([0-9a-fA-F]{12,64})$")


@dataclass(frozen=True)
class _Plan:
    """The files of one model (one, or every shard in order) and their validated headers."""

    files: tuple[Path, ...]
    infos: tuple[GGUFInfo, ...]

    @property
    def info(self) -> GGUFInfo:
        return self.infos[0]

    @property
    def total(self) -> int:
        return sum(i.file_size for i in self.infos)

    @property
    def parameter_count(self) -> int | None:
        if "general.parameter_count" in self.info.metadata or len(self.infos) == 1:
            return self.info.parameter_count
        return sum(i.parameter_count or 0 for i in self.infos)

    @property
    def tensor_count(self) -> int:
        return self.info.split_tensors_count or sum(i.tensor_count for i in self.infos)


def _absolute(path: Path) -> Path:
    """Absolute, with the folder resolved but a symlinked file name kept (HF cache snapshots link to blobs)."""
    path = Path(path).expanduser()
    return path.parent.resolve() / path.name


class Library:
    def __init__(self, paths: Paths, store, audit=None):
        self.paths = paths
        self.store = store
        self._audit = audit or NullAudit()  # model.imported / removed / verified events (audit.py)
        self._lock = threading.Lock()  # the check-then-add of registration, between threads of one process
        for folder in (paths.blobs, paths.downloads):  # what an import, pull or bundle killed mid-copy left
            sweep_stale_temps(folder)

    # ---- queries -------------------------------------------------------------------------------------------
    def list(self) -> list[LocalModel]:
        return self.store.models.list()

    def get(self, name: str) -> LocalModel:
        """By exact name, else a unique sha256 prefix (≥ 12 hex digits), else a unique case-insensitive name."""
        model = self.store.models.find(name)
        if model is not None:
            return model
        everything = self.list()
        match = SHA_PREFIX.match(name)
        if match:
            prefix = match[1].lower()
            hits = [m for m in everything if m.sha256.startswith(prefix)]
            if len({m.sha256 for m in hits}) > 1:
                raise InvalidName(f"{name!r} is the start of {len(hits)} different models' sha256: give more digits")
            if hits:
                return min(hits, key=lambda m: m.id or 0)
        folded = [m for m in everything if m.name.casefold() == name.casefold()]
        if len(folded) == 1:
            return folded[0]
        raise NotFound(f"no model named {name!r}: `workbench list` shows the library")

    def find(self, name: str) -> LocalModel | None:
        try:
            return self.get(name)
        except NotFound:
            return None

    # ---- import --------------------------------------------------------------------------------------------
    def import_file(self, path: str | os.PathLike, *, name: str | None = None, copy: bool = False,
                    on_progress: ProgressCallback = no_progress, cancel: CancelToken | None = None,
                    source: ModelSource | None = None, parent_sha256: str | None = None,
                    requantized: bool = False, mmproj: str | os.PathLike | None = None) -> LocalModel:
        """Validate, hash and register a GGUF file (or a split model, given any of its shards); `mmproj` pairs a
        projector too (both files are checked before anything is registered)."""
        if name is not None:
            validate_name(name)
        plan = self._plan(_absolute(Path(path)))
        if mmproj is not None:
            from .projectors import read_projector

            read_projector(Path(mmproj))
        meter = ProgressMeter(f"importing {plan.files[0].name}", plan.total, on_progress)
        adopt = self._inside_store(plan.files[0])
        if copy or adopt:
            files, shas = self._store_files(plan, meter, cancel, move=adopt)
        else:
            files = plan.files
            shas = tuple(sha256_file(p, meter, cancel, "import") for p in plan.files)
        meter.finish()
        model = self._register(plan, files, shas, in_place=not (copy or adopt), name=name, source=source,
                               parent_sha256=parent_sha256, requantized=requantized)
        self._audit.model("model.imported", model, parent_sha256=parent_sha256, requantized=requantized)
        if mmproj is not None:
            model = self.pair_projector(model.name, mmproj, copy=copy, on_progress=on_progress, cancel=cancel)
        return model

    def add_verified_file(self, path: str | os.PathLike, sha256: str, *, name: str | None = None,
                          source: ModelSource | None = None,
                          extra_files: list[tuple[Path, str]] | tuple = ()) -> LocalModel:
        """Register a download already verified against `sha256`: moved into the blob store, not rehashed.

        `extra_files` are a split model's other shards, in order, as (path, sha256). The files must be inside
        the data dir (the hub downloads into `paths.downloads`); they are moved, never copied.
        """
        if name is not None:
            validate_name(name)
        files = tuple(_absolute(Path(p)) for p in (path, *(p for p, _ in extra_files)))
        shas = (sha256.lower(), *(s.lower() for _, s in extra_files))
        for f in files:
            if not self._inside_store(f):
                raise InvalidModelFile(f"{f} is not in {self.paths.downloads}: only verified downloads are moved "
                                       "into the library; import other files with import_file")
        from ..gguf.info import read_gguf_info  # here: reading a header needs the gguf package (~60 ms to import)

        plan = _Plan(files, tuple(read_gguf_info(f) for f in files))
        self._check_shards(plan)
        stored = self._place(files, shas)
        return self._register(plan, stored, shas, in_place=False, name=name, source=source)

    def pair_projector(self, name: str, path: str | os.PathLike, *, copy: bool = False, sha256: str | None = None,
                       on_progress: ProgressCallback = no_progress,
                       cancel: CancelToken | None = None) -> LocalModel:
        """Pair an mmproj GGUF (vision/audio encoder) with model `name` and its aliases (library/projectors.py)."""
        from .projectors import pair

        return pair(self, name, path, copy=copy, sha256=sha256, on_progress=on_progress, cancel=cancel)

    def unpair_projector(self, name: str) -> LocalModel:
        from .projectors import unpair

        return unpair(self, name)

    # ---- remove / verify -----------------------------------------------------------------------------------
    def quantize(self, source_name: str, target_type: str, *, name: str | None = None,
                 allow_requantize: bool = False, threads: int | None = None,
                 on_progress: ProgressCallback = no_progress, cancel: CancelToken | None = None) -> LocalModel:
        """Another quantization of a library model, registered with its parent (library/quantize.py)."""
        from .quantize import quantize

        return quantize(self, source_name, target_type, name=name, allow_requantize=allow_requantize,
                        threads=threads, on_progress=on_progress, cancel=cancel)

    def remove(self, name: str) -> LocalModel:
        """Unregister a model; delete its stored files when no other name uses them. In-place files stay."""
        model = self.get(name)
        with self._lock:
            removed = self.store.models.remove(model.name)
            shared = any(m.files == removed.files for m in self.store.models.by_sha256(removed.sha256))
            if not removed.in_place and not shared:
                self._delete_stored(removed)
        if removed.projector_path:
            from .projectors import forget_unused

            forget_unused(self, Path(removed.projector_path))
        self._audit.model("model.removed", removed, files_deleted=not removed.in_place and not shared)
        return removed

    def verify(self, name: str, on_progress: ProgressCallback = no_progress,
               cancel: CancelToken | None = None) -> VerifyResult:
        """Rehash every file of the model and its projector: ok, changed (other bytes) or missing, per file."""
        model = self.get(name)
        expected = (model.sha256, *model.split_sha256, *([model.projector_sha256] if model.projector_path else []))
        files = (*model.files, *([Path(model.projector_path)] if model.projector_path else []))
        present = [p for p in files if p.is_file()]
        meter = ProgressMeter(f"verifying {model.name}", sum(p.stat().st_size for p in present), on_progress)
        checks = []
        for i, path in enumerate(files):
            want = expected[i] if i < len(expected) else ""
            if path not in present:
                checks.append(FileCheck(path, "missing", want))
                continue
            actual = sha256_file(path, meter, cancel, "verify")
            checks.append(FileCheck(path, "ok" if actual == want else "changed", want, actual))
        meter.finish()
        result = VerifyResult(model.name, tuple(checks))
        self._audit.model("model.verified", model, status=result.status, files=[c.status for c in checks])
        return result

    # ---- internals: files ----------------------------------------------------------------------------------
    def _inside_store(self, path: Path) -> bool:
        resolved = path.resolve()
        return any(resolved.is_relative_to(d.resolve()) for d in (self.paths.blobs, self.paths.downloads))

    def _plan(self, path: Path) -> _Plan:
        from ..gguf.info import read_gguf_info  # here: reading a header needs the gguf package (~60 ms to import)

        info = read_gguf_info(path)
        if not info.is_split:
            return _Plan((path,), (info,))
        shards = split_siblings(path, info.split_count)
        infos = [info if p == path else read_gguf_info(p) for p in shards]
        plan = _Plan(tuple(shards), tuple(infos))
        self._check_shards(plan)
        return plan

    @staticmethod
    def _check_shards(plan: _Plan) -> None:
        count = plan.info.split_count or 1
        if count != len(plan.files):
            raise InvalidModelFile(f"{plan.files[0]} is shard 1 of {count} but {len(plan.files)} file(s) were given")
        for i, (path, info) in enumerate(zip(plan.files, plan.infos, strict=True)):
            if count > 1 and (info.split_no, info.split_count) != (i, count):
                raise InvalidModelFile(f"{path} says it is shard {(info.split_no or 0) + 1} of "
                                       f"{info.split_count or 1}, but it is in place {i + 1} of {count}")
        expected = plan.info.split_tensors_count
        found = sum(i.tensor_count for i in plan.infos)
        if count > 1 and expected is not None and expected != found:
            raise InvalidModelFile(f"{plan.files[0]}'s shards hold {found} tensors, but it declares {expected}")

    def _store_files(self, plan: _Plan, meter: ProgressMeter, cancel: CancelToken | None,
                     move: bool) -> tuple[tuple[Path, ...], tuple[str, ...]]:
        """Hash (moving) or hash-while-copying (copying) into the blob store; leaves nothing behind on failure."""
        if move:
            shas = tuple(sha256_file(p, meter, cancel, "import") for p in plan.files)
            return self._place(plan.files, shas), shas
        check_free_space(self.paths.blobs, plan.total)
        temps: list[Path] = []
        try:
            shas = []
            for f in plan.files:
                temps.append(temp_path(self.paths.blobs))
                shas.append(copy_hashing(f, temps[-1], meter, cancel, "import"))
            return self._place(tuple(temps), tuple(shas)), tuple(shas)
        finally:
            for t in temps:
                remove_tree_or_file(t)  # after a successful place they are gone already

    def _place(self, sources: tuple[Path, ...], shas: tuple[str, ...]) -> tuple[Path, ...]:
        """Move files into their content address (atomic renames); the sources are consumed."""
        blobs = self.paths.blobs
        if len(sources) == 1:
            target = blobs / f"sha256-{shas[0]}.gguf"
            os.replace(sources[0], target)
            fsync_dir(blobs)
            return (target,)
        target_dir = blobs / f"sha256-{shas[0]}"
        names = [shard_name(i, len(sources)) for i in range(len(sources))]
        if all((target_dir / n).is_file() for n in names):  # the same split model is stored already
            for s in sources:
                remove_tree_or_file(s)
            return tuple(target_dir / n for n in names)
        staging = temp_path(blobs, "")
        staging.mkdir()
        for source, n in zip(sources, names, strict=True):
            os.replace(source, staging / n)
        remove_tree_or_file(target_dir)  # an incomplete leftover of a crashed earlier import
        os.replace(staging, target_dir)
        fsync_dir(blobs)
        return tuple(target_dir / n for n in names)

    def _delete_stored(self, model: LocalModel) -> None:
        blobs = self.paths.blobs.resolve()
        for path in model.files:
            resolved = path.resolve()
            if not resolved.is_relative_to(blobs):
                continue  # never delete anything outside the blob store
            if resolved.parent != blobs and resolved.parent.parent == blobs:
                remove_tree_or_file(resolved.parent)  # a split model's folder
            else:
                remove_tree_or_file(resolved)

    # ---- internals: records --------------------------------------------------------------------------------
    def _register(self, plan: _Plan, files: tuple[Path, ...], shas: tuple[str, ...], *, in_place: bool,
                  name: str | None, source: ModelSource | None = None, parent_sha256: str | None = None,
                  requantized: bool = False) -> LocalModel:
        with self._lock:
            existing = self.store.models.by_sha256(shas[0])
            if existing:
                return self._dedupe(existing, files, in_place, name, source)
            info = plan.info
            record = LocalModel(
                name=name or self._free_name(derive_name(info, plan.files[0].stem)),
                sha256=shas[0], path=files[0], in_place=in_place, size_bytes=plan.total, added_at=utc_naive_now(),
                architecture=info.architecture, parameter_count=plan.parameter_count,
                quantization=info.quantization, context_length=info.context_length,
                embedding_length=info.embedding_length, block_count=info.block_count, head_count=info.head_count,
                head_count_kv=info.head_count_kv, tokenizer_model=info.tokenizer_model,
                chat_template_sha256=info.chat_template_sha256, license=info.license,
                general_name=info.general_name, tensor_count=plan.tensor_count,
                split_paths=files[1:], split_sha256=shas[1:], metadata=info.metadata,
                source_repo=source.repo if source else None, source_revision=source.revision if source else None,
                source_file=source.filename if source else None, parent_sha256=parent_sha256,
                requantized=requantized,
            )
            return self.store.models.add(record)

    def find_present(self, sha256: str, name: str | None = None,
                     source: ModelSource | None = None) -> LocalModel | None:
        """The registered model with these bytes whose files are still on disk, or None.

        Under a new `name` it registers an alias sharing the same files (the rule `import_file` follows), so a
        pull of bytes the library already holds downloads nothing. `source` (the Hub file a pull found them
        at) is recorded on models of those bytes that have none, as `import_file` does: `FROM hf.co/…` then
        finds the model offline whichever way its bytes first arrived.
        """
        present = [m for m in self.store.models.by_sha256(sha256) if all(p.is_file() for p in m.files)]
        if not present:
            return None
        if source is not None and present[0].source_repo is None:
            present = [self._with_source(m, source) if m.files == present[0].files else m for m in present]
        named = next((m for m in present if m.name == name), None)
        if name is None or named is not None:
            return named or present[0]
        validate_name(name)
        return self.store.models.add(dataclasses.replace(present[0], name=name, id=None, added_at=utc_naive_now()))

    def alias(self, name: str, new_name: str) -> LocalModel:
        """Model `name` under `new_name` too, sharing its files (Ollama's `copy`); audited as model.copied."""
        model = self.get(name)
        alias = self.find_present(model.sha256, name=new_name)
        if alias is None:
            raise NotFound(f"the files of model {model.name!r} are missing: `workbench verify {model.name}`")
        self._audit.model("model.copied", alias, copied_from=model.name)
        return alias

    def _with_source(self, model: LocalModel, source: ModelSource) -> LocalModel:
        return self.store.models.update(dataclasses.replace(
            model, source_repo=source.repo, source_revision=source.revision, source_file=source.filename))

    def _free_name(self, derived: str) -> str:
        validate_name(derived)
        candidate, n = derived, 2
        while self.store.models.find(candidate) is not None:
            candidate, n = with_suffix(derived, n), n + 1
        return candidate

    def _dedupe(self, existing: list[LocalModel], files: tuple[Path, ...], in_place: bool, name: str | None,
                source: ModelSource | None) -> LocalModel:
        named = next((m for m in existing if m.name == name), None)
        base = named or existing[0]
        move_to_store = base.in_place and not in_place
        gone = not all(p.is_file() for p in base.files)
        if move_to_store or gone or (source and base.source_repo is None):
            changes = {}
            if move_to_store or gone:
                changes = dict(path=files[0], split_paths=files[1:], in_place=in_place)
            if source and base.source_repo is None:
                changes.update(source_repo=source.repo, source_revision=source.revision, source_file=source.filename)
            for m in existing:
                if m.files == base.files:
                    updated = self.store.models.update(dataclasses.replace(m, **changes))
                    base = updated if m.name == base.name else base
        if name is None or named is not None:
            return base
        alias = dataclasses.replace(base, name=name, id=None, added_at=utc_naive_now())
        return self.store.models.add(alias)  # AlreadyExists when the name belongs to other content
