"""The audit trail (`wb.audit`): who loaded, pulled, changed, exported and served what — append-only, hash-chained.

Called from the services every caller uses, so the CLI, the app and HTTP clients leave the same events; details
never carry prompt text, message content or secrets. The chain, the failure policy (`audit_strict`) and the
endpoint's background writer: docs/design.md §11.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import logging
import os
import queue
import re
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InvalidParameter, WorkbenchError
from .files import atomic_writer, utc_text
from .records import AuditEvent, AuditVerification

if TYPE_CHECKING:
    from .app import Workbench

_log = logging.getLogger(__name__)

CALLERS = ("cli", "gui", "endpoint", "api")
KIND = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+$")
# keys whose values are never written, at any depth (prompt and message text, keys and tokens)
REDACTED_KEYS = frozenset({"api_key", "key", "hf_token", "token", "password", "secret", "authorization",
                           "prompt", "messages", "message", "content", "text", "system", "input"})
MAX_STRING = 300  # a longer string in details is most likely user text: cut
SECRET_SETTINGS = frozenset({"hf_token"})
QUEUE_LIMIT = 100_000  # queued endpoint events; beyond it they are counted and an audit.dropped event says so
BATCH = 500
TIMESPEC = "microseconds"  # the stored `at` text: the hash chain covers it, so its format never changes


class AuditWriteFailed(WorkbenchError):
    """An audit event could not be written (audit_strict): the action itself was done."""

    http_status = 500


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers): the numeric id still says who
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _iso(value: str | datetime | float) -> str:
    """A --since value (date, datetime or epoch seconds) as the stored UTC text, for comparison."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidParameter(f"{value!r} is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)") from None
    return utc_text(value, timespec=TIMESPEC)  # dates without a zone are UTC, as the log is


