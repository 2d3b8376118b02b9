"""Model references and GGUF file names: the pure parsing half of the Hub service (no network, no I/O).

Accepts `hf.co/{owner}/{repo}[:{quant}]`, `hf.co/{owner}/{repo}/{path}.gguf`, huggingface.co and browser URLs,
each with an optional `@{revision}`; reads quantization names from file names and groups the shards of split
models into one entry (docs/design.md §5.4).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from ..errors import InvalidName, NotFound
from .types import DEFAULT_QUANT, GGUFEntry, HubRef, RemoteFile

HUB_HOSTS = ("hf.co", "huggingface.co", "www.huggingface.co")
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}"
_REPO = re.compile(rf"^{_NAME}/{_NAME}$")
_QUANT_TEXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")
_SPLIT = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<total>\d{5})\.gguf$", re.IGNORECASE)
# One name token that is a llama.cpp quantization type (Q4_K_M, IQ2_XXS, Q8_0, F16, BF16, TQ1_0, MXFP4, ...).
_QUANT_TOKEN = re.compile(
    r"^(?:I?Q[1-8](?:_[A-Z0-9]{1,4}){0,3}|BF16|F16|F32|FP16|FP32|TQ[12]_0|MXFP4(?:_MOE)?)$", re.IGNORECASE
)


def is_hub_ref(text: str) -> bool:
    """True when `text` names the Hub (an hf.co / huggingface.co reference or URL), not a local model."""
    host = _strip_scheme(text.strip()).split("/", 1)[0].lower()
    return host in HUB_HOSTS


def parse_ref(text: str, *, default_quant: str = DEFAULT_QUANT) -> HubRef:
    """Parse a Hub reference; raises InvalidName with the accepted forms when it is not one."""
    raw = text.strip()
    rest = _strip_scheme(raw)
    host, _, path = rest.partition("/")
    if host.lower() not in HUB_HOSTS:
        raise InvalidName(
            f"{text!r} is not a Hub reference: use hf.co/OWNER/REPO[:QUANT] or hf.co/OWNER/REPO/FILE.gguf"
        )
    path, revision = _split_revision(path.strip("/"), text)
    parts = path.split("/")
    if len(parts) >= 4 and parts[2] in ("blob", "resolve", "tree"):  # a URL copied from the browser
        revision = revision or parts[3]
        parts = parts[:2] + parts[4:]
    if len(parts) < 2:
        raise InvalidName(f"{text!r} names no repository: use hf.co/OWNER/REPO[:QUANT]")
    owner, name_quant, *file_parts = parts
    name, _, quant = name_quant.partition(":")
    repo = validate_repo(f"{owner}/{name}")
    if file_parts:
        if quant:
            raise InvalidName(f"{text!r} gives both a quantization and a file: use one of them")
        return HubRef(repo, filename=_validate_filename("/".join(file_parts), text), revision=revision)
    quant = quant or default_quant
    if not _QUANT_TEXT.match(quant):
        raise InvalidName(f"{quant!r} in {text!r} is not a quantization name (like Q4_K_M, Q8_0, IQ2_XXS, F16)")
    return HubRef(repo, quant=quant, revision=revision)


def validate_repo(repo: str) -> str:
    repo = repo.strip().strip("/")
    for prefix in ("hf.co/", "huggingface.co/", "https://huggingface.co/", "https://hf.co/"):
        if repo.lower().startswith(prefix):
            repo = repo[len(prefix):]
    if not _REPO.match(repo) or ".." in repo:
        raise InvalidName(f"{repo!r} is not a Hub repository id: use OWNER/REPO (letters, digits, '.', '_', '-')")
    return repo


def quant_from_filename(path: str) -> str | None:
    """The quantization a GGUF file name announces (upper-cased), or None. Folder names count too."""
    name = path.rsplit("/", 1)[-1]
    split = _SPLIT.match(name)
    stem = split.group("stem") if split else re.sub(r"\.gguf$", "", name, flags=re.IGNORECASE)
    tokens = re.split(r"[-.]", stem)
    for i in range(len(tokens) - 1, -1, -1):
        if _QUANT_TOKEN.match(tokens[i]):
            quant = tokens[i].upper()
            return f"UD-{quant}" if i > 0 and tokens[i - 1].upper() == "UD" else quant
    folder = path.rsplit("/", 2)[-2] if "/" in path else ""
    return folder.upper() if _QUANT_TOKEN.match(folder) else None


def group_gguf_files(files: Iterable[RemoteFile]) -> tuple[GGUFEntry, ...]:
    """Every .gguf file as an entry; the shards of a split model become one entry with its shards in order."""
    singles: list[GGUFEntry] = []
    shards: dict[tuple[str, str], list[tuple[int, RemoteFile]]] = defaultdict(list)
    for f in files:
        if not f.path.lower().endswith(".gguf"):
            continue
        m = _SPLIT.match(f.path)
        if m:
            shards[(m.group("stem"), m.group("total"))].append((int(m.group("index")), f))
        else:
            singles.append(GGUFEntry(f.path, quant_from_filename(f.path), (f,)))
    for (stem, _total), parts in shards.items():
        ordered = tuple(f for _, f in sorted(parts, key=lambda p: p[0]))
        singles.append(GGUFEntry(f"{stem}.gguf", quant_from_filename(ordered[0].path), ordered))
    return tuple(sorted(singles, key=lambda e: (e.size or 0, e.name)))


def split_complete(entry: GGUFEntry) -> bool:
    """All shards 1..N of a split entry are listed (a half-uploaded repo is refused rather than half-pulled)."""
    m = _SPLIT.match(entry.files[0].path)
    return m is None or len(entry.files) == int(m.group("total"))


def is_projector(entry: GGUFEntry) -> bool:
    """Vision projector files (mmproj) sit next to the model with their own quant; never the default pick."""
    return "mmproj" in entry.name.rsplit("/", 1)[-1].lower()


PROJECTOR_QUANT_ORDER = ("F16", "BF16", "Q8_0")  # the encoder is small and quality-sensitive: widest first


def pick_projector(entries: tuple[GGUFEntry, ...]) -> GGUFEntry | None:
    """The projector a vision repo's model is pulled with: F16, else BF16, else Q8_0, else the largest one."""
    projectors = [e for e in entries if is_projector(e)]
    if not projectors:
        return None

    def rank(entry: GGUFEntry) -> tuple[int, int]:
        quant = (entry.quant or "").upper()
        order = PROJECTOR_QUANT_ORDER.index(quant) if quant in PROJECTOR_QUANT_ORDER else len(PROJECTOR_QUANT_ORDER)
        return order, -(entry.size or 0)

    return min(projectors, key=rank)


