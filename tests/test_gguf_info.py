"""gguf/info.py on: gemma-3-270m, the tiny model and GGUFWriter samples, checked against gguf's own reader."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import gguf
import pytest

from tests import tinymodel
from tests.gguf_samples import write_sample, write_split
from workbench.errors import InvalidModelFile, NotFound
from workbench.gguf.info import HeaderIncomplete, read_gguf_header, read_gguf_info


@pytest.mark.gemma
def test_gemma_facts(gemma_model_path: Path):
    info = read_gguf_info(gemma_model_path)
    assert (info.architecture, info.quantization, info.context_length) == ("gemma3", "Q4_K_M", 32768)
    assert info.chat_template is None and info.chat_template_sha256 is None and not info.has_chat_template
    assert (info.general_name, info.basename, info.size_label, info.license) == (
        "Gemma 3 270m", "gemma-3", "270M", "gemma")
    assert (info.embedding_length, info.block_count, info.head_count, info.head_count_kv) == (640, 18, 4, 1)
    assert (info.tokenizer_model, info.vocab_size, info.bos_token_id, info.eos_token_id) == ("llama", 262144, 2, 1)
    assert info.tensor_count == 236 and info.complete and info.version == 3
    assert info.file_size == gemma_model_path.stat().st_size == 253_113_024
    assert 260e6 < info.parameter_count < 275e6  # "270M"
    assert info.data_offset + info.tensor_bytes <= info.file_size
    assert info.split_count is None and not info.is_split
    tokens = info.metadata["tokenizer.ggml.tokens"]
    assert tokens == {"type": "array", "item_type": "string", "length": 262144,
                      "head": ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "[multimodal]", "<unused0>", "<unused1>"]}
    assert info.metadata["general.tags"] == ["gemma3", "gemma", "google", "text-generation"]
    assert len(json.dumps(info.metadata, allow_nan=False)) < 10_000


def test_tiny_model_facts(tiny_model_path: Path):
    info = read_gguf_info(tiny_model_path)
    assert info.architecture == "llama" and info.context_length == tinymodel.CONTEXT_LENGTH
    assert (info.embedding_length, info.block_count) == (tinymodel.N_EMBD, tinymodel.N_LAYER)
    assert (info.head_count, info.head_count_kv) == (tinymodel.N_HEAD, tinymodel.N_HEAD_KV)
    assert info.vocab_size == tinymodel.N_VOCAB
    assert (info.bos_token_id, info.eos_token_id) == (tinymodel.BOS_ID, tinymodel.EOS_ID)
    assert info.chat_template == tinymodel.CHAT_TEMPLATE
    assert info.chat_template_sha256 == hashlib.sha256(tinymodel.CHAT_TEMPLATE.encode()).hexdigest()
    assert info.metadata["tokenizer.chat_template"] == tinymodel.CHAT_TEMPLATE  # the GUI shows it in full
    assert info.quantization == "F32"


def _reader_values(reader: gguf.GGUFReader) -> dict:
    return {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}


@pytest.mark.parametrize("big_endian", [False, True])
def test_agrees_with_gguf_reader_on_every_value_type(tmp_path: Path, big_endian: bool):
    """The hand-written parser reads what gguf's reference reader reads: every key, every tensor."""
    path = write_sample(tmp_path / "sample.gguf", big_endian=big_endian)
    info = read_gguf_info(path)
    reader = gguf.GGUFReader(path)
    expected = _reader_values(reader)
    assert set(info.metadata) == set(expected)
    for key, value in expected.items():
        shown = info.metadata[key]
        if isinstance(shown, dict):  # abbreviated long array
            assert shown["length"] == len(value) and shown["head"] == pytest.approx(value[:8])
        else:
            assert shown == pytest.approx(value), key
    assert info.tensor_count == len(reader.tensors) and info.data_offset == reader.data_offset
    assert info.parameter_count == sum(int(t.n_elements) for t in reader.tensors)
    assert info.tensor_bytes == sum(int(t.n_bytes) for t in reader.tensors)


