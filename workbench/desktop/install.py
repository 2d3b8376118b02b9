"""Install the desktop entry, icons, MIME types and AppStream metainfo into the user's XDG data folder.

After `workbench desktop-install` the app is in the desktop's menu, .gguf and .wbundle files open with
`workbench gui FILE`, and the icon shows in the task bar. Everything goes under $XDG_DATA_HOME (default
~/.local/share), nothing system-wide; the desktop's caches are refreshed with the freedesktop tools when they
are installed (the files work without them after the next login).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .. import resources
from ..errors import WorkbenchError

DESKTOP_ID = "workbench"
_CACHE_TOOLS = (("update-mime-database", "mime"), ("update-desktop-database", "applications"),
                ("gtk-update-icon-cache", "icons/hicolor"))


def data_home(env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def exec_command() -> list[str]:
    """The command that starts this installation's `workbench`: the frozen app's executable, the console
    script beside this interpreter, or the interpreter running the CLI module."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    script = Path(sys.executable).with_name("workbench")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from workbench.cli import entry; entry()"]


def _quote(arg: str) -> str:
    """Quote one Exec argument as the Desktop Entry spec asks (double quotes; \\ " ` $ escaped)."""
    if not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`'):
        return arg
    return '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'


def _desktop_entry(command: list[str]) -> str:
    exec_line = " ".join(_quote(arg) for arg in command) + " gui %f"
    lines = []
    for line in resources.text("linux/workbench.desktop").splitlines():
        lines.append(f"Exec={exec_line}" if line.startswith("Exec=") else line)
    lines.insert(lines.index("Terminal=false"), f"TryExec={command[0]}")
    return "\n".join(lines) + "\n"


def _targets(root: Path) -> dict[Path, bytes]:
    files = {
        root / "applications" / f"{DESKTOP_ID}.desktop": _desktop_entry(exec_command()).encode(),
        root / "mime" / "packages" / f"{DESKTOP_ID}.xml": resources.data("linux/workbench-mime.xml"),
        root / "metainfo" / f"{DESKTOP_ID}.metainfo.xml": resources.data("linux/workbench.metainfo.xml"),
        root / "icons" / "hicolor" / "scalable" / "apps" / f"{DESKTOP_ID}.svg": resources.data("icons/workbench.svg"),
    }
    for size in resources.ICON_SIZES:
        icon = root / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{DESKTOP_ID}.png"
        files[icon] = resources.data(f"icons/workbench-{size}.png")
    return files


def desktop_install(env: dict[str, str] | None = None) -> list[Path]:
    """Write every file (replacing an earlier install) and refresh the desktop caches; the paths written."""
    root = data_home(env)
    written = []
    try:
        for path, content in _targets(root).items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            written.append(path)
    except OSError as exc:
        raise WorkbenchError(f"cannot write the desktop files into {root}: {exc.strerror or exc}") from exc
    _refresh_caches(root)
    return written


def desktop_uninstall(env: dict[str, str] | None = None) -> list[Path]:
    """Remove what desktop_install wrote; the paths removed."""
    root = data_home(env)
    removed = [path for path in _targets(root) if path.is_file()]
    for path in removed:
        path.unlink()
    _refresh_caches(root)
    return removed


def _refresh_caches(root: Path) -> None:
    """Best effort: a desktop without these tools rescans the folders at the next login."""
    for tool, folder in _CACHE_TOOLS:
        exe = shutil.which(tool)
        if exe is not None and (root / folder).is_dir():
            quiet = ["-q", "-t"] if tool == "gtk-update-icon-cache" else []
            subprocess.run([exe, *quiet, str(root / folder)], capture_output=True, timeout=60, check=False)
