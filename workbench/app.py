"""The composition root: `Workbench` wires paths, settings, store and services together.

The CLI, the HTTP endpoint and the GUI each open one `Workbench` and call its services; none of them builds
a service by hand or reaches into `store/` or `engine/` internals. Services are created lazily so that a
quick `workbench list` never loads llama.cpp.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from .paths import Paths, default_paths
from .settings import Settings, load_settings, save_settings
from .store import Store

if TYPE_CHECKING:  # the services load lazily (see above); these imports are for type checkers only
    from .audit import Audit
    from .chat.service import Chat
    from .chat.sessions import Sessions
    from .engine import Runtime
    from .evals.service import Evals
    from .hub.service import Hub
    from .library.service import Library
    from .presets import Presets
    from .remote import Remotes
    from .retention import Retention


class Workbench:
    def __init__(self, paths: Paths | None = None, *, caller: str = "api"):
        self.caller = caller  # who is acting, for the audit trail: cli, gui, or api (a script)
        self.paths = (paths or default_paths()).ensure()
        self.settings: Settings = load_settings(self.paths.settings_file)
        self.store = Store(self.paths.db)

    @classmethod
    def open(cls, caller: str = "api") -> Workbench:
        return cls(caller=caller)

    @staticmethod
    def prefetch(paths: Paths, names: list[str]) -> None:
        """Start loading, on threads, the files these names loaded last time, before anything else is opened:
        the head start of a cold start (engine/prefetch.py; the answer's own load takes it over or frees it)."""
        from .engine import prefetch

        prefetch.start(paths, names)

    @classmethod
    def open_recovering(cls, paths: Paths | None = None, *, caller: str = "gui") -> tuple[Workbench, str | None]:
        """Open, and when the database file is damaged, move it aside (timestamped, nothing deleted) and start
        on a new one: the app must still start. Returns the Workbench and what to tell the user (or None)."""
        from .store.db import CorruptDatabase, move_aside

        try:
            return cls(paths, caller=caller), None
        except CorruptDatabase as exc:
            moved = move_aside((paths or default_paths()).db)
            workbench = cls(paths, caller=caller)
            workbench.audit.record("store.recovered", str(moved), {"moved_to": str(moved)})
            return workbench, (f"{exc}. It was moved aside to {moved} and Workbench started with a new, empty "
                               "database: model files are untouched; import them again from the Library page.")

    def update_settings(self, **changes) -> Settings:
        import dataclasses

        old, self.settings = self.settings, dataclasses.replace(self.settings, **changes)
        save_settings(self.paths.settings_file, self.settings)
        self.audit.settings_changed(old, self.settings)
        return self.settings

    @property
    def offline(self) -> bool:
        return self.settings.effective_offline()

    @cached_property
    def library(self) -> Library:
        from .library.service import Library

        return Library(self.paths, self.store, self.audit)

    @cached_property
    def presets(self) -> Presets:
        from .presets import Presets

        return Presets(self)

    @cached_property
    def sessions(self) -> Sessions:
        from .chat.sessions import Sessions

        return Sessions(self)

    @cached_property
    def chat(self) -> Chat:
        """Answers streamed into sessions with provenance (chat.service.Chat)."""
        from .chat.service import Chat

        return Chat(self)

    @cached_property
    def evals(self) -> Evals:
        """Eval suites run across targets, stored runs, diffs, the regression gate, reports (evals.Evals)."""
        from .evals.service import Evals

        return Evals(self)

    @cached_property
    def hub(self) -> Hub:
        from .hub.service import Hub

        return Hub(self)

    @cached_property
    def audit(self) -> Audit:
        """The append-only, hash-chained audit trail (audit.Audit)."""
        from .audit import Audit

        return Audit(self)

    @cached_property
    def retention(self) -> Retention:
        """What the keep_* settings say should leave, shown or removed (retention.Retention)."""
        from .retention import Retention

        return Retention(self)

    @cached_property
    def remotes(self) -> Remotes:
        """Remote OpenAI-compatible endpoints: registry, keyring-held keys, streamed answers (remote.Remotes)."""
        from .remote import Remotes

        return Remotes(self)

    @cached_property
    def runtime(self) -> Runtime:
        from .engine import Runtime

        runtime = Runtime(self.settings)
        runtime.on_load = self.audit.model_loaded
        return runtime

    def close(self) -> None:
        if "runtime" in self.__dict__:
            self.runtime.close()
        if "audit" in self.__dict__:
            self.audit.close()  # queued endpoint events are written before the store closes
        self.store.close()

    def __enter__(self) -> Workbench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
