"""Time and size caps for rendering an untrusted chat template (pure Python; templates.py wires it into Jinja).

One `Budget` per render is called from every place Jinja code can spend time or memory: it checks the deadline,
bounds the weight of every value created and checks size-multiplying operations before they run
(docs/design.md §4.9).
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from typing import Any

from ..errors import TemplateError

MAX_INT_BITS = 8192  # far beyond any template's arithmetic; stops 9**9**9 style CPU burners


class LimitExceeded(TemplateError):
    """The render ran out of time or size (templates.py adds the template line to the message)."""


class Budget:
    """The limits of one render. Not thread-safe by design: each render has its own."""

    __slots__ = ("_memo", "_visiting", "deadline", "limit", "max_seconds")

    def __init__(self, max_seconds: float, limit: int):
        self.max_seconds = max_seconds
        self.limit = limit
        self.deadline = time.monotonic() + max_seconds
        self._memo: dict[int, tuple[Any, int]] = {}
        self._visiting: set[int] = set()

    # -- time ----------------------------------------------------------------------------------------
    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitExceeded(
                f"the chat template ran longer than {self.max_seconds:g} s and was stopped (does it loop for ever?)"
            )

    def iterate(self, iterable: Iterable) -> Iterable:
        """Wrap a `for` loop's iterable so every iteration checks the clock."""
        for item in iterable:
            self.tick()
            yield item

    # -- size ----------------------------------------------------------------------------------------
    def too_big(self, what: str, size: int) -> LimitExceeded:
        return LimitExceeded(
            f"the chat template built {what} of about {size:,} characters, over the {self.limit:,} limit"
        )

    def check(self, value: Any, what: str = "a value") -> Any:
        """Return value unchanged if it weighs at most the limit; LimitExceeded otherwise."""
        weight = self.weight(value)
        if weight > self.limit:
            raise self.too_big(what, weight)
        return value

    def need(self, estimate: int, what: str) -> None:
        """Refuse an operation whose estimated result is over the limit, before it runs."""
        if estimate > self.limit:
            raise self.too_big(what, estimate)

    def weight(self, obj: Any) -> int:
        """Characters + elements reachable from obj, counted through nesting; stops early past the limit."""
        if isinstance(obj, str | bytes):
            return len(obj)
        if obj is None or isinstance(obj, bool | float):
            return 1
        if isinstance(obj, int):
            return 1 + obj.bit_length() // 3
        if isinstance(obj, range):
            return len(obj)
        key = id(obj)
        cached = self._memo.get(key)
        if cached is not None and cached[0] is obj:
            return cached[1]
        children = _children(obj)
        if children is None:
            return 1
        if key in self._visiting:  # a namespace that contains itself
            raise LimitExceeded("the chat template built a value that contains itself")
        self._visiting.add(key)
        try:
            total = 1
            for child in children:
                total += 1 + self.weight(child)
                if total > self.limit:
                    raise self.too_big("a value", total)
        finally:
            self._visiting.discard(key)
        if not _is_namespace(obj):  # namespaces stay mutable during a render, so are not memoised
            self._memo[key] = (obj, total)
        return total

    # -- estimates of operations that multiply sizes -------------------------------------------------
    def check_binop(self, op: str, left: Any, right: Any) -> int | None:
        """Refuse an operator whose result would be over the limit; returns the result's weight when it is
        known from the operands (so `list + [x]` in a loop costs O(1) to check, not a walk of the list)."""
        self.tick()
        if op == "*":
            return self._check_mul(left, right)
        if op == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            if max(left.bit_length(), 1) * right > MAX_INT_BITS and abs(left) > 1:
                raise LimitExceeded(f"the chat template computed a number with more than {MAX_INT_BITS} bits")
        elif op == "+" and _is_sized(left) and _is_sized(right):
            estimate = self.weight(left) + self.weight(right)
            self.need(estimate, "a value with +")
            return estimate - 1 if isinstance(left, list | tuple) else estimate
        elif op == "%" and isinstance(left, str):
            self.check_percent(left, right)
        return None

    def _check_mul(self, left: Any, right: Any) -> int | None:
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise LimitExceeded(f"the chat template computed a number with more than {MAX_INT_BITS} bits")
            return None
        for seq, count in ((left, right), (right, left)):
            if _is_sized(seq) and isinstance(count, int) and not isinstance(count, bool):
                weight = self.weight(seq)
                self.need(weight * max(count, 0), "a repeated value with *")
                return weight * max(count, 0) if isinstance(seq, str | bytes) else (weight - 1) * max(count, 0) + 1
        return None

    def remember(self, value: Any, weight: int) -> Any:
        """Record the weight of a new list/tuple computed from its parts (see check_binop)."""
        if isinstance(value, list | tuple):
            self._memo[id(value)] = (value, weight)
        return value

    def check_percent(self, fmt: str, args: Any) -> None:
        """`fmt % args` and the `format` filter: widths and the number of fields bound the result."""
        specs = _PERCENT.findall(fmt)
        if any("*" in spec for spec in specs):
            raise TemplateError("the chat template uses a '*' width in % formatting, which is not supported")
        values = list(args.values()) if isinstance(args, Mapping) else args if isinstance(args, tuple) else [args]
        self._check_fields(fmt, len(specs), [int(n) for spec in specs for n in re.findall(r"\d+", spec)], values)

    def check_format(self, fmt: str, args: tuple, kwargs: Mapping) -> None:
        """`fmt.format(...)` / `format_map`: as above, with str.format's own parser."""
        fields, widths = 0, []
        try:
            parsed = list(string.Formatter().parse(fmt))
        except ValueError:
            return  # str.format will raise the same error
        for _text, field, spec, _conv in parsed:
            if field is None:
                continue
            if spec and "{" in spec:
                raise TemplateError("the chat template uses a nested {…} format spec, which is not supported")
            fields += 1
            widths += [int(n) for n in re.findall(r"\d+", spec or "")]
        self._check_fields(fmt, fields, widths, [*args, *kwargs.values()])

    def _check_fields(self, fmt: str, fields: int, widths: list[int], values: list) -> None:
        widest = max(widths, default=0)
        self.need(widest, "a formatted field")
        heaviest = max((self.weight(v) for v in values), default=0)
        self.need(len(fmt) + fields * (heaviest + widest), "a formatted string")

    def check_str_method(self, obj: str | bytes, name: str, args: tuple, kwargs: Mapping) -> tuple:
        """Pre-check a call of a str method; returns args (join's iterable is materialised to count it)."""
        if name in ("center", "ljust", "rjust", "zfill"):
            width = args[0] if args else kwargs.get("width", 0)
            if isinstance(width, int):
                self.need(width, f"a string with {name}()")
        elif name == "expandtabs":
            size = args[0] if args else kwargs.get("tabsize", 8)
            if isinstance(size, int):
                self.need(len(obj) + obj.count("\t" if isinstance(obj, str) else b"\t") * size, "expandtabs()")
        elif name == "replace" and len(args) >= 2:
            self.check_replace(obj, args[0], args[1], args[2] if len(args) > 2 else -1)
        elif name == "join" and args:
            items = self.materialise(args[0])
            self.need(sum(self.weight(i) for i in items) + len(obj) * max(len(items) - 1, 0), "a string with join()")
            return (items, *args[1:])
        elif name in ("translate", "maketrans"):
            raise TemplateError(f"str.{name}() is not available in chat templates")
        return args

    def check_replace(self, text: Any, old: Any, new: Any, count: Any = -1) -> None:
        if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
            return
        hits = len(text) + 1 if old == "" else text.count(old)
        if isinstance(count, int) and count >= 0:
            hits = min(hits, count)
        self.need(len(text) + hits * max(len(new) - len(old), 0), "a string with replace()")

    def materialise(self, iterable: Any) -> list:
        """A list of an iterable's items, with the clock checked per item (generators have no length)."""
        if isinstance(iterable, list | tuple):
            return list(iterable)
        items = []
        for item in iterable:
            self.tick()
            items.append(item)
            if len(items) > self.limit:
                raise self.too_big("a sequence", len(items))
        return items


_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[a-zA-Z%]")


def _is_sized(obj: Any) -> bool:
    return isinstance(obj, str | bytes | list | tuple)


def _is_namespace(obj: Any) -> bool:
    return type(obj).__name__ == "Namespace" and hasattr(type(obj), "__setitem__")


def _children(obj: Any) -> Iterable | None:
    if isinstance(obj, Mapping):
        return (x for pair in obj.items() for x in pair)
    if isinstance(obj, list | tuple | set | frozenset):
        return obj
    if _is_namespace(obj):
        attrs = object.__getattribute__(obj, "_Namespace__attrs")
        return (x for pair in attrs.items() for x in pair)
    return None


_current: ContextVar[Budget | None] = ContextVar("workbench_template_budget", default=None)


def current() -> Budget:
    """The budget of the render running on this thread (a default one if called outside a render)."""
    budget = _current.get()
    return budget if budget is not None else Budget(1.0, 1_000_000)


def activate(budget: Budget):
    """Make budget the current one; returns the token for `deactivate`."""
    return _current.set(budget)


def deactivate(token) -> None:
    _current.reset(token)
