"""Modelfiles: a corpus of real-world-style files parses, renders and round-trips; every error names its line;
validate() reports every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests import chat_fixtures as fx
from workbench.errors import InvalidModelfile
from workbench.modelfile import parser as mf
from workbench.modelfile.parser import Message, Modelfile, classify_from, parse, render, validate

CORPUS = sorted((Path(__file__).parent / "data" / "modelfiles").glob("*.Modelfile"))


def test_corpus_is_big_enough():
    assert len(CORPUS) >= 8


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_corpus_parses_renders_and_round_trips(path):
    text = path.read_text(encoding="utf-8")
    assert [d for d in validate(text) if d.severity == "error"] == []
    model = parse(text)
    rendered = render(model)
    assert parse(rendered) == model
    assert render(parse(rendered)) == rendered
    if model.template:  # every corpus template renders a real conversation through the sandbox
        prompt = model.chat_template().render(fx.CONVERSATION)
        assert "Hello, how are you?" in prompt


def corpus(name: str) -> Modelfile:
    return parse((Path(__file__).parent / "data" / "modelfiles" / name).read_text(encoding="utf-8"))


def test_ollama_show_form():
    m = corpus("llama3.2-show.Modelfile")
    assert m.from_kind == "path"
    assert m.from_.endswith("/blobs/sha256-dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff")
    assert m.parameter_values() == {"stop": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]}
    assert len(m.licenses) == 2 and m.licenses[0].startswith("LLAMA 3.2 COMMUNITY LICENSE AGREEMENT\n")
    assert m.template == fx.OLLAMA_LLAMA31 and m.template_syntax == "go"
    assert m.chat_template().render(fx.CONVERSATION).endswith(
        "<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_fields_options_and_ignored_parameters():
    m = corpus("llama3-jinja.Modelfile")
    assert m.template_syntax == "jinja" and m.from_kind == "library"
    sampling, load, ignored = m.options()
    assert load == {"n_ctx": 8192, "n_batch": 256, "gpu_layers": 0, "n_threads": 4, "use_mmap": True}
    assert sampling["mirostat"] == 2 and sampling["seed"] == 1234 and sampling["stop"] == ["<|eot_id|>"]
    assert ignored == {"use_mlock": False, "tfs_z": 1.0}
    assert m.ignored_parameters == ("use_mlock", "tfs_z")
    few = corpus("mistral-fewshot.Modelfile")
    assert few.from_kind == "path" and few.system.endswith("\nAnswer with the label only.")
    assert few.messages[1] == Message("assistant", "positive")
    assert few.messages[2].content == "The package arrived late and the box was crushed."
    assert few.messages[4].content == "It is a phone.\nIt makes calls."
    assert corpus("gemma3-hf.Modelfile").from_kind == "hub"


def test_instructions_any_case_and_order_comments_and_quoting():
    m = corpus("phi3-legacy.Modelfile")
    assert m.from_ == "phi3:mini"
    assert m.system == "  You are a helpful assistant; keep answers short.  "
    assert m.template.startswith("{{ if .System }}<|system|>\n") and m.template.endswith("<|end|>\n")
    t = corpus("tinyllama-mixed.Modelfile")
    assert t.system == "You are a helpful AI assistant. Use #hashtags sparingly."
    assert t.adapters == ("./adapters/tinyllama-support-lora.gguf",) and t.requires == "0.6.0"
    assert t.licenses == ("Apache-2.0", "Additional terms:\nuse at your own risk.")
    assert t.parameters[:2] == (("stop", "</s>"), ("stop", "<|user|>"))


def test_ollama_only_instructions_are_kept_and_reported():
    text = (Path(__file__).parent / "data" / "modelfiles" / "qwen3-renderer.Modelfile").read_text()
    m = parse(text)
    assert m.extras == (("RENDERER", "qwen3-coder"), ("PARSER", "qwen3-coder"))
    assert [d.line for d in validate(text) if d.severity == "warning"] == [3, 4]
    assert "RENDERER qwen3-coder" in render(m)


def test_crlf_bom_and_a_hash_inside_values():
    text = '\ufeffFROM llama3\r\nSYSTEM """line one\r\n# not a comment\r\n"""\r\nPARAMETER stop "#"\r\n'
    m = parse(text)
    assert m.system == "line one\n# not a comment\n" and m.parameters == (("stop", "#"),)


