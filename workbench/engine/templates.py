"""Chat templates: render a conversation into a prompt with a model's Jinja template, safely.

Rendered as `transformers` renders `tokenizer.chat_template` (outputs match byte for byte), but in Jinja's
ImmutableSandboxedEnvironment, unsafe access raising at once, with a time and size cap on every render
(template_limits.py; docs/design.md §4.9). This module is the only user of jinja2 for templates.
"""

from __future__ import annotations

import functools
import hashlib
import json
import traceback
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.ext import Extension
from jinja2.filters import make_attrgetter
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import generate_lorem_ipsum, pass_environment

from ..errors import TemplateError, TemplateSecurityError
from .template_limits import Budget, LimitExceeded, activate, current, deactivate

__all__ = ["ChatTemplate", "LimitExceeded", "render_prompt"]


# -- code generation: route loops, concatenation and literals through the budget ---------------------------
class _GuardedCodeGenerator(CodeGenerator):
    def visit_For(self, node, frame):
        # Jinja forbids custom node types, so the guard is spelled as a call of environment.wb_iter(...)
        if not _is_guarded(node.iter):
            guard = nodes.EnvironmentAttribute("wb_iter", lineno=node.iter.lineno)
            node.iter = nodes.Call(guard, [node.iter], [], None, None, lineno=node.iter.lineno)
        super().visit_For(node, frame)

    def visit_Concat(self, node, frame):
        self.write("environment.wb_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def _checked(self, visit, node, frame):
        self.write("environment.wb_new(")
        visit(node, frame)
        self.write(")")

    def visit_List(self, node, frame):
        self._checked(super().visit_List, node, frame)

    def visit_Dict(self, node, frame):
        self._checked(super().visit_Dict, node, frame)

    def visit_Tuple(self, node, frame):
        if node.ctx == "load":  # a store-context tuple is an assignment target, not a value
            self._checked(super().visit_Tuple, node, frame)
        else:
            super().visit_Tuple(node, frame)


def _is_guarded(node) -> bool:
    return isinstance(node, nodes.Call) and isinstance(node.node, nodes.EnvironmentAttribute) \
        and node.node.name == "wb_iter"


class _GenerationBlock(Extension):
    """`{% generation %}…{% endgeneration %}` (transformers' assistant-mask marker) renders its body as-is."""

    tags = {"generation"}  # noqa: RUF012 - Jinja's Extension API is a class attribute

    def parse(self, parser):
        next(parser.stream)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


# -- the environment ---------------------------------------------------------------------------------------
class _Environment(ImmutableSandboxedEnvironment):
    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self):
        super().__init__(
            trim_blocks=True, lstrip_blocks=True, optimized=False, autoescape=False,
            extensions=["jinja2.ext.loopcontrols", _GenerationBlock], finalize=_finalize,
        )
        self.filters["tojson"] = _tojson
        self.filters["sum"] = _sum
        self.filters.pop("pprint", None)  # indents by nesting depth: a size multiplier, and never used
        for name, func in list(self.filters.items()):
            self.filters[name] = _guard_filter(name, func)
        self.globals.update(raise_exception=_raise_exception, strftime_now=_strftime_now, lipsum=_lipsum)

    # hooks the generated code calls -------------------------------------------------------------------
    def wb_iter(self, iterable):
        return current().iterate(iterable)

    def wb_concat(self, values):
        budget = current()
        budget.tick()
        budget.need(sum(budget.weight(v) for v in values), "a string with ~")
        return "".join(v if isinstance(v, str) else str(v) for v in values)

    def wb_new(self, value):
        budget = current()
        budget.tick()
        return budget.check(value, "a list or dict")

    def concat(self, parts):  # joins the buffers of macros, {% set %} blocks, {% filter %} and {% call %}
        parts = list(parts)
        current().need(sum(len(p) for p in parts), "a block of text")
        return "".join(parts)

    # sandbox hooks ------------------------------------------------------------------------------------
    def getattr(self, obj, attribute):
        current().tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj, argument):
        current().tick()
        return super().getitem(obj, argument)

    def unsafe_undefined(self, obj, attribute):
        raise SecurityError(f"access to attribute {attribute!r} of a {type(obj).__name__!r} object is not allowed")

    def call_binop(self, context, operator, left, right):
        budget = current()
        weight = budget.check_binop(operator, left, right)
        result = self.binop_table[operator](left, right)
        if weight is not None:
            budget.remember(result, weight)
        return budget.check(result, f"a value with {operator}")

    def call(self, context, obj, /, *args, **kwargs):
        budget = current()
        budget.tick()
        if not self.is_safe_callable(obj):
            raise SecurityError(f"{obj!r} is not safely callable")
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str | bytes):
            args = budget.check_str_method(owner, getattr(obj, "__name__", ""), args, kwargs)
        return budget.check(context.call(obj, *args, **kwargs), "a value")

    def wrap_str_format(self, value):
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        fmt, is_map = value.__self__, value.__name__ == "format_map"

        @functools.wraps(wrapper)
        def checked(*args, **kwargs):
            mapping = args[0] if is_map and args and isinstance(args[0], Mapping) else kwargs
            current().check_format(fmt, () if is_map else args, mapping)
            return wrapper(*args, **kwargs)

        return checked


