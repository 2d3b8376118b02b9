"""Dependency rules, checked in fresh interpreters: the core and the CLI never load Qt; a quick CLI stays light."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


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
        import workbench, workbench.app, workbench.cli, workbench.library, workbench.gguf.info, workbench.library.bundled
        from workbench.cli import _register_commands
        _register_commands()
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


def test_only_gguf_info_imports_gguf():
    """One adapter module per third-party library: `gguf` is imported by gguf_info.py alone."""
    from pathlib import Path

    import workbench

    root = Path(workbench.__file__).parent
    importers = sorted(
        str(p.relative_to(root)) for p in root.rglob("*.py")
        if any(line.strip().startswith(("import gguf", "from gguf")) for line in p.read_text().splitlines())
    )
    assert importers == ["gguf_info.py"]
