"""The air-gap bundle file format: its manifest (dataclasses, JSON, validation) and its tar members.

An uncompressed pax tar: `manifest.json` first, then `models/<sha256>.gguf`, (format 2) stored quality
references as `references/<sha256>.wbref` and (format 3) chat sessions as `sessions/<sha256>.json` (a session's
JSON export, its images embedded). Everything read is untrusted: the
manifest is validated field by field, member names are derived from sha256s, and only the listed regular files
are read, by name, never extracted (docs/design.md §5.6).
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import InvalidName, WorkbenchError
from ..files import CHUNK
from ..library.names import validate_name
from ..presets import check_preset_name
from ..tasks import CancelToken, ProgressMeter, check

FORMAT = "workbench-bundle"
FORMAT_VERSION = 3  # the newest read and written; a bundle is written with the oldest version that holds it
READABLE_VERSIONS = (1, 2, 3)
MANIFEST = "manifest.json"
MAX_MANIFEST = 64 << 20  # a manifest is text: far below this even with thousands of preset versions
_SHA = re.compile(r"^[0-9a-f]{64}$")
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class InvalidBundle(WorkbenchError, ValueError):
    """A file that is not a well-formed Workbench bundle: not a tar, truncated, hostile or of a newer format."""


@dataclass(frozen=True)
class BundleFile:
    """One GGUF file inside the bundle (a whole model, or one shard of a split model)."""

    member: str
    sha256: str
    size: int


@dataclass(frozen=True)
class BundleModel:
    """A library model as carried: its name, content and whatever provenance the library keeps."""

    name: str
    sha256: str
    size: int
    files: tuple[BundleFile, ...]
    architecture: str | None = None
    quantization: str | None = None
    parameter_count: int | None = None
    source_repo: str | None = None
    source_revision: str | None = None
    source_file: str | None = None
    parent_sha256: str | None = None
    requantized: bool = False
    added_at: str | None = None
    projector: BundleFile | None = None  # the paired mmproj GGUF (vision/audio), carried beside the weights

    @property
    def member(self) -> str:
        return self.files[0].member


@dataclass(frozen=True)
class BundleVersion:
    number: int
    text: str
    created_at: str
    message: str | None = None
    model_sha256: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class BundlePreset:
    name: str
    versions: tuple[BundleVersion, ...]  # oldest first

    @property
    def latest(self) -> BundleVersion:
        return self.versions[-1]


@dataclass(frozen=True)
class BundleReference:
    """A stored quality reference (measure/reference.py): the file, and the model, text and window it is of."""

    member: str
    sha256: str
    size: int
    model_sha256: str
    model_name: str
    text_sha256: str
    window: int
    quantization: str | None = None

    @property
    def file(self) -> BundleFile:
        return BundleFile(self.member, self.sha256, self.size)


@dataclass(frozen=True)
class BundleSession:
    """A chat session (chat/sessions.py's JSON export, images included) carried as one member."""

    member: str
    sha256: str
    size: int
    title: str

    @property
    def file(self) -> BundleFile:
        return BundleFile(self.member, self.sha256, self.size)


@dataclass(frozen=True)
class BundleManifest:
    created_at: str
    workbench_version: str
    models: tuple[BundleModel, ...]
    presets: tuple[BundlePreset, ...]
    references: tuple[BundleReference, ...] = ()
    sessions: tuple[BundleSession, ...] = ()
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    @property
    def files(self) -> tuple[BundleFile, ...]:
        """Every distinct file, in bundle order (aliases of the same bytes share one member): models, then
        references."""
        seen: dict[str, BundleFile] = {}
        for model in self.models:
            for f in (*model.files, *([model.projector] if model.projector else [])):
                seen.setdefault(f.member, f)
        for item in (*self.references, *self.sessions):
            seen.setdefault(item.member, item.file)
        return tuple(seen.values())

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> bytes:
        data = asdict(self)
        head = {k: data.pop(k) for k in ("format", "format_version")}
        projectors = any(m.projector for m in self.models)  # an older reader would drop them silently
        if not self.sessions:
            del data["sessions"]
        if not self.sessions and not projectors:  # readable by a Workbench that knows neither
            head["format_version"] = 2
        if not self.references and not self.sessions and not projectors:  # by one that knows models and presets
            head["format_version"] = 1
            del data["references"]
        for model in data["models"]:  # a text model's entry reads as before projectors were carried
            if model["projector"] is None:
                del model["projector"]
        return json.dumps({**head, **data}, indent=2, ensure_ascii=False).encode("utf-8")


def member_name(sha256: str) -> str:
    return f"models/{sha256}.gguf"


def session_member_name(sha256: str) -> str:
    return f"sessions/{sha256}.json"


def reference_member_name(sha256: str) -> str:
    return f"references/{sha256}.wbref"


# ---- parsing: everything is untrusted ------------------------------------------------------------------------
def _get(data: dict, key: str, kind, where: str, *, optional: bool = False):
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidBundle(f"the bundle's manifest is damaged: {where}.{key} is missing or not a {kind.__name__}")
    return value


def _sha(value, where: str) -> str:
    if not isinstance(value, str) or not _SHA.match(value):
        raise InvalidBundle(f"the bundle's manifest is damaged: {where} is not a lowercase hex sha256")
    return value


def _name(check_fn, value: str, where: str) -> str:
    try:
        return check_fn(value)
    except InvalidName as exc:
        raise InvalidBundle(f"the bundle's manifest lists an unacceptable name at {where}: {exc}") from None


def _parse_file(data, where: str) -> BundleFile:
    if not isinstance(data, dict):
        raise InvalidBundle(f"the bundle's manifest is damaged: {where} is not an object")
    sha = _sha(data.get("sha256"), f"{where}.sha256")
    if data.get("member") != member_name(sha):
        raise InvalidBundle(f"the bundle's manifest names member {data.get('member')!r} at {where}: "
                            f"a model file must be stored as {member_name(sha)}")
    size = _get(data, "size", int, where)
    if size < 0:
        raise InvalidBundle(f"the bundle's manifest is damaged: {where}.size is negative")
    return BundleFile(member_name(sha), sha, size)


def _parse_model(data, i: int) -> BundleModel:
    where = f"models[{i}]"
    if not isinstance(data, dict):
        raise InvalidBundle(f"the bundle's manifest is damaged: {where} is not an object")
    name = _name(validate_name, _get(data, "name", str, where), where)
    files = tuple(_parse_file(f, f"{where}.files[{j}]") for j, f in enumerate(_get(data, "files", list, where)))
    if not files or files[0].sha256 != _sha(data.get("sha256"), f"{where}.sha256"):
        raise InvalidBundle(f"the bundle's manifest is damaged: {where}'s first file is not its sha256")
    text = {k: _get(data, k, str, where, optional=True) for k in (
        "architecture", "quantization", "source_repo", "source_revision", "source_file", "added_at")}
    parent = data.get("parent_sha256")
    projector = data.get("projector")
    return BundleModel(
        name=name, sha256=files[0].sha256, size=sum(f.size for f in files), files=files, **text,
        parameter_count=_get(data, "parameter_count", int, where, optional=True),
        parent_sha256=None if parent is None else _sha(parent, f"{where}.parent_sha256"),
        requantized=bool(data.get("requantized", False)),
        projector=None if projector is None else _parse_file(projector, f"{where}.projector"),
    )


def _parse_version(data, where: str) -> BundleVersion:
    if not isinstance(data, dict):
        raise InvalidBundle(f"the bundle's manifest is damaged: {where} is not an object")
    tags = _get(data, "tags", list, where, optional=True) or []
    for tag in tags:
        if not isinstance(tag, str) or not _TAG.match(tag):
            raise InvalidBundle(f"the bundle's manifest lists an unacceptable tag {tag!r} at {where}")
    model = data.get("model_sha256")
    return BundleVersion(
        number=_get(data, "number", int, where), text=_get(data, "text", str, where),
        created_at=_get(data, "created_at", str, where), message=_get(data, "message", str, where, optional=True),
        model_sha256=None if model is None else _sha(model, f"{where}.model_sha256"),
        tags=tuple(t for t in tags if t != "latest"))  # `latest` always follows the newest version: implied


def _parse_preset(data, i: int) -> BundlePreset:
    where = f"presets[{i}]"
    if not isinstance(data, dict):
        raise InvalidBundle(f"the bundle's manifest is damaged: {where} is not an object")
    name = _name(check_preset_name, _get(data, "name", str, where), where)
    raw = _get(data, "versions", list, where)
    versions = tuple(_parse_version(v, f"{where}.versions[{j}]") for j, v in enumerate(raw))
    numbers = [v.number for v in versions]
    if not versions or numbers != sorted(set(numbers)):
        raise InvalidBundle(f"the bundle's manifest is damaged: preset {name!r} has no versions or they are "
                            "not in ascending order")
    return BundlePreset(name, versions)


def _parse_reference(data, i: int) -> BundleReference:
    where = f"references[{i}]"
    if not isinstance(data, dict):
        raise InvalidBundle(f"the bundle's manifest is damaged: {where} is not an object")
    sha = _sha(data.get("sha256"), f"{where}.sha256")
    if data.get("member") != reference_member_name(sha):
        raise InvalidBundle(f"the bundle's manifest names member {data.get('member')!r} at {where}: "
                            f"a reference must be stored as {reference_member_name(sha)}")
    size, window = _get(data, "size", int, where), _get(data, "window", int, where)
    if size < 0 or window < 4:
        raise InvalidBundle(f"the bundle's manifest is damaged: {where} has a negative size or a window under 4")
    return BundleReference(
        member=reference_member_name(sha), sha256=sha, size=size,
        model_sha256=_sha(data.get("model_sha256"), f"{where}.model_sha256"),
        model_name=_name(validate_name, _get(data, "model_name", str, where), where),
        text_sha256=_sha(data.get("text_sha256"), f"{where}.text_sha256"), window=window,
        quantization=_get(data, "quantization", str, where, optional=True))


def _parse_session(data, i: int) -> BundleSession:
    where = f"sessions[{i}]"
    if not isinstance(data, dict):
        raise InvalidBundle(f"the bundle's manifest is damaged: {where} is not an object")
    sha = _sha(data.get("sha256"), f"{where}.sha256")
    if data.get("member") != session_member_name(sha):
        raise InvalidBundle(f"the bundle's manifest names member {data.get('member')!r} at {where}: "
                            f"a session must be stored as {session_member_name(sha)}")
    size = _get(data, "size", int, where)
    if not 0 <= size <= MAX_MANIFEST * 8:
        raise InvalidBundle(f"the bundle's manifest is damaged: {where}.size is out of range")
    return BundleSession(session_member_name(sha), sha, size, _get(data, "title", str, where))


def _unique(names: list[str], what: str) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidBundle(f"the bundle's manifest lists the {what} {', '.join(dupes)} more than once")


def parse_manifest(raw: bytes) -> BundleManifest:
    """Decode and validate a manifest; InvalidBundle naming the first problem."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidBundle(f"the bundle's manifest is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidBundle(f"this is not a Workbench bundle (its manifest's format is not {FORMAT!r})")
    version = data.get("format_version")
    if version not in READABLE_VERSIONS:
        raise InvalidBundle(f"this bundle has format version {version!r}; this Workbench reads version "
                            f"{FORMAT_VERSION}: update Workbench on this machine, or bundle with a matching one")
    models = tuple(_parse_model(m, i) for i, m in enumerate(_get(data, "models", list, "manifest")))
    presets = tuple(_parse_preset(p, i) for i, p in enumerate(_get(data, "presets", list, "manifest")))
    references = tuple(_parse_reference(r, i) for i, r in enumerate(
        _get(data, "references", list, "manifest", optional=True) or []))
    sessions = tuple(_parse_session(r, i) for i, r in enumerate(
        _get(data, "sessions", list, "manifest", optional=True) or []))
    _unique([m.name for m in models], "model")
    _unique([p.name for p in presets], "preset")
    _unique([f"{r.model_name} (sha256 {r.model_sha256[:12]}…) over text {r.text_sha256[:12]}… in windows of "
             f"{r.window}" for r in references],
            "reference")
    return BundleManifest(created_at=_get(data, "created_at", str, "manifest"),
                          workbench_version=_get(data, "workbench_version", str, "manifest"),
                          models=models, presets=presets, references=references, sessions=sessions,
                          format_version=version)


# ---- reading the tar -------------------------------------------------------------------------------------------
def open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:")  # uncompressed only: a compressed "bundle" is not one we wrote
    except FileNotFoundError:
        raise InvalidBundle(f"{path}: no such file") from None
    except (tarfile.TarError, OSError) as exc:
        raise InvalidBundle(f"{path} is not a Workbench bundle (not an uncompressed tar file: {exc})") from None


def read_manifest(tar: tarfile.TarFile, path: Path) -> BundleManifest:
    """The first member only: inspecting a bundle never reads past its manifest."""
    try:
        first = tar.next()
        if first is None or first.name != MANIFEST or not first.isreg():
            raise InvalidBundle(f"{path} is not a Workbench bundle: its first member is not {MANIFEST}")
        if first.size > MAX_MANIFEST:
            raise InvalidBundle(f"{path}'s manifest is {first.size} bytes, more than any real bundle's")
        raw = tar.extractfile(first).read()
    except (tarfile.TarError, OSError) as exc:
        raise InvalidBundle(f"{path} is damaged or truncated ({exc}): copy it again") from None
    if len(raw) != first.size:
        raise InvalidBundle(f"{path} is truncated inside its manifest: copy it again")
    return parse_manifest(raw)


def open_members(tar: tarfile.TarFile, path: Path, manifest: BundleManifest) -> dict[str, tarfile.TarInfo]:
    """Every member after the manifest, checked to be exactly the files the manifest lists, as regular files."""
    expected = {f.member: f for f in manifest.files}
    found: dict[str, tarfile.TarInfo] = {}
    try:
        for info in tar:
            if info.name == MANIFEST and not found and info.offset == 0:
                continue
            if info.name not in expected or info.name in found:
                raise InvalidBundle(f"{path} holds a member the manifest does not list ({info.name!r}): refused")
            if not info.isreg() or info.size != expected[info.name].size:
                raise InvalidBundle(f"{path}'s member {info.name!r} is not a regular file of the size the "
                                    "manifest gives: refused")
            found[info.name] = info
    except (tarfile.TarError, OSError) as exc:
        raise InvalidBundle(f"{path} is damaged or truncated ({exc}): copy it again") from None
    missing = sorted(set(expected) - set(found))
    if missing:
        raise InvalidBundle(f"{path} is incomplete (truncated copy?): {', '.join(missing)} missing")
    return found


class HashingReader:
    """Reads of a binary file object, hashed, counted, reported and cancellable at every read.

    tarfile pulls model bytes through one while writing a bundle; import copies a member out through one,
    so both directions hash exactly the bytes they move, in one pass.
    """

    def __init__(self, raw, meter: ProgressMeter, cancel: CancelToken | None, what: str):
        self.raw, self.meter, self.cancel, self.what = raw, meter, cancel, what
        self.digest = hashlib.sha256()
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        check(self.cancel, self.what)
        data = self.raw.read(size if size is not None and size > 0 else CHUNK)
        self.digest.update(data)
        self.count += len(data)
        self.meter.advance(len(data))
        return data

    def hexdigest(self) -> str:
        return self.digest.hexdigest()