def _finalize(value):
    return current().check(value, "an output value")


def _guard_filter(name, func):
    """Every filter: check the clock and the known size multipliers first, the result's weight after."""
    skip = 1 if hasattr(func, "jinja_pass_arg") else 0  # context/eval-context/environment comes first

    @functools.wraps(func)
    def guarded(*args, **kwargs):
        budget = current()
        budget.tick()
        head, rest = args[:skip], _precheck_filter(budget, name, args[skip:], kwargs)
        return budget.check(func(*head, *rest, **kwargs), f"a value with the {name} filter")

    return guarded


def _arg(args, kwargs, index, key, default):
    return args[index] if len(args) > index else kwargs.get(key, default)


def _precheck_filter(budget: Budget, name: str, args: tuple, kwargs: dict) -> tuple:
    if not args:
        return args
    value = args[0]
    if name in ("center", "batch", "slice"):
        width = _arg(args, kwargs, 1, {"center": "width", "batch": "linecount"}.get(name, "slices"), 0)
        if isinstance(width, int):
            budget.need(width, f"a value with the {name} filter")
    elif name == "indent" and isinstance(value, str):
        width = _arg(args, kwargs, 1, "width", 4)
        step = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        budget.need(len(value) + (value.count("\n") + 1) * step, "a string with the indent filter")
    elif name == "wordwrap" and isinstance(value, str):
        width, wrap = _arg(args, kwargs, 1, "width", 79), _arg(args, kwargs, 4, "wrapstring", None) or "\n"
        lines = value.count("\n") + 1 + len(value) // max(width if isinstance(width, int) else 1, 1)
        budget.need(len(value) + lines * len(wrap), "a string with the wordwrap filter")
    elif name == "replace" and len(args) >= 3:
        budget.check_replace(value, args[1], args[2], _arg(args, kwargs, 3, "count", -1))
    elif name == "join":
        items = budget.materialise(value)
        sep = _arg(args, kwargs, 1, "d", "")
        budget.need(sum(budget.weight(i) for i in items) + len(str(sep)) * max(len(items) - 1, 0),
                    "a string with the join filter")
        return (items, *args[1:])
    elif name == "format" and isinstance(value, str):
        budget.check_percent(value, kwargs or tuple(args[1:]))
    return args


# -- helpers templates expect (as transformers provides them) ------------------------------------------------
def _raise_exception(message):
    raise TemplateError(str(message))


def _strftime_now(fmt):
    return datetime.now().strftime(fmt)


def _lipsum(n=5, html=True, min=20, max=100):  # Jinja's own parameter names
    if not all(isinstance(x, int) for x in (n, min, max)) or not (0 <= n <= 100 and 0 < min <= max <= 1000):
        raise TemplateError("lipsum() arguments are out of range")
    return generate_lorem_ipsum(n, html, min, max)


