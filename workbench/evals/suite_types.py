"""The records a parsed suite is made of: prompts, targets, test cases, assertions, the Suite, its Diagnostics.

Plain frozen dataclasses (a Suite round-trips through canonical JSON, which is what a run stores and a resume
rebuilds), plus the two jobs on `{{var}}` text: finding the placeholders a prompt reads (parsing only) and rendering
it in the engine's sandboxed Jinja environment.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from ..errors import InvalidParameter, WorkbenchError
from .targets import TargetSpec, target_from_dict

DEFAULT_MAX_TOKENS = 256


@dataclass(frozen=True)
class Diagnostic:
    """One problem for an editor: 1-based line and column, end column on the same line, severity."""

    line: int
    column: int
    end_column: int
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


class SuiteError(WorkbenchError, ValueError):
    """A suite that cannot run: the first error as the message, every diagnostic in `.diagnostics`."""

    def __init__(self, diagnostics: list[Diagnostic], source: str = "suite"):
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.severity == "error"]
        first = errors[0] if errors else diagnostics[0]
        self.line = first.line
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{source} {first}{more}")


@dataclass(frozen=True)
class PromptSpec:
    """A prompt: text (sent as one user message, or as-is to a raw target) or a chat message list."""

    label: str
    text: str | None = None
    messages: tuple[dict[str, Any], ...] | None = field(default=None, hash=False)
    variables: tuple[str, ...] = ()  # the {{placeholders}} it reads

    def sources(self) -> list[str]:
        return [self.text] if self.text is not None else [str(m.get("content", "")) for m in self.messages or ()]


@dataclass(frozen=True)
class AssertionSpec:
    type: str
    value: Any = None
    threshold: float | None = None
    weight: float = 1.0
    metric: str | None = None
    provider: str | None = None  # llm-rubric: the judge; similar: the embedding model (default: the target's)
    rubric_prompt: str | None = None
    line: int = 0


@dataclass(frozen=True)
class TestCase:
    index: int
    id: str  # what names the test in cell keys: its description, else its vars
    description: str
    vars: dict[str, Any] = field(default_factory=dict, hash=False)
    asserts: tuple[AssertionSpec, ...] = ()
    threshold: float | None = None
    line: int = 0

    __test__ = False  # not a pytest class


@dataclass(frozen=True)
class Suite:
    description: str
    prompts: tuple[PromptSpec, ...]
    targets: tuple[TargetSpec, ...]
    tests: tuple[TestCase, ...]
    repeat: int = 1
    concurrency: int | None = None
    seed: int = 0
    parameters: dict[str, Any] = field(default_factory=dict, hash=False)  # sampling for every target (Ollama names)
    judge: str | None = None
    text: str = ""
    path: str | None = None
    warnings: tuple[Diagnostic, ...] = ()
    images: dict[str, str] = field(default_factory=dict, hash=False)  # an `image` var's file:// → its sha256

    @property
    def cell_count(self) -> int:
        return len(self.prompts) * len(self.targets) * len(self.tests) * self.repeat

    @property
    def sha256(self) -> str:
        """The hash of what runs (file:// contents included), not of the YAML's spelling."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def needs_code(self) -> bool:
        return any(a.type == "python" for t in self.tests for a in t.asserts)

    def with_options(self, *, targets: list[str] | None = None, repeat: int | None = None,
                     concurrency: int | None = None) -> Suite:
        """The suite with the command line's choices: other targets (ids as in the YAML), repeat, concurrency."""
        from .targets import parse_target

        changes: dict[str, Any] = {}
        if targets:
            changes["targets"] = tuple(parse_target(t) for t in targets)
        if repeat is not None:
            if repeat < 1:
                raise InvalidParameter(f"repeat must be at least 1, got {repeat}")
            changes["repeat"] = repeat
        if concurrency is not None:
            if not 1 <= concurrency <= 64:
                raise InvalidParameter(f"concurrency must be from 1 to 64, got {concurrency}")
            changes["concurrency"] = concurrency
        return replace(self, **changes)

    def to_json(self) -> str:
        """Everything that decides the cells (the resolved suite), as canonical JSON: stored with each run."""
        data = asdict(self)
        for key in ("text", "path", "warnings"):
            data.pop(key)
        if not self.images:  # a suite without images hashes as it did before images existed
            data.pop("images")
        return json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)

    @classmethod
    def from_json(cls, resolved: str, *, text: str = "", path: str | None = None) -> Suite:
        data = json.loads(resolved)
        prompts = tuple(PromptSpec(p["label"], p["text"], tuple(p["messages"]) if p["messages"] else None,
                                   tuple(p["variables"])) for p in data["prompts"])
        tests = tuple(TestCase(t["index"], t["id"], t["description"], t["vars"],
                               tuple(AssertionSpec(**a) for a in t["asserts"]), t["threshold"], t["line"])
                      for t in data["tests"])
        return cls(data["description"], prompts, tuple(target_from_dict(t) for t in data["targets"]), tests,
                   data["repeat"], data["concurrency"], data["seed"], data["parameters"], data["judge"], text, path,
                   images=data.get("images", {}))


def render(source: str, variables: dict[str, Any]) -> str:
    """`{{var}}` placeholders rendered in the engine's sandboxed Jinja environment (time and size capped)."""
    from ..engine.templates import render_prompt

    if "{{" not in source and "{%" not in source:
        return source
    # the chat-template renderer names three of its variables itself; a test may still set them
    named = {k: v for k, v in variables.items() if k not in ("messages", "tools", "add_generation_prompt")}
    return render_prompt(source, variables.get("messages", []), tools=variables.get("tools"),
                         add_generation_prompt=variables.get("add_generation_prompt", False), **named)


def placeholders(source: str) -> tuple[str, ...]:
    """The variables a prompt reads. Parsing only (nothing runs), so a plain Jinja environment is safe here."""
    import jinja2
    from jinja2 import meta

    ast = jinja2.Environment().parse(source)
    return tuple(sorted(meta.find_undeclared_variables(ast)))
