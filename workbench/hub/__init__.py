"""The Hugging Face Hub — the only package importing `huggingface_hub` (docs/design.md §5.4).

`service.Hub` is what callers use (`wb.hub`); `refs.py` parses references (pure), `http.py` is the configured
HTTP session, `download.py` the resumable sha256-verified transfer, `types.py` the records. `Hub` loads on first
use, so importing refs or types never loads huggingface_hub.
"""

from typing import TYPE_CHECKING

from .refs import is_hub_ref, parse_ref
from .types import DEFAULT_QUANT, GGUFEntry, HubModel, HubRef, RemoteFile, RepoListing

if TYPE_CHECKING:
    from .service import Hub, Resolution

__all__ = [
    "DEFAULT_QUANT",
    "GGUFEntry",
    "Hub",
    "HubModel",
    "HubRef",
    "RemoteFile",
    "RepoListing",
    "Resolution",
    "is_hub_ref",
    "parse_ref",
]


def __getattr__(name: str):
    if name in ("Hub", "Resolution"):
        from . import service

        return getattr(service, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
