"""Edit a Modelfile's text in place, keeping its comments, order and layout (what `/save` in `workbench run` writes).

`apply_changes(text, wanted)` returns text that parses to `wanted`: SYSTEM and changed PARAMETERs replaced where
they stand, new ones after the last PARAMETER, new MESSAGEs appended; when an edit would not parse to `wanted`
exactly, the canonical rendering is returned instead (docs/design.md §6.2).
"""

from __future__ import annotations

from ..errors import InvalidModelfile
from . import parser as mf


def apply_changes(text: str, wanted: mf.Modelfile) -> str:
    try:
        edited = _edit(text, mf.parse(text), wanted)
        if edited is not None and mf.parse(edited) == wanted:
            return edited
    except InvalidModelfile:
        pass
    return mf.render(wanted)


def _edit(text: str, current: mf.Modelfile, wanted: mf.Modelfile) -> str | None:
    spans = mf.instruction_spans(text)
    if spans is None or _fixed(current) != _fixed(wanted):
        return None
    lines = text.split("\n")
    trailing_newline = lines and lines[-1] == ""
    if trailing_newline:
        lines.pop()
    # edits by original line number, applied bottom-up so earlier numbers stay valid
    replace: dict[int, tuple[int, list[str]]] = {}  # first line -> (last line, new lines)
    insert_after: dict[int, list[str]] = {}
    from_end = max(last for name, _, _, last in spans if name == "FROM")  # after a projector's FROM too
    if wanted.system != current.system:
        systems = [(first, last) for name, _, first, last in spans if name == "SYSTEM"]
        new = [mf.instruction_line("SYSTEM", wanted.system)] if wanted.system is not None else []
        if systems:
            replace[systems[-1][0]] = (systems[-1][1], new)
        else:
            insert_after.setdefault(from_end, []).extend(new)
    _edit_parameters(spans, current, wanted, replace, insert_after, from_end)
    extra = _extra_messages(current, wanted)
    if extra is None:
        return None
    tail = [mf.instruction_line("MESSAGE", m.content, m.role) for m in extra]
    for first in sorted(set(replace) | set(insert_after), reverse=True):
        if first in insert_after:
            lines[first:first] = insert_after[first]
        if first in replace:
            last, new = replace[first]
            lines[first - 1:last] = new
    lines += tail
    return "\n".join(lines) + ("\n" if trailing_newline or tail else "")


def _edit_parameters(spans, current, wanted, replace, insert_after, from_end) -> None:
    old, new = _grouped(current.parameters), _grouped(wanted.parameters)
    last_parameter = max((last for name, _, _, last in spans if name == "PARAMETER"), default=from_end)
    for name in dict.fromkeys([*old, *new]):
        if old.get(name) == new.get(name):
            continue
        own = [(first, last) for kind, arg, first, last in spans if kind == "PARAMETER" and arg.lower() == name]
        lines = [mf.instruction_line("PARAMETER", value, name) for value in new.get(name, [])]
        for first, last in own[1:]:
            replace[first] = (last, [])
        if own:
            replace[own[0][0]] = (own[0][1], lines)
        else:
            insert_after.setdefault(last_parameter, []).extend(lines)


def _grouped(parameters) -> dict[str, list]:
    out: dict[str, list] = {}
    for name, value in parameters:
        out.setdefault(name.lower(), []).append(value)
    return out


def _extra_messages(current: mf.Modelfile, wanted: mf.Modelfile):
    """The messages `wanted` appends to the text's; None when it changes the existing ones."""
    have = len(current.messages)
    return wanted.messages[have:] if wanted.messages[:have] == current.messages else None


def _fixed(m: mf.Modelfile):
    """What this editor never changes: every field but SYSTEM, PARAMETERs and MESSAGEs."""
    import dataclasses

    return dataclasses.replace(m, system=None, parameters=(), messages=())
