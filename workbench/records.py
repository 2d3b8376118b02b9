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
