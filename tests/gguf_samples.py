"""Small GGUF files for the gguf/info.py tests: hand-packed bytes (for hostile headers) and gguf.GGUFWriter files."""

from __future__ import annotations

import struct
from pathlib import Path

import gguf
import numpy as np

INT64_MAX = 2**63 - 1


def gstr(data: bytes) -> bytes:
    """A GGUF string: uint64 length, then the bytes."""
    return struct.pack("<Q", len(data)) + data


def header(n_tensors: int = 0, n_kv: int = 0, version: int = 3, magic: bytes = b"GGUF") -> bytes:
    return magic + struct.pack("<IQQ", version, n_tensors, n_kv)


def kv_u32(key: bytes, value: int) -> bytes:
    return gstr(key) + struct.pack("<II", 4, value)


def kv_string(key: bytes, value: bytes) -> bytes:
    return gstr(key) + struct.pack("<I", 8) + gstr(value)


def tensor_info(name: bytes, dims: tuple[int, ...], ggml_type: int = 0, offset: int = 0) -> bytes:
    return (gstr(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
            + struct.pack("<IQ", ggml_type, offset))


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def write_sample(path: Path, *, arch: str = "llama", big_endian: bool = False, tensors: int = 3,
                 extra_kv: bool = True, chat_template: str | None = "{{ messages }}",
                 name: str = "Sample Model", file_type: int | None = int(gguf.LlamaFileType.ALL_F32)) -> Path:
    """A few-KB GGUF with every value type, small F32/F16 tensors and a chat template."""
    endianess = gguf.GGUFEndian.BIG if big_endian else gguf.GGUFEndian.LITTLE
    writer = gguf.GGUFWriter(str(path), arch, endianess=endianess)
    writer.add_name(name)
    writer.add_context_length(2048)
    writer.add_embedding_length(64)
    writer.add_block_count(2)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    if file_type is not None:
        writer.add_file_type(file_type)
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([f"tok{i}" for i in range(300)])  # longer than the metadata view keeps
    writer.add_token_scores([float(i) for i in range(300)])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    if extra_kv:
        writer.add_uint8("test.u8", 200)
        writer.add_int8("test.i8", -100)
        writer.add_uint16("test.u16", 60000)
        writer.add_int16("test.i16", -30000)
        writer.add_int32("test.i32", -2_000_000_000)
        writer.add_float32("test.f32", 0.5)
        writer.add_uint64("test.u64", 2**63 + 5)
        writer.add_int64("test.i64", -(2**62))
        writer.add_float64("test.f64", 1e300)
        writer.add_bool("test.bool", True)
        writer.add_string("test.unicode", "héllo wörld ✓")
        writer.add_array("test.ints", [1, 2, 3])
        writer.add_array("test.strings", ["a", "bé", ""])
    rng = np.random.default_rng(0)
    for i in range(tensors):
        dtype = np.float16 if i % 2 else np.float32
        writer.add_tensor(f"blk.{i}.weight", rng.standard_normal((4, 32)).astype(dtype))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_split(folder: Path, stem: str = "sample", count: int = 3) -> list[Path]:
    """A split model as gguf-split writes it: shard k holds split.no=k, all hold split.count and the tensor total."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(count):
        path = folder / f"{stem}-{k + 1:05d}-of-{count:05d}.gguf"
        writer = gguf.GGUFWriter(str(path), "llama")
        if k == 0:
            writer.add_name("Split Sample")
            writer.add_context_length(1024)
            writer.add_file_type(int(gguf.LlamaFileType.ALL_F32))
        writer.add_uint16(gguf.Keys.Split.LLM_KV_SPLIT_NO, k)
        writer.add_uint16(gguf.Keys.Split.LLM_KV_SPLIT_COUNT, count)
        writer.add_int32(gguf.Keys.Split.LLM_KV_SPLIT_TENSORS_COUNT, count * 2)
        for j in range(2):
            writer.add_tensor(f"blk.{k}.t{j}", np.full((2, 32), k + j, np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        paths.append(path)
    return paths


def write_padded(path: Path, megabytes: int, *, name: str = "Padded Model") -> Path:
    """A valid GGUF of about `megabytes` MB (one big zero tensor): long enough to cancel a copy midway."""
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(name)
    writer.add_file_type(int(gguf.LlamaFileType.ALL_F32))
    writer.add_tensor("big.weight", np.zeros((megabytes * 256, 1024), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