def test_agrees_with_gguf_reader_on_the_tiny_model(tiny_model_path: Path):
    from workbench.gguf.info import TYPE_SIZES
    from workbench.gguf.parse import ArrayValue, parse_header

    data = tiny_model_path.read_bytes()
    parsed = parse_header(data, file_size=len(data), type_sizes=TYPE_SIZES)
    reader = gguf.GGUFReader(tiny_model_path)
    ours = [(t.name, list(t.shape), t.ggml_type, parsed.data_offset + t.offset, t.n_bytes) for t in parsed.tensors]
    theirs = [(t.name, t.shape.tolist(), int(t.tensor_type), t.data_offset, int(t.n_bytes)) for t in reader.tensors]
    assert ours == theirs
    for key, value in _reader_values(reader).items():
        _, ours_value = parsed.kv[key]
        if isinstance(ours_value, ArrayValue):
            assert ours_value.length == len(value) and list(ours_value.items) == pytest.approx(value[:1024]), key
        else:
            assert ours_value == pytest.approx(value), key


def test_metadata_is_json_safe_and_abbreviated(tmp_path: Path):
    info = read_gguf_info(write_sample(tmp_path / "s.gguf"))
    text = json.dumps(info.metadata, allow_nan=False)
    assert json.loads(text) == info.metadata
    assert info.metadata["tokenizer.ggml.tokens"]["length"] == 300
    assert info.metadata["tokenizer.ggml.tokens"]["head"] == [f"tok{i}" for i in range(8)]
    assert info.metadata["test.strings"] == ["a", "bé", ""]
    assert info.metadata["test.unicode"] == "héllo wörld ✓"


def test_quantization_from_file_type_or_dominant_tensor_type(tmp_path: Path):
    named = read_gguf_info(write_sample(tmp_path / "a.gguf", file_type=int(gguf.LlamaFileType.MOSTLY_Q4_K_M)))
    assert named.quantization == "Q4_K_M" and named.file_type == 15
    guessed = read_gguf_info(write_sample(tmp_path / "b.gguf", file_type=None))
    assert guessed.quantization == "F32" and guessed.file_type is None  # 2 F32 tensors outweigh 1 F16
    unknown = read_gguf_info(write_sample(tmp_path / "c.gguf", file_type=4242))
    assert unknown.quantization == "F32"


def test_split_shards_report_their_split_keys(tmp_path: Path):
    first, second, _ = write_split(tmp_path)
    a, b = read_gguf_info(first), read_gguf_info(second)
    assert (a.split_no, a.split_count, a.split_tensors_count, a.is_split) == (0, 3, 6, True)
    assert (b.split_no, b.tensor_count) == (1, 2)


@pytest.mark.gemma
def test_header_of_a_partial_download(tmp_path: Path, gemma_model_path: Path):
    """The hub reads the first megabytes of a remote file: same facts, tensor data absent."""
    full = read_gguf_info(gemma_model_path)
    with gemma_model_path.open("rb") as f:
        head = f.read(full.data_offset + 4096)
    partial = tmp_path / "head.gguf"
    partial.write_bytes(head)
    info = read_gguf_header(partial, total_size=full.file_size)
    assert not info.complete and info.file_size == full.file_size
    same = ("architecture", "quantization", "context_length", "parameter_count", "tensor_count", "tensor_bytes",
            "data_offset", "vocab_size", "metadata")
    assert {k: getattr(info, k) for k in same} == {k: getattr(full, k) for k in same}
    unknown_total = read_gguf_header(partial)
    assert unknown_total.file_size == len(head) and unknown_total.quantization == "Q4_K_M"

    partial.write_bytes(head[: 1 << 20])
    with pytest.raises(HeaderIncomplete, match="hold only part of the GGUF header") as incomplete:
        read_gguf_header(partial, total_size=full.file_size)
    assert incomplete.value.available == 1 << 20

    partial.write_bytes(head)
    with pytest.raises(InvalidModelFile, match="past the end of the file"):
        read_gguf_header(partial, total_size=full.file_size - 1)  # the remote says it is shorter than its tensors


def test_complete_file_read_as_header(tmp_path: Path):
    path = write_sample(tmp_path / "s.gguf")
    assert read_gguf_header(path).complete


def test_missing_file_and_folder(tmp_path: Path):
    with pytest.raises(NotFound, match="no file at"):
        read_gguf_info(tmp_path / "nope.gguf")
    with pytest.raises(InvalidModelFile, match="is a folder"):
        read_gguf_info(tmp_path)


def test_large_header_is_read_in_growing_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A header longer than the first read (big vocabularies) is still read whole."""
    import workbench.gguf.info as gi

    path = write_sample(tmp_path / "s.gguf")
    monkeypatch.setattr(gi, "FIRST_READ", 100)
    info = read_gguf_info(path)
    assert info.vocab_size == 300 and info.tensor_count == 3
