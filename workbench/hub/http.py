"""The Hub transport: huggingface_hub's own HTTP session (`get_session()`), its error types mapped onto ours.

Every request, our streamed downloads included, goes through it, so the standard environment applies:
HF_ENDPOINT (read at call time), proxies, SSL_CERT_FILE / SSL_CERT_DIR, HF_TOKEN, HF_HUB_DOWNLOAD_TIMEOUT and
HF_HUB_OFFLINE (docs/design.md §5.4; the README's "Networks, proxies and certificates"). The session fails at
once when the Hub cannot be reached at all, retries timeouts and 5xx once, and keeps huggingface_hub's log
lines off the terminal.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx2
from huggingface_hub import HfApi, constants, get_session, set_client_factory
from huggingface_hub.errors import (
    DisabledRepoError,
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

from .. import __version__
from ..errors import GatedRepo, HubError, NotFound, OfflineError
from .download import StreamInterrupted

DEFAULT_ENDPOINT = "https://huggingface.co"
TOKEN_HINT = "set a token (HF_TOKEN or `workbench settings`)"
RETRY_WAIT = 1.0  # seconds before the one retry of a timeout or a 5xx
TRANSIENT_STATUS = (500, 502, 503, 504)
_session_lock = threading.Lock()
_session_installed = False


class HubUnreachable(httpx2.RequestError):
    """No connection could be made (a name that does not resolve, a refused or unreachable address, TLS): not
    transient. Deliberately not a TransportError, so huggingface_hub's backoff does not retry it."""


class HubGaveUp(httpx2.RequestError):
    """A timeout that persisted through our one retry (huggingface_hub would retry it 5 more times, 23 s); a
    5xx that persisted is raised as huggingface_hub's own HfHubHTTPError, which it does not retry either."""


class _HubSession(httpx2.Client):
    """huggingface_hub's session with our retry policy. Why by hand: its `http_backoff` retries every network
    error five times (1+2+4+8+8 s, printing each wait) and takes no policy from callers of HfApi."""

    def send(self, request: httpx2.Request, **kwargs) -> httpx2.Response:
        retry = request.method in ("GET", "HEAD")
        while True:
            try:
                response = super().send(request, **kwargs)
            except httpx2.ConnectError as exc:
                raise HubUnreachable(str(exc) or type(exc).__name__, request=request) from exc
            except httpx2.TimeoutException as exc:
                if not retry:
                    raise HubGaveUp(f"timed out twice ({type(exc).__name__})", request=request) from exc
                retry = False
                time.sleep(RETRY_WAIT)
                continue
            if response.status_code in TRANSIENT_STATUS:
                if retry:
                    response.close()
                    retry = False
                    time.sleep(RETRY_WAIT)
                    continue
                response.read()
                hf_raise_for_status(response)  # an HfHubHTTPError, which huggingface_hub does not retry
            return response


def install_session() -> None:
    """Put `_HubSession` under huggingface_hub (once per process) and route its log lines (retry notices
    included) to the log file's handlers instead of the terminal."""
    global _session_installed
    with _session_lock:
        if _session_installed:
            return
        hooks = get_session().event_hooks  # huggingface_hub's own: offline mode, request ids
        set_client_factory(lambda: _HubSession(event_hooks=hooks, follow_redirects=True, timeout=None))
        hub_logger = logging.getLogger("huggingface_hub")
        for handler in [h for h in hub_logger.handlers if type(h) is logging.StreamHandler]:
            hub_logger.removeHandler(handler)
        hub_logger.addHandler(logging.NullHandler())  # else logging's last resort prints warnings to stderr
        _session_installed = True


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


