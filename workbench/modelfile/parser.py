"""Ollama Modelfiles: parse, validate (every problem, with its line) and render back.

Ollama's grammar (parser/parser.go): FROM once (a second FROM names the vision projector, as Ollama writes a
vision model: `FROM model.gguf` then `FROM mmproj.gguf`); PARAMETER, TEMPLATE, SYSTEM, ADAPTER, LICENSE, MESSAGE,
REQUIRES; DRAFT/RENDERER/PARSER kept and reported. `parse` raises the first error as InvalidModelfile(message, line),
`validate` returns every Diagnostic, `render` round-trips: `parse(render(m)) == m` (docs/design.md §6.2).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import InvalidModelfile, InvalidParameter, TemplateError, TemplateSecurityError
from .parameters import PARAMETERS, parse_parameter, split_parameters

__all__ = ["Diagnostic", "Message", "Modelfile", "ModelfileErrors", "classify_from", "parse", "render", "validate"]

FromKind = Literal["library", "path", "hub"]
INSTRUCTIONS = ("FROM", "PARAMETER", "TEMPLATE", "SYSTEM", "ADAPTER", "MESSAGE", "LICENSE", "REQUIRES",
                "DRAFT", "RENDERER", "PARSER")
OLLAMA_ONLY = ("DRAFT", "RENDERER", "PARSER")
ROLES = ("system", "user", "assistant")

_HUB = re.compile(r"^(?:https?://)?(?:hf\.co|huggingface\.co)/[\w.-]+/[\w.-]+(?::[\w.-]+)?$", re.IGNORECASE)
_LIBRARY = re.compile(r"^(?:[\w.-]+/){0,2}[A-Za-z0-9][\w.-]*(?::[\w.-]+)?$")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_HEAD = re.compile(r"^([ \t]*)([A-Za-z]+)(?=[ \t]|$)[ \t]*(.*)$")
_WORD = re.compile(r"^([A-Za-z0-9_]+)(?:[ \t]+(.*))?$")
_SAMPLE = ({"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Hi"},
           {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "How are you?"})


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class Diagnostic:
    """One problem for an editor: 1-based line and column; severity 'error' (blocks saving) or 'warning'."""

    line: int
    column: int
    message: str
    severity: Literal["error", "warning"] = "error"


class ModelfileErrors(InvalidModelfile):
    """What `parse` raises: the first error as message and line, and every diagnostic in `.diagnostics`."""

    def __init__(self, diagnostics: list[Diagnostic]):
        errors = [d for d in diagnostics if d.severity == "error"]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(errors[0].message + more, errors[0].line)
        self.diagnostics = diagnostics


@dataclass(frozen=True)
class Modelfile:
    """A parsed Modelfile. `parameters` keeps order and repeats, with parsed values (Ollama names)."""

    from_: str
    parameters: tuple[tuple[str, Any], ...] = ()
    template: str | None = None
    system: str | None = None
    adapters: tuple[str, ...] = ()
    messages: tuple[Message, ...] = ()
    licenses: tuple[str, ...] = ()
    requires: str | None = None
    extras: tuple[tuple[str, str], ...] = ()  # DRAFT/RENDERER/PARSER, kept for export
    projector: str | None = None  # the second FROM: a path to the model's mmproj GGUF
    ignored_parameters: tuple[str, ...] = field(init=False, compare=False)

    def __post_init__(self):
        ignored = dict.fromkeys(n for n, _ in self.parameters if PARAMETERS[n].kind == "ignored")
        object.__setattr__(self, "ignored_parameters", tuple(ignored))

    @property
    def from_kind(self) -> FromKind:
        return classify_from(self.from_)

    def parameter_values(self) -> dict[str, Any]:
        """Name -> value; `stop` collects every value into a list, any other repeat keeps the last."""
        values: dict[str, Any] = {}
        for name, value in self.parameters:
            if PARAMETERS[name].repeatable:
                values.setdefault(name, []).append(value)
            else:
                values[name] = value
        return values

    def options(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """(sampling, load, ignored) in the engine's field names — see parameters.split_parameters."""
        return split_parameters(self.parameter_values())

    @property
    def template_syntax(self) -> Literal["go", "jinja"] | None:
        from .gotemplate import is_go_template

        if not self.template:
            return None
        return "go" if is_go_template(self.template) else "jinja"

    def chat_template(self, **kwargs):
        """The TEMPLATE as an engine ChatTemplate (Go templates translated), or None without one.
        kwargs go to ChatTemplate (bos_token, eos_token, max_seconds, max_output_chars)."""
        return None if not self.template else _chat_template(self.template, **kwargs)


