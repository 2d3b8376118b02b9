"""Retention (`wb.retention`): what the settings' `keep_*` limits say should leave, shown (`plan`) or removed
(`apply`), deterministically and for real — rows, search-index entries, files, free pages.

Runs at each start of the app and the endpoint, and as `workbench retention apply`. The audit trail records
what went as counts (never content); the trail's own old events leave behind checkpoints (docs/design.md §11).
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import Cancelled, InvalidParameter
from .files import remove_tree_or_file, stale_temps, utc_naive_now
from .tasks import CancelToken, ProgressCallback, ProgressMeter, check, no_progress
from .units import human_size

if TYPE_CHECKING:
    from .app import Workbench
    from .settings import Settings

REQUEST_KINDS = ("endpoint.request", "endpoint.refused")  # the endpoint's request log, as the audit trail keeps it
ORPHAN_GRACE_SECONDS = 86_400  # a derived file without a library model is only removed a day after it was
#                                written: a model being imported in another process is registered moments later
_STORED = re.compile(r"^sha256-(?P<sha>[0-9a-f]{64})(?:\.gguf)?$")
LIMITS = ("keep_sessions_days", "keep_sessions_count", "keep_eval_runs_days", "keep_eval_runs_count",
          "keep_request_log_days", "keep_audit_days", "keep_partial_pulls_days")


@dataclass(frozen=True)
class RetentionReport:
    """What retention removed (or, with dry_run, would remove): counts and sizes, never content."""

    dry_run: bool
    sessions: int = 0
    chat_messages: int = 0
    eval_runs: int = 0
    eval_cells: int = 0
    eval_suites: int = 0
    audit_events: dict[str, int] = field(default_factory=dict)  # kind -> count
    partial_pulls: int = 0
    partial_bytes: int = 0
    temp_files: int = 0
    unreferenced_files: int = 0  # quality references of models no longer in the library; images no message keeps
    unreferenced_bytes: int = 0
    free_share: float = 0.0  # of the database file, before compacting
    vacuumed: bool = False

    @property
    def removed_anything(self) -> bool:
        return any((self.sessions, self.eval_runs, self.eval_suites, self.audit_events, self.partial_pulls,
                    self.temp_files, self.unreferenced_files))

    def counts(self) -> dict:
        """The report as plain counts (what the audit event and `--json` carry)."""
        return {k: v for k, v in asdict(self).items() if k != "dry_run"}

    def summary(self) -> str:
        """One line for people: "would remove: 3 session(s) (12 messages); …" (the CLI and the Settings page)."""
        audit = sum(self.audit_events.values())
        kinds = f" ({', '.join(f'{k} {v}' for k, v in self.audit_events.items())})" if audit else ""
        parts = [f"{self.sessions} session(s) ({self.chat_messages} messages)",
                 f"{self.eval_runs} eval run(s) ({self.eval_cells} cells, {self.eval_suites} unused suites)",
                 f"{audit} audit event(s){kinds}",
                 f"{self.partial_pulls} partial pull(s) ({human_size(self.partial_bytes)})",
                 f"{self.temp_files} leftover temp file(s)",
                 f"{self.unreferenced_files} unreferenced stored file(s) ({human_size(self.unreferenced_bytes)})"]
        return f"{'would remove' if self.dry_run else 'removed'}: " + "; ".join(parts)


def check_limits(settings) -> None:
    """Every keep_* limit is None or a whole number ≥ 0, and the vacuum share is in [0, 1]."""
    for name in LIMITS:
        value = getattr(settings, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise InvalidParameter(f"setting {name} must be a whole number ≥ 0 or unset (got {value!r})")
    share = settings.vacuum_free_share
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise InvalidParameter(f"setting vacuum_free_share must be between 0 and 1 (got {share!r})")


class Retention:
    def __init__(self, workbench: Workbench):
        self._wb = workbench
        self._repo = workbench.store.retention

    def plan(self, limits: Settings | None = None) -> RetentionReport:
        """What `apply` would remove now (nothing is touched); `limits`: other limits than the saved ones (the
        Settings page previews limits before they are saved)."""
        return self.apply(dry_run=True, limits=limits)

    def apply(self, *, dry_run: bool = False, on_progress: ProgressCallback = no_progress,
              cancel: CancelToken | None = None, limits: Settings | None = None) -> RetentionReport:
        """Remove what the limits exclude, then merge the search index and compact the file past the free
        share; the audit trail gets a `retention.applied` event with the counts. A cancel is seen between
        steps (never inside one); what the finished steps removed is still recorded (`stopped`: true)."""
        s = limits if limits is not None else self._wb.settings
        check_limits(s)
        meter = ProgressMeter("applying retention", 5, on_progress)
        report: dict = {"dry_run": dry_run}
        try:
            for step in (self._sessions, self._eval_runs, self._audit, self._partial_pulls, self._files):
                check(cancel, "applying retention")
                report.update(step(s, dry_run))
                meter.advance(1)
        except Cancelled:
            if not dry_run:
                self._record(RetentionReport(**report), stopped=True)
            raise
        if not dry_run:
            report.update(self._compact(s, bool(report["sessions"] or report["eval_runs"])))
            self._record(RetentionReport(**report))
        meter.finish()
        return RetentionReport(**report)

    def _record(self, result: RetentionReport, stopped: bool = False) -> None:
        if result.removed_anything:
            self._wb.audit.record("retention.applied", "retention",
                                  {**result.counts(), **({"stopped": True} if stopped else {})})

    # -- the steps, each {report field: value} ----------------------------------------------------------------
    def _sessions(self, s, dry_run: bool) -> dict:
        ids = self._repo.old_sessions(_days_ago(s.keep_sessions_days), s.keep_sessions_count)
        counts = {"sessions": len(ids), "chat_messages": self._repo.count_messages(ids)}
        if ids and not dry_run:
            self._repo.delete_sessions(ids)
        return counts

    def _eval_runs(self, s, dry_run: bool) -> dict:
        ids = self._repo.old_eval_runs(_days_ago(s.keep_eval_runs_days), s.keep_eval_runs_count)
        counts = {"eval_runs": len(ids), "eval_cells": self._repo.count_cells(ids)}
        if dry_run:
            return {**counts, "eval_suites": self._repo.unused_suites(ids)}
        return {**counts, "eval_suites": self._repo.delete_eval_runs(ids)}

    def _audit(self, s, dry_run: bool) -> dict:
        if s.keep_audit_days is None and s.keep_request_log_days is None:
            return {"audit_events": {}}
        before = _days_ago(s.keep_audit_days)
        kinds_before = _days_ago(s.keep_request_log_days)
        kinds = REQUEST_KINDS if kinds_before is not None else ()
        audit = self._wb.audit
        return {"audit_events": audit.prunable(before, kinds, kinds_before) if dry_run
                else audit.prune(before, kinds, kinds_before)}

    def _partial_pulls(self, s, dry_run: bool) -> dict:
        before = _days_ago(s.keep_partial_pulls_days)
        if before is None:
            return {"partial_pulls": 0, "partial_bytes": 0}
        downloads = self._wb.store.downloads
        stale = [d for d in downloads.list() if d.status != "done" and d.updated_at < before]
        size = 0
        for state in stale:
            path = Path(state.partial_path)
            size += path.stat().st_size if path.is_file() else 0
            if not dry_run:
                remove_tree_or_file(path)
                downloads.remove(state.key)
        return {"partial_pulls": len(stale), "partial_bytes": size}

    def _files(self, s, dry_run: bool) -> dict:
        temps = [t for folder in self._folders() for t in stale_temps(folder)]
        orphans = self._unreferenced()
        size = sum(_size(p) for p in orphans)
        if not dry_run:
            for path in (*temps, *orphans):
                remove_tree_or_file(path)
        return {"temp_files": len(temps), "unreferenced_files": len(orphans), "unreferenced_bytes": size}

    def _folders(self) -> list[Path]:
        """Where temporary files are written: the data folder, the model stores and their subfolders."""
        paths = self._wb.paths
        models = paths.data / "models"
        subfolders = [p for p in models.iterdir() if p.is_dir()] if models.is_dir() else []
        references = [p for p in paths.references.iterdir() if p.is_dir()] if paths.references.is_dir() else []
        return [paths.data, models, *subfolders, *references, paths.media]

    def _unreferenced(self) -> list[Path]:
        """Content-addressed derived files (models/references/sha256-<model>/: quality reference distributions)
        whose model is no longer in the library, written more than a day ago. Model files themselves
        (models/blobs/) are never removed here: a database moved aside after damage leaves every stored model
        unregistered, and those bytes are the user's to import again."""
        known = {m.sha256 for m in self._wb.store.models.list()}
        cutoff = time.time() - ORPHAN_GRACE_SECONDS
        folder = self._wb.paths.references
        references = [entry for entry in (folder.iterdir() if folder.is_dir() else ())
                      if (match := _STORED.match(entry.name)) and match["sha"] not in known
                      and entry.stat().st_mtime < cutoff]
        return references + self._unreferenced_media(cutoff)

    def _unreferenced_media(self, cutoff: float) -> list[Path]:
        """Images attached to messages that are all gone (deleted sessions, pruned branches): media/sha256-<hex>
        no message refers to, written (or last attached again) before the grace period."""
        from .chat.media_store import MediaStore

        referenced = self._wb.store.sessions.media_sha256s()
        return [path for sha, path in MediaStore(self._wb.paths.media).stored()
                if sha not in referenced and path.stat().st_mtime < cutoff]

    def _compact(self, s, deleted_rows: bool) -> dict:
        if deleted_rows:
            self._repo.merge_search_index()
        share = self._repo.free_share()
        vacuum = share > s.vacuum_free_share and self._repo.vacuum()
        if not vacuum and deleted_rows:
            self._repo.checkpoint()  # old page images leave the write-ahead log
        return {"free_share": round(share, 4), "vacuumed": vacuum}


def _days_ago(days: int | None) -> datetime | None:
    """The cutoff for a `keep_*_days` limit in the store's naive-UTC time; None when the limit is unset."""
    return None if days is None else utc_naive_now() - timedelta(days=days)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())

