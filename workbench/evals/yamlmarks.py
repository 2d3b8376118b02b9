"""A PyYAML safe loader that remembers where every mapping key, value and list item was written.

PyYAML's node tree knows each node's position but its constructed dicts and lists do not; the suite parser
needs both (plain values to read, positions to underline in an editor). `load(text)` returns `Mapping` (a dict)
and `Sequence` (a list) subclasses carrying 1-based (line, column, end column) spans of their parts.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from yaml import YAMLError


@dataclass(frozen=True)
class Span:
    """1-based line and column of a value's first character; end_column on that same line (exclusive)."""

    line: int
    column: int
    end_column: int


def _span(node: yaml.Node) -> Span:
    start, end = node.start_mark, node.end_mark
    end_column = end.column + 1 if end.line == start.line else start.column + 2
    return Span(start.line + 1, start.column + 1, max(end_column, start.column + 2))


class Mapping(dict):
    """A YAML mapping: a dict, plus `span`, `key_spans[key]` and `value_spans[key]`, and duplicate keys seen."""

    span: Span = Span(1, 1, 2)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.key_spans: dict = {}
        self.value_spans: dict = {}
        self.duplicates: list[tuple[str, Span]] = []

    def key_span(self, key) -> Span:
        return self.key_spans.get(key, self.span)

    def value_span(self, key) -> Span:
        return self.value_spans.get(key, self.key_span(key))


class Sequence(list):
    """A YAML sequence: a list, plus `span` and `item_spans[i]`."""

    span: Span = Span(1, 1, 2)

    def __init__(self, *args):
        super().__init__(*args)
        self.item_spans: list[Span] = []

    def item_span(self, index: int) -> Span:
        return self.item_spans[index] if index < len(self.item_spans) else self.span


__all__ = ["Mapping", "Sequence", "Span", "YAMLError", "error_message", "error_span", "load"]


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode):
    data = Mapping()
    data.span = _span(node)
    yield data
    loader.flatten_mapping(node)  # YAML merge keys (<<: *anchor)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain value",
                                                    key_node.start_mark)
        if key in data:
            data.duplicates.append((str(key), _span(key_node)))
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_spans[key] = _span(key_node)
        data.value_spans[key] = _span(value_node)


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode):
    data = Sequence()
    data.span = _span(node)
    yield data
    for item in node.value:
        data.append(loader.construct_object(item, deep=True))
        data.item_spans.append(_span(item))


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def load(text: str):
    """Parse YAML text (safe: no Python objects) into Mapping / Sequence / scalars. Raises yaml.YAMLError."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no Python objects


def error_span(exc: yaml.YAMLError) -> Span:
    """Where a YAML syntax error is, as a Span (line 1 when PyYAML gives no position)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None:
        return Span(1, 1, 2)
    return Span(mark.line + 1, mark.column + 1, mark.column + 2)


def error_message(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    if problem:
        return f"YAML error: {problem}" + (f" ({context})" if context else "")
    return f"YAML error: {exc}"
