"""Who may import whom (docs/design.md §2): one adapter package per third-party library, an engine that knows no
services, a UI that reaches the store and the engine only through services, no import cycles, no Qt in the core."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from functools import cache
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for top in ("workbench", "ui") for p in sorted((ROOT / top).rglob("*.py"))}


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


@cache
def _imports(module: str) -> frozenset[str]:
    """Every module `module` imports, at its top or inside functions (TYPE_CHECKING blocks excluded), with the
    packages whose __init__ such an import runs first."""
    path = _modules()[module]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                source = _absolute(child, module, path.name == "__init__.py")
                found.add(source)
                found.update(f"{source}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text()))
    with_parents = {".".join(name.split(".")[:i]) for name in found for i in range(1, name.count(".") + 2)}
    return frozenset(name for name in with_parents if name != module and not module.startswith(name + "."))


def _importers(prefix: str) -> set[str]:
    """The project modules that import `prefix` or anything under it."""
    return {m for m in _modules() if any(i == prefix or i.startswith(prefix + ".") for i in _imports(m))}


def _under(package: str) -> set[str]:
    return {m for m in _modules() if m == package or m.startswith(package + ".")}


@pytest.mark.parametrize(("library", "package"), [
    ("gguf", "workbench.gguf"),
    ("huggingface_hub", "workbench.hub"),
    ("llama_cpp", "workbench.engine"),
    ("PIL", "workbench.chat.media"),  # images are checked and decoded in one place
    ("sqlalchemy", "workbench.store"),
    ("keyring", "workbench.remote"),
])
def test_each_third_party_library_has_one_adapter_package(library, package):
    assert _importers(library) - _under(package) == set()
    assert _importers(library)  # the rule is about a library the project really uses


def test_the_engine_knows_no_services():
    services = ("library", "hub", "store", "chat", "presets", "measure", "bundle", "serve", "cli", "evals", "app",
                "audit", "gguf")
    for module in _under("workbench.engine"):
        reached = {i for i in _imports(module) if i.startswith("workbench.") and not i.startswith("workbench.engine")}
        assert {i for i in reached if i.split(".")[1] in services} == set(), module


def test_the_ui_reaches_store_and_engine_only_through_services():
    assert _importers("workbench.store") & _under("ui") == set()
    assert _importers("workbench.engine") & _under("ui") == set()


def test_the_core_never_imports_qt_or_the_ui():
    core = _under("workbench") - {"workbench.cli.gui_cmds"}  # `workbench gui` starts the app, lazily
    assert (_importers("PySide6") | _importers("ui") | _importers("pyqtgraph")) & core == set()
    assert "ui.main" in _imports("workbench.cli.gui_cmds")


def test_no_import_cycles():
    graph = {module: {i for i in _imports(module) if i in _modules()} for module in _modules()}
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as cycle:
        pytest.fail("import cycle: " + " -> ".join(cycle.args[1]))


def test_the_rules_see_real_imports():
    """The graph above is built from the source: a known edge of each kind is in it."""
    assert "workbench.errors" in _imports("workbench.library.service")  # relative `from ..errors import`
    assert "workbench.modelfile" in _imports("workbench.chat.prepare")  # a package's __init__ runs first
    assert "llama_cpp" in _imports("workbench.engine.native")
    assert "workbench.app" in _imports("ui.main")


def _loaded_after(code: str) -> set[str]:
    """The top-level module names loaded by a fresh interpreter after running `code`."""
    script = textwrap.dedent(code) + textwrap.dedent("""
        import json, sys
        print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_core_and_cli_do_not_load_pyside6():
    loaded = _loaded_after("""
        import workbench, workbench.app, workbench.cli, workbench.library, workbench.gguf, workbench.hub
        import workbench.chat, workbench.measure, workbench.bundle, workbench.modelfile, workbench.library.bundled
        from workbench.cli import register_commands
        register_commands()
    """)
    assert "workbench" in loaded
    assert "PySide6" not in loaded and "shiboken6" not in loaded and "ui" not in loaded


def test_opening_the_library_does_not_load_llama_cpp_or_the_hub(tmp_path):
    """`workbench list` must stay quick: listing models needs neither llama.cpp nor huggingface_hub."""
    loaded = _loaded_after(f"""
        import os
        os.environ["WORKBENCH_HOME"] = {str(tmp_path)!r}
        from workbench.app import Workbench
        with Workbench() as wb:
            wb.library.list()
    """)
    assert "sqlalchemy" in loaded
    assert "llama_cpp" not in loaded and "huggingface_hub" not in loaded and "PySide6" not in loaded
