"""A bounded, validating parser of the GGUF header (key/values and tensor infos), by hand with `struct`.

Every count or length is bounded by the bytes that can follow it before anything is allocated; only the header
is read, with `read()`, never mmap (why not `gguf.GGUFReader`: docs/design.md §5.1). The ggml type table comes
from info.py, so this module has no third-party dependency; its errors are `GGUFFormatError`.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_KV = 1 << 16  # real models carry ~30-60 keys
MAX_TENSORS = 1 << 20  # the largest MoE models hold a few thousand tensors
MAX_KEY_BYTES = 1 << 16
MAX_STRING_BYTES = 64 << 20  # the largest string values (chat templates) are tens of KB
MAX_STRING_ARRAY = 1 << 22  # vocabularies and merge lists are ≤ ~1M entries
MAX_NAME_BYTES = 1024  # ggml itself caps tensor names at 64
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_ALIGNMENT = 1 << 20
KEEP_ARRAY_ITEMS = 1024  # longer arrays keep only their first HEAD_ITEMS items
HEAD_ITEMS = 8
MIN_KV_BYTES = 8 + 4 + 1  # key length, value type, smallest value
MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8  # name length, n_dims, type, offset
INT64_MAX = (1 << 63) - 1

# GGUF value type -> struct format of a scalar (8 = string, 9 = array are handled apart).
SCALAR_FORMATS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
STRING, ARRAY = 8, 9
TYPE_NAMES = {0: "uint8", 1: "int8", 2: "uint16", 3: "int16", 4: "uint32", 5: "int32", 6: "float32", 7: "bool",
              8: "string", 9: "array", 10: "uint64", 11: "int64", 12: "float64"}


class GGUFFormatError(Exception):
    """The bytes are not a well-formed GGUF header; the message says what and where (no file name)."""


class GGUFTruncated(GGUFFormatError):
    """The bytes ended inside the header. For a partial download this means: fetch more bytes."""

    def __init__(self, message: str, available: int):
        super().__init__(message)
        self.available = available


@dataclass(frozen=True)
class ArrayValue:
    """A GGUF array. `items` holds every item when `length` ≤ KEEP_ARRAY_ITEMS, else the first HEAD_ITEMS."""

    item_type: int
    length: int
    items: tuple

    @property
    def complete(self) -> bool:
        return len(self.items) == self.length


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int  # relative to the start of the data section
    n_elements: int
    n_bytes: int


@dataclass(frozen=True)
class ParsedHeader:
    version: int
    byte_order: str  # "<" little-endian (nearly all files) or ">"
    kv: dict[str, tuple[int, Any]]  # key -> (GGUF value type, value or ArrayValue)
    tensors: tuple[TensorInfo, ...]
    alignment: int
    data_offset: int  # absolute offset of the tensor data section
    header_end: int  # end of the tensor infos (before alignment padding)

    @property
    def tensor_bytes(self) -> int:
        return sum(t.n_bytes for t in self.tensors)

    @property
    def data_end(self) -> int:
        """Where the last tensor's data ends: a complete file is at least this long."""
        return self.data_offset + max((t.offset + t.n_bytes for t in self.tensors), default=0)


class _Cursor:
    """Reads little- or big-endian values from `buf`, refusing to read past the bytes that can exist.

    `available` is how many bytes we hold; `limit` is how many the whole file has (None when unknown, for a
    partial download of unknown total size). A declared length beyond `limit` is hostile; beyond `available`
    but within `limit` it only means we hold too little (GGUFTruncated).
    """

    def __init__(self, buf: bytes, limit: int | None, byte_order: str = "<"):
        self.buf = buf
        self.available = len(buf)
        self.limit = limit
        self.pos = 0
        self.order = byte_order
        self._structs: dict[str, struct.Struct] = {}

    def fmt(self, code: str) -> struct.Struct:
        s = self._structs.get(code)
        if s is None:
            s = self._structs[code] = struct.Struct(self.order + code)
        return s

    def left(self) -> int | None:
        return None if self.limit is None else self.limit - self.pos

    def bound(self, count: int, unit: int, what: str, at: int, cap: int) -> None:
        """A declared `count` of `unit`-byte things must fit the hard cap and the bytes that can follow.

        `what` names the thing with its count, e.g. "an array of 9223372036854775807 elements".
        """
        left = self.left()
        if left is not None and count * unit > left:
            raise GGUFFormatError(f"declares {what} at offset {at}, more than the file holds ({left} bytes left)")
        if count > cap:
            raise GGUFFormatError(f"declares {what} at offset {at}, more than the limit of {cap}")

    def need(self, n: int, what: str) -> None:
        if self.pos + n > self.available:
            raise GGUFTruncated(
                f"ends at byte {self.available}, inside {what} at offset {self.pos}", self.available
            )

    def scalar(self, code: str, what: str) -> Any:
        s = self.fmt(code)
        self.need(s.size, what)
        (value,) = s.unpack_from(self.buf, self.pos)
        self.pos += s.size
        return value

    def raw_string(self, what: str, cap: int) -> bytes:
        at = self.pos
        length = self.scalar("Q", f"the length of {what}")
        self.bound(length, 1, f"a string of {length} bytes ({what})", at, cap)
        self.need(length, what)
        data = self.buf[self.pos:self.pos + length]
        self.pos += length
        return data

    def text(self, what: str, cap: int) -> str:
        at = self.pos
        data = self.raw_string(what, cap)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise GGUFFormatError(f"has {what} at offset {at} that is not valid UTF-8: {data[:40]!r}") from None


