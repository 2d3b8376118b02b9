"""Chat templates in each reasoning and tool-call style over the tiny model, and grammars that make it write an
exact text — so the parsers run on real streamed tokens from the real engine."""

from __future__ import annotations

import json

_TURNS = ("{% for m in messages %}{% if m['role'] == 'tool' %}{{ '<|user|>result: ' + m['content'] + '<|end|>' }}"
          "{% elif m.get('tool_calls') %}{{ '<|assistant|>calls: ' + (m['tool_calls'] | tojson) + '<|end|>' }}"
          "{% else %}{{ '<|' + m['role'] + '|>' + (m['content'] or '') + '<|end|>' }}{% endif %}{% endfor %}")
_TOOLS = "{% if tools %}<|system|>tools: {{ tools | tojson }} {HOW}<|end|>{% endif %}"

# Qwen3's way: the template opens <think> and has an enable_thinking switch (off = an empty block)
THINKER = (_TURNS + "{% if add_generation_prompt %}<|assistant|>{% if enable_thinking is defined and not "
           "enable_thinking %}<think>\n\n</think>\n\n{% else %}<think>\n{% endif %}{% endif %}")
# DeepSeek-R1's way: no switch, the model opens the block itself; earlier thinking is cut from the history
SELF_OPENING = ("{% for m in messages %}{% set c = m['content'] or '' %}{% if '</think>' in c %}"
                "{% set c = c.split('</think>')[-1] %}{% endif %}{{ '<|' + m['role'] + '|>' + c + '<|end|>' }}"
                "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")
HERMES = _TOOLS.replace("{HOW}", "Call one as <tool_call>{\"name\": ..., \"arguments\": ...}</tool_call>") + \
    THINKER
LLAMA3 = _TOOLS.replace("{HOW}", "Answer with {\"name\": ..., \"parameters\": ...} or <|python_tag|>") + _TURNS + \
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
MISTRAL = _TOOLS.replace("{HOW}", "Call as [TOOL_CALLS][{\"name\": ..., \"arguments\": ...}]") + _TURNS + \
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
HARMONY = ("<|system|>Reasoning: {{ reasoning_effort | default('medium') }} <|channel|>analysis, commentary, final"
           "{% if tools %} tools: {{ tools | tojson }} (to=functions.NAME){% endif %}<|end|>" + _TURNS +
           "{% if add_generation_prompt %}<|start|>assistant{% endif %}")
PLAIN_TOOLS = _TOOLS.replace("{HOW}", "Answer with JSON.") + _TURNS + \
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"

# Qwen3-Coder's XML calls and the pythonic list of Llama 3.2 / 4 (their detection keys are in the text)
XML = _TOOLS.replace("{HOW}", "Call as <tool_call><function=NAME><parameter=KEY>VALUE</parameter></function>"
                     "</tool_call>") + _TURNS + "{% if add_generation_prompt %}<|assistant|>{% endif %}"
PYTHONIC = _TOOLS.replace("{HOW}", "Call as [func_name1(params_name1=params_value1)]") + _TURNS + \
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"

TEMPLATES = {"thinker": THINKER, "self-opening": SELF_OPENING, "hermes": HERMES, "llama3": LLAMA3,
             "mistral": MISTRAL, "harmony": HARMONY, "plain-tools": PLAIN_TOOLS, "xml": XML, "pythonic": PYTHONIC}

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 12}},
                   "required": ["city"], "additionalProperties": False}}}
ADD = {"type": "function", "function": {
    "name": "add", "parameters": {"type": "object", "properties": {"a": {"type": "integer"},
                                                                   "b": {"type": "integer"}},
                                  "required": ["a", "b"]}}}


def literal(text: str) -> str:
    """A GBNF grammar whose only sentence is `text` (JSON string escapes are GBNF's too)."""
    return f"root ::= {json.dumps(text)}"


def add_presets(wb) -> None:
    """A preset per template, over the tiny model imported as tiny:F32."""
    for name, template in TEMPLATES.items():
        wb.presets.create(name, f'FROM tiny:F32\nTEMPLATE """{template}"""\nPARAMETER num_ctx 2048\n')
