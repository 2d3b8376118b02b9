"""Plain frozen dataclasses that cross module boundaries (store → services → faces).

Repositories return these, never ORM rows, so faces can hold them on any thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class LocalModel:
    """A GGUF model registered in the library."""

    name: str
    sha256: str
    path: Path
    in_place: bool
    size_bytes: int
    added_at: datetime
    architecture: str | None = None
    parameter_count: int | None = None
    quantization: str | None = None
    context_length: int | None = None
    embedding_length: int | None = None
    block_count: int | None = None
    head_count: int | None = None
    head_count_kv: int | None = None
    tokenizer_model: str | None = None
    chat_template_sha256: str | None = None
    license: str | None = None
    general_name: str | None = None
    tensor_count: int | None = None
    split_paths: tuple[Path, ...] = ()
    metadata: dict = field(default_factory=dict, hash=False, compare=False)
    source_repo: str | None = None
    source_revision: str | None = None
    source_file: str | None = None
    parent_sha256: str | None = None
    requantized: bool = False
    id: int | None = None

    @property
    def has_chat_template(self) -> bool:
        return self.chat_template_sha256 is not None

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file that makes up the model: the first shard (or only file) and the other shards."""
        return (self.path, *self.split_paths)


@dataclass(frozen=True)
class PresetVersion:
    """One immutable saved state of a preset's Modelfile text."""

    preset_name: str
    number: int
    content: str
    content_sha256: str
    created_at: datetime
    parent_number: int | None = None
    message: str | None = None
    model_sha256: str | None = None
    tags: tuple[str, ...] = ()
    id: int | None = None

    @property
    def ref(self) -> str:
        return f"{self.preset_name}@{self.number}"


@dataclass(frozen=True)
class Preset:
    name: str
    created_at: datetime
    latest: PresetVersion
    version_count: int
    tags: dict[str, int] = field(default_factory=dict, hash=False, compare=False)  # tag -> version number


@dataclass(frozen=True)
class ChatSession:
    id: int
    title: str
    kind: str  # "chat" or "prompt"
    created_at: datetime
    updated_at: datetime
    preset_version_id: int | None = None
    preset_ref: str | None = None  # "name@N" of the pinned version, for display
    model_name: str | None = None
    system_override: str | None = None
    parameter_overrides: dict = field(default_factory=dict, hash=False, compare=False)
    current_leaf_id: int | None = None


@dataclass(frozen=True)
class Message:
    """A node of a session's conversation tree. Assistant messages carry their provenance."""

    id: int
    session_id: int
    parent_id: int | None
    role: str  # system | user | assistant
    content: str
    status: str  # complete | streaming | stopped | failed | interrupted
    created_at: datetime
    provenance: dict | None = field(default=None, hash=False, compare=False)


@dataclass(frozen=True)
class SearchHit:
    session_id: int
    session_title: str
    message_id: int
    role: str
    snippet: str
