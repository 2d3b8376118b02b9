"""Workbench's data files: the app icon, the Linux desktop entry, AppStream metainfo and MIME types, the Qt
style sheets, the default Modelfile, the example eval suite and the bundled quality text.

The folder sits at the top of the source tree and is installed as the package `workbench.resources` (setup.py
maps it), so `importlib.resources` finds these files the same way in the venv, in a wheel and in the
PyInstaller app (packaging/ collects the package's data). Read them through `text()` and `path()` only.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from importlib.resources.abc import Traversable

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def resource(name: str) -> Traversable:
    """A bundled file by its path inside resources/ ("icons/workbench.svg")."""
    return files(__name__).joinpath(name)


def text(name: str) -> str:
    return resource(name).read_text(encoding="utf-8")


def data(name: str) -> bytes:
    return resource(name).read_bytes()


def path(name: str) -> str:
    """A real file-system path to a bundled file (Qt and desktop entries need one). Installs from a wheel, the
    venv and PyInstaller's one-folder app all keep the files on disk, so the path stays valid after the call."""
    with as_file(resource(name)) as real:
        return str(real)
