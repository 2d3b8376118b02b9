"""Startup check, run before the QApplication exists: can a Qt platform plugin load on this machine?

Without it Qt aborts the process ("Could not load the Qt platform plugin xcb", a core dump) and says nothing a
person can act on. On Linux the xcb and wayland plugins need system libraries PySide6 does not ship (xcb-cursor,
xcb-icccm, xkbcommon-x11 …); this finds the missing ones by asking the dynamic loader for each (ctypes) and by
`ldd` on the plugin, and names the packages that hold them for apt, dnf and pacman. Other systems ship what
their plugin needs, so the check passes there.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

# soname → (apt, dnf, pacman) package. The xcb list is what libqxcb.so and libQt6XcbQpa.so.6 link that the
# Debian/Ubuntu/Fedora/Arch base images often lack (the issue that added this check: a Debian 12 box).
PACKAGES: dict[str, tuple[str, str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig", "fontconfig"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl", "libglvnd"),
    "libGL.so.1": ("libgl1", "libglvnd-glx", "libglvnd"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs", "dbus"),
    "libwayland-client.so.0": ("libwayland-client0", "libwayland-client", "wayland"),
    "libwayland-cursor.so.0": ("libwayland-cursor0", "libwayland-cursor", "wayland"),
    "libwayland-egl.so.1": ("libwayland-egl1", "libwayland-egl", "wayland"),
}
XCB_LIBRARIES = tuple(name for name in PACKAGES if "wayland" not in name)
WAYLAND_LIBRARIES = ("libwayland-client.so.0", "libwayland-cursor.so.0", "libxkbcommon.so.0", "libfontconfig.so.1")
# platforms that draw without a display server: nothing to check beyond the plugin file
HEADLESS = {"offscreen", "minimal", "vnc", "linuxfb", "eglfs", "vkkhrdisplay", "minimalegl"}


@dataclass
class PlatformReport:
    platform: str  # the plugin Qt will try ("xcb", "wayland", "offscreen"…); "" when no display at all
    missing: list[str] = field(default_factory=list)  # sonames the dynamic loader cannot find
    problem: str = ""  # one sentence when the app cannot start; "" when it can

    @property
    def ok(self) -> bool:
        return not self.problem

    def message(self) -> str:
        """What to print: the problem and, for missing libraries, the install command per distribution."""
        if self.ok:
            return ""
        lines = [f"The desktop app cannot start: {self.problem}"]
        known = [name for name in self.missing if name in PACKAGES]
        if known:
            for label, column, command in (("Debian/Ubuntu", 0, "sudo apt install"),
                                           ("Fedora", 1, "sudo dnf install"), ("Arch", 2, "sudo pacman -S")):
                names = sorted({PACKAGES[name][column] for name in known})
                lines.append(f"  {label + ':':15} {command} {' '.join(names)}")
        unknown = [name for name in self.missing if name not in PACKAGES]
        if unknown:
            lines.append("  also missing (install the package that provides it): " + ", ".join(unknown))
        return "\n".join(lines)


def loadable(soname: str) -> bool:
    """Whether the dynamic loader finds and can load `soname` (what Qt's plugin loader will need)."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def ldd_missing(plugin: Path) -> list[str]:
    """Libraries `ldd` reports as "not found" for the plugin (its own and its Qt libraries' dependencies)."""
    ldd = shutil.which("ldd")
    if ldd is None or not plugin.is_file():
        return []
    try:
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return re.findall(r"^\s*(\S+)\s*=>\s*not found", out, flags=re.MULTILINE)


def plugins_dir() -> Path:
    from PySide6.QtCore import QLibraryInfo  # QtCore only: nothing here may create a GUI application

    return Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))


def missing_for(plugin: Path, probe: tuple[str, ...]) -> list[str]:
    """Missing libraries of a platform plugin: each of `probe` that the loader cannot load; when those all load,
    the plugin itself is loaded (Qt loads the same file moments later, so this costs nothing extra). Only when
    something is missing does `ldd` list everything else the plugin lacks (it takes ~0.1 s)."""
    missing = [soname for soname in probe if not loadable(soname)]
    if not missing:
        try:
            ctypes.CDLL(str(plugin))
            return []
        except OSError as exc:  # "libfoo.so.1: cannot open shared object file: …"
            missing = [str(exc).split(":")[0].strip()]
    return missing + [soname for soname in ldd_missing(plugin) if soname not in missing]


def _judge(name: str, plugins: Path, probe: tuple[str, ...] | None) -> PlatformReport:
    plugin = plugins / "platforms" / f"libq{name}.so"
    if not plugin.is_file():
        return PlatformReport(name, problem=f"Qt's {name} platform plugin is not installed ({plugin} is missing): "
                                            "reinstall PySide6 (scripts/setup.sh, or the app's folder).")
    if probe is None:
        probe = XCB_LIBRARIES if name == "xcb" else WAYLAND_LIBRARIES
    missing = missing_for(plugin, probe)
    problem = f"Qt's {name} platform plugin needs libraries this system lacks: {', '.join(missing)}."
    return PlatformReport(name, missing, problem if missing else "")


def check(env: dict[str, str] | None = None, probe: tuple[str, ...] | None = None,
          plugins: Path | None = None) -> PlatformReport:
    """Which platform Qt will use here (as Qt picks it: QT_QPA_PLATFORM, else wayland in a Wayland session
    with xcb as the fallback, else xcb) and whether it can load. `probe` replaces the list of libraries asked
    for and `plugins` Qt's plugin folder (tests point them at a library or a plugin that does not exist)."""
    env = os.environ if env is None else env
    if not sys.platform.startswith("linux"):
        return PlatformReport(platform="native")
    requested = [p.split(":")[0] for p in env.get("QT_QPA_PLATFORM", "").split(";") if p]
    if requested and requested[0] in HEADLESS:
        return PlatformReport(platform=requested[0])
    candidates = requested or (["wayland", "xcb"] if env.get("WAYLAND_DISPLAY") else ["xcb"])
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return PlatformReport("", problem="there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set). "
                                          "Start it from a desktop session, or on a headless machine under "
                                          "`xvfb-run workbench gui`.")
    for name in candidates:
        report = _judge(name, plugins or plugins_dir(), probe)
        if report.ok:
            return report
    return report  # the last candidate's (xcb, Qt's fallback) is what to fix
