"""Chat templates: real-world templates render exactly as transformers does; hostile ones are refused; runaway
ones are stopped by the time and size caps."""

from __future__ import annotations

import datetime
import hashlib
import threading

import pytest

from tests import chat_fixtures as fx
from workbench.engine.templates import ChatTemplate, render_prompt
from workbench.errors import TemplateError, TemplateSecurityError

GREETING = "I'd like to show off how chat templating works!"


# -- real templates, exact strings ---------------------------------------------------------------------------
def test_qwen25_chatml_exact():
    out = ChatTemplate(fx.HF_QWEN25, eos_token="<|im_end|>").render(fx.CONVERSATION)
    assert out == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nHello, how are you?<|im_end|>\n"
        "<|im_start|>assistant\nI'm doing great. How can I help you today?<|im_end|>\n"
        f"<|im_start|>user\n{GREETING}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_qwen25_default_system_and_no_generation_prompt():
    out = ChatTemplate(fx.HF_QWEN25).render(fx.NO_SYSTEM[:1], add_generation_prompt=False)
    assert out == ("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
                   "<|im_end|>\n<|im_start|>user\nHello, how are you?<|im_end|>\n")


def test_llama3_exact_with_bos():
    out = ChatTemplate(fx.HF_LLAMA3, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>").render(fx.CONVERSATION)
    assert out == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHello, how are you?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nI'm doing great. How can I help you today?<|eot_id|>"
        f"<|start_header_id|>user<|end_header_id|>\n\n{GREETING}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_gemma3_exact_system_folded_into_first_user_turn():
    out = ChatTemplate(fx.HF_GEMMA3, bos_token="<bos>", eos_token="<eos>").render(fx.CONVERSATION)
    assert out == (
        "<bos><start_of_turn>user\nYou are a helpful assistant.\n\nHello, how are you?<end_of_turn>\n"
        "<start_of_turn>model\nI'm doing great. How can I help you today?<end_of_turn>\n"
        f"<start_of_turn>user\n{GREETING}<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_mistral_v3_exact_system_in_last_user_turn():
    out = ChatTemplate(fx.HF_MISTRAL_V3, bos_token="<s>", eos_token="</s>").render(fx.CONVERSATION)
    assert out == (
        "<s>[INST] Hello, how are you?[/INST] I'm doing great. How can I help you today?</s>"
        f"[INST] You are a helpful assistant.\n\n{GREETING}[/INST]"
    )


def test_mistral_v3_matches_llama_cpp_expectation():
    # llama.cpp's test-chat-template.cpp conversation and its expected Jinja output for this template
    messages = [{"role": "system", "content": "You are a helpful assistant"}, {"role": "user", "content": "Hello"},
                {"role": "assistant", "content": "Hi there"}, {"role": "user", "content": "Who are you"},
                {"role": "assistant", "content": "   I am an assistant   "},
                {"role": "user", "content": "Another question"}]
    out = ChatTemplate(fx.HF_MISTRAL_V3, eos_token="</s>").render(messages)
    assert out == ("[INST] Hello[/INST] Hi there</s>[INST] Who are you[/INST] I am an assistant</s>"
                   "[INST] You are a helpful assistant\n\nAnother question[/INST]")


def test_phi3_exact_and_eos_without_generation_prompt():
    template = ChatTemplate(fx.HF_PHI3, eos_token="<|endoftext|>")
    assert template.render(fx.CONVERSATION) == (
        "<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nHello, how are you?<|end|>\n"
        "<|assistant|>\nI'm doing great. How can I help you today?<|end|>\n"
        f"<|user|>\n{GREETING}<|end|>\n<|assistant|>\n"
    )
    assert template.render(fx.NO_SYSTEM[:1], add_generation_prompt=False) == (
        "<|user|>\nHello, how are you?<|end|>\n<|endoftext|>")


def test_raise_exception_keeps_the_templates_message():
    with pytest.raises(TemplateError) as info:
        ChatTemplate(fx.HF_GEMMA3).render([{"role": "assistant", "content": "first"}])
    assert str(info.value) == "Conversation roles must alternate user/assistant/user/assistant/..."
    assert not isinstance(info.value, TemplateSecurityError)


def test_tools_and_tojson_like_transformers():
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Wetter für eine Stadt",
                                               "parameters": {"type": "object", "properties": {"city": {
                                                   "type": "string"}}, "required": ["city"]}}}]
    messages = [{"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": "",
                 "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
                {"role": "tool", "content": "sunny"}]
    out = ChatTemplate(fx.HF_QWEN25).render(messages, tools=tools)
    assert ('<tools>\n{"type": "function", "function": {"name": "get_weather", "description": "Wetter für eine '
            'Stadt", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, '
            '"required": ["city"]}}}\n</tools>') in out
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>' in out
    assert "<|im_start|>user\n<tool_response>\nsunny\n</tool_response><|im_end|>\n" in out


def test_helpers_indent_strftime_extra_variables_and_generation_block():
    source = ("{{ data|tojson(indent=2) }}|{{ strftime_now('%Y') }}|{{ date_string }}|"
              "{% generation %}{{ messages[0].content }}{% endgeneration %}|"
              "{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}{{ m.role }}{% endfor %}")
    out = ChatTemplate(source).render(fx.NO_SYSTEM, data={"a": [1, "ü"]}, date_string="26 Jul 2024")
    year = str(datetime.datetime.now().year)
    assert out == '{\n  "a": [\n    1,\n    "ü"\n  ]\n}|' + year + "|26 Jul 2024|Hello, how are you?|user"


def test_trim_blocks_and_trailing_newline_like_transformers():
    source = "{% for m in messages %}\n  {%- if true %}\n[{{ m.role }}]\n  {% endif %}\n{% endfor %}\nend\n"
    assert ChatTemplate(source).render(fx.NO_SYSTEM[:2]) == "[user]\n[assistant]\nend"


def test_sha256_and_cached_render_prompt():
    template = ChatTemplate(fx.HF_PHI3)
    assert template.sha256 == hashlib.sha256(fx.HF_PHI3.encode()).hexdigest()
    assert render_prompt(fx.HF_PHI3, fx.CONVERSATION) == template.render(fx.CONVERSATION)


def test_long_conversation_renders_within_default_caps():
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i} " * 30}
                for i in range(2000)]
    out = ChatTemplate(fx.HF_QWEN25).render(messages)
    assert out.count("<|im_start|>") == 2002 and len(out) > 500_000


