"""Ollama Go templates translated to Jinja: Ollama's own expectations, agreement with the HF templates, the
supported subset, and clear errors for everything else."""

from __future__ import annotations

import pytest

from tests import chat_fixtures as fx
from workbench.engine.templates import ChatTemplate
from workbench.errors import TemplateError
from workbench.modelfile.gotemplate import is_go_template, translate

OLLAMA = {name: getattr(fx, name) for name in dir(fx) if name.startswith("OLLAMA_")}
HF = {name: getattr(fx, name) for name in dir(fx) if name.startswith("HF_")}


def go(source: str, messages, **kwargs) -> str:
    return ChatTemplate(translate(source)).render(messages, **kwargs)


def hf(source: str, messages, **kwargs) -> str:
    return ChatTemplate(source, eos_token=kwargs.pop("eos_token", "")).render(messages, **kwargs)


def test_is_go_template():
    assert all(is_go_template(t) for t in OLLAMA.values())
    assert not any(is_go_template(t) for t in HF.values())
    assert not is_go_template("{{ bos_token }}{{ messages[0]['content'] }}")
    assert not is_go_template("plain text")
    assert is_go_template("{{.Prompt}}") and is_go_template("{{- range $i, $m := .Messages }}{{ end }}")


# -- Ollama's own test expectations (template/template_test.go) ----------------------------------------------
FRIEND = [{"role": "user", "content": "Hello friend!"}, {"role": "assistant", "content": "Hello human!"},
          {"role": "user", "content": "What is your name?"}]
MISTRAL_VARIANTS = {
    "no response": "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}[/INST] ",
    "response": "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}[/INST] {{ .Response }}",
    "messages": "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}\n{{- range .Messages }}\n"
                "{{- if eq .Role \"user\" }}{{ .Content }}[/INST] {{ else if eq .Role \"assistant\" }}{{ .Content }}"
                "[INST] {{ end }}\n{{- end }}",
}


@pytest.mark.parametrize("variant", list(MISTRAL_VARIANTS))
def test_ollama_execute_with_messages_mistral(variant):
    source = MISTRAL_VARIANTS[variant]
    assert go(source, FRIEND) == "[INST] Hello friend![/INST] Hello human![INST] What is your name?[/INST] "
    with_system = [{"role": "system", "content": "You are a helpful assistant!"}, *FRIEND]
    assert go(source, with_system) == ("[INST] You are a helpful assistant!\n\nHello friend![/INST] Hello human!"
                                       "[INST] What is your name?[/INST] ")


@pytest.mark.parametrize("source", [
    "[INST] {{ .Prompt }}[/INST] ",
    "[INST] {{ .Prompt }}[/INST] {{ .Response }}",
    "\n{{- range $i, $m := .Messages }}\n{{- if eq .Role \"user\" }}[INST] {{ .Content }}[/INST] "
    "{{ else if eq .Role \"assistant\" }}{{ .Content }}{{ end }}\n{{- end }}",
])
def test_ollama_execute_with_messages_assistant_prefill(source):
    messages = [*FRIEND, {"role": "assistant", "content": "My name is Ollama and I"}]
    assert go(source, messages) == ("[INST] Hello friend![/INST] Hello human![INST] What is your name?[/INST] "
                                    "My name is Ollama and I")


def test_ollama_execute_with_messages_chatml_legacy_and_messages_agree():
    legacy = ("{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}{{ if .Prompt }}<|im_start|>user"
              "\n{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ .Response }}<|im_end|>\n")
    messages = [{"role": "system", "content": "You are a helpful assistant!"}, *FRIEND]
    expected = ("<|im_start|>system\nYou are a helpful assistant!<|im_end|>\n<|im_start|>user\nHello friend!"
                "<|im_end|>\n<|im_start|>assistant\nHello human!<|im_end|>\n<|im_start|>user\nWhat is your name?"
                "<|im_end|>\n<|im_start|>assistant\n")
    assert go(legacy, messages) == expected
    assert go(fx.OLLAMA_CHATML, messages) == expected


def test_template_without_response_gets_it_appended_like_ollama():
    assert go("{{ .System }} {{ .Prompt }}", FRIEND) == " Hello friend!Hello human! What is your name?"


