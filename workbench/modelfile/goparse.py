"""A parser for the subset of Go's text/template that Ollama chat templates use (for gotemplate.py).

Produces a small AST (Text, Action, If, With, Range, Keyword; expressions Field, Var, Lit, Call); `{{-`/`-}}`
trimming is applied while lexing, with Go's rule. Errors are TemplateError with a 1-based `.line`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import TemplateError

_KEYWORDS = {"if", "else", "end", "range", "with", "break", "continue", "template", "define", "block"}
_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<close>-?}})
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\\n]|\\.)+')
  | (?P<num>-?(?:0[xX][0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?))
  | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>:=|=|\(|\)|\||,)
""", re.VERBOSE)
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b",
                   "f": "\f", "v": "\v"}
_SPACE = " \t\r\n"


def error(message: str, line: int) -> TemplateError:
    err = TemplateError(f"{message} at line {line}" if line else message)
    err.line = line
    return err


# -- AST -----------------------------------------------------------------------------------------------------
@dataclass
class Field:
    chain: tuple[str, ...]
    base: object | None  # None = the current dot; else an expression the chain applies to
    line: int = 0

    def emit(self, em) -> str:
        return em.field(self.chain, None if self.base is None else self.base.emit(em), self.line)


@dataclass
class Var:
    name: str
    chain: tuple[str, ...]
    line: int = 0

    def emit(self, em) -> str:
        return em.variable(self, self.line)


@dataclass
class Lit:
    value: object
    line: int = 0

    def emit(self, em) -> str:
        return em.literal(self)


@dataclass
class Call:
    name: str
    args: list
    line: int = 0

    def emit(self, em) -> str:
        return em.call(self.name, [a.emit(em) for a in self.args], self.line)


@dataclass
class Text:
    text: str
    line: int = 0


@dataclass
class Action:
    pipe: object
    line: int = 0
    declare: tuple[str, ...] = ()
    op: str | None = None


@dataclass
class If:
    branches: list = field(default_factory=list)  # [(condition, body)]
    else_: list | None = None
    line: int = 0


@dataclass
class With(If):
    pass


@dataclass
class Range:
    vars: tuple[str, ...]
    op: str | None
    pipe: object
    body: list
    else_: list | None
    line: int = 0


@dataclass
class Keyword:
    keyword: str
    line: int = 0


GoNode = Text | Action | If | With | Range | Keyword


# -- lexing --------------------------------------------------------------------------------------------------
@dataclass
class _Item:
    kind: str  # "text" or "action"
    line: int
    text: str = ""
    tokens: list = field(default_factory=list)  # [(kind, value)]
    source: str = ""


def _lex(src: str) -> list[_Item]:
    items: list[_Item] = []
    pos, line, trim_next = 0, 1, False
    while True:
        start = src.find("{{", pos)
        text = src[pos:] if start < 0 else src[pos:start]
        if trim_next:
            text = text.lstrip(_SPACE)
        trim_left = start >= 0 and src[start + 2:start + 3] == "-" and src[start + 3:start + 4] in tuple(_SPACE)
        if trim_left:
            text = text.rstrip(_SPACE)
        if text:
            items.append(_Item("text", line, text=text))
        if start < 0:
            return items
        line += src.count("\n", pos, start)
        body = start + (4 if trim_left else 2)
        end, tokens, trim_next = _lex_action(src, body, line)
        items.append(_Item("action", line, tokens=tokens, source=src[start:end]))
        line += src.count("\n", start, end)
        pos = end


