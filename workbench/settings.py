"""User settings: a small JSON file in the config dir, read into a frozen dataclass.

Environment variables win over the file for what operators script: WORKBENCH_OFFLINE=1 (and the Hub's own
HF_HUB_OFFLINE=1) force offline mode; HF_TOKEN is used by the Hub client when no token is stored.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidParameter
from .files import atomic_write_text

_TRUTHY = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    offline: bool = False
    hf_token: str | None = None
    threads: int | None = None  # None: physical cores
    gpu_layers: int = -1  # -1: all when the backend can offload, else 0
    default_context: int = 4096
    keep_alive_seconds: float = 300.0  # 0: unload at once; negative: never
    parallel_slots: int = 4
    reproducible: bool = True  # the app's default; the endpoint may choose throughput
    theme: str = "system"
    models_dir: str | None = None  # extra folder shown in import dialogs
    audit_strict: bool = False  # True: an audit event that cannot be written fails the action (docs/design.md §11)
    fetch_image_urls: bool = False  # the endpoint fetches http(s) image URLs (off: no egress; serve/media_parts.py)
    # retention (workbench/retention.py; `workbench retention`): None keeps for ever; applied at each start
    keep_sessions_days: int | None = None  # sessions not changed for this many days are deleted
    keep_sessions_count: int | None = None  # only the newest N sessions are kept
    keep_eval_runs_days: int | None = None  # eval runs older than this (a tagged run is always kept)
    keep_eval_runs_count: int | None = None
    keep_request_log_days: int | None = None  # the endpoint's request events in the audit trail
    keep_audit_days: int | None = None  # every audit event (pruned behind a checkpoint `audit verify` reads)
    keep_partial_pulls_days: int | None = None  # unfinished pulls not resumed for this many days
    vacuum_free_share: float = 0.25  # compact the database file when more than this share of it is free

    def effective_offline(self) -> bool:
        env = (os.environ.get("WORKBENCH_OFFLINE", ""), os.environ.get("HF_HUB_OFFLINE", ""))
        return self.offline or any(v.strip().lower() in _TRUTHY for v in env)


def load_settings(path: Path) -> Settings:
    if not path.exists():
        return Settings()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidParameter(f"settings file {path} is unreadable ({exc}): fix or delete it") from exc
    known = {f.name for f in dataclasses.fields(Settings)}
    return Settings(**{k: v for k, v in raw.items() if k in known})


def save_settings(path: Path, settings: Settings) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(dataclasses.asdict(settings), indent=2))  # never half a settings file