def _chat_template(text: str, **kwargs):
    # imported here: the engine package loads llama.cpp, which plain parsing never needs
    from ..engine.templates import ChatTemplate
    from .gotemplate import is_go_template, translate

    return ChatTemplate(translate(text) if is_go_template(text) else text, **kwargs)


def classify_from(ref: str) -> FromKind:
    """'hub' for hf.co/owner/repo[:quant], 'path' for a GGUF path, 'library' for a model name[:tag]."""
    ref = ref.strip()
    if _HUB.match(ref):
        return "hub"
    if (ref.startswith(("/", "./", "../", "~", ".\\", "..\\")) or _DRIVE.match(ref) or "\\" in ref
            or ref.lower().endswith((".gguf", ".bin"))):
        return "path"
    if _LIBRARY.match(ref):
        return "library"
    raise InvalidModelfile(f"FROM {ref!r} is not a model name, a path to a GGUF file or an "
                           "hf.co/owner/repo[:quant] reference")


# -- lexing --------------------------------------------------------------------------------------------------
@dataclass
class _Command:
    name: str  # upper case
    line: int
    column: int  # of the value
    value: str
    arg: str = ""  # the PARAMETER name or the MESSAGE role
    last_line: int = 0  # a quoted value may run over several lines: the command ends on this one


def _read_value(lines: list[str], i: int, rest: str) -> tuple[str, int]:
    """The value starting on line i (0-based) with `rest`; returns (value, index of its last line)."""
    text = rest.lstrip(" \t")
    for quote in ('"""', '"'):
        if not text.startswith(quote):
            continue
        first = text.strip()
        if not first.endswith(quote) and quote in first[len(quote):]:
            raise _Problem(f"unexpected text after the closing {quote}", i + 1)
        buffer, j = text, i
        while True:
            stripped = buffer.strip()
            if len(stripped) >= 2 * len(quote) and stripped.endswith(quote):
                return stripped[len(quote):-len(quote)], j
            j += 1
            if j >= len(lines):
                raise _Problem(f"unterminated {quote}: the value that starts here never ends with {quote}", i + 1,
                               fatal=True)
            buffer += "\n" + lines[j]
    return text.strip(), i


class _Problem(Exception):
    def __init__(self, message: str, line: int, column: int = 1, *, fatal: bool = False):
        super().__init__(message)
        self.message, self.line, self.column = message, line, column
        self.fatal = fatal  # an unterminated quote swallows the rest of the file: nothing after it is read


def _commands(text: str) -> Iterator[_Command | Diagnostic]:
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    i = 0
    while i < len(lines):
        raw = lines[i]
        if not raw.strip() or raw.lstrip().startswith("#"):
            i += 1
            continue
        try:
            command, i = _command(lines, i)
            yield command
        except _Problem as problem:
            yield Diagnostic(problem.line, problem.column, problem.message)
            if problem.fatal:
                return
        i += 1


def _command(lines: list[str], i: int) -> tuple[_Command, int]:
    raw, line = lines[i], i + 1
    head = _HEAD.match(raw)
    if not head or head.group(2).upper() not in INSTRUCTIONS:
        word = raw.strip().split()[0]
        raise _Problem(f"unknown instruction {word!r}: use one of {', '.join(INSTRUCTIONS[:8])}", line,
                       len(raw) - len(raw.lstrip()) + 1)
    name, rest = head.group(2).upper(), head.group(3)
    column = head.start(3) + 1
    arg = ""
    if name in ("PARAMETER", "MESSAGE"):
        word = _WORD.match(rest)
        if not word:
            raise _Problem(f"{name} needs a {'name' if name == 'PARAMETER' else 'role'} and a value", line, column)
        arg, rest = word.group(1), word.group(2) or ""
        column += word.start(2) if word.group(2) is not None else len(word.group(1)) + 1
    if not rest.strip():
        what = f"PARAMETER {arg}" if name == "PARAMETER" else f"MESSAGE {arg}" if name == "MESSAGE" else name
        raise _Problem(f"{what} has no value", line, column)
    value, last = _read_value(lines, i, rest)
    return _Command(name, line, column, value, arg, last + 1), last


