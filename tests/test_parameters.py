"""Ollama PARAMETER table: parsing, ranges, errors, and the split into engine fields."""

from __future__ import annotations

import pytest

from workbench.engine.params import LoadOptions, SamplingParams
from workbench.errors import InvalidParameter
from workbench.modelfile.parameters import PARAMETERS, parse_parameter, spec, split_parameters


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("temperature", "0.7", 0.7),
    ("temperature", "0", 0.0),
    ("temperature", "1e-1", 0.1),
    ("top_k", "40", 40),
    ("top_k", "0", 0),
    ("top_p", "1", 1.0),
    ("min_p", "0.05", 0.05),
    ("repeat_last_n", "-1", -1),
    ("seed", "-1", -1),
    ("seed", "42", 42),
    ("num_ctx", "4096", 4096),
    ("num_ctx", "4096.0", 4096),
    ("num_predict", "-1", -1),
    ("use_mmap", "false", False),
    ("use_mmap", "TRUE", True),
    ("use_mmap", "1", True),
    ("stop", "<|im_end|>", "<|im_end|>"),
    ("stop", " User:", " User:"),
    ("stop", "\n\n", "\n\n"),
    ("mirostat", "2", 2),
    ("penalize_newline", "true", True),
    ("num_keep", "24", 24),
    ("TEMPERATURE", "0.5", 0.5),
])
def test_parses_text_values(name, text, expected):
    value = parse_parameter(name, text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(("name", "raw", "message"), [
    ("temperature", "hot", "temperature 'hot' is not a number"),
    ("temperature", "nan", "not a finite number"),
    ("temperature", "NaN", "not a finite number"),
    ("temperature", "inf", "not a finite number"),
    ("temperature", "-inf", "not a finite number"),
    ("temperature", "-0.1", "out of range"),
    ("temperature", "", "needs a value"),
    ("top_k", "-1", "top_k -1 is out of range: allowed [0, inf]"),
    ("top_k", "4.5", "not an integer"),
    ("top_p", "1.5", "top_p 1.5 is out of range: allowed (0, 1]"),
    ("top_p", "0", "out of range"),
    ("top_p", "-0.2", "out of range"),
    ("min_p", "2", "out of range"),
    ("mirostat", "3", "out of range"),
    ("seed", "-2", "out of range"),
    ("seed", str(2**32), "out of range"),
    ("num_ctx", "0", "out of range"),
    ("use_mmap", "yes", "is not a boolean"),
    ("stop", "", "stop must not be empty"),
    ("temprature", "0.7", "did you mean temperature"),
    ("bogus", "1", "unknown parameter 'bogus'"),
    ("temperature", float("nan"), "not a finite number"),
    ("top_k", True, "is not an integer"),
    ("top_k", "1_000", "not an integer"),
])
def test_rejects_bad_values_with_a_clear_message(name, raw, message):
    with pytest.raises(InvalidParameter) as info:
        parse_parameter(name, raw)
    assert message in str(info.value)


def test_num_ctx_bounded_by_the_model():
    assert parse_parameter("num_ctx", "8192", max_context=8192) == 8192
    with pytest.raises(InvalidParameter, match=r"beyond what the model supports \(32768"):
        parse_parameter("num_ctx", "65536", max_context=32768)


def test_typed_json_values_are_accepted():
    assert parse_parameter("temperature", 1) == 1.0
    assert parse_parameter("num_ctx", 2048.0) == 2048
    assert parse_parameter("use_mmap", False) is False
    with pytest.raises(InvalidParameter):
        parse_parameter("num_ctx", 2048.5)


def test_every_spec_has_a_kind_and_engine_name_consistent():
    for name, s in PARAMETERS.items():
        assert s.name == name
        assert s.kind in ("sampling", "load", "chat", "ignored")
        assert (s.engine_name is None) == (s.kind in ("ignored", "chat"))  # chat ones are read by chat/prepare.py
    assert spec("stop").repeatable
    assert spec("num_predict").engine_name == "max_tokens"


def test_split_maps_to_engine_names_and_builds_engine_records():
    params = {
        "temperature": "0.2", "top_k": 20, "top_p": "0.95", "min_p": "0.05", "typical_p": "1",
        "repeat_penalty": "1.1", "repeat_last_n": "64", "presence_penalty": "0.5", "frequency_penalty": "-0.5",
        "mirostat": "0", "mirostat_tau": "5", "mirostat_eta": "0.1", "seed": "7", "stop": ["<|im_end|>", "</s>"],
        "num_predict": "128", "num_ctx": "2048", "num_batch": "256", "num_gpu": "0", "num_thread": "2",
        "use_mmap": "true", "num_keep": "5", "tfs_z": "1", "use_mlock": "false",
    }
    sampling, load, ignored = split_parameters(params)
    assert sampling.pop("stop") == ["<|im_end|>", "</s>"]
    assert sampling.pop("max_tokens") == 128
    assert load == {"n_ctx": 2048, "n_batch": 256, "gpu_layers": 0, "n_threads": 2, "use_mmap": True}
    assert ignored == {"num_keep": 5, "tfs_z": 1.0, "use_mlock": False}
    SamplingParams(**sampling)  # the engine accepts every value the table accepts
    load.pop("use_mmap")
    load["n_threads"] = load["n_threads"] or None
    LoadOptions(**load)


def test_split_wraps_a_single_stop_and_maps_random_seed():
    sampling, load, ignored = split_parameters({"stop": "###", "seed": -1})
    assert sampling == {"stop": ["###"], "seed": None}
    assert load == {} and ignored == {}


def test_split_rejects_unknown_and_bad_values():
    with pytest.raises(InvalidParameter, match="unknown parameter"):
        split_parameters({"nope": 1})
    with pytest.raises(InvalidParameter, match="top_p"):
        split_parameters({"top_p": "7"})


@pytest.mark.parametrize("name", [n for n, s in PARAMETERS.items() if s.type in ("int", "float")])
def test_numeric_bounds_are_enforced_at_the_edges(name):
    s = PARAMETERS[name]
    if s.minimum is not None:
        edge = s.minimum
        if s.min_exclusive:
            with pytest.raises(InvalidParameter):
                parse_parameter(name, str(edge))
        else:
            parse_parameter(name, str(int(edge)) if s.type == "int" else str(edge))
        below = edge - 1
        with pytest.raises(InvalidParameter):
            parse_parameter(name, str(int(below)) if s.type == "int" else str(below))
    if s.maximum is not None:
        parse_parameter(name, str(int(s.maximum)) if s.type == "int" else str(s.maximum))
        with pytest.raises(InvalidParameter):
            parse_parameter(name, str(int(s.maximum) + 1))