def _lex_action(src: str, pos: int, line: int) -> tuple[int, list, bool]:
    """Tokens of one action starting at pos; returns (end offset, tokens, trim-right)."""
    if src.startswith("/*", pos):
        close = src.find("*/", pos + 2)
        if close < 0:
            raise error("unclosed comment", line)
        rest = close + 2
        for closer, trim in (("}}", False), (" -}}", True)):
            if src.startswith(closer, rest):
                return rest + len(closer), [("comment", "")], trim
        raise error("comment ends before closing delimiter", line)
    tokens: list = []
    start = pos
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            raise error(f"unexpected {src[pos]!r} in action", line + src.count("\n", start, pos))
        kind, value = m.lastgroup, m.group()
        pos = m.end()
        if kind == "close":
            trim = value.startswith("-")
            if trim and not (tokens and tokens[-1][0] == "ws"):
                raise error("a `-}}` trim marker needs a space before it", line)
            return pos, [t for t in tokens if t[0] != "ws"], trim
        if kind == "char":
            raise error(f"character constants ({value}) are not supported", line)
        tokens.append((kind, value))
    raise error("unclosed action (no `}}`)", line)


def _go_string(token: str) -> str:
    if token.startswith("`"):
        return token[1:-1]

    def decode(m: re.Match) -> str:
        code = m.group(1)
        if code in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[code]
        if code[0] in "xuU":
            return chr(int(code[1:], 16))
        if code.isdigit():
            return chr(int(code, 8))
        raise TemplateError(f"unknown escape sequence \\{code}")

    return _ESCAPE.sub(decode, token[1:-1])


# -- parsing -------------------------------------------------------------------------------------------------
def parse_go(src: str) -> list[GoNode]:
    items = _lex(src)
    nodes, _, stop = _parse_list(items, 0, ())
    if stop is not None:
        raise error(f"unexpected {{{{ {stop.tokens[0][1]} }}}}", stop.line)
    return nodes


def _head(item: _Item) -> str | None:
    if item.kind == "action" and item.tokens and item.tokens[0][0] == "ident" and item.tokens[0][1] in _KEYWORDS:
        return item.tokens[0][1]
    return None


def _parse_list(items: list[_Item], i: int, stops: tuple[str, ...]):
    """Nodes until an action whose keyword is in stops; returns (nodes, index of that action, that item)."""
    nodes: list[GoNode] = []
    while i < len(items):
        item = items[i]
        head = _head(item)
        if head in stops:
            return nodes, i, item
        if item.kind == "text":
            nodes.append(Text(item.text, item.line))
        elif item.tokens and item.tokens[0][0] == "comment":
            pass
        elif head in ("if", "with"):
            node, i = _parse_branches(items, i, If if head == "if" else With)
            nodes.append(node)
            continue
        elif head == "range":
            node, i = _parse_range(items, i)
            nodes.append(node)
            continue
        elif head in ("else", "end"):
            raise error(f"unexpected {{{{ {head} }}}}", item.line)
        elif head in ("break", "continue"):
            if len(item.tokens) > 1:
                raise error(f"unexpected tokens after {head}", item.line)
            nodes.append(Keyword(head, item.line))
        elif head is not None:
            raise error(f"unsupported Go template construct `{item.source}`", item.line)
        else:
            declare, op, pipe = _parse_pipeline(item.tokens, item.line, ranged=False)
            nodes.append(Action(pipe, item.line, declare, op))
        i += 1
    return nodes, i, None


def _parse_branches(items, i, cls):
    first = items[i]
    keyword = _head(first)
    node = cls(line=first.line)
    tokens = first.tokens[1:]
    while True:
        _, _, cond = _parse_pipeline(tokens, first.line, ranged=False, allow_decl=False)
        body, i, stop = _parse_list(items, i + 1, ("else", "end"))
        if stop is None:
            raise error(f"{{{{ {keyword} }}}} is never closed with {{{{ end }}}}", first.line)
        node.branches.append((cond, body))
        if _head(stop) == "end":
            return node, i + 1
        rest = stop.tokens[1:]
        if rest and rest[0] == ("ident", keyword):  # else if / else with
            tokens = rest[1:]
            continue
        if rest:
            raise error(f"unexpected tokens after {{{{ else }}}} in {{{{ {keyword} }}}}", stop.line)
        node.else_, i, end = _parse_list(items, i + 1, ("else", "end"))
        if end is None or _head(end) != "end":
            raise error(f"{{{{ {keyword} }}}} is never closed with {{{{ end }}}}", first.line)
        return node, i + 1


