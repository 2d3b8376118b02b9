"""GGUF files: the bounded header parser, model facts, and the memory estimate — the only package importing `gguf`.

`parse.py` walks the header by hand with hard caps; `info.py` turns it into `GGUFInfo`; `estimate.py` says
whether a model fits before a byte of it is downloaded.
"""

from .estimate import FitEstimate, ModelShape, estimate_fit, estimate_local
from .info import GGUFInfo, HeaderIncomplete, read_gguf_header, read_gguf_info

__all__ = [
    "FitEstimate",
    "GGUFInfo",
    "HeaderIncomplete",
    "ModelShape",
    "estimate_fit",
    "estimate_local",
    "read_gguf_header",
    "read_gguf_info",
]
