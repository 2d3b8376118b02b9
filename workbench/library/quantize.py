"""Another quantization of a library model: the rules (what may be requantized, the new name) and the
registration of the result; the conversion itself runs in engine/quantize.py's child process.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import TYPE_CHECKING

from ..errors import AlreadyExists, InvalidParameter
from ..records import LocalModel
from ..tasks import CancelToken, Progress, ProgressCallback, no_progress
from .names import validate_name

if TYPE_CHECKING:
    from ..engine.quantize import QuantType
    from .service import Library


def source_quantization(model: LocalModel) -> str | None:
    """The source's quantization label when it is quantized, None when it is F32/F16/BF16 or unknown.

    GGUF's `general.file_type` decides; without it, the library's label (the file type, else the dominant tensor
    type such as "Q4_K") does.
    """
    from ..engine.quantize import FLOAT_FTYPES, FTYPE_NAMES  # lazy: the engine package loads llama.cpp

    raw = (model.metadata or {}).get("general.file_type")
    if isinstance(raw, int) and not isinstance(raw, bool):
        ftype = raw & ~1024  # LLAMA_FTYPE_GUESSED may be or-ed in by old converters
        if ftype in FLOAT_FTYPES:
            return None
        return FTYPE_NAMES.get(ftype) or model.quantization or f"file type {ftype}"
    label = (model.quantization or "").strip().upper()
    if not label or label in {"F32", "F16", "BF16"}:
        return None  # an unknown type is left to llama.cpp, which refuses quantized tensors unless allowed
    return label


def check_allowed(model: LocalModel, target: QuantType, *, allow_requantize: bool) -> bool:
    """Whether this is a requantization; raises InvalidParameter when it is not allowed."""
    source_label = source_quantization(model)
    if source_label is None:
        return False
    if target.is_float:
        raise InvalidParameter(
            f"{model.name} is already quantized ({source_label}); converting it to {target.name} makes a bigger "
            "file without restoring any quality: quantize from an F32/F16/BF16 original instead"
        )
    if not allow_requantize:
        raise InvalidParameter(
            f"{model.name} is already quantized ({source_label}); requantizing loses quality — "
            "pass --allow-requantize to do it anyway"
        )
    return True


def default_name(source_name: str, target: QuantType) -> str:
    """`gemma-3-270m:Q4_K_M` + Q8_0 → `gemma-3-270m:Q8_0` (the tag after ':' names the quantization)."""
    base = source_name.rsplit(":", 1)[0] if ":" in source_name else source_name
    return f"{base}:{target.name}"


def quantize(library: Library, source_name: str, target_type: str, *, name: str | None = None,
             allow_requantize: bool = False, threads: int | None = None,
             on_progress: ProgressCallback = no_progress, cancel: CancelToken | None = None) -> LocalModel:
    """Quantize library model `source_name` to `target_type` and register the result with its parent.

    The new model is named `name` or `<base>:<TYPE>` and stored in the blob store (written to a hidden temp
    file beside the blobs, then moved to its content address). A requantized model (from an already-quantized
    source, only with `allow_requantize`) is recorded with requantized=True.
    """
    from ..engine.quantize import quant_type, quantize_file

    target = quant_type(target_type)
    source = library.get(source_name)
    new_name = validate_name(name or default_name(source.name, target))
    if library.find(new_name) is not None:
        raise AlreadyExists(f"a model named {new_name!r} already exists: pick another --name")
    requantized = check_allowed(source, target, allow_requantize=allow_requantize)
    scratch = library.paths.blobs / f".quantize-{uuid.uuid4().hex}.partial"
    try:
        quantize_file(source.path, scratch, target, allow_requantize=requantized, threads=threads,
                      on_progress=on_progress, cancel=cancel, source_bytes=source.size_bytes)

        def registering(p: Progress) -> None:  # the library names its task after the hidden temp file
            on_progress(dataclasses.replace(p, task=f"registering {new_name}", message=p.message or "hashing"))

        return library.import_file(scratch, name=new_name, on_progress=registering, cancel=cancel,
                                   parent_sha256=source.sha256, requantized=requantized)
    finally:
        scratch.unlink(missing_ok=True)  # gone already when the library moved it to its content address