# -- agreement with the HF Jinja templates for the same conversation -----------------------------------------
@pytest.mark.parametrize(("go_name", "hf_name"), [
    ("OLLAMA_QWEN25", "HF_QWEN25"), ("OLLAMA_CHATML", "HF_QWEN25"), ("OLLAMA_LLAMA3", "HF_LLAMA3"),
    ("OLLAMA_LLAMA31", "HF_LLAMA3"), ("OLLAMA_PHI3", "HF_PHI3"),
])
def test_go_and_hf_templates_agree(go_name, hf_name):
    assert go(OLLAMA[go_name], fx.CONVERSATION) == hf(HF[hf_name], fx.CONVERSATION)
    if go_name in ("OLLAMA_LLAMA3", "OLLAMA_PHI3"):
        # without a system message Qwen's HF template adds its default one (Ollama keeps it in SYSTEM), and
        # this llama3.1 template writes a stray <|eot_id|> (its `<|eot_id|>` sits outside `if .System`)
        assert go(OLLAMA[go_name], fx.NO_SYSTEM) == hf(HF[hf_name], fx.NO_SYSTEM)


def test_llama31_without_system_keeps_ollamas_stray_eot():
    assert go(fx.OLLAMA_LLAMA31, fx.NO_SYSTEM) == "<|eot_id|>" + hf(fx.HF_LLAMA3, fx.NO_SYSTEM)


def test_mistral_agrees_up_to_ollamas_trailing_space():
    # Ollama's own tests strip this trailing space for mistral (`{{- end }} {{ .Response }}`)
    for messages in (fx.CONVERSATION, fx.NO_SYSTEM):
        assert go(fx.OLLAMA_MISTRAL, messages) == hf(fx.HF_MISTRAL_V3, messages, eos_token="</s>") + " "


def test_gemma_family_agrees_without_a_system_prompt_and_differs_as_ollama_does_with_one():
    expected = hf(fx.HF_GEMMA3, fx.NO_SYSTEM)
    assert go(fx.OLLAMA_GEMMA, fx.NO_SYSTEM) == expected
    assert go(fx.OLLAMA_GEMMA3, fx.NO_SYSTEM) == expected
    assert go(fx.OLLAMA_GEMMA3_270M, fx.NO_SYSTEM) == expected + "\n"  # its file ends with a newline
    # with a system prompt each Ollama template has its own convention
    assert go(fx.OLLAMA_GEMMA, fx.CONVERSATION).startswith(
        "<start_of_turn>user\nYou are a helpful assistant. Hello, how are you?<end_of_turn>\n")
    assert go(fx.OLLAMA_GEMMA3, fx.CONVERSATION).startswith(
        "<start_of_turn>user\nYou are a helpful assistant.<end_of_turn>\n<start_of_turn>user\nHello")
    assert go(fx.OLLAMA_GEMMA3_270M, fx.CONVERSATION) == hf(fx.HF_GEMMA3, fx.CONVERSATION) + "\n"


# -- tools ---------------------------------------------------------------------------------------------------
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather <now>",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}}}}}]
CALL = {"role": "assistant", "content": "",
        "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}


def test_qwen25_tools_print_as_compact_json():
    messages = [{"role": "user", "content": "Weather?"}, CALL, {"role": "tool", "content": "sunny"}]
    out = go(fx.OLLAMA_QWEN25, messages, tools=TOOLS)
    assert ('{"type": "function", "function": {"name":"get_weather","description":"Weather \\u003cnow\\u003e",'
            '"parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}') in out
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city":"Paris"}}\n</tool_call><|im_end|>' in out
    assert out.endswith("<|im_start|>user\n<tool_response>\nsunny\n</tool_response><|im_end|>\n"
                        "<|im_start|>assistant\n")


def test_mistral_tools_and_tool_calls():
    out = go(fx.OLLAMA_MISTRAL, [{"role": "user", "content": "Weather?"}], tools=TOOLS)
    assert out.startswith('[AVAILABLE_TOOLS] [{"type":"function","function":{"name":"get_weather"')
    assert out.endswith("[/AVAILABLE_TOOLS][INST] Weather?[/INST] ")
    out = go(fx.OLLAMA_MISTRAL, [{"role": "user", "content": "Weather?"}, CALL])
    assert '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city":"Paris"}}]</s>' in out


# -- the subset ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("source", "expected"), [
    ("a  \n\t{{- .Prompt -}}  \n b", "aHello friend!b"),
    ("a {{- /* a comment */ -}} b{{/* another */}}!", "ab!"),
    ('{{ "tab\\tquote\\" \\u00e9" }}|{{ `raw\\n` }}', 'tab\tquote" é|raw\\n'),
    ("{{ 1 }} {{ 2.5 }} {{ true }} {{ nil }} {{ .Suffix }}", "1 2.5 true  "),
    ('{{ if eq .Prompt "x" "Hello friend!" }}yes{{ end }}', "yes"),
    ('{{ if and (ne .Prompt "") (not .System) }}ok{{ else }}no{{ end }}', "ok"),
    ('{{ if lt (len .Prompt) 3 }}short{{ else if gt (len .Prompt) 3 }}long{{ end }}', "long"),
    ("{{ with .Prompt }}[{{ . }}]{{ else }}none{{ end }}", "[Hello friend!]"),
    ("{{ with .System }}[{{ . }}]{{ else }}none{{ end }}", "none"),
    ("{{ .Prompt | len }}", "13"),
    ('{{ json "<a&b>" }}', '"\\u003ca\\u0026b\\u003e"'),
    ("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", "2"),
    ("{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}", "21"),
])
def test_subset_on_a_legacy_turn(source, expected):
    assert go(source + "{{ .Response }}", [{"role": "user", "content": "Hello friend!"}]) == expected


