"""Hub references and GGUF file names: parsing, quantization names, split grouping, picking an entry."""

from __future__ import annotations

import pytest

from workbench.errors import InvalidName, NotFound
from workbench.hub.refs import group_gguf_files, is_hub_ref, parse_ref, pick_entry, quant_from_filename, split_complete
from workbench.hub.types import HubRef, RemoteFile


@pytest.mark.parametrize(("text", "expected"), [
    ("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF", HubRef("bartowski/Llama-3.2-1B-Instruct-GGUF", quant="Q4_K_M")),
    ("hf.co/owner/repo:q8_0", HubRef("owner/repo", quant="q8_0")),
    ("huggingface.co/owner/repo:IQ2_XXS", HubRef("owner/repo", quant="IQ2_XXS")),
    ("https://hf.co/owner/repo:Q5_K_M@v1.0", HubRef("owner/repo", quant="Q5_K_M", revision="v1.0")),
    ("hf.co/owner/repo@0123abc:Q6_K", HubRef("owner/repo", quant="Q6_K", revision="0123abc")),
    ("hf.co/owner/repo/model-Q4_K_M.gguf", HubRef("owner/repo", filename="model-Q4_K_M.gguf")),
    ("hf.co/owner/repo/Q4_K_M/m-00001-of-00002.gguf@dev",
     HubRef("owner/repo", filename="Q4_K_M/m-00001-of-00002.gguf", revision="dev")),
    ("https://huggingface.co/owner/repo/blob/main/x.Q8_0.gguf", HubRef("owner/repo", filename="x.Q8_0.gguf",
                                                                      revision="main")),
    ("https://huggingface.co/owner/repo/resolve/abc123/x.gguf", HubRef("owner/repo", filename="x.gguf",
                                                                      revision="abc123")),
])
def test_parse_ref_forms(text: str, expected: HubRef) -> None:
    assert parse_ref(text) == expected
    assert is_hub_ref(text)


@pytest.mark.parametrize("text", [
    "llama3", "owner/repo", "./model.gguf", "hf.co/owner", "hf.co/owner/repo/../../etc/passwd.gguf",
    "hf.co/owner/repo/weights.bin", "hf.co/owner/repo:Q4/x.gguf", "hf.co/own er/repo", "hf.co/owner/repo:Q4 K",
    "hf.co/owner/repo@..", "hf.co/owner/repo/.hidden.gguf",
])
def test_parse_ref_rejects_with_a_clear_error(text: str) -> None:
    with pytest.raises(InvalidName) as info:
        parse_ref(text)
    assert "hf.co" in str(info.value) or text in str(info.value) or "repository" in str(info.value)


def test_local_names_are_not_hub_refs() -> None:
    assert not is_hub_ref("gemma:latest")
    assert not is_hub_ref("/models/hf.co/x.gguf")


def test_str_round_trips() -> None:
    for text in ("hf.co/o/r:Q8_0", "hf.co/o/r/a/b.gguf@v2", "hf.co/o/r:Q4_K_M@main"):
        assert str(parse_ref(text)) == text
        assert parse_ref(str(parse_ref(text))) == parse_ref(text)


@pytest.mark.parametrize(("name", "quant"), [
    ("gemma-3-270m-it-Q4_K_M.gguf", "Q4_K_M"),
    ("llama-2-7b.Q5_K_S.gguf", "Q5_K_S"),
    ("qwen2.5-0.5b-instruct-q4_k_m.gguf", "Q4_K_M"),
    ("Qwen3-30B-A3B-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"),
    ("Meta-Llama-3-70B-Q4_K_M-00002-of-00003.gguf", "Q4_K_M"),
    ("Q8_0/DeepSeek-00001-of-00004.gguf", "Q8_0"),
    ("phi-4-IQ2_XXS.gguf", "IQ2_XXS"),
    ("model-bf16.gguf", "BF16"),
    ("gpt-oss-20b-MXFP4.gguf", "MXFP4"),
    ("Qwen2-7B.gguf", None),
])
def test_quant_from_filename(name: str, quant: str | None) -> None:
    assert quant_from_filename(name) == quant


def _files() -> list[RemoteFile]:
    return [
        RemoteFile("README.md", 100, None),
        RemoteFile("m-Q8_0.gguf", 800, "a" * 64),
        RemoteFile("m-Q4_K_M.gguf", 400, "b" * 64),
        RemoteFile("big/m-Q6_K-00002-of-00002.gguf", 300, "d" * 64),
        RemoteFile("big/m-Q6_K-00001-of-00002.gguf", 300, "c" * 64),
        RemoteFile("mmproj-m-F16.gguf", 50, "e" * 64),
    ]


def test_split_files_are_one_entry_with_shards_in_order() -> None:
    entries = group_gguf_files(_files())
    assert [e.name for e in entries] == ["mmproj-m-F16.gguf", "m-Q4_K_M.gguf", "big/m-Q6_K.gguf", "m-Q8_0.gguf"]
    split = entries[2]
    assert split.split and split.quant == "Q6_K" and split.size == 600
    assert [f.path for f in split.files] == ["big/m-Q6_K-00001-of-00002.gguf", "big/m-Q6_K-00002-of-00002.gguf"]
    assert split_complete(split)
    half = group_gguf_files([_files()[3]])[0]
    assert not split_complete(half)


def test_pick_entry_by_quant_case_insensitive_default_and_file() -> None:
    entries = group_gguf_files(_files())
    assert pick_entry(entries, parse_ref("hf.co/o/r")).name == "m-Q4_K_M.gguf"
    assert pick_entry(entries, parse_ref("hf.co/o/r:q6_k")).name == "big/m-Q6_K.gguf"
    assert pick_entry(entries, parse_ref("hf.co/o/r/m-Q8_0.gguf")).quant == "Q8_0"
    by_shard = pick_entry(entries, parse_ref("hf.co/o/r/big/m-Q6_K-00001-of-00002.gguf"))
    assert by_shard.split


def test_missing_quant_lists_what_exists_and_projectors_are_never_picked() -> None:
    entries = group_gguf_files(_files())
    with pytest.raises(NotFound) as info:
        pick_entry(entries, parse_ref("hf.co/o/r:F16"))
    message = str(info.value)
    assert "no F16 file" in message and "Q4_K_M, Q6_K, Q8_0" in message
    with pytest.raises(NotFound, match="is not in o/r"):
        pick_entry(entries, parse_ref("hf.co/o/r/other.gguf"))


def test_ambiguous_quant_asks_for_a_file_and_ud_prefix_is_optional() -> None:
    entries = group_gguf_files([RemoteFile("a-Q4_0.gguf", 1, None), RemoteFile("b-Q4_0.gguf", 2, None),
                                RemoteFile("c-UD-Q4_K_XL.gguf", 3, None)])
    with pytest.raises(NotFound, match="several Q4_0 files"):
        pick_entry(entries, parse_ref("hf.co/o/r:Q4_0"))
    assert pick_entry(entries, parse_ref("hf.co/o/r:Q4_K_XL")).name == "c-UD-Q4_K_XL.gguf"
