"""What a GGUF file is: architecture, size, quantization, context, template — the only module importing `gguf`.

`read_gguf_info(path)` reads a complete file, `read_gguf_header(path, total_size=...)` the first megabytes of a
remote one; both run parse.py's bounded parser (never `gguf.GGUFReader`: docs/design.md §5.1) and raise one
`InvalidModelFile` naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf

from ..errors import InvalidModelFile, NotFound
from .parse import STRING, TYPE_NAMES, ArrayValue, GGUFFormatError, GGUFTruncated, ParsedHeader, parse_header

FIRST_READ = 16 << 20  # holds the whole header of nearly every model; larger headers are read in growing steps
METADATA_ARRAY_ITEMS = 64  # arrays longer than this show as {"type": "array", "length": N, "head": [...]}
METADATA_STRING_CHARS = 64 << 10  # except chat templates, longer strings are abbreviated the same way
TYPE_SIZES = {int(t): sizes for t, sizes in gguf.GGML_QUANT_SIZES.items()}
_K = gguf.Keys


class HeaderIncomplete(InvalidModelFile):
    """The bytes given hold only part of the header: read more of the file (at least `available` * 2)."""

    def __init__(self, message: str, available: int):
        super().__init__(message)
        self.available = available


@dataclass(frozen=True)
class GGUFInfo:
    """Facts about one GGUF file. `complete` is False when only the header was read (the tensor data is absent)."""

    path: Path
    file_size: int
    complete: bool
    version: int
    tensor_count: int
    tensor_bytes: int
    data_offset: int
    alignment: int
    architecture: str | None = None
    parameter_count: int | None = None
    quantization: str | None = None
    file_type: int | None = None
    context_length: int | None = None
    embedding_length: int | None = None
    block_count: int | None = None
    head_count: int | None = None
    head_count_kv: int | None = None
    key_length: int | None = None
    value_length: int | None = None
    vocab_size: int | None = None
    tokenizer_model: str | None = None
    chat_template: str | None = None
    chat_template_sha256: str | None = None
    license: str | None = None
    general_name: str | None = None
    basename: str | None = None
    size_label: str | None = None
    split_no: int | None = None
    split_count: int | None = None
    split_tensors_count: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    # each tensor's ggml shape (ne0 first), by name: what a LoRA adapter's pairs are checked against
    tensor_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict, hash=False, compare=False, repr=False)

    @property
    def is_split(self) -> bool:
        return (self.split_count or 0) > 1

    @property
    def has_chat_template(self) -> bool:
        return self.chat_template is not None


def read_gguf_info(path: str | os.PathLike) -> GGUFInfo:
    """Validate and describe a complete GGUF file. Raises InvalidModelFile (bad file) or NotFound (no file)."""
    path = Path(path)
    header, size = _read(path, total_size=None)
    return _describe(path, header, size, complete=True)


def read_gguf_header(path: str | os.PathLike, total_size: int | None = None) -> GGUFInfo:
    """Describe a GGUF from its first bytes (the tensor data may be absent).

    `total_size` is the size of the whole remote file when known: counts, lengths and tensor offsets are then
    checked against it as for a complete file. Raises HeaderIncomplete when the bytes end inside the header.
    """
    path = Path(path)
    header, size = _read(path, total_size=total_size, partial=True)
    file_size = total_size if total_size is not None else size
    return _describe(path, header, file_size, complete=size >= header.data_end)


def _read(path: Path, total_size: int | None, partial: bool = False) -> tuple[ParsedHeader, int]:
    try:
        with path.open("rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise InvalidModelFile(f"{path} is not a regular file")
            size = st.st_size
            limit = total_size if partial else size
            return _parse_growing(f, path, size, limit, partial), size
    except FileNotFoundError:
        raise NotFound(f"no file at {path}: check the path") from None
    except IsADirectoryError:
        raise InvalidModelFile(f"{path} is a folder, not a GGUF file") from None
    except PermissionError as exc:
        raise InvalidModelFile(f"{path} cannot be read: {exc.strerror}") from None


def _parse_growing(f, path: Path, size: int, limit: int | None, partial: bool) -> ParsedHeader:
    """Parse from a buffer of the file's first bytes, reading more only while the header runs past it."""
    buf = b""
    want = min(size, FIRST_READ)
    while True:
        chunk = f.read(want - len(buf))
        buf += chunk
        try:
            return parse_header(buf, file_size=limit, type_sizes=TYPE_SIZES)
        except GGUFTruncated as exc:
            if len(buf) < size and chunk:
                want = min(size, max(want * 4, len(buf) + 1))
                continue
            if partial:
                raise HeaderIncomplete(
                    f"the first {len(buf)} bytes of {path} hold only part of the GGUF header ({exc}): "
                    "read more of the file", len(buf)) from None
            raise InvalidModelFile(f"{path} {exc}: the file is truncated") from None
        except GGUFFormatError as exc:
            raise InvalidModelFile(f"{path} {exc}") from None


