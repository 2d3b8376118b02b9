"""Small edits of a suite's YAML text that keep its comments and layout: adding a prompt (Compare's "Add this
prompt to a suite"), or starting a new suite around one prompt. Text is inserted at the position PyYAML reports
for the `prompts:` value, so nothing else in the file is re-serialised."""

from __future__ import annotations

import json

import yaml

from ..errors import InvalidParameter


def new_suite_text(prompt: str, targets: list[str], description: str = "") -> str:
    """A minimal suite with one prompt, the targets, and one test to fill in."""
    lines = [f"description: {json.dumps(description or 'New suite', ensure_ascii=False)}", "prompts:",
             f"  - {json.dumps(prompt, ensure_ascii=False)}", "targets:"]
    lines += [f"  - {json.dumps(t, ensure_ascii=False)}" for t in targets] or ["  - default"]
    lines += ["tests:", "  - description: first case", "    vars: {}", "    assert:",
              "      - type: not-equals", '        value: ""']
    return "\n".join(lines) + "\n"


def add_prompt(text: str, prompt: str) -> str:
    """The suite text with `prompt` appended to its prompts (JSON-quoted, so any text is valid YAML)."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise InvalidParameter(f"the suite is not valid YAML, fix it first: {exc}") from None
    item = json.dumps(prompt, ensure_ascii=False)
    if root is None or not isinstance(root, yaml.MappingNode):
        raise InvalidParameter("the suite is not a YAML mapping")
    node = next((value for key, value in root.value if key.value == "prompts"), None)
    if node is None:
        return text.rstrip("\n") + f"\nprompts:\n  - {item}\n"
    if isinstance(node, yaml.SequenceNode) and node.flow_style:
        end = node.end_mark.index - 1  # the closing bracket
        separator = ", " if node.value else ""
        return text[:end] + separator + item + text[end:]
    if isinstance(node, yaml.SequenceNode) and node.value:
        indent = " " * node.value[0].start_mark.column
        insert_at = _line_end(text, node.value[-1].end_mark.index)
        return text[:insert_at] + f"{indent[:-2] if indent else ''}- {item}\n" + text[insert_at:]
    # a single prompt written as a scalar: make it a list of two
    if not isinstance(node, yaml.ScalarNode):
        raise InvalidParameter("the suite's prompts are neither a list nor one prompt")
    first = json.dumps(node.value, ensure_ascii=False)
    return text[:node.start_mark.index] + f"[{first}, {item}]" + text[node.end_mark.index:]


def _line_end(text: str, index: int) -> int:
    """The index just after the newline ending the line that holds `index - 1` (end marks point past a value)."""
    newline = text.find("\n", max(index - 1, 0))
    return len(text) if newline == -1 else newline + 1