# -- interpretation ------------------------------------------------------------------------------------------
class _Builder:
    """Applies commands one by one, collecting diagnostics, so every problem in a file is reported."""

    def __init__(self, max_context: int | None):
        self.max_context = max_context
        self.diagnostics: list[Diagnostic] = []
        self.fields: dict[str, Any] = {"adapters": [], "messages": [], "licenses": [], "parameters": [],
                                       "extras": []}
        self.seen: dict[str, int] = {}

    def error(self, c: _Command, message: str, column: int | None = None, line: int | None = None) -> None:
        self.diagnostics.append(Diagnostic(line or c.line, column or c.column, message))

    def warn(self, c: _Command, message: str) -> None:
        self.diagnostics.append(Diagnostic(c.line, c.column, message, "warning"))

    def apply(self, c: _Command) -> None:
        getattr(self, f"do_{c.name.lower()}", self.do_extra)(c)

    def once(self, c: _Command, key: str) -> None:
        if key in self.seen:
            self.warn(c, f"{key} is given again (first on line {self.seen[key]}); this one wins")
        self.seen.setdefault(key, c.line)

    def do_from(self, c: _Command) -> None:
        if "FROM" in self.seen:
            self._second_from(c)
            return
        self.seen["FROM"] = c.line
        try:
            classify_from(c.value)
        except InvalidModelfile as exc:
            self.error(c, exc.message)
        self.fields["from_"] = c.value

    def _second_from(self, c: _Command) -> None:
        """Ollama's form for a vision model: the model's FROM, then one naming its projector file."""
        if "projector" in self.fields:
            self.error(c, f"more than two FROM lines (the model's on line {self.seen['FROM']}, its projector's "
                          f"on line {self.seen['FROM projector']})")
            return
        self.seen["FROM projector"] = c.line
        try:
            kind = classify_from(c.value)
        except InvalidModelfile:
            kind = None
        if kind != "path":
            self.error(c, f"a second FROM names the model's projector: give the path of its mmproj GGUF file, "
                          f"not {c.value!r}")
            return
        self.fields["projector"] = c.value

    def do_parameter(self, c: _Command) -> None:
        try:
            value = parse_parameter(c.arg, c.value, max_context=self.max_context)
        except InvalidParameter as exc:
            self.error(c, str(exc))
            return
        name = c.arg.lower()
        spec = PARAMETERS[name]
        if not spec.repeatable:
            self.once(c, f"PARAMETER {name}")
        if spec.kind == "ignored":
            self.warn(c, f"PARAMETER {name} is Ollama-only and has no effect here (kept, not used)")
        self.fields["parameters"].append((name, value))

    def do_template(self, c: _Command) -> None:
        self.once(c, "TEMPLATE")
        self.fields["template"] = c.value
        if c.value.strip():
            self._check_template(c)

    def _check_template(self, c: _Command) -> None:
        from ..engine.templates import LimitExceeded

        try:
            template = _chat_template(c.value, max_seconds=0.5)
        except TemplateError as exc:
            offset = getattr(exc, "line", None) or _jinja_line(str(exc))
            self.error(c, f"TEMPLATE: {exc}", line=c.line + offset - 1 if offset else c.line)
            return
        for sample in (list(_SAMPLE), list(_SAMPLE[1:])):  # some templates refuse a system role
            try:
                template.render(sample)
                return
            except TemplateSecurityError as exc:
                self.error(c, f"TEMPLATE is refused: {exc}")
                return
            except LimitExceeded as exc:  # a template that runs away is broken, whatever the conversation
                self.error(c, f"TEMPLATE: {exc}")
                return
            except TemplateError as exc:
                failure = exc
        self.warn(c, f"TEMPLATE fails on a sample conversation: {failure}")

    def do_system(self, c: _Command) -> None:
        self.once(c, "SYSTEM")
        self.fields["system"] = c.value

    def do_adapter(self, c: _Command) -> None:
        self.fields["adapters"].append(c.value)

    def do_license(self, c: _Command) -> None:
        self.fields["licenses"].append(c.value)

    def do_message(self, c: _Command) -> None:
        if c.arg not in ROLES:
            self.error(c, f"MESSAGE role must be system, user or assistant (got {c.arg!r})", column=c.column)
            return
        self.fields["messages"].append(Message(c.arg, c.value))

    def do_requires(self, c: _Command) -> None:
        self.once(c, "REQUIRES")
        if not _VERSION.match(c.value):
            self.error(c, f"REQUIRES must be a version such as 0.14.0 (got {c.value!r})")
        self.fields["requires"] = c.value

    def do_extra(self, c: _Command) -> None:
        self.warn(c, f"{c.name} is Ollama-specific and is ignored here (kept for export)")
        self.fields["extras"].append((c.name, c.value))

    def result(self) -> Modelfile | None:
        if "from_" not in self.fields:
            self.diagnostics.insert(0, Diagnostic(1, 1, "no FROM line: a Modelfile names its model with "
                                                        "FROM <name, GGUF path or hf.co/owner/repo:quant>"))
            return None
        f = self.fields
        return Modelfile(f["from_"], tuple(f["parameters"]), f.get("template"), f.get("system"),
                         tuple(f["adapters"]), tuple(f["messages"]), tuple(f["licenses"]), f.get("requires"),
                         tuple(f["extras"]), f.get("projector"))


