"""The registered remote endpoints: config/remotes.json (name, base URL, model id, where the key is kept).

A small JSON file beside settings.json rather than a database table: it is read once per command, holds a
handful of rows and never a key. Written atomically, so a crash leaves the old list or the new one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import InvalidParameter, WorkbenchError
from ..files import atomic_write_text, utc_text
from ..paths import safe_component

REGISTRY_FILE = "remotes.json"


@dataclass(frozen=True)
class RemoteEndpoint:
    name: str
    base_url: str  # ends in the API root (…/v1): requests go to base_url + "/chat/completions"
    model: str  # the model id the server knows
    key_store: str | None = None  # "keyring", "file" (0600, no keyring backend) or None (no key)
    added_at: str = ""

    @property
    def ref(self) -> str:
        return f"remote:{self.name}"


def normalize_url(url: str) -> str:
    """An http(s) URL without credentials; a bare host:port gets OpenAI's /v1 root."""
    text = url.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameter(f"{url!r} is not an http(s) URL: give the endpoint's base, e.g. "
                               "http://gpu-box:8000/v1")
    if parts.username or parts.password:
        raise InvalidParameter("the URL carries credentials: give the key with --key-env VAR instead, so it is "
                               "kept in the keyring and never written in plain text")
    if parts.query or parts.fragment:
        raise InvalidParameter(f"{url!r} has a query or fragment: give only the API's base URL")
    return text if parts.path not in ("", "/") else text + "/v1"


class Registry:
    def __init__(self, config_dir: Path):
        self.path = config_dir / REGISTRY_FILE

    def list(self) -> list[RemoteEndpoint]:
        if not self.path.exists():
            return []
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8")).get("remotes", [])
            return [RemoteEndpoint(**row) for row in rows]
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            raise WorkbenchError(f"the remotes file {self.path} is unreadable ({exc}): fix or delete it") from None

    def get(self, name: str) -> RemoteEndpoint | None:
        return next((r for r in self.list() if r.name == name), None)

    def put(self, endpoint: RemoteEndpoint) -> RemoteEndpoint:
        safe_component(endpoint.name, "remote name")
        if not endpoint.model.strip():
            raise InvalidParameter("a remote needs the model id its server knows (--model)")
        stamped = RemoteEndpoint(**{**asdict(endpoint), "added_at": endpoint.added_at or utc_text()})
        rows = [r for r in self.list() if r.name != endpoint.name] + [stamped]
        self._write(rows)
        return stamped

    def remove(self, name: str) -> RemoteEndpoint | None:
        rows = self.list()
        found = next((r for r in rows if r.name == name), None)
        if found is not None:
            self._write([r for r in rows if r.name != name])
        return found

    def _write(self, rows: list[RemoteEndpoint]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps({"remotes": [asdict(r) for r in rows]}, indent=2))
