"""API keys of remote endpoints: the OS keyring (the `keyring` package), else a 0600 file — said so.

Keys live nowhere else: not in remotes.json, the database, logs, exports, bundles or the audit trail. Where no
keyring backend exists (a headless Linux box without Secret Service), the key goes into config/remote-keys.json
created with mode 0600, and `where` says "file" so the CLI and the app can tell the user.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import keyring
import keyring.errors
from keyring.backends import fail

from ..errors import WorkbenchError

SERVICE = "workbench-remote"
KEY_FILE = "remote-keys.json"


def keyring_available() -> bool:
    """False when keyring found no usable backend (its `fail` backend raises on every call)."""
    return not isinstance(keyring.get_keyring(), fail.Keyring)


def key_file(config_dir: Path) -> Path:
    return config_dir / KEY_FILE


def store_key(config_dir: Path, name: str, key: str) -> str:
    """Keep `key` for endpoint `name`; returns where it went: "keyring" or "file"."""
    if keyring_available():
        try:
            keyring.set_password(SERVICE, name, key)
            return "keyring"
        except keyring.errors.KeyringError as exc:
            raise WorkbenchError(f"the OS keyring refused the key for {name!r}: {exc}") from None
    keys = _read_file(config_dir)
    keys[name] = key
    _write_file(config_dir, keys)
    return "file"


def load_key(config_dir: Path, name: str, where: str | None) -> str | None:
    if where == "keyring":
        if not keyring_available():
            raise WorkbenchError(f"the key of remote {name!r} is in the OS keyring, but no keyring backend is "
                                 "available now: unlock or install one, or add the remote again")
        return keyring.get_password(SERVICE, name)
    if where == "file":
        return _read_file(config_dir).get(name)
    return None


def delete_key(config_dir: Path, name: str, where: str | None) -> None:
    if where == "keyring" and keyring_available():
        with contextlib.suppress(keyring.errors.PasswordDeleteError):  # already gone: removing is idempotent
            keyring.delete_password(SERVICE, name)
    elif where == "file":
        keys = _read_file(config_dir)
        if keys.pop(name, None) is not None:
            _write_file(config_dir, keys)


def _read_file(config_dir: Path) -> dict[str, str]:
    path = key_file(config_dir)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"the key file {path} is unreadable ({exc}): delete it and add the keys again") from None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_file(config_dir: Path, keys: dict[str, str]) -> None:
    """Written under a temporary name created 0600 (never readable by others, not even for a moment), then
    renamed over the old file; files.atomic_writer cannot be used because it creates with the default mode."""
    path = key_file(config_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(keys, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
