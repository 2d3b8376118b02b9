"""A `_name` is private to its module: no other module of workbench/ or ui/ imports it or reaches it through the
module (`from .x import _helper`, `x._helper`); what modules share is public, or lives in a shared module."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for top in ("workbench", "ui") for p in sorted((ROOT / top).rglob("*.py"))}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _source(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    return ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))


def private_uses(module: str) -> list[str]:
    """`module`'s uses of another project module's private names, as "line: text"."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    found, aliases = [], set()  # aliases: local names bound to project modules
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _source(node, module, path.name == "__init__.py")
            for alias in node.names:
                if source in MODULES and _private(alias.name):
                    found.append(f"{node.lineno}: from {source} import {alias.name}")
                if f"{source}.{alias.name}" in MODULES:
                    aliases.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    aliases.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and _private(node.attr)):
            found.append(f"{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names():
    offences = {m: uses for m in MODULES if (uses := private_uses(m))}
    assert offences == {}


def test_the_check_sees_both_kinds_of_use(tmp_path, monkeypatch):
    monkeypatch.setitem(MODULES, "workbench.serve._sample", tmp_path / "sample.py")
    (tmp_path / "sample.py").write_text("from .routes_common import _hidden\nfrom . import formats\nformats._x()\n")
    assert private_uses("workbench.serve._sample") == ["1: from workbench.serve.routes_common import _hidden",
                                                       "3: formats._x"]