# -- errors name the line ------------------------------------------------------------------------------------
def test_syntax_error_names_the_line():
    with pytest.raises(TemplateError, match="syntax error at line 3"):
        ChatTemplate("{{ bos_token }}\n{% for m in messages %}\n{% if %}\n{% endfor %}")


def test_runtime_error_names_the_line():
    with pytest.raises(TemplateError, match=r"at line 2: .*'nope' is undefined"):
        ChatTemplate("ok\n{{ nope.field }}").render(fx.CONVERSATION)


@pytest.mark.parametrize("bad", [None, "hello", {"role": "user"}])
def test_messages_must_be_a_list(bad):
    with pytest.raises(TemplateError, match="messages must be a list"):
        ChatTemplate("{{ messages }}").render(bad)


def test_empty_template_is_refused():
    with pytest.raises(TemplateError, match="empty"):
        ChatTemplate("   ")


# -- hostile templates ---------------------------------------------------------------------------------------
HOSTILE = [
    "{{ self.__init__.__globals__.__builtins__.__import__('os').system('touch MARK') }}",
    "{{ cycler.__init__.__globals__.os.system('touch MARK') }}",
    "{{ joiner.__init__.__globals__.os.system('touch MARK') }}",
    "{{ namespace.__init__.__globals__.os.system('touch MARK') }}",
    "{{ lipsum.__globals__['os'].system('touch MARK') }}",
    "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% if c.__name__ == 'Popen' %}"
    "{{ c(['touch', 'MARK']) }}{% endif %}{% endfor %}",
    "{{ ''.__class__ }}",
    "{{ messages.__class__.__base__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ messages['__class__'] }}",
    "{{ '{0.__class__}'.format(messages) }}",
    "{{ self._TemplateReference__context }}",
    "{{ raise_exception.__globals__ }}",
    "{% set x = self.__init__ %}done",
]


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_templates_raise_security_error_and_run_nothing(payload, tmp_path):
    mark = tmp_path / "pwned"
    with pytest.raises(TemplateSecurityError):
        ChatTemplate(payload.replace("MARK", str(mark))).render(fx.CONVERSATION)
    assert not mark.exists()


def test_templates_cannot_mutate_the_callers_messages():
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(TemplateSecurityError):
        ChatTemplate("{{ messages.append({'role': 'x'}) }}{{ messages[0].update({'content': 'x'}) }}").render(messages)
    assert messages == [{"role": "user", "content": "hi"}]