def _safe_details(value, key: str | None = None):
    if key is not None and key.lower() in REDACTED_KEYS:
        return "[redacted]"
    if isinstance(value, dict):
        return {str(k): _safe_details(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_safe_details(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    return text if len(text) <= MAX_STRING else text[:MAX_STRING] + "…"


class NullAudit:
    """For a service built without a Workbench (benchmarks): records nothing."""

    def record(self, *args, **kwargs) -> None:
        return None

    def model(self, *args, **kwargs) -> None:
        return None


class Audit:
    def __init__(self, workbench: Workbench):
        self._wb = workbench
        self._repo = workbench.store.audit
        self._user = _os_user()
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_LIMIT)
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()
        self._dropped = 0

    @property
    def caller(self) -> str:
        return self._wb.caller

    # ---- recording -----------------------------------------------------------------------------------------
    def event(self, kind: str, subject: str = "", details: dict | None = None, *, caller: str | None = None,
              at: str | None = None) -> AuditEvent:
        """A new, not yet chained event with this process as the actor (details made safe)."""
        if not KIND.match(kind):
            raise InvalidParameter(f"audit kind {kind!r} must be dotted lowercase words (a-z, 0-9, _), "
                                   "like 'preset.saved'")
        caller = caller or self.caller
        if caller not in CALLERS:
            raise InvalidParameter(f"audit caller {caller!r} is not one of {', '.join(CALLERS)}")
        return AuditEvent(at=at or utc_text(timespec=TIMESPEC), actor=caller, os_user=self._user, pid=os.getpid(),
                          kind=kind, subject=_safe_details(subject or ""), details=_safe_details(details or {}))

    def record(self, kind: str, subject: str = "", details: dict | None = None, *,
               caller: str | None = None) -> AuditEvent | None:
        """Append one event now. Never raises, unless `audit_strict` is set (then AuditWriteFailed)."""
        try:
            return self._repo.append([self.event(kind, subject, details, caller=caller)])[0]
        except Exception as exc:  # the disk, a lock held past busy_timeout, a broken schema: all the same here
            _log.error("audit event %s (%s) was not written: %s", kind, subject, exc)
            if self._wb.settings.audit_strict:
                raise AuditWriteFailed(f"the action was done but its audit event {kind} ({subject}) could not be "
                                       f"written: {exc}") from exc
            return None

    def record_later(self, kind: str, subject: str = "", details: dict | None = None, *,
                     caller: str | None = None, at: float | None = None) -> None:
        """Queue an event for the background writer; returns at once (safe on the endpoint's event loop).

        Only the arguments are queued (`at`: epoch seconds, default now): the writer thread builds and checks
        the event, off the caller's thread.
        """
        try:
            self._queue.put_nowait((kind, subject, details, caller, time.time() if at is None else at))
        except queue.Full:
            with self._lock:
                self._dropped += 1
            return
        self._ensure_writer()

    def _ensure_writer(self) -> None:
        with self._lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_loop, name="workbench-audit", daemon=True)
                self._writer.start()

    def _write_loop(self) -> None:
        stopping = False  # close() queued None: write everything queued up to now (and since), then end
        while True:
            batch = [] if stopping else [self._queue.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = stopping or any(e is None for e in batch)
            try:
                self._write_batch([e for e in batch if e is not None])
            finally:
                for _ in batch:
                    self._queue.task_done()
            if stopping and not batch:
                with self._lock:  # record_later starts a new writer once this one is marked gone
                    if self._queue.empty():
                        self._writer = None
                        return

    def _write_batch(self, queued: list[tuple]) -> None:
        events = []
        for kind, subject, details, caller, at in queued:
            try:
                events.append(self.event(kind, subject, details, caller=caller, at=_iso(at)))
            except Exception as exc:  # a bad kind from a hook: log it, write the rest
                _log.error("audit event %s was not written: %s", kind, exc)
        with self._lock:
            dropped, self._dropped = self._dropped, 0
        if dropped:
            events.append(self.event("audit.dropped", "endpoint", {"events": dropped}, caller="endpoint"))
        if not events:
            return
        try:
            self._repo.append(events)
        except Exception as exc:
            _log.error("%d queued audit event(s) were not written: %s", len(events), exc)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued event is written (or timeout); True when the queue is empty."""
        with self._queue.all_tasks_done:
            return self._queue.all_tasks_done.wait_for(lambda: self._queue.unfinished_tasks == 0, timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued and stop the writer thread (Workbench.close calls this)."""
        with self._lock:
            writer = self._writer
        if writer is not None and writer.is_alive():
            self._queue.put(None)
            writer.join(timeout)

    # ---- what the hooks record -----------------------------------------------------------------------------
    def model(self, kind: str, model, **extra) -> AuditEvent | None:
        """A library model event: its name, sha256, size, where its bytes are and where they came from."""
        source = model.source
        details = {"sha256": model.sha256, "size_bytes": model.size_bytes, "in_place": model.in_place,
                   "path": str(model.path), "quantization": model.quantization,
                   "source": f"{source.repo}@{source.revision}/{source.filename}" if source else None, **extra}
        return self.record(kind, model.name, details)

    def model_loaded(self, loaded) -> AuditEvent | None:
        """The runtime loaded a model into memory (engine LoadedModel): which bytes, with which options."""
        opts = loaded.options
        return self.record("model.loaded", loaded.name, {
            "sha256": loaded.sha256, "path": str(loaded.path), "n_ctx": opts.n_ctx, "n_parallel": opts.n_parallel,
            "reproducible": opts.reproducible, "gpu_layers": opts.gpu_layers, "lora": opts.lora_path})

    def preset(self, kind: str, version, **extra) -> AuditEvent | None:
        """A preset event: the version and its content hash (never the Modelfile text: it holds prompts)."""
        details = {"version": version.number, "content_sha256": version.content_sha256,
                   "model_sha256": version.model_sha256, **extra}
        return self.record(kind, version.preset_name, details)

    def settings_changed(self, old, new) -> AuditEvent | None:
        """Which settings changed; old → new values for plain ones, only 'set'/'cleared' for secrets."""
        before, after = dataclasses.asdict(old), dataclasses.asdict(new)
        changed = sorted(k for k in after if before.get(k) != after[k])
        if not changed:
            return None
        values = {k: [before.get(k), after[k]] for k in changed if k not in SECRET_SETTINGS}
        secrets = [f"{k} {'set' if after[k] else 'cleared'}" for k in changed if k in SECRET_SETTINGS]
        return self.record("settings.changed", ", ".join(changed), {"values": values, "secrets": secrets})

    def endpoint_started(self, config, port: int) -> AuditEvent | None:
        return self.record("endpoint.started", f"{config.host}:{port}", _endpoint_details(config, port),
                           caller="endpoint")

    def endpoint_stopped(self, config, port: int) -> AuditEvent | None:
        self.flush()  # the requests it served come before the stop in the chain
        return self.record("endpoint.stopped", f"{config.host}:{port}", {"host": config.host, "port": port},
                           caller="endpoint")

    def endpoint_request(self, record) -> None:
        """The metrics listener for finished requests (serve/metrics.RequestRecord): queued, never written here."""
        self.record_later("endpoint.request", record.model, {
            "client": record.client, "route": record.route, "status": record.status,
            "prompt_tokens": record.prompt_tokens, "completion_tokens": record.completion_tokens,
            "finish_reason": record.finish_reason}, caller="endpoint", at=record.time)

    def endpoint_refused(self, status: int, client: str, route: str, reason: str) -> None:
        """The endpoint's security middleware refused a request (wrong key, foreign Host, body too large)."""
        self.record_later("endpoint.refused", route, {"client": client, "status": status, "reason": reason},
                          caller="endpoint")

    # ---- retention -----------------------------------------------------------------------------------------
    def prunable(self, before: datetime | None, kinds: tuple[str, ...] = (),
                 kinds_before: datetime | None = None) -> dict[str, int]:
        """{kind: count} of the events `prune` would remove now."""
        return self._repo.prunable(*_prune_bounds(before, kinds_before), kinds)

    def prune(self, before: datetime | None, kinds: tuple[str, ...] = (),
              kinds_before: datetime | None = None) -> dict[str, int]:
        """Remove every event older than `before` and those of `kinds` older than `kinds_before`, behind
        checkpoints (docs/design.md §11), then sign the checkpoints off with an `audit.pruned` event that
        counts what went (never what it said). Returns {kind: count} removed."""
        self.flush()  # queued endpoint events are older than what follows: write them first
        checkpoints = self._repo.prune(*_prune_bounds(before, kinds_before), kinds, at=utc_text(timespec=TIMESPEC))
        removed: dict[str, int] = {}
        for cp in checkpoints:
            for kind, count in json.loads(cp["kinds"]).items():
                removed[kind] = removed.get(kind, 0) + count
        if checkpoints:
            self.record("audit.pruned", "retention", {
                "events": sum(removed.values()), "kinds": removed,
                "checkpoints": [{"first_event_id": cp["first_event_id"], "last_event_id": cp["last_event_id"],
                                 "hash": cp["hash"]} for cp in checkpoints]})
        return removed

    # ---- reading -------------------------------------------------------------------------------------------
    def list(self, since: str | datetime | float | None = None, kind: str | None = None,
             limit: int = 100) -> list[AuditEvent]:
        """The newest `limit` events (oldest first) since a time, of a kind or kind prefix ('preset.')."""
        if not 1 <= limit <= 1_000_000:
            raise InvalidParameter(f"limit must be between 1 and 1000000, not {limit}")
        return self._repo.list(since=_iso(since) if since is not None else None, kind=kind, limit=limit)

    def verify(self, anchor: str | None = None) -> AuditVerification:
        """Recompute the hash chain over every event; the first event that breaks it, and why.

        anchor: a head hash kept from an earlier verify (elsewhere: a ticket, a printout, another machine); it
        must still be in the chain — the check that catches a cut-off tail or a rebuilt chain.
        """
        if anchor is not None and not re.fullmatch(r"[0-9a-f]{64}", anchor.strip().lower()):
            raise InvalidParameter(f"{anchor!r} is not a head hash: give the 64 hex digits `audit verify` printed")
        return self._repo.verify(anchor.strip().lower() if anchor else None)

    def export(self, path: str | os.PathLike) -> int:
        """Every event as JSON lines (oldest first, with hashes) to path, written atomically; returns the count."""
        from .store.audit_repo import canonical_json

        path = Path(path)
        count = 0
        try:
            with atomic_writer(path, "w", encoding="utf-8") as out:
                for event in self._repo.iterate():
                    out.write(canonical_json(dataclasses.asdict(event)) + "\n")
                    count += 1
        except OSError as exc:
            raise WorkbenchError(f"cannot write the audit export to {path}: {exc.strerror or exc}") from None
        self.record("audit.exported", str(path), {"events": count})
        return count


def _prune_bounds(before: datetime | None, kinds_before: datetime | None) -> tuple[str | None, str | None]:
    return (_iso(before) if before else None), (_iso(kinds_before) if kinds_before else None)


def details_line(details: dict) -> str:
    """An event's details on one line, `key=value` sorted, empty values left out (the CLI table, the app)."""
    return " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(details.items())
                    if v not in (None, [], {}))


def _endpoint_details(config, port: int) -> dict:
    """How the endpoint is exposed — whether a key is set, never the key."""
    return {"host": config.host, "port": port, "api_key_set": bool(config.api_key),
            "cors_origins": list(config.cors_origins), "allowed_hosts": list(config.allowed_hosts),
            "parallel": config.parallel, "queue_size": config.queue_size, "max_tokens_cap": config.max_tokens_cap,
            "reproducible": config.reproducible}
