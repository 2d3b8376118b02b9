"""Hostile and broken GGUF files: each gets one clear InvalidModelFile, fast, without hanging or eating memory.

gguf 0.19.0's own reader loops forever on the array-length case below; these run under a pytest-timeout
(test body only) so a hang fails the test instead of the suite; the bounds leave a loaded, 3x slower machine
ample room (only a hang reaches them).
"""

from __future__ import annotations

import random
import re
import struct
from pathlib import Path

import pytest

from tests.gguf_samples import (
    INT64_MAX,
    gstr,
    header,
    kv_string,
    kv_u32,
    tensor_info,
    write_bytes,
    write_sample,
)
from workbench.errors import InvalidModelFile
from workbench.gguf.info import HeaderIncomplete, read_gguf_header, read_gguf_info

pytestmark = pytest.mark.timeout(10, func_only=True)  # one file: milliseconds

F32 = 0
ARRAY, STRING, UINT32 = 9, 8, 4

HOSTILE = {
    "empty": (b"", r"is empty"),
    "four-bytes": (b"GGUF", r"is only 4 bytes long"),
    "header-only": (header(n_tensors=1, n_kv=1), r"declares 1 tensors at offset 8, more than the file holds"),
    "wrong-magic": (b"GGML" + header()[4:], r"is not a GGUF file: it starts with b'GGML"),
    "version-1": (header(version=1), r"is GGUF version 1, which is no longer supported"),
    "version-4": (header(version=4), r"declares GGUF version 4; only versions 2 and 3"),
    # the 2^63 array that makes gguf.GGUFReader loop forever
    "array-2^63": (header(n_kv=1) + gstr(b"a") + struct.pack("<IIQ", ARRAY, UINT32, INT64_MAX),
                   rf"declares an array of {INT64_MAX} elements \(key 'a'\) at offset 24, more than the file holds"),
    "string-array-2^63": (header(n_kv=1) + gstr(b"a") + struct.pack("<IIQ", ARRAY, STRING, INT64_MAX),
                          rf"declares an array of {INT64_MAX} elements \(key 'a'\) at offset 24"),
    "string-2^63": (header(n_kv=1) + gstr(b"a") + struct.pack("<IQ", STRING, INT64_MAX),
                    rf"declares a string of {INT64_MAX} bytes \(the value of 'a'\) at offset 37"),
    "key-length-2^63": (header(n_kv=1) + struct.pack("<Q", INT64_MAX) + bytes(16),
                        rf"declares a string of {INT64_MAX} bytes \(a key\) at offset 24"),
    "n_kv-2^63": (header(n_kv=INT64_MAX), rf"declares {INT64_MAX} key/value pairs at offset 16"),
    "n_tensors-2^63": (header(n_tensors=INT64_MAX), rf"declares {INT64_MAX} tensors at offset 8"),
    "n_dims-5": (header(n_tensors=1) + tensor_info(b"w", (32, 1, 1, 1, 1)) + bytes(256),
                 r"declares 5 dimensions for tensor 'w' at offset 24; GGUF allows at most 4"),
    "n_dims-2^32-1": (header(n_tensors=1) + gstr(b"w") + struct.pack("<I", 2**32 - 1) + bytes(64),
                      r"declares 4294967295 dimensions for tensor 'w'"),
    "tensor-offset-past-eof": (header(n_tensors=1) + tensor_info(b"w", (8,), F32, offset=2**40) + bytes(64),
                               r"has tensor 'w' \(data offset 1099511627776\) ending at byte \d+, past the end"),
    "tensor-shape-overflow": (header(n_tensors=1) + tensor_info(b"w", (2**32, 2**32)) + bytes(64),
                              r"more elements than fit in 64 bits"),
    "tensor-unknown-type": (header(n_tensors=1) + tensor_info(b"w", (32,), ggml_type=999) + bytes(64),
                            r"gives tensor 'w' the unknown type 999"),
    "tensor-misaligned": (header(n_tensors=1) + tensor_info(b"w", (8,), F32, offset=4) + bytes(64),
                          r"has tensor 'w' at data offset 4, not a multiple of the alignment 32"),
    "tensor-overlap": (header(n_tensors=2) + tensor_info(b"a", (32,)) + tensor_info(b"b", (32,)) + bytes(512),
                       r"has tensors 'a' and 'b' overlapping"),
    "tensor-duplicate": (header(n_tensors=2) + tensor_info(b"a", (8,)) + tensor_info(b"a", (8,), offset=32)
                         + bytes(512), r"declares tensor 'a' twice"),
    "non-utf8-key": (header(n_kv=1) + kv_u32(b"gen\xff\xferal", 1),
                     r"has a key at offset 24 that is not valid UTF-8"),
    "non-utf8-tensor-name": (header(n_tensors=1) + tensor_info(b"\xc3(", (8,)) + bytes(64),
                             r"has a tensor name at offset 24 that is not valid UTF-8"),
    "duplicate-key": (header(n_kv=2) + kv_u32(b"k", 1) + kv_u32(b"k", 2), r"repeats the key 'k' at offset 41"),
    "unknown-value-type": (header(n_kv=1) + gstr(b"k") + struct.pack("<II", 77, 0),
                           r"gives key 'k' the unknown value type 77"),
    "nested-array": (header(n_kv=1) + gstr(b"k") + struct.pack("<IIQ", ARRAY, ARRAY, 1) + bytes(16),
                     r"nests arrays in key 'k'"),
    "bad-alignment": (header(n_kv=1) + kv_u32(b"general.alignment", 3), r"invalid general.alignment 3"),
    "truncated-in-kv": ((header(n_kv=2) + kv_string(b"general.name", b"x" * 40))[:-10],
                        r"declares a string of 40 bytes \(the value of 'general.name'\) at offset 48, more than"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hand_packed_hostile_file(tmp_path: Path, case: str):
    data, message = HOSTILE[case]
    path = write_bytes(tmp_path / f"{case}.gguf", data)
    with pytest.raises(InvalidModelFile, match=message) as info:
        read_gguf_info(path)
    assert str(info.value).startswith(str(path) + " ")  # names the file first
    assert "\n" not in str(info.value)


@pytest.fixture
def sample(tmp_path: Path) -> bytes:
    return write_sample(tmp_path / "sample.gguf").read_bytes()


def _info_of(tmp_path: Path, data: bytes, name: str = "patched.gguf"):
    return read_gguf_info(write_bytes(tmp_path / name, data))


def test_truncated_mid_tensor(tmp_path: Path, sample: bytes):
    with pytest.raises(InvalidModelFile, match=r"past the end of the file \(\d+ bytes\): it is truncated"):
        _info_of(tmp_path, sample[: len(sample) - 100])


@pytest.mark.timeout(60, func_only=True)  # ~1,300 files, not one: 4.8 s here under load
def test_every_truncation_of_a_real_file_is_a_clear_error(tmp_path: Path, sample: bytes):
    """Cut a GGUFWriter file at every byte of its first key/values, then every 11th: never another exception."""
    path = tmp_path / "cut.gguf"
    messages = set()
    for cut in sorted({*range(700), *range(700, len(sample), 11)}):
        path.write_bytes(sample[:cut])
        with pytest.raises(InvalidModelFile) as info:
            read_gguf_info(path)
        messages.add(re.sub(r"\d+", "N", str(info.value).removeprefix(str(path))))
    assert any("past the end of the file" in m for m in messages)
    assert any("more than the file holds" in m for m in messages)


@pytest.mark.timeout(30, func_only=True)  # 400 files, not one: 1.4 s here under load
def test_random_corruption_never_escapes_as_another_exception(tmp_path: Path, sample: bytes):
    """Seeded byte mutations of the header: each mutant parses or raises InvalidModelFile, nothing else."""
    rng = random.Random(1234)
    path = tmp_path / "mutant.gguf"
    header_end = read_gguf_info(write_bytes(path, sample)).data_offset
    outcomes = {"ok": 0, "invalid": 0}
    for _ in range(400):
        data = bytearray(sample)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(header_end)] = rng.choice((0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)))
        path.write_bytes(bytes(data))
        try:
            read_gguf_info(path)
            outcomes["ok"] += 1
        except InvalidModelFile:
            outcomes["invalid"] += 1
    assert outcomes["invalid"] > 50 and outcomes["ok"] > 10  # both paths were exercised