# --- turning the parsed header into facts ---------------------------------------------------------------


def _describe(path: Path, header: ParsedHeader, file_size: int, complete: bool) -> GGUFInfo:
    kv = {key: value for key, (_, value) in header.kv.items()}
    arch = _str(kv.get(_K.General.ARCHITECTURE))

    def arch_key(template: str) -> Any:
        return kv.get(template.format(arch=arch)) if arch else None

    template = _str(kv.get(_K.Tokenizer.CHAT_TEMPLATE))
    tokens = kv.get(_K.Tokenizer.LIST)
    return GGUFInfo(
        path=path, file_size=file_size, complete=complete, version=header.version,
        tensor_count=len(header.tensors), tensor_bytes=header.tensor_bytes,
        tensor_shapes={t.name: t.shape for t in header.tensors},
        data_offset=header.data_offset, alignment=header.alignment,
        architecture=arch,
        parameter_count=_int(kv.get("general.parameter_count")) or sum(t.n_elements for t in header.tensors),
        quantization=_quantization(kv.get(_K.General.FILE_TYPE), header),
        file_type=_int(kv.get(_K.General.FILE_TYPE)),
        context_length=_int(arch_key(_K.LLM.CONTEXT_LENGTH)),
        embedding_length=_int(arch_key(_K.LLM.EMBEDDING_LENGTH)),
        block_count=_int(arch_key(_K.LLM.BLOCK_COUNT)),
        head_count=_int(arch_key(_K.Attention.HEAD_COUNT)),
        head_count_kv=_int(arch_key(_K.Attention.HEAD_COUNT_KV)),
        key_length=_int(arch_key(_K.Attention.KEY_LENGTH)),
        value_length=_int(arch_key(_K.Attention.VALUE_LENGTH)),
        vocab_size=tokens.length if isinstance(tokens, ArrayValue) else _int(arch_key(_K.LLM.VOCAB_SIZE)),
        tokenizer_model=_str(kv.get(_K.Tokenizer.MODEL)),
        chat_template=template,
        chat_template_sha256=hashlib.sha256(template.encode()).hexdigest() if template is not None else None,
        license=_str(kv.get(_K.General.LICENSE)),
        general_name=_str(kv.get(_K.General.NAME)),
        basename=_str(kv.get(_K.General.BASENAME)),
        size_label=_str(kv.get(_K.General.SIZE_LABEL)),
        split_no=_int(kv.get(_K.Split.LLM_KV_SPLIT_NO)),
        split_count=_int(kv.get(_K.Split.LLM_KV_SPLIT_COUNT)),
        split_tensors_count=_int(kv.get(_K.Split.LLM_KV_SPLIT_TENSORS_COUNT)),
        bos_token_id=_int(kv.get(_K.Tokenizer.BOS_ID)),
        eos_token_id=_int(kv.get(_K.Tokenizer.EOS_ID)),
        metadata=metadata_json(header),
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    """An integer fact; per-layer arrays (some architectures vary heads by layer) give their largest value."""
    if isinstance(value, ArrayValue):
        numbers = [v for v in value.items if isinstance(v, int) and not isinstance(v, bool)]
        return max(numbers) if numbers else None
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _quantization(file_type: Any, header: ParsedHeader) -> str | None:
    """The file type's name (Q4_K_M); without a known one, the tensor type holding the most bytes."""
    if isinstance(file_type, int) and not isinstance(file_type, bool):
        try:
            name = gguf.LlamaFileType(file_type).name
        except ValueError:
            name = "GUESSED"
        if name != "GUESSED":
            return name.removeprefix("MOSTLY_").removeprefix("ALL_")
    weights = Counter()
    for t in header.tensors:
        weights[t.ggml_type] += t.n_bytes
    if not weights:
        return None
    dominant = weights.most_common(1)[0][0]
    try:
        return gguf.GGMLQuantizationType(dominant).name
    except ValueError:
        return f"type{dominant}"


def metadata_json(header: ParsedHeader) -> dict[str, Any]:
    """Every key/value, JSON-safe, with big arrays and long strings abbreviated (for the details panel)."""
    out: dict[str, Any] = {}
    for key, (vtype, value) in header.kv.items():
        if isinstance(value, ArrayValue):
            items = [_json_scalar(v) for v in value.items]
            if value.complete and value.length <= METADATA_ARRAY_ITEMS:
                out[key] = items
            else:
                out[key] = {"type": "array", "item_type": TYPE_NAMES.get(value.item_type, str(value.item_type)),
                            "length": value.length, "head": items[:8]}
        elif vtype == STRING and len(value) > METADATA_STRING_CHARS and not key.startswith("tokenizer.chat_template"):
            out[key] = {"type": "string", "length": len(value), "head": value[:200]}
        else:
            out[key] = _json_scalar(value)
    return out


def _json_scalar(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN/inf are not JSON
    return value
