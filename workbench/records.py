"""Plain frozen dataclasses that cross module boundaries (store → services → callers).

Repositories return these, never ORM rows, so callers can hold them on any thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any


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
    projector_path: str | None = None  # the paired mmproj GGUF (vision/audio encoder), Library.pair_projector
    projector_sha256: str | None = None
    projector_modalities: str | None = None  # "vision", "audio" or "vision,audio", from the projector's metadata
    id: int | None = None

    @property
    def modalities(self) -> tuple[str, ...]:
        """What the paired projector lets the model take in besides text: () without one."""
        return tuple(self.projector_modalities.split(",")) if self.projector_modalities else ()

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
class Provenance:
    """What produced an assistant answer, filled in as it goes; stored as JSON (`as_dict` / `from_dict`).

    A field not recorded (yet, or by an older version) is None; keys this version does not know are kept in
    `extra`, so reading and writing back loses nothing.
    """

    started_at: str | None = None  # ISO 8601 UTC
    rerun_of: int | None = None  # the message this answer re-runs with its recorded seed
    writer: dict[str, Any] | None = None  # host, pid, started: the process streaming it (dropped at the end)
    # what it ran on
    model: str | None = None
    model_sha256: str | None = None
    preset: str | None = None
    preset_version: int | None = None
    preset_sha256: str | None = None
    preset_version_id: int | None = None
    # the prompt
    prompt_sha256: str | None = None
    template_sha256: str | None = None  # None: a raw prompt, no template
    parameters: dict[str, Any] | None = None  # the effective parameters, Ollama names
    ignored_parameters: dict[str, Any] | None = None
    system_override: str | None = None
    parameter_overrides: dict[str, Any] | None = None
    # how the model was loaded
    reproducible: bool | None = None
    n_ctx: int | None = None
    engine: dict[str, Any] | None = None  # backend, llama_cpp_python, ggml_version, ggml_commit, gpu_offload, machine
    # the outcome
    seed: int | None = None
    prompt_tokens: int | None = None
    cached_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_seconds: float | None = None
    tokens_per_second: float | None = None
    stop_sequence: str | None = None
    batch_sequences: int | None = None  # > 1: decoded beside other requests
    drafted_tokens: int | None = None  # speculative decoding: tokens drafted and verified (None: it was off)
    accepted_tokens: int | None = None  # … of which the model's own sampling agreed with
    finish_reason: str | None = None  # stop | length | cancelled | error
    error: str | None = None
    error_type: str | None = None
    finished_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def speculation_text(self) -> str | None:
        """"drafts 40/52 accepted (77%)" when speculative decoding drafted anything, else None."""
        if not self.drafted_tokens:
            return None
        accepted = self.accepted_tokens or 0
        return f"drafts {accepted}/{self.drafted_tokens} accepted ({accepted / self.drafted_tokens:.0%})"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Provenance:
        known = {f.name for f in fields(cls)} - {"extra"}
        data = data or {}
        return cls(**{k: v for k, v in data.items() if k in known},
                   extra={k: v for k, v in data.items() if k not in known})

    def as_dict(self) -> dict[str, Any]:
        """The stored form: a group once recorded is written whole (None included), other fields when set."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        stored = {name: values[name] for name in _PROVENANCE_ALWAYS}
        for first, group in _PROVENANCE_GROUPS.items():
            if values[first] is not None:
                stored.update((name, values[name]) for name in group)
        stored.update((k, v) for k, v in values.items() if v is not None and k not in stored)
        return {**stored, **self.extra}


_PROVENANCE_ALWAYS = ("started_at", "rerun_of")
_PROVENANCE_GROUPS = {  # recorded together: the first field is always set when its group is
    "model_sha256": ("model", "model_sha256", "preset", "preset_version", "preset_sha256", "preset_version_id"),
    "prompt_sha256": ("prompt_sha256", "template_sha256", "parameters", "ignored_parameters", "system_override",
                      "parameter_overrides"),
    "reproducible": ("reproducible", "n_ctx", "engine"),
    "completion_tokens": ("seed", "prompt_tokens", "cached_tokens", "completion_tokens", "ttft_seconds",
                          "tokens_per_second", "finish_reason", "stop_sequence", "error", "batch_sequences"),
}


@dataclass(frozen=True)
class MediaRef:
    """An image (or audio clip) a message carries, by content address; the bytes are in `Paths.media`."""

    sha256: str
    kind: str  # image | audio
    mime: str
    size_bytes: int


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
    provenance: dict | None = field(default=None, hash=False, compare=False)  # Provenance.as_dict(), as stored
    thinking: str = ""  # a reasoning model's thinking before the answer (kept apart from `content`)
    media: tuple[MediaRef, ...] = ()  # images attached to a user message, in order

    @property
    def provenance_record(self) -> Provenance:
        """The provenance as a typed record (empty for a message that has none)."""
        return Provenance.from_dict(self.provenance)


@dataclass(frozen=True)
class SearchHit:
    session_id: int
    session_title: str
    message_id: int
    role: str
    snippet: str


@dataclass(frozen=True)
class AuditEvent:
    """One entry of the audit trail: who (caller, OS user, pid) did what (kind) to which subject, and when.

    `details` never holds prompt text, message content or secrets (audit.py redacts them); `hash` is the
    sha256 over `prev_hash` and this event's canonical JSON, so the events form a verifiable chain.
    """

    at: str  # ISO 8601 UTC, exactly as stored (the hash covers this text)
    actor: str  # the caller: cli, gui, endpoint; api for a script using the library
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
    pruned: int = 0  # events retention removed behind checkpoints (verified from each checkpoint on)


@dataclass(frozen=True)
class DownloadState:
    """Resumable state of one file download (the `downloads` table). `key` names the partial file."""

    key: str
    repo: str
    revision: str
    filename: str
    url: str
    expected_sha256: str | None
    etag: str | None
    size_bytes: int | None
    partial_path: str
    bytes_done: int
    status: str  # active | paused | failed | done
    started_at: datetime
    updated_at: datetime
    error: str | None = None
    id: int | None = None
