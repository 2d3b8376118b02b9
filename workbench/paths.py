"""Where Workbench keeps its files: platformdirs' per-OS folders, or all of them under `WORKBENCH_HOME`.

Tests set WORKBENCH_HOME to a tmp dir; air-gapped users may point it at an encrypted volume. `safe_component`
validates a name that comes from outside, `safe_child` turns one into a path that cannot leave its folder
(docs/design.md §10).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .errors import InvalidName

APP_NAME = "workbench"
_SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


@dataclass(frozen=True)
class Paths:
    data: Path
    config: Path
    cache: Path
    logs: Path

    @property
    def db(self) -> Path:
        return self.data / "workbench.db"

    @property
    def blobs(self) -> Path:
        """Content-addressed model store: blobs/sha256-<hex>.gguf."""
        return self.data / "models" / "blobs"

    @property
    def references(self) -> Path:
        """Stored reference distributions for quality: references/sha256-<model>/<text sha256>-w<window>.wbref."""
        return self.data / "models" / "references"

    @property
    def downloads(self) -> Path:
        """Partial downloads live here until verified, then move atomically into blobs/."""
        return self.data / "models" / "partial"

    @property
    def media(self) -> Path:
        """Images (and audio) attached to session messages, content-addressed: media/sha256-<hex>."""
        return self.data / "media"

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.json"

    def ensure(self) -> Paths:
        for folder in (self.data, self.config, self.cache, self.logs, self.blobs, self.downloads):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def default_paths() -> Paths:
    home = os.environ.get("WORKBENCH_HOME")
    if home:
        root = Path(home).expanduser().resolve()
        return Paths(data=root / "data", config=root / "config", cache=root / "cache", logs=root / "logs")
    return Paths(
        data=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        config=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        cache=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
        logs=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
    )


def safe_component(name: str, what: str = "name") -> str:
    """Validate one path component taken from user input (no separators, no '..', no hidden files)."""
    if not _SAFE_COMPONENT.match(name) or ".." in name:
        raise InvalidName(
            f"{what} {name!r} is not allowed: use letters, digits, '.', '_', '+' or '-' "
            "(at most 128 characters, not starting with a dot)"
        )
    return name


def safe_child(root: Path, *components: str) -> Path:
    """root/components..., refusing anything that would resolve outside root."""
    path = root.joinpath(*(safe_component(c, "path component") for c in components)).resolve()
    if not path.is_relative_to(root.resolve()):
        raise InvalidName(f"{'/'.join(components)!r} points outside {root}")
    return path