# -- runaway templates ---------------------------------------------------------------------------------------
RUNAWAY = {
    "nested empty loops": ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
                           "ran longer than"),
    "triple nested loop with loopcontrols": (
        "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}{% continue %}"
        "{% endfor %}{% endfor %}{% endfor %}", "ran longer than"),
    "doubling with ~": ("{% set ns = namespace(x='ab') %}{% for i in range(64) %}{% set ns.x = ns.x ~ ns.x %}"
                        "{% endfor %}{{ ns.x|length }}", "over the"),
    "doubling with +": ("{% set ns = namespace(x='ab') %}{% for i in range(64) %}{% set ns.x = ns.x + ns.x %}"
                        "{% endfor %}", "over the"),
    "string times huge": ("{{ 'a' * 1000000000 }}", "over the"),
    "list times huge": ("{{ ([1] * 1000000000)|length }}", "over the"),
    "nested list doubling": ("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = [ns.l, ns.l] %}"
                             "{% endfor %}{{ ns.l }}", "over the"),
    "dict doubling": ("{% set ns = namespace(d={}) %}{% for i in range(64) %}{% set ns.d = {'a': ns.d, 'b': ns.d} %}"
                      "{% endfor %}{{ ns.d|tojson }}", "over the"),
    "big power": ("{{ 9 ** (9 ** 9) }}", "bits"),
    "repeated squaring": ("{% set ns = namespace(n=3) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}"
                          "{% endfor %}{{ ns.n }}", "bits"),
    "center": ("{{ 'x'|center(1000000000) }}", "over the"),
    "str.center": ("{{ 'x'.center(1000000000) }}", "over the"),
    "ljust": ("{{ 'x'.ljust(1000000000) }}", "over the"),
    "percent width": ("{{ '%1000000000d' % 1 }}", "over the"),
    "format filter width": ("{{ '%1000000000s'|format('x') }}", "over the"),
    "str.format width": ("{{ '{:>1000000000}'.format(1) }}", "over the"),
    "str.format repeats": ("{% set x = 'a' * 900000 %}{{ ('{0}' * 1000).format(x) }}", "over the"),
    "replace blowup": ("{% set x = 'a' * 100000 %}{{ x.replace('a', x) }}", "over the"),
    "replace filter blowup": ("{% set x = 'a' * 100000 %}{{ x|replace('a', x) }}", "over the"),
    "join with a big separator": ("{% set x = 'a' * 900000 %}{{ range(1000)|map('string')|join(x) }}", "over the"),
    "str.join with a big separator": ("{% set x = 'a' * 900000 %}{{ x.join(range(1000)|map('string')) }}",
                                      "over the"),
    "indent blowup": ("{% set x = '\n' * 100000 %}{{ x|indent(1000) }}", "over the"),
    "wordwrap blowup": ("{% set x = 'ab ' * 100000 %}{{ x|wordwrap(1, wrapstring='-' * 1000) }}", "over the"),
    "macro buffer": ("{% macro m() %}{% for i in range(2000) %}{{ 'x' * 1000 }}{% endfor %}{% endmacro %}"
                     "{% set y = m() %}{{ y|length }}", "over the"),
    "set block": ("{% set y %}{% for i in range(2000) %}{{ 'x' * 1000 }}{% endfor %}{% endset %}", "over the"),
    "output": ("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", "output is over"),
    "sum of lists": ("{% set l = [[1] * 900] * 900 %}{{ (l|sum(start=[]))|length }}", "over the"),
    "recursive macro": ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "recursed"),
    "branching recursion": ("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
                            "{{ f(60) }}", "ran longer than"),
    "recursive loop": ("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "recursed"),
    "tojson indent blowup": ("{% set ns = namespace(l=['x']) %}{% for i in range(300) %}{% set ns.l = [ns.l] %}"
                             "{% endfor %}{{ ([ns.l] * 2000)|tojson(indent=200) }}", "over the"),
    "lipsum": ("{{ lipsum(1000000) }}", "out of range"),
    "self-containing namespace": ("{% set ns = namespace() %}{% set ns.me = ns %}{{ [ns] }}", "contains itself"),
}


@pytest.mark.parametrize("name", list(RUNAWAY))
def test_runaway_templates_are_stopped(name):
    source, message = RUNAWAY[name]
    # time cases get a short clock; size cases a long one, so only the cap under test can stop them
    seconds = 0.3 if message == "ran longer than" else 60
    threads = threading.active_count()
    with pytest.raises(TemplateError, match=message) as info:
        ChatTemplate(source, max_seconds=seconds).render(fx.CONVERSATION)
    assert not isinstance(info.value, TemplateSecurityError)
    assert threading.active_count() == threads  # the render ran on this thread and left nothing behind


def test_caps_are_configurable():
    source = "{% for i in range(1000) %}{{ 'x' * 100 }}{% endfor %}"
    assert len(ChatTemplate(source).render([])) == 100_000
    with pytest.raises(TemplateError, match="50,000 character limit"):
        ChatTemplate(source, max_output_chars=50_000).render([])
