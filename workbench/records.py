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
    split_sha256: tuple[str, ...] = ()  # the other shards' sha256, aligned with split_paths (verify checks them)
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

    @property
    def source(self) -> ModelSource | None:
        if self.source_repo is None:
            return None
        return ModelSource(self.source_repo, self.source_revision, self.source_file)


@dataclass(frozen=True)
class ModelSource:
    """Where a model came from on the Hub: repository, revision (commit sha) and file path in the repo."""

    repo: str
    revision: str | None = None
    filename: str | None = None


@dataclass(frozen=True)
class FileCheck:
    """One file of a model, rehashed: status is "ok", "changed" (other bytes) or "missing"."""

    path: Path
    status: str
    expected_sha256: str
    actual_sha256: str | None = None


@dataclass(frozen=True)
class VerifyResult:
    """`Library.verify`: every file of a model rehashed against the sha256 recorded when it was added."""

    name: str
    files: tuple[FileCheck, ...]

    @property
    def ok(self) -> bool:
        return all(f.status == "ok" for f in self.files)

    @property
    def status(self) -> str:
        """"ok", or the worst problem: "missing" before "changed"."""
        statuses = {f.status for f in self.files}
        return "missing" if "missing" in statuses else "changed" if "changed" in statuses else "ok"

    def __str__(self) -> str:
        if self.ok:
            return "ok (the file matches its sha256)" if len(self.files) == 1 else \
                f"ok (all {len(self.files)} files match their sha256)"
        return "; ".join(f"{f.path} {f.status}" for f in self.files if f.status != "ok")


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


@dataclass(frozen=True)
class AuditEvent:
    """One entry of the audit trail: who (face, OS user, pid) did what (kind) to which subject, and when.

    `details` never holds prompt text, message content or secrets (audit.py redacts them); `hash` is the
    sha256 over `prev_hash` and this event's canonical JSON, so the events form a verifiable chain.
    """

    at: str  # ISO 8601 UTC, exactly as stored (the hash covers this text)
    actor: str  # the face: cli, gui, endpoint; api for a script using the library
    os_user: str
    pid: int
    kind: str  # dotted: model.imported, preset.saved, endpoint.request, …
    subject: str
    details: dict = field(default_factory=dict, hash=False)
    id: int | None = None
    prev_hash: str = ""
    hash: str = ""


@dataclass(frozen=True)
class AuditVerification:
    """`Audit.verify`: whether the chain is unbroken, how many events were checked and the first bad one."""

    ok: bool
    checked: int
    first_bad_id: int | None = None
    problem: str | None = None  # why the first bad event (or the table) fails the check
    head_id: int | None = None  # the last event checked and its hash: record it elsewhere to detect truncation
    head_hash: str | None = None
