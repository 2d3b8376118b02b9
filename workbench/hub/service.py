"""The Hugging Face Hub service (`wb.hub`): search GGUF repos, list their files, resolve references, estimate, pull.

API calls go through `HfApi`, byte streams through the session in http.py, the transfer through download.py.
Offline mode (the setting, WORKBENCH_OFFLINE=1 or HF_HUB_OFFLINE=1) refuses search, files, pull and remote
estimates before anything touches the network; local models keep working (docs/design.md §5.4).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from huggingface_hub import hf_hub_url

from ..errors import AlreadyExists, DiskFull, HubError, InvalidParameter, OfflineError
from ..files import atomic_writer
from ..gguf.estimate import FitEstimate, ModelShape, estimate_fit
from ..library.names import validate_name
from ..records import DownloadState, LocalModel, ModelSource
from ..tasks import CancelToken, Progress, ProgressCallback, check, no_progress
from ..units import human_size
from .download import (
    DISK_RESERVE,
    FileTarget,
    VerifiedFile,
    download_lock,
    fetch_file,
    free_bytes,
    partial_path,
)
from .http import HubClient
from .refs import (
    group_gguf_files,
    is_projector,
    parse_ref,
    pick_entry,
    pick_projector,
    quant_from_filename,
    split_complete,
    validate_repo,
)
from .types import GGUFEntry, HubModel, HubRef, RemoteFile, RepoListing

if TYPE_CHECKING:
    from ..app import Workbench

SORTS = {"downloads": "downloads", "likes": "likes", "updated": "last_modified", "modified": "last_modified",
         "last_modified": "last_modified", "trending": "trending_score", "created": "created_at"}
SEARCH_FIELDS = ["author", "downloads", "likes", "lastModified", "gated", "private", "tags"]
HEADER_FIRST_FETCH = 4 * 1024 * 1024  # most headers fit; big vocabularies (gemma: 6.5 MB) need one more round
HEADER_MAX_FETCH = 256 * 1024 * 1024


@dataclass(frozen=True)
class Resolution:
    """A reference resolved against the Hub: the listing at one commit and the entry it names."""

    ref: HubRef
    listing: RepoListing
    entry: GGUFEntry

    @property
    def commit(self) -> str:
        return self.listing.revision or self.ref.revision or "main"

    @property
    def projector(self) -> GGUFEntry | None:
        """The mmproj file pulled and paired with the model (vision repos), None for text-only repos."""
        return None if is_projector(self.entry) else pick_projector(self.listing.entries)


class Hub:
    def __init__(self, workbench: Workbench):
        self._wb = workbench

    # ---- queries ---------------------------------------------------------------------------------------------
    def search(self, query: str = "", *, sort: str = "downloads", limit: int = 20) -> list[HubModel]:
        """GGUF repositories matching `query`, most downloaded (or liked, or recently updated) first."""
        if sort not in SORTS:
            raise InvalidParameter(f"cannot sort by {sort!r}: use one of {', '.join(sorted(SORTS))}")
        if not 1 <= limit <= 1000:
            raise InvalidParameter(f"limit must be between 1 and 1000, not {limit}")
        client = self._client("search")
        with client.errors("search"):
            found = client.api().list_models(search=query or None, filter="gguf", sort=SORTS[sort], limit=limit,
                                             expand=SEARCH_FIELDS)
            return [_hub_model(m) for m in found]

    def files(self, repo: str, *, revision: str | None = None) -> RepoListing:
        """Every GGUF entry in `repo` (split models grouped) with sizes and LFS sha256, at one commit."""
        repo = validate_repo(repo)
        client = self._client("listing files")
        with client.errors("listing files", repo, revision):
            info = client.api().model_info(repo, revision=revision, files_metadata=True)
        files = [RemoteFile(s.rfilename, s.size if s.lfs is None else s.lfs.size, s.lfs.sha256 if s.lfs else None)
                 for s in info.siblings or []]
        return RepoListing(repo, info.sha, bool(info.gated), group_gguf_files(files))

    def find_local(self, ref: str | HubRef) -> LocalModel | None:
        """The library model an already-pulled reference resolved to, without any network access."""
        ref = parse_ref(ref) if isinstance(ref, str) else ref
        for model in self._wb.library.list():
            if model.source_repo != ref.repo or (ref.revision and model.source_revision != ref.revision):
                continue
            if ref.filename and model.source_file == ref.filename:
                return model
            # pull chose the file by the quant its name announces, so match on that (the header may differ)
            announced = quant_from_filename(model.source_file or "") or model.quantization or ""
            if ref.quant and announced.upper() == ref.quant.upper():
                return model
        return None

    def resolve(self, ref: str | HubRef) -> Resolution:
        """The listing and the entry a reference names; NotFound lists the quantizations that exist."""
        hub_ref = parse_ref(ref) if isinstance(ref, str) else ref
        listing = self.files(hub_ref.repo, revision=hub_ref.revision)
        return Resolution(hub_ref, listing, pick_entry(listing.entries, hub_ref))

    def pending_downloads(self) -> list[DownloadState]:
        """Downloads that stopped part-way (paused, failed, interrupted): `pull` resumes them."""
        return [s for s in self._wb.store.downloads.list() if s.status != "done"]

    def discard_download(self, key: str, *, cancel: CancelToken | None = None) -> bool:
        """Delete a stopped download's partial file and state (waits if a pull of it is running)."""
        downloads = self._wb.paths.downloads
        with download_lock(downloads, key, cancel):
            found = self._wb.store.downloads.remove(key)
            for path in (partial_path(downloads, key), downloads / f"{key}.gguf"):
                found = path.exists() or found
                path.unlink(missing_ok=True)
        return found

    # ---- pull ------------------------------------------------------------------------------------------------
    def pull(self, ref: str | HubRef | Resolution, *, name: str | None = None,
             on_progress: ProgressCallback = no_progress, cancel: CancelToken | None = None) -> LocalModel:
        """Download (resuming if a partial exists), verify against the LFS sha256 and register a GGUF model.

        Two pulls of the same file wait for each other; the second returns the model the first registered.
        `ref` may be a Resolution `resolve()` made already (the caller looked at the files first): the Hub is
        then not asked again.
        """
        client = self._client("pull")
        if name is not None:
            validate_name(name)
        resolution = ref if isinstance(ref, Resolution) else self.resolve(ref)
        ref = resolution.ref
        entry = resolution.entry
        if is_projector(entry):  # an encoder, not a model: it would register as a "model" that cannot chat
            raise InvalidParameter(f"{entry.name} is a projector (an image encoder), not a model: pull a model of "
                                   f"{resolution.listing.repo}, and its projector comes with it")
        self._check_name_free(name, entry)
        if not split_complete(entry):
            raise HubError(f"{entry.name} in {resolution.listing.repo} is a split model with shards missing: "
                           "the upload looks incomplete, try again later or pick another file")
        targets = [self._target(client, resolution, f) for f in entry.files]
        downloads = self._wb.paths.downloads

        def waiting() -> None:
            on_progress(Progress(f"pulling {entry.name}", message="waiting for another pull of the same file"))

        with download_lock(downloads, targets[0].key, cancel, on_wait=waiting):
            existing = self._wb.library.find_present(targets[0].sha256, name, self._source(resolution)) \
                if targets[0].sha256 else None
            if existing is not None:
                on_progress(Progress(f"pulling {entry.name}", existing.size_bytes, existing.size_bytes,
                                     message="already in the library"))
                self._wb.audit.model("model.pulled", existing, ref=str(ref), already_present=True)
                return self._pull_projector(client, resolution, existing, on_progress, cancel)
            projector = self._target(client, resolution, resolution.projector.files[0]) \
                if resolution.projector else None
            self._check_space([*targets, *([projector] if projector else [])])
            verified = []
            for target in targets:
                check(cancel, "pull")
                opener = partial(_open, client, target)
                verified.append(fetch_file(target, opener, downloads=downloads, states=self._wb.store.downloads,
                                           on_progress=on_progress, cancel=cancel))
            model = self._register(resolution, verified, name)
            self._wb.audit.model("model.pulled", model, ref=str(ref), already_present=False)
        return self._pull_projector(client, resolution, model, on_progress, cancel)

    def _pull_projector(self, client: HubClient, resolution: Resolution, model: LocalModel,
                        on_progress: ProgressCallback, cancel: CancelToken | None) -> LocalModel:
        """Fetch the repo's projector (same resume and sha256 rules as the model) and pair it with `model`."""
        if resolution.projector is None:
            return model
        target = self._target(client, resolution, resolution.projector.files[0])
        if target.sha256 is not None and model.projector_sha256 == target.sha256.lower() \
                and Path(model.projector_path or "").is_file():
            return model
        downloads = self._wb.paths.downloads
        with download_lock(downloads, target.key, cancel):
            held = next((m for m in self._wb.library.list() if target.sha256 and m.projector_path
                         and m.projector_sha256 == target.sha256.lower() and Path(m.projector_path).is_file()), None)
            if held is not None:  # another model of this repo brought the same projector already
                return self._wb.library.pair_projector(model.name, held.projector_path, sha256=held.projector_sha256)
            check(cancel, "pull")
            verified = fetch_file(target, partial(_open, client, target), downloads=downloads,
                                  states=self._wb.store.downloads, on_progress=on_progress, cancel=cancel)
            return self._wb.library.pair_projector(model.name, verified.path, sha256=verified.sha256)

    def _target(self, client: HubClient, resolution: Resolution, remote: RemoteFile) -> FileTarget:
        repo, commit = resolution.listing.repo, resolution.commit
        url = hf_hub_url(repo, remote.path, revision=commit, endpoint=client.endpoint)
        return FileTarget(repo, commit, remote.path, url, remote.size, remote.sha256)

    def _check_name_free(self, name: str | None, entry: GGUFEntry) -> None:
        """A taken name fails now, not after a long download (the same bytes under that name are fine)."""
        taken = self._wb.store.models.find(name) if name else None  # exact name, as the insert checks
        if taken is not None and taken.sha256 != entry.files[0].sha256:
            raise AlreadyExists(f"a model named {name!r} already exists: pick another --name or remove it first")

    def _check_space(self, targets: list[FileTarget]) -> None:
        """All shards must fit before the first byte is fetched (each shard checks again for itself)."""
        downloads = self._wb.paths.downloads
        need = sum((t.size or 0) - _size(partial_path(downloads, t.key)) for t in targets)
        free = free_bytes(downloads)
        if free < need + DISK_RESERVE:
            raise DiskFull(f"pulling {targets[0].filename} needs {human_size(need)} more (plus "
                           f"{human_size(DISK_RESERVE)} spare) but only {human_size(free)} is free on {downloads}: "
                           "free some space and pull again")

    @staticmethod
    def _source(resolution: Resolution) -> ModelSource:
        return ModelSource(resolution.listing.repo, resolution.commit, resolution.entry.files[0].path)

    def _register(self, resolution: Resolution, verified: list[VerifiedFile], name: str | None) -> LocalModel:
        source = self._source(resolution)
        library = self._wb.library
        if len(verified) == 1:
            return library.add_verified_file(verified[0].path, verified[0].sha256, name=name, source=source)
        return library.add_verified_file(verified[0].path, verified[0].sha256, name=name, source=source,
                                         extra_files=[(v.path, v.sha256) for v in verified[1:]])

    # ---- estimate --------------------------------------------------------------------------------------------
    def estimate(self, ref: str | HubRef, *, context: int, cache_type: str = "f16", parallel: int = 1,
                 cancel: CancelToken | None = None, **options) -> FitEstimate:
        """Fit estimate for a remote model from its GGUF header alone (a few MB fetched with a Range request).

        `options` go to `estimate.estimate_fit` (swa_full, n_ubatch, gpu_layers, ram_available, vram_available).
        """
        resolution = self.resolve(ref)
        info = self.fetch_header(resolution, cancel=cancel)
        weights = info.tensor_bytes + sum(f.size or 0 for f in resolution.entry.files[1:])
        shape = ModelShape.from_info(info, weights)
        return estimate_fit(shape, context=context, cache_type=cache_type, parallel=parallel, **options)

    def fetch_header(self, resolution: Resolution, *, cancel: CancelToken | None = None):
        """The GGUF header of the entry's first file, fetched by Range requests that grow until it parses."""
        from ..gguf.info import HeaderIncomplete, read_gguf_header

        client = self._client("estimate")
        first = resolution.entry.files[0]
        target = self._target(client, resolution, first)
        cache = self._wb.paths.cache / "gguf-headers"
        cache.mkdir(parents=True, exist_ok=True)
        path = cache / f"{target.key}.head"
        size = HEADER_FIRST_FETCH
        limit = min(first.size or HEADER_MAX_FETCH, HEADER_MAX_FETCH)
        while True:
            check(cancel, "estimate")
            if not path.exists() or path.stat().st_size < min(size, limit):
                _fetch_prefix(client, target, path, min(size, limit))
            try:
                return read_gguf_header(path, total_size=first.size)
            except HeaderIncomplete:
                if size >= limit:
                    raise
                size *= 4

    # ---- helpers ---------------------------------------------------------------------------------------------
    def _client(self, what: str) -> HubClient:
        if self._wb.offline:
            raise OfflineError(f"{what} needs the Hugging Face Hub, but offline mode is on (the offline setting, "
                               "WORKBENCH_OFFLINE=1 or HF_HUB_OFFLINE=1): turn it off to go online; local models "
                               "keep working")
        return HubClient(self._wb.settings.hf_token or os.environ.get("HF_TOKEN"))


def _open(client: HubClient, target: FileTarget, start: int):
    return client.stream(target.url, start, what=f"downloading {target.filename}", repo=target.repo,
                         filename=target.filename)


def _fetch_prefix(client: HubClient, target: FileTarget, path: Path, length: int) -> None:
    with client.stream(target.url, 0, length - 1, what=f"reading the header of {target.filename}",
                       repo=target.repo, filename=target.filename) as stream, atomic_writer(path) as fh:
        for chunk in stream.chunks:
            fh.write(chunk)
            if fh.tell() >= length:
                break


def _hub_model(m) -> HubModel:
    return HubModel(repo=m.id, author=m.author or m.id.split("/")[0], downloads=m.downloads, likes=m.likes,
                    last_modified=m.last_modified, gated=bool(m.gated), private=bool(m.private),
                    tags=tuple(m.tags or ()))


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0