@pytest.mark.parametrize(("ref", "kind"), [
    ("llama3.2", "library"), ("llama3.2:3b-instruct-q4_K_M", "library"), ("jmorgan/custom:latest", "library"),
    ("registry.ollama.ai/library/llama3:8b", "library"), ("/models/x.gguf", "path"), ("./x.gguf", "path"),
    ("~/models/x.gguf", "path"), ("models/llama.gguf", "path"), ("C:\\models\\x.gguf", "path"),
    ("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "hub"),
    ("huggingface.co/unsloth/gemma-3-270m-it-GGUF", "hub"), ("https://hf.co/a/b:Q8_0", "hub"),
])
def test_classify_from(ref, kind):
    assert classify_from(ref) == kind


def test_classify_from_rejects_nonsense():
    with pytest.raises(InvalidModelfile, match="is not a model name"):
        classify_from("what is this?")


# -- errors carry the line ----------------------------------------------------------------------------------
ERRORS = [
    ('FROM llama3\nTEMPLATE """{{ .Prompt }}\n\nPARAMETER top_k 4', 2, 'unterminated """'),
    ('FROM llama3\nSYSTEM "abc\nmore', 2, 'unterminated "'),
    ('FROM llama3\n\nINSTRUCTION x', 3, "unknown instruction 'INSTRUCTION'"),
    ("# only a comment\nPARAMETER top_k 4", 1, "no FROM line"),
    ("", 1, "no FROM line"),
    ("FROM llama3\nPARAMETER temperature", 2, "PARAMETER temperature has no value"),
    ("FROM llama3\nPARAMETER", 2, "PARAMETER needs a name and a value"),
    ("FROM llama3\nPARAMETER temprature 0.5", 2, "unknown parameter 'temprature' (did you mean temperature?)"),
    ("FROM llama3\nPARAMETER temperature hot", 2, "temperature 'hot' is not a number"),
    ("FROM llama3\nPARAMETER temperature NaN", 2, "not a finite number"),
    ("FROM llama3\n\n\nPARAMETER top_k -5", 4, "top_k -5 is out of range"),
    ("FROM llama3\nPARAMETER top_p 1.5", 2, "top_p 1.5 is out of range"),
    ("FROM llama3\nPARAMETER num_ctx many", 2, "num_ctx 'many' is not an integer"),
    ("FROM llama3\nMESSAGE robot hello", 2, "MESSAGE role must be system, user or assistant (got 'robot')"),
    ("FROM llama3\nMESSAGE user", 2, "MESSAGE user has no value"),
    ("FROM llama3\nFROM mistral", 2, "a second FROM names the model's projector: give the path of its mmproj"),
    ("FROM llama3\nFROM ./mmproj.gguf\nFROM ./other.gguf", 3,
     "more than two FROM lines (the model's on line 1, its projector's on line 2)"),
    ("FROM what is this?", 1, "is not a model name"),
    ("FROM llama3\nREQUIRES soon", 2, "REQUIRES must be a version"),
    ('FROM llama3\nSYSTEM "quoted" trailing', 2, "unexpected text after the closing"),
    ('FROM llama3\nTEMPLATE """{{ .System }}\n{{ range .Messages }}\n{{ template "x" }}{{ end }}"""', 4,
     'unsupported Go template construct `{{ template "x" }}`'),
    ('FROM llama3\nTEMPLATE """{% for m in messages %}\n{{ m.content }}\n{% endfor"""', 4, "syntax error"),
    ("FROM llama3\nTEMPLATE {{ self.__init__.__globals__.__builtins__ }}", 2, "TEMPLATE is refused"),
    ("FROM llama3\nTEMPLATE {% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}", 2,
     "ran longer than"),
]


@pytest.mark.parametrize(("text", "line", "message"), ERRORS)
def test_errors_name_their_line(text, line, message):
    with pytest.raises(InvalidModelfile) as info:
        parse(text)
    assert info.value.line == line
    assert message in str(info.value)
    assert str(info.value).startswith(f"line {line}: ")
    assert [d.line for d in info.value.diagnostics if d.severity == "error"] == [line]


def test_num_ctx_beyond_the_model():
    text = "FROM llama3\nPARAMETER num_ctx 131072"
    assert parse(text).parameter_values() == {"num_ctx": 131072}
    with pytest.raises(InvalidModelfile, match=r"line 2: num_ctx 131072 is beyond what the model supports \(8192"):
        parse(text, max_context=8192)


def test_validate_reports_every_problem_and_parse_the_first():
    text = "\n".join([
        "PARAMETER top_k -1",          # 1
        "BOGUS thing",                 # 2
        "FROM llama3",                 # 3
        "PARAMETER top_p 2",           # 4
        "PARAMETER num_keep 4",        # 5 (warning)
        "MESSAGE wizard hi",           # 6
        "SYSTEM one",                  # 7
        "SYSTEM two",                  # 8 (warning: given again)
        'LICENSE """never closed',     # 9
        "more",
    ])
    diagnostics = validate(text)
    assert [(d.line, d.severity) for d in diagnostics] == [
        (1, "error"), (2, "error"), (4, "error"), (5, "warning"), (6, "error"), (8, "warning"), (9, "error")]
    assert diagnostics[0].column == 17  # the value of PARAMETER top_k
    assert diagnostics[1].column == 1
    with pytest.raises(InvalidModelfile) as info:
        parse(text)
    assert info.value.line == 1 and "top_k" in str(info.value) and "(and 4 more)" in str(info.value)
    assert info.value.diagnostics == diagnostics


def test_template_that_fails_on_a_sample_is_a_warning_not_an_error():
    text = 'FROM llama3\nTEMPLATE """{{ raise_exception("always") }}"""'
    assert [(d.severity, d.line) for d in validate(text)] == [("warning", 2)]
    assert parse(text).template.startswith("{{ raise_exception")


# -- rendering ----------------------------------------------------------------------------------------------
def test_render_quotes_only_when_needed():
    m = Modelfile("llama3", (("stop", "<|eot_id|>"), ("stop", " User:"), ("temperature", 0.7),
                             ("use_mmap", False)),
                  template="{{ .Prompt }}", system='say "hi"\nthen stop', messages=(Message("user", ""),),
                  licenses=('ends with a quote"',))
    text = render(m)
    assert 'PARAMETER stop <|eot_id|>\nPARAMETER stop " User:"\nPARAMETER temperature 0.7\n' in text
    assert "PARAMETER use_mmap false\n" in text and "TEMPLATE {{ .Prompt }}\n" in text
    assert 'SYSTEM """say "hi"\nthen stop"""\n' in text and 'MESSAGE user ""\n' in text
    assert parse(text) == m


def test_render_refuses_a_value_no_modelfile_can_hold():
    m = Modelfile("llama3", system='a line ending in """\nand one ending in "')
    with pytest.raises(InvalidModelfile, match="cannot be written"):
        render(m)


_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\ufeff"), max_size=40)
_PARAMS = st.lists(st.one_of(
    st.tuples(st.just("temperature"), st.floats(0, 100, allow_nan=False)),
    st.tuples(st.just("top_k"), st.integers(0, 10**6)),
    st.tuples(st.just("top_p"), st.floats(0.001, 1)),
    st.tuples(st.just("seed"), st.integers(-1, 2**32 - 1)),
    st.tuples(st.just("use_mmap"), st.booleans()),
    st.tuples(st.just("num_keep"), st.integers(-1, 100)),
    st.tuples(st.just("stop"), _TEXT.filter(lambda s: s != "")),
), max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(from_=st.sampled_from(["llama3", "hf.co/a/b:Q4_K_M", "./m.gguf", "/x/y z.gguf"]), params=_PARAMS,
       system=st.none() | _TEXT, messages=st.lists(st.tuples(st.sampled_from(mf.ROLES), _TEXT), max_size=3),
       licenses=st.lists(_TEXT, max_size=2), template=st.none() | st.text("ab .\n\"#", max_size=30))
def test_parse_render_round_trip_property(from_, params, system, messages, licenses, template):
    m = Modelfile(from_, tuple(params), template=template, system=system,
                  messages=tuple(Message(r, c) for r, c in messages), licenses=tuple(licenses))
    try:
        text = render(m)
    except InvalidModelfile:
        # a right refusal only: some value really has no spelling that parses back (lines ending in both """
        # and "), judged by the parser itself; a refusal of a writable value fails here
        values = [system, template, *(c for _, c in messages), *licenses, *(v for k, v in params if k == "stop")]
        assert not all(_spellable(v) for v in values if v is not None)
        assume(False)
    assert parse(text) == m


def _spellable(value: str) -> bool:
    """Whether some spelling of value (bare, \"\"\"…\"\"\" or "…") reads back as value through parse()."""
    for spelled in (value, f'"""{value}"""', f'"{value}"'):
        try:
            if parse(f"FROM x\nSYSTEM {spelled}\n").system == value:
                return True
        except InvalidModelfile:
            pass
    return False
