"""Ollama's Go-template chat templates, translated to Jinja so one sandbox renders every template.

`translate(go_source)` parses the subset real Ollama templates use (goparse.py) and emits equivalent Jinja,
mirroring Ollama's template/template.go: the messages and legacy forms, if/range/with, variables, pipelines and
the usual functions (docs/design.md §6.2). Anything else is a TemplateError naming the construct and its line.
"""

from __future__ import annotations

import re

from .goparse import Action, Call, Field, GoNode, If, Lit, Range, Text, Var, With, error, parse_go

__all__ = ["is_go_template", "translate"]

_GO_MARKERS = re.compile(
    r"\{\{-?\s*(?:\.|\$|end\b|if\s|range\s|with\s|else\b|template\s|define\s|block\s|/\*|break\b|continue\b)"
)
_ROOT_COMMON = {"Tools": "tools", "Suffix": "''", "Query": "''", "Document": "''", "Instruction": "''",
                "Think": "(think if think is defined else false)", "IsThinkSet": "(think is defined)"}
_MESSAGES_ROOT = {**_ROOT_COMMON, "System": "_go.system", "Messages": "_go.messages", "Response": "''",
                  "Prompt": "''"}
_LEGACY_ROOT = {**_ROOT_COMMON, "System": "_gs", "Prompt": "_gp", "Response": "_gr", "Tools": "none"}

# Go prints values with fmt; Ollama's api types (tools, tool-call arguments) print as compact JSON, and
# json.Marshal escapes <, > and & — so maps and lists are written that way. Missing values print nothing.
_PRELUDE = (
    "{%+ macro _go_p(x) +%}{%+ if x is string +%}{{ x }}{%+ elif x is none or x is undefined +%}"
    "{%+ elif x is boolean or x is mapping or x is sequence +%}"
    "{{ x|tojson(separators=(',', ':'))|replace('<', '\\\\u003c')|replace('>', '\\\\u003e')"
    "|replace('&', '\\\\u0026') }}{%+ else +%}{{ x }}{%+ endif +%}{%+ endmacro +%}"
)
# Ollama's collate(): system messages joined; consecutive messages of one role merged (tool results kept apart)
_COLLATE = (
    "{%+ set _go = namespace(system='', messages=[], parts=[]) +%}"
    "{%+ for _m in messages +%}"
    "{%+ if _m['role'] == 'system' +%}{%+ set _go.parts = _go.parts + [_m['content'] or ''] +%}{%+ endif +%}"
    "{%+ if _go.messages and _go.messages[-1]['role'] == _m['role'] and _m['role'] != 'tool' +%}"
    "{%+ set _go.messages = _go.messages[:-1] + [dict(_go.messages[-1], content=(_go.messages[-1]['content'] "
    "or '') ~ '\\n\\n' ~ (_m['content'] or ''))] +%}"
    "{%+ else +%}{%+ set _go.messages = _go.messages + [_m] +%}{%+ endif +%}"
    "{%+ endfor +%}{%+ set _go.system = _go.parts|join('\\n\\n') +%}"
)
# Ollama's legacy loop: one render per turn, flushed when a new system or user message starts a turn
_LEGACY_LOOP = (
    "{%+ set _go.prompt = '' +%}{%+ set _go.response = '' +%}{%+ set _go.system = '' +%}"
    "{%+ for _m in _go.messages +%}"
    "{%+ if _m['role'] == 'system' +%}"
    "{%+ if _go.prompt or _go.response +%}{{ _go_full(_go.system, _go.prompt, _go.response) }}"
    "{%+ set _go.system = '' +%}{%+ set _go.prompt = '' +%}{%+ set _go.response = '' +%}{%+ endif +%}"
    "{%+ set _go.system = _m['content'] or '' +%}"
    "{%+ elif _m['role'] == 'user' +%}"
    "{%+ if _go.response +%}{{ _go_full(_go.system, _go.prompt, _go.response) }}"
    "{%+ set _go.system = '' +%}{%+ set _go.prompt = '' +%}{%+ set _go.response = '' +%}{%+ endif +%}"
    "{%+ set _go.prompt = _m['content'] or '' +%}"
    "{%+ elif _m['role'] == 'assistant' +%}{%+ set _go.response = _m['content'] or '' +%}"
    "{%+ endif +%}{%+ endfor +%}{{ _go_cut(_go.system, _go.prompt, _go.response) }}"
)


def is_go_template(text: str) -> bool:
    """True when text looks like an Ollama Go template rather than Jinja (Go never writes `{%`)."""
    if "{%" in text or "{#" in text:
        return False
    return bool(_GO_MARKERS.search(text))