CONV = [{"role": "system", "content": "S1"}, {"role": "system", "content": "S2"},
        {"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"},
        {"role": "tool", "content": "t1"}, {"role": "tool", "content": "t2"}]


@pytest.mark.parametrize(("source", "expected"), [
    ("{{ .System }}|{{ range .Messages }}{{ .Role }}={{ .Content }};{{ end }}",
     "S1\n\nS2|system=S1\n\nS2;user=a\n\nb;assistant=c;tool=t1;tool=t2;"),
    ("{{ range $i, $m := .Messages }}{{ $i }}{{ $m.Role | len }}{{ end }}", "0614293444"),
    ("{{ range $i, $_ := .Messages }}{{ if eq $i 2 }}{{ break }}{{ end }}{{ if eq $i 0 }}{{ continue }}{{ end }}"
     "{{ .Role }}{{ end }}", "user"),
    ("{{ range .Tools }}x{{ else }}no tools{{ end }}{{ len .Messages }}", "no tools5"),
    ("{{ (index .Messages 1).Content }}|{{ index .Messages 2 \"role\" }}|{{ len (slice .Messages 1 3) }}",
     "a\n\nb|assistant|2"),
    ("{{ range $k, $v := (index .Messages 0) }}{{ $k }}:{{ $v | len }},{{ end }}", "content:6,role:6,"),
    ("{{ $last := 0 }}{{ range $i, $_ := .Messages }}{{ $last = $i }}{{ end }}{{ $last }}", "4"),
])
def test_subset_on_the_messages_form(source, expected):
    assert go(source, CONV) == expected


# -- errors name the construct and the line -------------------------------------------------------------------
@pytest.mark.parametrize(("source", "message", "line"), [
    ('{{ .System }}\n{{ range .Messages }}\n{{ template "x" }}\n{{ end }}',
     'unsupported Go template construct `{{ template "x" }}` at line 3', 3),
    ('{{ define "x" }}y{{ end }}', 'unsupported Go template construct `{{ define "x" }}` at line 1', 1),
    ('a\n{{ printf "%s" .Prompt }}', "unsupported Go template function `printf` at line 2", 2),
    ("{{ if .System }}\nx", "{{ if }} is never closed with {{ end }} at line 1", 1),
    ("x\n{{ end }}", "unexpected {{ end }} at line 2", 2),
    ("{{ .Prompt", "unclosed action", 1),
    ("\n\n{{ .Nope }}", "unsupported field .Nope", 3),
    ("{{ $y }}", "undefined variable $y at line 1", 1),
    ("{{ break }}", "{{ break }} outside a range", 1),
    ("{{ .Prompt 'c' }}", "character constants", 1),
    ("{{ eq .Prompt }}", "wrong number of arguments for eq", 1),
    ("{{ .Prompt .System }}", "non-function", 1),
    ("{{ .Prompt-}}", "needs a space", 1),
])
def test_unsupported_or_invalid_templates_raise_with_the_line(source, message, line):
    with pytest.raises(TemplateError) as info:
        translate(source)
    assert message in str(info.value)
    assert info.value.line == line


def test_translated_templates_keep_the_sandbox_caps():
    source = "{{ range .Messages }}{{ .Content }}{{ end }}"
    huge = [{"role": "user", "content": "x" * 600_000}, {"role": "assistant", "content": "y" * 600_000}]
    with pytest.raises(TemplateError, match="over the"):
        go(source, huge)


def test_long_conversation_renders_within_default_caps():
    # collating and `$last := eq (len (slice $.Messages $i)) 1` must stay linear-ish in the message count
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i} " * 20}
                for i in range(1001)]
    out = go(fx.OLLAMA_QWEN25, messages)
    assert out.count("<|im_start|>") == 1002 and out.endswith("<|im_start|>assistant\n")
