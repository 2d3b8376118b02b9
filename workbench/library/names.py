"""Model names: derived from GGUF metadata Ollama-style (`gemma-3-270m:Q4_K_M`), validated, never a path.

A name is `model` or `model:tag`, each part a `paths.safe_component` (letters, digits, '.', '_', '+', '-'; no
separators, no '..'). Names are only ever database keys — files live under their sha256 — so a name cannot
reach outside the data dir; validating them anyway keeps them printable and shell-safe.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..errors import InvalidName
from ..paths import safe_component

if TYPE_CHECKING:
    from ..gguf.info import GGUFInfo

MAX_NAME = 200  # the models.name column
SPLIT_SUFFIX = re.compile(r"-\d{5}-of-\d{5}$")


def validate_name(name: str) -> str:
    """Return `name` if it is `model` or `model:tag` made of safe components, else raise InvalidName."""
    parts = name.split(":")
    if len(parts) > 2 or len(name) > MAX_NAME:
        raise InvalidName(f"model name {name!r} is not allowed: use `model` or `model:tag` "
                          f"(at most one ':' and {MAX_NAME} characters)")
    for part in parts:
        safe_component(part, f"model name {name!r}: the part")
    return name


def slug(text: str) -> str:
    """Lowercase, runs of anything but [a-z0-9._+-] become '-', trimmed to start and end with a letter or digit."""
    text = re.sub(r"[^a-z0-9._+-]+", "-", text.lower())
    text = re.sub(r"-{2,}", "-", text)
    return re.sub(r"^[^a-z0-9]+|[^a-z0-9]+$", "", text)[:100]


def _tag(quantization: str | None) -> str:
    tag = re.sub(r"[^A-Za-z0-9._+-]+", "_", quantization or "").strip("._+-")[:64]
    return tag or "latest"


def derive_name(info: GGUFInfo, file_stem: str) -> str:
    """`<slug of general.basename + size_label, or general.name, or the file name>:<quantization>`."""
    base = None
    if info.basename:
        base = info.basename
        if info.size_label and info.size_label.lower() not in info.basename.lower():
            base = f"{base}-{info.size_label}"
    elif info.general_name:
        base = info.general_name
    else:
        stem = SPLIT_SUFFIX.sub("", file_stem)
        if info.quantization and stem.lower().endswith(info.quantization.lower()):
            stem = stem[: -len(info.quantization)]  # "Model-7B-Q4_K_M" → "Model-7B-" (the tag carries it)
        base = stem
    return f"{slug(base) or 'model'}:{_tag(info.quantization)}"


def with_suffix(name: str, n: int) -> str:
    """`gemma-3-270m:Q4_K_M`, 2 → `gemma-3-270m-2:Q4_K_M` (the model part gets the counter, the tag stays)."""
    model, sep, tag = name.partition(":")
    return f"{model[: 128 - len(str(n)) - 1]}-{n}{sep}{tag}"