class HubClient:
    """One configured way to reach the Hub: endpoint, token, and the error translation."""

    def __init__(self, token: str | None):
        install_session()
        self.token = token or None  # None: huggingface_hub falls back to HF_TOKEN / the stored login
        self.endpoint = endpoint()

    def api(self) -> HfApi:
        return HfApi(endpoint=self.endpoint, token=self.token, library_name="workbench",
                     library_version=__version__)

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return build_hf_headers(token=self.token, library_name="workbench", library_version=__version__,
                                headers=extra)

    @contextmanager
    def errors(self, what: str, repo: str | None = None, revision: str | None = None,
               filename: str | None = None) -> Iterator[None]:
        """Turn huggingface_hub / httpx errors raised inside into WorkbenchErrors that say what to do."""
        try:
            yield
        except OfflineModeIsEnabled as exc:
            raise OfflineError(f"{what} needs the Hugging Face Hub but HF_HUB_OFFLINE is set: unset it to go "
                               "online") from exc
        except GatedRepoError as exc:
            raise self._gated(repo, exc) from exc
        except RepositoryNotFoundError as exc:
            raise NotFound(f"repo {repo} was not found on {self.endpoint}: check the name; if it is private, "
                           f"{TOKEN_HINT}") from exc
        except RevisionNotFoundError as exc:
            raise NotFound(f"revision {revision!r} was not found in {repo}: use a branch, tag or commit sha "
                           "that exists") from exc
        except RemoteEntryNotFoundError as exc:
            raise NotFound(f"{filename} was not found in {repo} at {revision or 'main'}: "
                           f"`workbench files {repo}` lists its GGUF files") from exc
        except DisabledRepoError as exc:
            raise HubError(f"repo {repo} has been disabled on the Hub") from exc
        except HfHubHTTPError as exc:
            raise self._http_error(what, repo, exc) from exc
        except HubUnreachable as exc:
            raise HubError(f"cannot reach the Hub at {self.endpoint} for {what} ({exc}): check the network "
                           "connection, the name in HF_ENDPOINT, a proxy (HTTPS_PROXY) or CA bundle "
                           "(SSL_CERT_FILE), or turn on offline mode") from exc
        except httpx2.HTTPError as exc:
            raise HubError(f"cannot reach the Hub at {self.endpoint} for {what} ({type(exc).__name__}: {exc}): "
                           "check the network connection, a proxy (HTTPS_PROXY) or CA bundle (SSL_CERT_FILE), "
                           "or turn on offline mode") from exc

    def _gated(self, repo: str | None, exc: HfHubHTTPError) -> GatedRepo:
        page = f"{self.endpoint}/{repo}"
        if self.token or _status(exc) == 403:
            return GatedRepo(f"repo {repo} is gated and your token has no access yet: accept its license at "
                             f"{page} with the account the token belongs to")
        return GatedRepo(f"repo {repo} is gated: accept its license on the Hub ({page}) and {TOKEN_HINT}")

    def _http_error(self, what: str, repo: str | None, exc: HfHubHTTPError) -> HubError:
        status = _status(exc)
        detail = exc.server_message or str(exc).splitlines()[0]
        if status == 401:
            return GatedRepo(f"the Hub refused {what} for {repo} (401 {detail}): {TOKEN_HINT} — "
                             "or check that the token is still valid")
        if status == 403:
            return GatedRepo(f"the Hub refused {what} for {repo} (403 {detail}): the token lacks permission")
        if status == 429:
            return HubError(f"the Hub is rate-limiting requests (429): wait a minute and try again; {TOKEN_HINT} "
                            "for higher limits")
        return HubError(f"the Hub answered {status} to {what}{f' for {repo}' if repo else ''}: {detail}")

    # ---- streaming -------------------------------------------------------------------------------------------
    @contextmanager
    def stream(self, url: str, start: int = 0, stop: int | None = None, *, what: str = "a download",
               repo: str | None = None, filename: str | None = None) -> Iterator[HttpStream]:
        """GET `url` from byte `start` (to `stop` inclusive) on huggingface_hub's session; redirects to the CDN
        are followed (httpx drops the Authorization header when the origin changes)."""
        extra = {"Accept-Encoding": "identity"}  # the sha256 is over the stored bytes, never a re-encoding
        if start or stop is not None:
            extra["Range"] = f"bytes={start}-{'' if stop is None else stop}"
        with self.errors(what, repo, filename=filename):
            timeout = httpx2.Timeout(constants.HF_HUB_DOWNLOAD_TIMEOUT)
            with get_session().stream("GET", url, headers=self.headers(extra), timeout=timeout,
                                      follow_redirects=True) as response:
                if response.status_code >= 400:
                    response.read()  # hf_raise_for_status reads the body for the server's message
                    hf_raise_for_status(response)
                yield HttpStream(_body_start(response), _chunks(response), _total_size(response))


@dataclass
class HttpStream:
    start: int
    chunks: Iterator[bytes]
    total: int | None


def _chunks(response: httpx2.Response) -> Iterator[bytes]:
    try:
        for chunk in response.iter_bytes():
            if chunk:
                yield chunk
    except httpx2.TransportError as exc:  # dropped connection, stall past the read timeout, truncated body
        raise StreamInterrupted(f"{type(exc).__name__}: {exc or 'connection lost'}") from exc


def _body_start(response: httpx2.Response) -> int:
    if response.status_code != 206:
        return 0
    m = re.match(r"^bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(m.group(1)) if m else 0


def _total_size(response: httpx2.Response) -> int | None:
    m = re.match(r"^bytes \d+-\d+/(\d+)$", response.headers.get("Content-Range", ""))
    if m:
        return int(m.group(1))
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() and response.status_code == 200 else None


def _status(exc: HfHubHTTPError) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)