def _patch(data: bytes, at: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, value)
    return bytes(out)


def test_patched_real_file_n_dims(tmp_path: Path, sample: bytes):
    name = gstr(b"blk.0.weight")
    at = sample.index(name) + len(name)  # the n_dims field follows the tensor name
    with pytest.raises(InvalidModelFile, match=r"declares 5 dimensions for tensor 'blk.0.weight'"):
        _info_of(tmp_path, _patch(sample, at, "<I", 5))


def test_patched_real_file_array_length(tmp_path: Path, sample: bytes):
    key = gstr(b"tokenizer.ggml.tokens")
    at = sample.index(key) + len(key) + 8  # after the value type and the item type
    with pytest.raises(InvalidModelFile, match=rf"declares an array of {INT64_MAX} elements"):
        _info_of(tmp_path, _patch(sample, at, "<Q", INT64_MAX))


def test_patched_real_file_string_length(tmp_path: Path, sample: bytes):
    key = gstr(b"tokenizer.chat_template")
    at = sample.index(key) + len(key) + 4  # after the value type
    with pytest.raises(InvalidModelFile, match=rf"declares a string of {INT64_MAX} bytes"):
        _info_of(tmp_path, _patch(sample, at, "<Q", INT64_MAX))


def test_patched_real_file_tensor_offset(tmp_path: Path, sample: bytes):
    name = gstr(b"blk.2.weight")
    at = sample.index(name) + len(name) + 4 + 2 * 8 + 4  # n_dims, two dims, type → the offset
    with pytest.raises(InvalidModelFile, match=r"past the end of the file"):
        _info_of(tmp_path, _patch(sample, at, "<Q", 2**50))


def test_patched_real_file_version(tmp_path: Path, sample: bytes):
    with pytest.raises(InvalidModelFile, match=r"version 1"):
        _info_of(tmp_path, _patch(sample, 4, "<I", 1))


def test_header_read_of_hostile_prefix_is_refused_not_incomplete(tmp_path: Path):
    """Reading only the first bytes of a remote file: a declared length beyond the remote size is hostile."""
    data = HOSTILE["array-2^63"][0]
    path = write_bytes(tmp_path / "prefix.gguf", data)
    with pytest.raises(InvalidModelFile, match="more than the file holds") as info:
        read_gguf_header(path, total_size=10_000_000)
    assert not isinstance(info.value, HeaderIncomplete)