def _jinja_line(message: str) -> int | None:
    match = re.search(r"at line (\d+)", message)
    return int(match.group(1)) if match else None


def _build(text: str, max_context: int | None) -> tuple[Modelfile | None, list[Diagnostic]]:
    builder = _Builder(max_context)
    for item in _commands(text):
        if isinstance(item, Diagnostic):
            builder.diagnostics.append(item)
        else:
            builder.apply(item)
    model = builder.result()
    return model, sorted(builder.diagnostics, key=lambda d: (d.line, d.column))


def validate(text: str, *, max_context: int | None = None) -> list[Diagnostic]:
    """Every error and warning in text, in line order (empty = a clean Modelfile)."""
    return _build(text, max_context)[1]


def parse(text: str, *, max_context: int | None = None) -> Modelfile:
    """The Modelfile in text; ModelfileErrors (an InvalidModelfile: the first error's message and line, plus
    `.diagnostics`) when anything is wrong."""
    model, diagnostics = _build(text, max_context)
    if any(d.severity == "error" for d in diagnostics):
        raise ModelfileErrors(diagnostics)
    assert model is not None
    return model


def instruction_spans(text: str) -> list[tuple[str, str, int, int]] | None:
    """(instruction, PARAMETER name or MESSAGE role, first line, last line) per instruction, 1-based; None when
    the text has a syntax error (edit.py edits a valid file line by line)."""
    spans = []
    for item in _commands(text):
        if isinstance(item, Diagnostic):
            return None
        spans.append((item.name, item.arg, item.line, item.last_line))
    return spans


def instruction_values(text: str, name: str) -> list[tuple[int, str]]:
    """(1-based line, value) of every `name` instruction (e.g. ADAPTER) in a valid text, in file order."""
    return [(item.line, item.value) for item in _commands(text)
            if isinstance(item, _Command) and item.name == name.upper()]


def instruction_line(name: str, value: str, arg: str = "") -> str:
    """One instruction as render() writes it (`PARAMETER temperature 0.7`, a quoted SYSTEM, …)."""
    head = f"{name} {arg} " if arg else f"{name} "
    return head + _quote(value if isinstance(value, str) else _text(value), f"{name} {arg}".strip())


# -- rendering -----------------------------------------------------------------------------------------------
def _quote(value: str, what: str) -> str:
    """The shortest spelling of value that reads back as value (bare, then \"\"\"…\"\"\", then "…")."""
    if value and "\n" not in value and value == value.strip() and not value.startswith('"'):
        return value
    for quote in ('"""', '"') if '"' in value else ('"', '"""'):  # Ollama's own preference
        spelled = quote + value + quote
        lines = spelled.split("\n")
        try:
            if _read_value(lines, 0, lines[0]) == (value, len(lines) - 1):
                return spelled
        except _Problem:
            continue
    raise InvalidModelfile(f"{what} cannot be written in a Modelfile: it has lines ending in both \"\"\" and \"")


def render(modelfile: Modelfile) -> str:
    """Modelfile text for m (the layout `ollama show --modelfile` uses), such that parse(render(m)) == m."""
    m = modelfile
    out = [f"FROM {_quote(m.from_, 'FROM')}"]
    if m.projector is not None:
        out.append(f"FROM {_quote(m.projector, 'FROM')}")
    out += [f"ADAPTER {_quote(a, 'ADAPTER')}" for a in m.adapters]
    if m.template is not None:
        out.append(f"TEMPLATE {_quote(m.template, 'TEMPLATE')}")
    if m.system is not None:
        out.append(f"SYSTEM {_quote(m.system, 'SYSTEM')}")
    out += [f"PARAMETER {name} {_quote(_text(value), f'PARAMETER {name}')}" for name, value in m.parameters]
    out += [f"MESSAGE {msg.role} {_quote(msg.content, 'MESSAGE')}" for msg in m.messages]
    out += [f"LICENSE {_quote(text, 'LICENSE')}" for text in m.licenses]
    if m.requires is not None:
        out.append(f"REQUIRES {_quote(m.requires, 'REQUIRES')}")
    out += [f"{name} {_quote(value, name)}" for name, value in m.extras]
    return "\n".join(out) + "\n"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)
