"""Plain frozen records of the Hub service: search hits, repo files, references, download state.

They cross from hub/ (the only package importing `huggingface_hub`) to the callers and to `store/`, so they
hold only standard types. `HubRef` is what a user types; `RemoteFile` one GGUF file as the Hub lists it;
`GGUFEntry` the shards of a split model grouped into the one thing a user picks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

DEFAULT_QUANT = "Q4_K_M"  # Ollama's default when a reference names no quantization


@dataclass(frozen=True)
class HubRef:
    """A parsed model reference. Exactly one of `quant`/`filename` is set; `revision` None means main."""

    repo: str
    quant: str | None = None
    filename: str | None = None
    revision: str | None = None

    def __str__(self) -> str:
        text = f"hf.co/{self.repo}"
        text += f"/{self.filename}" if self.filename else f":{self.quant}"
        return text + (f"@{self.revision}" if self.revision else "")


@dataclass(frozen=True)
class HubModel:
    """One repository in search results."""

    repo: str
    author: str | None
    downloads: int | None
    likes: int | None
    last_modified: datetime | None
    gated: bool
    private: bool = False
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class RemoteFile:
    """One file in a repository with the size and LFS sha256 the Hub publishes (None for non-LFS files)."""

    path: str
    size: int | None
    sha256: str | None


@dataclass(frozen=True)
class GGUFEntry:
    """One downloadable model in a repo: a single GGUF file, or all shards of a split one (in order)."""

    name: str  # the file name, or for a split model the first shard's name without "-00001-of-0000N"
    quant: str | None  # parsed from the file name; confirmed from the header once local
    files: tuple[RemoteFile, ...]

    @property
    def size(self) -> int | None:
        sizes = [f.size for f in self.files]
        return None if None in sizes else sum(sizes)  # type: ignore[arg-type]

    @property
    def split(self) -> bool:
        return len(self.files) > 1


@dataclass(frozen=True)
class RepoListing:
    """Every GGUF entry of a repository at one resolved commit."""

    repo: str
    revision: str | None  # the commit sha the listing was taken at
    gated: bool
    entries: tuple[GGUFEntry, ...]