def _parse_range(items, i):
    first = items[i]
    declare, op, pipe = _parse_pipeline(first.tokens[1:], first.line, ranged=True)
    body, i, stop = _parse_list(items, i + 1, ("else", "end"))
    if stop is None:
        raise error("{{ range }} is never closed with {{ end }}", first.line)
    else_ = None
    if _head(stop) == "else":
        if len(stop.tokens) > 1:
            raise error("unexpected tokens after {{ else }} in {{ range }}", stop.line)
        else_, i, stop = _parse_list(items, i + 1, ("else", "end"))
        if stop is None or _head(stop) != "end":
            raise error("{{ range }} is never closed with {{ end }}", first.line)
    return Range(declare, op, pipe, body, else_, first.line), i + 1


def _parse_pipeline(tokens, line, *, ranged, allow_decl=True):
    declare: tuple[str, ...] = ()
    op = None
    if allow_decl and tokens and tokens[0][0] == "var":
        names, j = [tokens[0][1]], 1
        if ranged and len(tokens) > 2 and tokens[1] == ("punct", ",") and tokens[2][0] == "var":
            names.append(tokens[2][1])
            j = 3
        if len(tokens) > j and tokens[j][0] == "punct" and tokens[j][1] in (":=", "="):
            declare, op, tokens = tuple(names), tokens[j][1], tokens[j + 1:]
            if any("." in n for n in declare):
                raise error("cannot assign to a field", line)
    if not tokens:
        raise error("missing value in action", line)
    expr, rest = _pipeline(tokens, line)
    if rest:
        raise error(f"unexpected {rest[0][1]!r} in action", line)
    return declare, op, expr


def _pipeline(tokens, line):
    """Commands separated by `|` up to an unmatched `)`; the value of each feeds the next as its last arg."""
    value = None
    while True:
        command, tokens = _command(tokens, line)
        if value is not None:
            if not isinstance(command, Call):
                raise error("a pipeline stage after `|` must be a function", line)
            command.args.append(value)
        value = command
        if tokens and tokens[0] == ("punct", "|"):
            tokens = tokens[1:]
            continue
        return value, tokens


def _command(tokens, line):
    operands = []
    while tokens and tokens[0] not in (("punct", "|"), ("punct", ")")):
        operand, tokens = _operand(tokens, line, first=not operands)
        operands.append(operand)
    if not operands:
        raise error("missing value in action", line)
    head = operands[0]
    if isinstance(head, _FuncName):
        return Call(head.name, operands[1:], line), tokens
    if len(operands) > 1:
        raise error("can't give an argument to a non-function", line)
    return head, tokens


@dataclass
class _FuncName:
    name: str


def _operand(tokens, line, *, first):
    kind, value = tokens[0]
    rest = tokens[1:]
    if kind == "field":
        return Field(() if value == "." else tuple(value[1:].split(".")), None, line), rest
    if kind == "var":
        name, *chain = value.split(".")
        return Var(name, tuple(chain), line), rest
    if kind in ("str", "raw"):
        return Lit(_go_string(value), line), rest
    if kind == "num":
        return Lit(float(value) if re.search(r"[.eE]", value) and "x" not in value.lower() else int(value, 0),
                   line), rest
    if kind == "ident":
        if value in ("true", "false"):
            return Lit(value == "true", line), rest
        if value == "nil":
            return Lit(None, line), rest
        if value in _KEYWORDS:
            raise error(f"unexpected keyword {value} in expression", line)
        return (_FuncName(value) if first else Call(value, [], line)), rest
    if (kind, value) == ("punct", "("):
        inner, rest = _pipeline(rest, line)
        if not rest or rest[0] != ("punct", ")"):
            raise error("unclosed parenthesis", line)
        rest = rest[1:]
        if rest and rest[0][0] == "field" and rest[0][1] != ".":  # (pipeline).Field
            return Field(tuple(rest[0][1][1:].split(".")), inner, line), rest[1:]
        return inner, rest
    raise error(f"unexpected {value!r} in action", line)