def _tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    """transformers' tojson (no HTML escaping, `indent` and friends), streamed so its size is capped."""
    budget = current()
    encoder = json.JSONEncoder(ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
    parts, size = [], 0
    for chunk in encoder.iterencode(x):
        size += len(chunk)
        if size > budget.limit:
            raise budget.too_big("JSON with tojson", size)
        parts.append(chunk)
    return "".join(parts)


@pass_environment
def _sum(environment, iterable, attribute=None, start=0):
    """Jinja's sum, one checked `+` at a time (summing lists is quadratic in Python's builtin)."""
    if attribute is not None:
        iterable = map(make_attrgetter(environment, attribute), iterable)
    total = start
    for item in iterable:
        total = environment.call_binop(None, "+", total, item)
    return total


_ENVIRONMENT = _Environment()


@functools.lru_cache(maxsize=64)
def _compile(source: str) -> jinja2.Template:
    """A source compiled once: compiling a real chat template costs ~16 ms of Python (holding the GIL), and every
    chat request needed it twice (the preset's Modelfile check, then the render) — time that went into each
    request's first token. Jinja's own cache serves only loader templates. A compiled template keeps no render
    state (the budget is per render, through a context variable), so sharing one is safe across threads."""
    return _ENVIRONMENT.from_string(source)


# -- the public API ----------------------------------------------------------------------------------------
class ChatTemplate:
    """A compiled chat template. Construction fails with TemplateError (naming the line) on a syntax error."""

    def __init__(self, source: str, *, bos_token: str = "", eos_token: str = "",
                 max_seconds: float = 1.0, max_output_chars: int = 1_000_000):
        if not isinstance(source, str) or not source.strip():
            raise TemplateError("the chat template is empty")
        if max_seconds <= 0 or max_output_chars <= 0:
            raise ValueError("max_seconds and max_output_chars must be positive")
        self.source = source
        self.bos_token = bos_token
        self.eos_token = eos_token
        self.max_seconds = max_seconds
        self.max_output_chars = max_output_chars
        self.sha256 = hashlib.sha256(source.encode("utf-8")).hexdigest()
        try:
            self._template = _compile(source)
        except jinja2.TemplateSyntaxError as exc:
            error = TemplateError(f"chat template syntax error at line {exc.lineno}: {exc.message}")
            error.line = exc.lineno
            raise error from None
        except SecurityError as exc:
            raise TemplateSecurityError(f"chat template refused: {exc}") from None

    def __repr__(self) -> str:
        return f"ChatTemplate(sha256={self.sha256[:12]}…, {len(self.source)} chars)"

    def render(self, messages: Sequence[Mapping[str, Any]], *, add_generation_prompt: bool = True,
               tools: list | None = None, **extra: Any) -> str:
        """Render like transformers' apply_chat_template(tokenize=False); extra becomes template variables."""
        if not isinstance(messages, list | tuple):
            raise TemplateError("messages must be a list of {'role': ..., 'content': ...} objects")
        context = {"messages": messages, "add_generation_prompt": add_generation_prompt, "tools": tools,
                   "documents": None, "bos_token": self.bos_token, "eos_token": self.eos_token, **extra}
        budget = Budget(self.max_seconds, self.max_output_chars)
        token = activate(budget)
        try:
            return self._stream(budget, context)
        except LimitExceeded as exc:
            where = _where(exc)
            raise LimitExceeded(f"{exc} (template{where})" if where else str(exc)) from None
        except TemplateSecurityError:
            raise
        except TemplateError:
            raise  # raise_exception() in the template: its own message, as transformers reports it
        except SecurityError as exc:
            raise TemplateSecurityError(f"chat template blocked{_where(exc)}: {exc}") from None
        except RecursionError as exc:
            raise TemplateError(f"chat template recursed too deeply{_where(exc)}") from None
        except MemoryError as exc:
            raise TemplateError(f"chat template ran out of memory{_where(exc)}") from None
        except jinja2.TemplateError as exc:
            raise TemplateError(f"chat template failed{_where(exc)}: {exc}") from None
        except Exception as exc:  # any Python error inside template code is the template's fault
            raise TemplateError(f"chat template failed{_where(exc)}: {type(exc).__name__}: {exc}") from None
        finally:
            deactivate(token)

    def _stream(self, budget: Budget, context: dict) -> str:
        parts, size = [], 0
        chunks = self._template.generate(context)
        try:
            for chunk in chunks:
                size += len(chunk)
                if size > budget.limit:
                    raise LimitExceeded(f"the chat template's output is over the {budget.limit:,} character limit")
                budget.tick()
                parts.append(chunk)
        finally:
            chunks.close()
        return "".join(parts)


def _where(exc: BaseException) -> str:
    """' at line N' from the template frames Jinja puts into the traceback, '' if none."""
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<template>"]
    return f" at line {lines[-1]}" if lines else ""


@functools.lru_cache(maxsize=32)
def _compiled(source: str, bos_token: str, eos_token: str, max_seconds: float, max_output_chars: int):
    return ChatTemplate(source, bos_token=bos_token, eos_token=eos_token, max_seconds=max_seconds,
                        max_output_chars=max_output_chars)


def render_prompt(source: str, messages: Sequence[Mapping[str, Any]], *, bos_token: str = "",
                  eos_token: str = "", add_generation_prompt: bool = True, tools: list | None = None,
                  max_seconds: float = 1.0, max_output_chars: int = 1_000_000, **extra: Any) -> str:
    """One-shot render (compiled templates are cached by source)."""
    template = _compiled(source, bos_token, eos_token, max_seconds, max_output_chars)
    return template.render(messages, add_generation_prompt=add_generation_prompt, tools=tools, **extra)