def parse_header(buf: bytes, *, file_size: int | None,
                 type_sizes: Mapping[int, tuple[int, int]]) -> ParsedHeader:
    """Parse and validate the header held in `buf` (the file's first bytes, or all of it).

    `file_size` is the whole file's size when known; tensor data must then lie inside it.
    `type_sizes` maps a ggml type number to (elements per block, bytes per block).
    """
    if len(buf) >= 4 and buf[:4] != MAGIC:
        raise GGUFFormatError(f"is not a GGUF file: it starts with {bytes(buf[:8])!r}, not b'GGUF'")
    if len(buf) < 24 and file_size == len(buf):
        raise GGUFFormatError("is empty" if not buf else
                              f"is only {len(buf)} bytes long, too short for a GGUF header (24 bytes)")
    version, order = _version(buf)
    cur = _Cursor(buf, file_size, order)
    cur.pos = 8
    n_tensors = cur.scalar("Q", "the tensor count")
    n_kv = cur.scalar("Q", "the key/value count")
    cur.bound(n_tensors, MIN_TENSOR_INFO_BYTES, f"{n_tensors} tensors", 8, MAX_TENSORS)
    cur.bound(n_kv, MIN_KV_BYTES, f"{n_kv} key/value pairs", 16, MAX_KV)
    kv = _read_kv(cur, n_kv)
    alignment = _alignment(kv)
    infos = [_read_tensor_info(cur, type_sizes, alignment) for _ in range(n_tensors)]
    header_end = cur.pos
    data_offset = -(-header_end // alignment) * alignment
    header = ParsedHeader(version, order, kv, tuple(infos), alignment, data_offset, header_end)
    _check_tensor_layout(header, file_size)
    return header


def _version(buf: bytes) -> tuple[int, str]:
    if len(buf) < 8:
        raise GGUFTruncated(f"ends at byte {len(buf)}, inside the version at offset 4", len(buf))
    (version,) = struct.unpack_from("<I", buf, 4)
    order = "<"
    if version & 0xFFFF == 0:  # written on a big-endian machine: the version reads byte-swapped
        (version,) = struct.unpack_from(">I", buf, 4)
        order = ">"
    if version == 1:
        raise GGUFFormatError("is GGUF version 1, which is no longer supported: convert the model again "
                              "with a current llama.cpp")
    if version not in SUPPORTED_VERSIONS:
        raise GGUFFormatError(f"declares GGUF version {version}; only versions 2 and 3 are supported")
    return version, order


def _read_kv(cur: _Cursor, count: int) -> dict[str, tuple[int, Any]]:
    kv: dict[str, tuple[int, Any]] = {}
    for _ in range(count):
        at = cur.pos
        key = cur.text("a key", MAX_KEY_BYTES)
        if not key:
            raise GGUFFormatError(f"has an empty key at offset {at}")
        if key in kv:
            raise GGUFFormatError(f"repeats the key {key!r} at offset {at}")
        vtype = cur.scalar("I", f"the type of key {key!r}")
        if vtype == ARRAY:
            kv[key] = (vtype, _read_array(cur, key, at))
        else:
            kv[key] = (vtype, _read_value(cur, vtype, key))
    return kv


def _read_value(cur: _Cursor, vtype: int, key: str) -> Any:
    if vtype == STRING:
        data = cur.raw_string(f"the value of {key!r}", MAX_STRING_BYTES)
        return data.decode("utf-8", errors="replace")  # values are shown, never looked up: don't refuse a model
    code = SCALAR_FORMATS.get(vtype)
    if code is None:
        raise GGUFFormatError(f"gives key {key!r} the unknown value type {vtype} at offset {cur.pos - 4}")
    return cur.scalar(code, f"the value of {key!r}")


def _read_array(cur: _Cursor, key: str, at: int) -> ArrayValue:
    """An array value; `at` is where its key/value entry starts (named in errors)."""
    item_type = cur.scalar("I", f"the item type of {key!r}")
    length = cur.scalar("Q", f"the length of {key!r}")
    if item_type == ARRAY:
        raise GGUFFormatError(f"nests arrays in key {key!r} at offset {at}; llama.cpp does not support that")
    if item_type == STRING:
        cur.bound(length, 8, f"an array of {length} elements (key {key!r})", at, MAX_STRING_ARRAY)
        return ArrayValue(item_type, length, _read_strings(cur, key, length))
    code = SCALAR_FORMATS.get(item_type)
    if code is None:
        raise GGUFFormatError(f"gives array {key!r} the unknown item type {item_type} at offset {at}")
    size = cur.fmt(code).size
    cur.bound(length, size, f"an array of {length} elements (key {key!r})", at, INT64_MAX // size)
    cur.need(length * size, f"the items of {key!r}")
    keep = length if length <= KEEP_ARRAY_ITEMS else HEAD_ITEMS
    items = struct.unpack_from(f"{cur.order}{keep}{code}", cur.buf, cur.pos)
    cur.pos += length * size
    return ArrayValue(item_type, length, items)


def _read_strings(cur: _Cursor, key: str, length: int) -> tuple[str, ...]:
    """The items of a string array (a vocabulary: ~250k items). `_Cursor.raw_string` inlined: 3x faster."""
    keep = length if length <= KEEP_ARRAY_ITEMS else HEAD_ITEMS
    items = []
    u64, buf, pos, available = cur.fmt("Q"), cur.buf, cur.pos, cur.available
    end = available if cur.limit is None else cur.limit
    for i in range(length):
        if pos + 8 > available:
            cur.pos = pos
            cur.need(8, f"the length of item {i} of {key!r}")
        (n,) = u64.unpack_from(buf, pos)
        pos += 8
        if n > MAX_STRING_BYTES or (cur.limit is not None and pos + n > end):
            cur.pos = pos
            cur.bound(n, 1, f"a string of {n} bytes (item {i} of {key!r})", pos - 8, MAX_STRING_BYTES)
        if pos + n > available:
            cur.pos = pos
            cur.need(n, f"item {i} of {key!r}")
        if i < keep:
            items.append(buf[pos:pos + n].decode("utf-8", errors="replace"))
        pos += n
    cur.pos = pos
    return tuple(items)


def _alignment(kv: dict[str, tuple[int, Any]]) -> int:
    entry = kv.get("general.alignment")
    if entry is None:
        return DEFAULT_ALIGNMENT
    vtype, value = entry
    if vtype != 4 or value <= 0 or value & (value - 1) or value > MAX_ALIGNMENT:
        raise GGUFFormatError(f"has an invalid general.alignment {value!r}: it must be a uint32 power of two")
    return value


def _read_tensor_info(cur: _Cursor, type_sizes: Mapping[int, tuple[int, int]], alignment: int) -> TensorInfo:
    at = cur.pos
    name = cur.text("a tensor name", MAX_NAME_BYTES)
    n_dims = cur.scalar("I", f"the dimension count of tensor {name!r}")
    if n_dims > MAX_DIMS:
        raise GGUFFormatError(f"declares {n_dims} dimensions for tensor {name!r} at offset {at}; "
                              f"GGUF allows at most {MAX_DIMS}")
    cur.need(8 * n_dims, f"the shape of tensor {name!r}")
    shape = cur.fmt(f"{n_dims}Q").unpack_from(cur.buf, cur.pos)
    cur.pos += 8 * n_dims
    ggml_type = cur.scalar("I", f"the type of tensor {name!r}")
    offset = cur.scalar("Q", f"the data offset of tensor {name!r}")
    if ggml_type not in type_sizes:
        raise GGUFFormatError(f"gives tensor {name!r} the unknown type {ggml_type} at offset {at}")
    block, block_bytes = type_sizes[ggml_type]
    n_elements = 1
    for dim in shape:
        n_elements *= dim
        if n_elements > INT64_MAX:
            raise GGUFFormatError(f"declares tensor {name!r} with shape {list(shape)} at offset {at}: "
                                  "more elements than fit in 64 bits")
    if shape and shape[0] % block:
        raise GGUFFormatError(f"has tensor {name!r} with a first dimension of {shape[0]}, not a multiple of "
                              f"its type's block size {block}")
    if offset % alignment:
        raise GGUFFormatError(f"has tensor {name!r} at data offset {offset}, not a multiple of the "
                              f"alignment {alignment}")
    return TensorInfo(name, tuple(shape), ggml_type, offset, n_elements, n_elements // block * block_bytes)


def _check_tensor_layout(header: ParsedHeader, file_size: int | None) -> None:
    """Names unique, data ranges disjoint and (when the file size is known) inside the file."""
    seen: set[str] = set()
    for t in header.tensors:
        if t.name in seen:
            raise GGUFFormatError(f"declares tensor {t.name!r} twice")
        seen.add(t.name)
    ordered = sorted(header.tensors, key=lambda t: t.offset)
    for before, after in itertools.pairwise(ordered):
        if before.offset + before.n_bytes > after.offset:
            raise GGUFFormatError(f"has tensors {before.name!r} and {after.name!r} overlapping in the data section")
    if file_size is not None and ordered:
        last = ordered[-1]
        end = header.data_offset + last.offset + last.n_bytes
        if end > file_size:
            raise GGUFFormatError(
                f"has tensor {last.name!r} (data offset {last.offset}) ending at byte {end}, past the end of "
                f"the file ({file_size} bytes): it is truncated or corrupt"
            )