def pick_entry(entries: tuple[GGUFEntry, ...], ref: HubRef) -> GGUFEntry:
    """The entry a reference names; NotFound lists what the repo offers."""
    if ref.filename:
        wanted = ref.filename.lower()
        for e in entries:
            if wanted in (e.name.lower(), *(f.path.lower() for f in e.files)):
                return e
        raise NotFound(f"{ref.filename} is not in {ref.repo}: it has {_describe(entries, files=True)}")
    candidates = [e for e in entries if not is_projector(e)]
    quant = (ref.quant or DEFAULT_QUANT).upper()
    matches = [e for e in candidates if (e.quant or "").upper() == quant]
    if not matches:  # unsloth's dynamic quants: Q4_K_XL means UD-Q4_K_XL when that is the only one
        matches = [e for e in candidates if (e.quant or "").upper().removeprefix("UD-") == quant]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(f"{ref.repo} has no {quant} file: available quantizations are {_describe(candidates)}; "
                       f"pull one with hf.co/{ref.repo}:QUANT")
    names = ", ".join(e.name for e in matches)
    raise NotFound(f"{ref.repo} has several {quant} files ({names}): name one with hf.co/{ref.repo}/FILE.gguf")


def _describe(entries: Iterable[GGUFEntry], files: bool = False) -> str:
    items = sorted({e.name if files else (e.quant or e.name) for e in entries})
    return ", ".join(items) if items else "no GGUF files"


def _strip_scheme(text: str) -> str:
    return re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", text)


def _split_revision(path: str, text: str) -> tuple[str, str | None]:
    if "@" not in path:
        return path, None
    path, _, revision = path.rpartition("@")
    quant = ""
    if ":" in revision:  # hf.co/o/r@rev:Q8_0 — the revision written before the quant
        revision, _, quant = revision.partition(":")
    if not _REVISION.match(revision) or ".." in revision:
        raise InvalidName(f"{revision!r} in {text!r} is not a revision (a branch, tag or commit sha)")
    return (f"{path}:{quant}" if quant else path), revision


def _validate_filename(path: str, text: str) -> str:
    parts = path.split("/")
    if not path.lower().endswith(".gguf") or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise InvalidName(f"{text!r} does not name a .gguf file inside the repository")
    return path
