"""`SectionParser`: the generic checks of the suite parser and the two sections it reads first, prompts and targets.

Every problem becomes a Diagnostic at the span of the key or value that caused it (see suite_parse.py, which builds
the rest of the suite on this class).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import WorkbenchError
from . import suite_files as files
from . import yamlmarks
from .suite_types import Diagnostic, PromptSpec, placeholders
from .targets import TargetSpec, config_parameters, parse_target
from .yamlmarks import Mapping, Sequence, Span

TARGET_KEYS = {"id", "label", "config"}
PROMPT_KEYS = {"raw", "label", "id", "messages"}


class SectionParser:
    def __init__(self, base_dir: Path):
        self.base_dir = base_dir
        self.diagnostics: list[Diagnostic] = []

    def report(self, span: Span, message: str, severity: str = "error") -> None:
        self.diagnostics.append(Diagnostic(span.line, span.column, span.end_column, message, severity))  # type: ignore[arg-type]

    # -- generic checks -------------------------------------------------------------------------------
    def _keys(self, node: Mapping, known: set[str], ignored: set[str], where: str) -> None:
        for key, span in node.duplicates:
            self.report(span, f"{where}: {key!r} is given twice (the last one would win)")
        for key in node:
            if key in ignored:
                self.report(node.key_span(key), f"{where}: {key!r} has no effect on a local run; ignored", "warning")
            elif key not in known:
                self.report(node.key_span(key), f"{where}: unknown key {key!r}; known keys: {', '.join(sorted(known))}")

    def _mapping(self, node: Mapping, key: str) -> Mapping | None:
        value = node.get(key)
        if value is None:
            return None
        if files.is_file_ref(value):
            return self._mapping_file(node, key, value)
        if not isinstance(value, Mapping):
            self.report(node.value_span(key), f"{key} must be a mapping")
            return None
        return value

    def _mapping_file(self, node: Mapping, key: str, ref: str) -> Mapping | None:
        try:
            data = yamlmarks.load(files.read_text(files.resolve(ref, self.base_dir)[0]))
        except (files.FileProblem, yamlmarks.YAMLError) as exc:
            self.report(node.value_span(key), f"{key}: {exc}")
            return None
        if not isinstance(data, Mapping):
            self.report(node.value_span(key), f"{key}: {ref} must hold a mapping")
            return None
        data.span = node.value_span(key)  # problems inside it are shown at the reference
        data.key_spans = dict.fromkeys(data, data.span)
        data.value_spans = dict.fromkeys(data, data.span)
        return data

    def _number(self, node: Mapping, key: str, *, integer: bool = False, low: float | None = None) -> Any:
        value = node.get(key)
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if value is None:
            return None
        if isinstance(value, bool) or not ok or (low is not None and value < low):
            kind = "an integer" if integer else "a number"
            self.report(node.value_span(key), f"{key} must be {kind}" + (f" ≥ {low:g}" if low is not None else "")
                        + f", got {value!r}")
            return None
        return value

    # -- prompts and targets -------------------------------------------------------------------------------------
    def _config(self, node: Mapping, key: str, config: dict) -> dict[str, Any]:
        try:
            return config_parameters(dict(config))
        except WorkbenchError as exc:
            self.report(node.value_span(key), str(exc))
            return {}

    def _prompts(self, root: Mapping) -> list[PromptSpec]:
        value = root.get("prompts")
        if value is None:
            self.report(root.span, "the suite has no prompts (`prompts:` with at least one)")
            return []
        items = value if isinstance(value, Sequence) else Sequence([value])
        if not isinstance(value, Sequence):
            items.item_spans = [root.value_span("prompts")]
        prompts: list[PromptSpec] = []
        for index, item in enumerate(items):
            span = items.item_span(index)
            prompts += self._prompt(item, span)
        seen: dict[str, int] = {}
        unique = []
        for prompt in prompts:  # a label names a row in reports and a cell key: make repeats distinct
            seen[prompt.label] = seen.get(prompt.label, 0) + 1
            label = prompt.label if seen[prompt.label] == 1 else f"{prompt.label} ({seen[prompt.label]})"
            unique.append(PromptSpec(label, prompt.text, prompt.messages, prompt.variables))
        return unique

    def _prompt(self, item: Any, span: Span) -> list[PromptSpec]:
        label = None
        if isinstance(item, Mapping):
            self._keys(item, PROMPT_KEYS, set(), "prompt")
            label = item.get("label") or item.get("id")
            item = item.get("raw") if "raw" in item else item.get("messages")
        if files.is_file_ref(item):
            try:
                loaded = [p for path in files.resolve(item, self.base_dir) for p in files.load_prompts(path)]
            except files.FileProblem as exc:
                self.report(span, str(exc))
                return []
            return [self._make_prompt(label or name, body, span) for name, body in loaded]
        if isinstance(item, str):
            messages = _json_messages(item)
            return [self._make_prompt(label or _short(item), messages if messages is not None else item, span)]
        if isinstance(item, list) and all(isinstance(m, dict) for m in item):
            return [self._make_prompt(label or _short(json.dumps(item, ensure_ascii=False)), item, span)]
        self.report(span, "a prompt is text, a file:// path, a list of chat messages, or {raw:, label:}")
        return []

    def _make_prompt(self, label: str, body: str | list, span: Span) -> PromptSpec:
        messages = None
        if isinstance(body, list):
            messages = tuple({"role": str(m.get("role", "")), "content": m.get("content", "")} for m in body)
            for message in messages:
                if message["role"] not in ("system", "user", "assistant"):
                    self.report(span, f"a chat message's role must be system, user or assistant, got "
                                      f"{message['role']!r}")
        spec = PromptSpec(str(label), None if messages else body, messages)
        names: set[str] = set()
        for source in spec.sources():
            try:
                names.update(placeholders(source))
            except Exception as exc:  # jinja2.TemplateSyntaxError: the prompt's own syntax
                self.report(span, f"prompt {label!r}: template syntax error: {getattr(exc, 'message', exc)}")
        return PromptSpec(spec.label, spec.text, spec.messages, tuple(sorted(names)))

    def _targets(self, root: Mapping) -> list[TargetSpec]:
        key = "targets" if "targets" in root else "providers"
        if key not in root:
            self.report(root.span, "the suite has no targets (`targets:` or promptfoo's `providers:`)")
            return []
        if "targets" in root and "providers" in root:
            self.report(root.key_span("providers"), "give targets or providers, not both")
        value = root[key]
        items = value if isinstance(value, Sequence) else Sequence([value])
        if not isinstance(value, Sequence):
            items.item_spans = [root.value_span(key)]
        targets = []
        for index, item in enumerate(items):
            target = self._target(item, items.item_span(index))
            if target is not None:
                targets.append(target)
        labels = [t.label for t in targets]
        for index, label in enumerate(labels):
            if labels.index(label) != index:
                self.report(items.item_span(index), f"two targets are labelled {label!r}: give one a `label:`")
        return targets

    def _target(self, item: Any, span: Span) -> TargetSpec | None:
        label, config = None, {}
        if isinstance(item, Mapping) and "id" not in item and len(item) == 1:  # promptfoo's {id: {config}}
            (target_id, extra), = item.items()
            item = Mapping({"id": target_id, **(extra or {})})
            item.span = span
        if isinstance(item, Mapping):
            self._keys(item, TARGET_KEYS, set(), "target")
            label, config = item.get("label"), item.get("config") or {}
            if not isinstance(config, dict):
                self.report(span, "a target's config must be a mapping")
                config = {}
            item = item.get("id")
        if not isinstance(item, str):
            self.report(span, "a target is a preset or model name, or {id:, label:, config:}")
            return None
        try:
            return parse_target(item, label=str(label) if label else None, config=config)
        except WorkbenchError as exc:
            self.report(span, str(exc))
            return None


def _json_messages(text: str) -> list | None:
    """promptfoo reads a prompt that is a JSON list of {role, content} as chat messages."""
    stripped = text.strip()
    if not stripped.startswith("["):
        return None
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, list) and data and all(isinstance(m, dict) and "role" in m for m in data) \
        else None


def _short(text: str, limit: int = 60) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"

