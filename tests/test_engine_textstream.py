"""Incremental UTF-8 decoding and stop strings (pure Python, no model), plus parameter validation."""

from __future__ import annotations

import pytest

from workbench.engine import GenerationRequest, LoadOptions, SamplingParams
from workbench.engine.textstream import TextStream
from workbench.errors import InvalidParameter


def feed_bytes(stream: TextStream, data: bytes, sizes) -> list[str]:
    out, i = [], 0
    for n in sizes:
        out.append(stream.feed(data[i : i + n]))
        i += n
    out.append(stream.feed(data[i:]))
    return out


@pytest.mark.parametrize("split", [1, 2, 3])
def test_multibyte_characters_split_across_tokens_are_never_broken(split):
    text = "héllo wörld 😀 — 東京"
    data = text.encode()
    stream = TextStream()
    pieces = [stream.feed(data[i : i + split]) for i in range(0, len(data), split)]
    pieces.append(stream.flush())
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)
    # a character is emitted as soon as its last byte arrives, not later
    assert pieces[: 2 if split == 1 else 0] == (["h", ""] if split == 1 else [])


def test_incomplete_tail_at_the_end_becomes_a_replacement_character():
    stream = TextStream()
    assert stream.feed(b"ok " + "😀".encode()[:2]) == "ok "
    assert stream.flush() == "\ufffd"


def test_stop_string_split_across_pieces_is_caught_and_not_emitted():
    stream = TextStream(("STOP",))
    pieces = [stream.feed(p.encode()) for p in ["abc S", "T", "O", "P and more"]]
    assert "".join(pieces) == "abc "
    assert stream.stopped_by == "STOP"
    assert stream.feed(b"more") == "" and stream.flush() == ""


def test_partial_match_that_fails_is_released():
    stream = TextStream(("STOP",))
    assert stream.feed(b"abc ST") == "abc "  # "ST" could start STOP: held back
    assert stream.feed(b"X") == "STX"
    assert stream.flush() == ""
    assert stream.stopped_by is None


def test_earliest_of_several_stops_wins_and_holdback_ends_at_flush():
    stream = TextStream(("\n\n", "User:"))
    assert stream.feed(b"hi User") == "hi "
    assert stream.flush() == "User"
    stream = TextStream(("\n\n", "User:"))
    assert stream.feed(b"a User: b\n\n") == "a "
    assert stream.stopped_by == "User:"


def test_stop_inside_a_multibyte_sequence_boundary():
    stream = TextStream(("é!",))
    data = "café!".encode()
    pieces = feed_bytes(stream, data, [3, 1])  # "caf", 1st byte of é, then the rest
    assert "".join(pieces) == "caf"
    assert stream.stopped_by == "é!"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperature": -1},
        {"top_k": -1},
        {"top_p": 0},
        {"top_p": 1.5},
        {"min_p": 2},
        {"typical_p": 0},
        {"repeat_penalty": 0},
        {"repeat_last_n": -2},
        {"presence_penalty": 3},
        {"mirostat": 3},
        {"mirostat_tau": 0},
        {"seed": -1},
        {"seed": 2**32},
        {"logit_bias": {-1: 1.0}},
        {"logit_bias": {5: float("nan")}},
        {"grammar": 'root ::= "a"', "json_schema": {"type": "string"}},
        {"temperature": float("inf")},
        {"top_k": True},
    ],
)
def test_sampling_params_are_validated(kwargs):
    with pytest.raises(InvalidParameter):
        SamplingParams(**kwargs)


def test_defaults_are_ollamas_and_greedy_flag():
    p = SamplingParams()
    assert (p.temperature, p.top_k, p.top_p, p.repeat_penalty, p.repeat_last_n) == (0.8, 40, 0.9, 1.1, 64)
    assert SamplingParams(temperature=0).greedy and not p.greedy
    assert not SamplingParams(repeat_penalty=1.0).penalties_active


@pytest.mark.parametrize(
    "kwargs",
    [{"n_ctx": 0}, {"n_parallel": 0}, {"type_k": "q3"}, {"flash_attn": "yes"}, {"gpu_layers": -2}, {"n_batch": 0}],
)
def test_load_options_are_validated(kwargs):
    with pytest.raises(InvalidParameter):
        LoadOptions(**kwargs)


def test_request_needs_exactly_one_prompt_and_valid_limits():
    with pytest.raises(InvalidParameter):
        GenerationRequest()
    with pytest.raises(InvalidParameter):
        GenerationRequest(prompt="a", prompt_tokens=(1,))
    with pytest.raises(InvalidParameter):
        GenerationRequest(prompt="a", max_tokens=-1)
    with pytest.raises(InvalidParameter):
        GenerationRequest(prompt="a", stop=("",))
    assert GenerationRequest(prompt="a", stop="x").stop == ("x",)
