"""The Hugging Face Hub: search, list GGUF files, resolve references, pull — the only package importing
`huggingface_hub`.

`service.Hub` is what callers use (`Workbench.hub`); `refs.py` parses references and file names (pure), `http.py`
holds the configured HTTP session, `download.py` the resumable sha256-verified transfer, `types.py` its records.
`Hub` is loaded on first use so that importing the light modules here (refs, types) never loads huggingface_hub.
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
