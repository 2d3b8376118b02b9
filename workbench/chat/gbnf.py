"""GBNF text for forced tool calls: rule names prefixed so several schemas share one grammar, and the XML and
pythonic call syntaxes (chat/tool_text_calls.py) built from a tool's JSON schema. Imports nothing of chat/, so
tool_calls.py and tool_text_calls.py can both use it.
"""

from __future__ import annotations

import re

_GBNF_PIECE = re.compile(r'"(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\]|[A-Za-z][A-Za-z0-9-]*|.', re.DOTALL)


def prefixed_rules(grammar: str, prefix: str) -> str:
    """Every rule name of a GBNF text prefixed (so several schemas' rules can share one grammar); quoted
    literals and character classes are left alone."""
    return "".join(prefix + piece if piece[0].isalpha() else piece for piece in _GBNF_PIECE.findall(grammar))


# -- a grammar forcing one call (tool_choice required or a named function) ----------------------------------------
def text_call_grammar(functions: list[dict], fmt: str, schema_grammar) -> str:
    """GBNF for one call in the XML or pythonic syntax; each value valid for its property's schema."""
    alternatives, rules = [], []
    for i, function in enumerate(functions):
        schema = function.get("parameters") or {}
        required = set(schema.get("required") or ())
        pieces = []
        for j, (key, prop) in enumerate((schema.get("properties") or {}).items()):
            value = f"c{i}-p{j}-root"
            if fmt == "xml" and (prop or {}).get("type") == "string" and not {"enum", "const"} & set(prop):
                limit = prop.get("maxLength")  # raw text up to </parameter>
                value = f"[^<]{{1,{int(limit)}}}" if isinstance(limit, int) and limit > 0 else "[^<]+"
            else:
                rules.append(prefixed_rules(schema_grammar(prop or {}), f"c{i}-p{j}-"))
            pieces.append((key, value, key in required))
        alternatives.append(_xml_call(function["name"], pieces) if fmt == "xml" else
                            _python_call(function["name"], pieces))
    return f"root ::= {' | '.join(alternatives)}\n" + "\n".join(rules)


def _xml_call(name: str, pieces: list[tuple[str, str, bool]]) -> str:
    params = [f'"<parameter={key}>\\n" {value} "\\n</parameter>\\n"' for key, value, _ in pieces]
    params = [p if required else f"( {p} )?" for p, (_, _, required) in zip(params, pieces, strict=True)]
    return f'( "<tool_call>\\n<function={name}>\\n" {" ".join(params)} "</function>\\n</tool_call>" )'


def _python_call(name: str, pieces: list[tuple[str, str, bool]]) -> str:
    """Required keywords only, in the schema's order (an optional one left out is the function's default)."""
    keywords = ' ", " '.join(f'"{key}=" {value}' for key, value, required in pieces if required)
    return f'( "[{name}(" {keywords} ")]" )' if keywords else f'( "[{name}()]" )'
