"""`wb.remotes`: add, list, test and remove remote endpoints; stream an answer from one, refused offline, audited.

Every call first checks offline mode (no connection is opened when it is on), then records one `remote.call`
audit event when it ends: the endpoint's name, model, token counts and status — never the text or the key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import Cancelled, InvalidParameter, NotFound, OfflineError
from ..paths import safe_component
from ..tasks import CancelToken
from . import keys
from .client import RemoteAnswer, RemoteError, stream_chat
from .registry import Registry, RemoteEndpoint, normalize_url

if TYPE_CHECKING:
    from ..app import Workbench

REMOTE_PREFIX = "remote:"
URL_PREFIX = "remote-url:"  # promptfoo's openai:chat:MODEL with config.apiBaseUrl: a registered remote by URL
TEST_PROMPT = "Say OK."


def url_ref(base_url: str, model: str) -> str:
    """The reference a suite target with an apiBaseUrl stands for; `|` cannot appear unescaped in a URL."""
    return f"{URL_PREFIX}{base_url}|{model}"


def is_remote_ref(ref: str) -> bool:
    return ref.strip().startswith((REMOTE_PREFIX, URL_PREFIX))


def remote_name(ref: str) -> str | None:
    """"remote:NAME" → NAME; None for anything else (a local preset or model)."""
    text = ref.strip()
    if not text.startswith(REMOTE_PREFIX):
        return None
    return text[len(REMOTE_PREFIX):].strip() or None


class Remotes:
    def __init__(self, wb: Workbench):
        self._wb = wb
        self._config = wb.paths.config
        self._registry = Registry(self._config)

    # ---- the registry --------------------------------------------------------------------------------------
    def add(self, name: str, url: str, model: str, *, key: str | None = None,
            key_env: str | None = None) -> RemoteEndpoint:
        """Register (or replace) an endpoint. The key comes as `key` or from the environment variable `key_env`
        (so it is never typed on a command line) and goes to the keyring only."""
        if key_env is not None:
            key = os.environ.get(key_env)
            if not key:
                raise InvalidParameter(f"the environment variable {key_env} is not set or empty: export the API key "
                                       "in it first")
        safe_component(name, "remote name")  # before any key is stored under it
        base_url = normalize_url(url)
        if not model.strip():
            raise InvalidParameter("a remote needs the model id its server knows (--model)")
        old = self._registry.get(name)
        where = keys.store_key(self._config, name, key) if key else None  # overwrites the old key in its store
        saved = self._registry.put(RemoteEndpoint(name, base_url, model.strip(), where))
        if old is not None and old.key_store and old.key_store != where:  # the old key was elsewhere (or dropped)
            keys.delete_key(self._config, name, old.key_store)
        self._wb.audit.record("remote.added", name, {"base_url": saved.base_url, "model": saved.model,
                                                     "key_store": where})
        return saved

    def list(self) -> list[RemoteEndpoint]:
        return self._registry.list()

    def get(self, name: str) -> RemoteEndpoint:
        found = self._registry.get(name)
        if found is None:
            known = ", ".join(r.name for r in self.list()) or "none yet"
            raise NotFound(f"no remote endpoint named {name!r} (registered: {known}); add one with "
                           "`workbench remote add NAME URL --model ID`")
        return found

    def resolve(self, ref: str) -> RemoteEndpoint:
        """`remote:NAME`, or `remote-url:URL|MODEL` (the registered remote at that URL serving that model)."""
        if not ref.startswith(URL_PREFIX):
            return self.get(remote_name(ref) or "")
        url, _, model = ref[len(URL_PREFIX):].rpartition("|")
        base = normalize_url(url)
        found = next((r for r in self.list() if r.base_url == base and r.model == model), None)
        if found is None:
            raise NotFound(f"no registered remote serves {model!r} at {base}: register it first with "
                           f"`workbench remote add NAME {base} --model {model}` (its key goes to the keyring)")
        return found

    def remove(self, name: str) -> RemoteEndpoint:
        endpoint = self.get(name)
        keys.delete_key(self._config, name, endpoint.key_store)
        self._registry.remove(name)
        self._wb.audit.record("remote.removed", name, {"base_url": endpoint.base_url})
        return endpoint

    # ---- calls ---------------------------------------------------------------------------------------------
    def chat(self, name: str, messages: Sequence[Mapping[str, Any]], parameters: Mapping[str, Any] | None = None,
             *, on_text: Callable[[str], None] | None = None, cancel: CancelToken | None = None) -> RemoteAnswer:
        """One streamed answer from remote `name`; RemoteError (or OfflineError, before connecting) otherwise."""
        endpoint, key = self.connect(name)
        details: dict[str, Any] = {"model": endpoint.model}
        try:
            answer = stream_chat(endpoint, key, messages, parameters or {}, on_text=on_text, cancel=cancel)
        except (RemoteError, Cancelled) as exc:
            # the status only: an error body may echo the request's text, which the trail never holds
            status = "cancelled" if isinstance(exc, Cancelled) else "error"
            self._wb.audit.record("remote.call", name, {**details, "status": status})
            raise
        self._wb.audit.record("remote.call", name, {
            **details, "status": "ok", "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens, "finish_reason": answer.finish_reason,
            "reported_model": answer.provenance.get("reported_model"),
            "system_fingerprint": answer.provenance.get("system_fingerprint")})
        return answer

    def connect(self, name: str) -> tuple[RemoteEndpoint, str | None]:
        """The endpoint and its key, for a caller about to connect (chat, `workbench bench remote:NAME`);
        OfflineError in offline mode, before any connection."""
        endpoint = self.get(name)
        if self._wb.offline:
            raise OfflineError(f"remote {name} is a network endpoint, but offline mode is on (the offline setting, "
                               "WORKBENCH_OFFLINE=1 or HF_HUB_OFFLINE=1): turn it off to use remotes; local "
                               "models keep working")
        return endpoint, keys.load_key(self._config, name, endpoint.key_store)

    def test(self, name: str) -> RemoteAnswer:
        """One tiny request: the answer carries latency and what the server reported about itself."""
        return self.chat(name, [{"role": "user", "content": TEST_PROMPT}], {"num_predict": 8, "temperature": 0})