def translate(go_source: str) -> str:
    """Jinja source equivalent to an Ollama Go template; TemplateError (with `.line`) for what is unsupported."""
    nodes = parse_go(go_source)
    names = {name.lower() for name in _uses(nodes)}
    if "messages" in names or "document" in names:
        body = _Emitter(_MESSAGES_ROOT).block(nodes)
        return _PRELUDE + _COLLATE + "{%+ set _gv = namespace() +%}" + body + "{{ '' }}"
    if "response" not in names:
        nodes = [*nodes, Action(Field(("Response",), None), line=0)]
    full = _Emitter(_LEGACY_ROOT).block(nodes)
    cut = _Emitter(_LEGACY_ROOT).block(_cut_after_response(nodes))
    macros = "".join(
        f"{{%+ macro {name}(_gs, _gp, _gr) +%}}{{%+ set _gv = namespace() +%}}{body}{{%+ endmacro +%}}"
        for name, body in (("_go_full", full), ("_go_cut", cut))
    )
    return _PRELUDE + macros + _COLLATE + _LEGACY_LOOP + "{{ '' }}"


def _jinja_str(text: str) -> str:
    """A Jinja string literal for text (Jinja decodes Python-style backslash escapes)."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


def _snake(name: str) -> str:
    parts = re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+", name)
    return "_".join(p.lower() for p in parts) or name.lower()


class _Emitter:
    """Walks the Go AST and writes Jinja. Go variables live in a namespace `_gv` (so `$x = ...` inside a
    range or if changes the outer variable, as in Go), each declaration under its own unique attribute."""

    def __init__(self, root: dict[str, str]):
        self.root = root
        self.scopes: list[dict[str, str]] = [{"$": "$"}]
        self.counter = 0
        self.dots: list[str] = ["$"]  # "$" = the root map
        self.loops = 0

    def block(self, nodes: list[GoNode]) -> str:
        return "".join(self.node(n) for n in nodes)

    def node(self, n: GoNode) -> str:
        if isinstance(n, Text):
            return n.text if "{" not in n.text and "}" not in n.text else "{{ " + _jinja_str(n.text) + " }}"
        if isinstance(n, Action):
            return self.action(n)
        if isinstance(n, With):  # before If: With is a kind of If
            return self.with_(n)
        if isinstance(n, If):
            return self.if_(n)
        if isinstance(n, Range):
            return self.range_(n)
        if not self.loops:  # a Keyword is break or continue; the parser refuses the others
            raise error(f"{{{{ {n.keyword} }}}} outside a range", n.line)
        return f"{{%+ {n.keyword} +%}}"

    def action(self, n: Action) -> str:
        value = self.expr(n.pipe)
        if n.declare:
            target = self.declare(n.declare[0], n.line) if n.op == ":=" else self.resolve(n.declare[0], n.line)
            return f"{{%+ set _gv.{target} = {value} +%}}"
        return f"{{{{ _go_p({value}) }}}}"

    def if_(self, n: If) -> str:
        out = []
        for i, (cond, body) in enumerate(n.branches):
            out.append(f"{{%+ {'if' if i == 0 else 'elif'} {self.expr(cond)} +%}}")
            out.append(self.scoped(body))
        if n.else_ is not None:
            out.append("{%+ else +%}" + self.scoped(n.else_))
        return "".join(out) + "{%+ endif +%}"

    def with_(self, n: With) -> str:
        out = []
        for i, (cond, body) in enumerate(n.branches):
            value = self.expr(cond)
            self.counter += 1
            slot = f"w{self.counter}"
            out.append(f"{{%+ {'if' if i == 0 else 'elif'} {value} +%}}{{%+ set _gv.{slot} = {value} +%}}")
            self.dots.append(f"_gv.{slot}")
            out.append(self.scoped(body))
            self.dots.pop()
        if n.else_ is not None:
            out.append("{%+ else +%}" + self.scoped(n.else_))
        return "".join(out) + "{%+ endif +%}"

    def range_(self, n: Range) -> str:
        self.counter += 1
        k = self.counter
        src = self.expr(n.pipe)
        items = f"(({src} or {{}})|dictsort(true) if {src} is mapping else ({src} or []))"
        head = f"{{%+ for _p{k} in {items} +%}}{{%+ set _e{k} = (_p{k}[1] if {src} is mapping else _p{k}) +%}}"
        self.scopes.append({})
        if n.vars:
            key_var, elem_var = (None, n.vars[0]) if len(n.vars) == 1 else n.vars
            if key_var:
                name = self.declare(key_var, n.line) if n.op == ":=" else self.resolve(key_var, n.line)
                head += f"{{%+ set _gv.{name} = (_p{k}[0] if {src} is mapping else loop.index0) +%}}"
            name = self.declare(elem_var, n.line) if n.op == ":=" else self.resolve(elem_var, n.line)
            head += f"{{%+ set _gv.{name} = _e{k} +%}}"
        self.dots.append(f"_e{k}")
        self.loops += 1
        body = self.block(n.body)
        self.loops -= 1
        self.dots.pop()
        self.scopes.pop()
        tail = "{%+ else +%}" + self.scoped(n.else_) if n.else_ is not None else ""
        return head + body + tail + "{%+ endfor +%}"

    def scoped(self, nodes: list[GoNode]) -> str:
        self.scopes.append({})
        try:
            return self.block(nodes)
        finally:
            self.scopes.pop()

    # -- variables --------------------------------------------------------------------------------------
    def declare(self, name: str, line: int) -> str:
        self.counter += 1
        unique = f"{re.sub(r'[^A-Za-z0-9_]', '', name[1:]) or 'v'}_{self.counter}"
        self.scopes[-1][name] = unique
        return unique

    def resolve(self, name: str, line: int) -> str:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise error(f"undefined variable {name}", line)

    # -- expressions ------------------------------------------------------------------------------------
    def expr(self, e) -> str:
        return e.emit(self)

    def field(self, chain: tuple[str, ...], base: str | None, line: int) -> str:
        """`.A.B` on the current dot (base None), on `$`, or on an already-emitted expression."""
        if base is None:
            base = self.dots[-1]
        if base == "$":
            if not chain:
                raise error("the root value `$` cannot be printed or used directly", line)
            head, chain = chain[0], chain[1:]
            if head not in self.root:
                raise error(f"unsupported field .{head} (Ollama templates see "
                             f"{', '.join('.' + k for k in sorted(self.root))})", line)
            base = self.root[head]
        return base + "".join(f"[{_jinja_str(_snake(part))}]" for part in chain)

    def variable(self, v: Var, line: int) -> str:
        if v.name == "$":
            return self.field(v.chain, "$", line)
        return self.field(v.chain, f"_gv.{self.resolve(v.name, line)}", line)

    def call(self, name: str, a: list[str], line: int) -> str:
        """A Go function call as a Jinja expression (arguments already translated)."""
        n = len(a)

        def need(ok: bool) -> None:
            if not ok:
                raise error(f"wrong number of arguments for {name} ({n})", line)

        if name == "eq":
            need(n >= 2)
            return "(" + " or ".join(f"{a[0]} == {b}" for b in a[1:]) + ")"
        if name in ("ne", "lt", "le", "gt", "ge"):
            need(n == 2)
            return f"({a[0]} {dict(ne='!=', lt='<', le='<=', gt='>', ge='>=')[name]} {a[1]})"
        if name in ("and", "or"):
            need(n >= 1)
            return "(" + f" {name} ".join(a) + ")"
        if name == "not":
            need(n == 1)
            return f"(not {a[0]})"
        if name == "len":
            need(n == 1)
            return f"({a[0]}|length)"
        if name == "slice":
            need(1 <= n <= 3)
            return a[0] if n == 1 else f"{a[0]}[{a[1]}:{a[2] if n == 3 else ''}]"
        if name == "index":
            need(n >= 1)
            return a[0] + "".join(f"[{i}]" for i in a[1:])
        if name == "json":
            need(n == 1)
            return (f"({a[0]}|tojson(separators=(',', ':'))|replace('<', '\\\\u003c')|replace('>', '\\\\u003e')"
                    "|replace('&', '\\\\u0026'))")
        if name == "currentDate":
            return "strftime_now('%Y-%m-%d')"
        raise error(f"unsupported Go template function `{name}`", line)

    def literal(self, lit: Lit) -> str:
        if isinstance(lit.value, str):
            return _jinja_str(lit.value)
        if lit.value is None:
            return "none"
        if isinstance(lit.value, bool):
            return "true" if lit.value else "false"
        return repr(lit.value)


# -- Ollama's analyses of a parsed template ------------------------------------------------------------
def _uses(nodes) -> set[str]:
    """Every field and variable identifier the template mentions (Ollama's Template.Vars, case kept)."""
    found: set[str] = set()

    def expr(e) -> None:
        if isinstance(e, Field):
            found.update(e.chain)
            if e.base is not None:
                expr(e.base)
        elif isinstance(e, Var):
            found.update(e.chain)
        elif isinstance(e, Call):
            for a in e.args:
                expr(a)

    def walk(ns) -> None:
        for n in ns or ():
            if isinstance(n, Action):
                expr(n.pipe)
            elif isinstance(n, If):
                for cond, body in n.branches:
                    expr(cond)
                    walk(body)
                walk(n.else_)
            elif isinstance(n, Range):
                expr(n.pipe)
                walk(n.body)
                walk(n.else_)

    walk(nodes)
    return found


def _mentions_response(e) -> bool:
    if isinstance(e, Field):
        return "Response" in e.chain or (e.base is not None and _mentions_response(e.base))
    if isinstance(e, Call):
        return any(_mentions_response(a) for a in e.args)
    return False


def _cut_after_response(nodes) -> list[GoNode]:
    """Ollama's legacy last turn: keep nodes up to the first action printing .Response, drop the rest."""
    done = [False]

    def walk(ns):
        out = []
        for n in ns or ():
            if done[0]:
                break
            if isinstance(n, Action):
                out.append(n)
                done[0] = _mentions_response(n.pipe)
            elif isinstance(n, If):
                branches = [(cond, walk(body)) for cond, body in n.branches]
                out.append(type(n)(branches, None if n.else_ is None else walk(n.else_), n.line))
            elif isinstance(n, Range):
                out.append(Range(n.vars, n.op, n.pipe, walk(n.body),
                                 None if n.else_ is None else walk(n.else_), n.line))
            else:
                out.append(n)
        return out

    return walk(nodes)
