"""Which speculative decoding a chat runs with, from the preset, the request and the endpoint's default.

A preset's `DRAFT model-ref` line (Ollama's instruction) loads that model beside the target and makes draft-model
speculation the default; PARAMETER `speculative off|lookup|draft` and `draft_max` / `draft_min` / `draft_p_min` /
`draft_ngram` (llama-server's names) choose and tune it per preset, session or request; `workbench serve
--speculative lookup|MODEL` is the endpoint's default under all of them (docs/design.md §4.12).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidParameter
from ..resolve import ModelMatch, PresetMatch, resolve

if TYPE_CHECKING:
    from ..app import Workbench
    from ..engine import LoadOptions, Speculation
    from .prepare import ChatTarget

TUNING = ("draft_max", "draft_min", "draft_p_min", "draft_ngram")
NO_DRAFT_MODEL = ("off", "lookup")


def draft_line(target: ChatTarget) -> str | None:
    """The model reference of the preset's DRAFT line, if it has one."""
    mf = target.modelfile
    if mf is None:
        return None
    return next((value.strip() for name, value in mf.extras if name.upper() == "DRAFT" and value.strip()), None)


def speculation_for(wb: Workbench, target: ChatTarget, parameters: Mapping[str, Any], default: str | None,
                    load: LoadOptions) -> tuple[LoadOptions, Speculation | None]:
    """(load options with the draft model when there is one, the request's Speculation or None).

    The load options say the instance may speculate (LoadOptions.speculative) when the preset or the endpoint
    configures speculation, or the request asks for it: in reproducible mode such an instance pads every stream
    (engine/scheduler.py `_pad`), so a request with speculation off shares it and decodes the same tokens, and
    an instance that never speculates does not pay for the padding."""
    from ..engine import Speculation

    default = (default or "").strip() or None
    draft_ref = draft_line(target) or (default if default and default.lower() not in NO_DRAFT_MODEL else None)
    if draft_ref is not None:  # loaded whenever configured, so a request with speculation off shares the instance
        load = dataclasses.replace(load, draft_path=str(draft_file(wb, draft_ref, target.name)))
    configured = _mode(target.base_parameters().get("speculative"), draft_ref, default)
    mode = _mode(parameters.get("speculative"), draft_ref, default)
    load = dataclasses.replace(load, speculative=configured != "off" or mode != "off")
    if mode == "off":
        return load, None
    if mode == "draft" and draft_ref is None:
        raise InvalidParameter(f"speculative draft needs a draft model: add `DRAFT <model>` to the preset of "
                               f"{target.name}, or start the endpoint with --speculative MODEL")
    return load, Speculation(mode=mode, **{k: parameters[k] for k in TUNING if parameters.get(k) is not None})


def _mode(value: Any, draft_ref: str | None, default: str | None) -> str:
    """A `speculative` parameter's mode; unset: draft with a draft model, else the endpoint's default, else off."""
    if value is None:
        value = "draft" if draft_ref else (default or "off")
    return str(value).strip().lower()


def draft_file(wb: Workbench, ref: str, target_name: str) -> Path:
    """A DRAFT reference as a GGUF path: a file, or a library model or preset name."""
    path = Path(ref).expanduser()
    if path.suffix.lower() == ".gguf" and path.is_file():
        return path
    found = resolve(wb, ref)
    if isinstance(found, PresetMatch):
        return Path(wb.presets.resolve(found.version).model.path)
    if isinstance(found, ModelMatch):
        return Path(found.model.path)
    raise InvalidParameter(f"the draft model {ref!r} of {target_name} is not in the library: pull or import it "
                           f"first (`workbench pull {ref}`)")
