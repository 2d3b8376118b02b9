"""Packaging on real parts: the wheel built from this tree carries resources/, `workbench desktop-install`
writes a working desktop entry into XDG folders, and `workbench gui` checks the Qt platform before Qt can abort."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from ui.platform_check import PlatformReport, check
from workbench import resources
from workbench.cli import main

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ["default.Modelfile", "example_suite.yaml", "quality_text.txt", "icons/workbench.svg",
           "icons/workbench.ico", "icons/workbench.icns", "linux/workbench.desktop", "linux/workbench-mime.xml",
           "linux/workbench.metainfo.xml", "styles/base.qss", "styles/light.qss", "styles/dark.qss",
           *(f"icons/workbench-{size}.png" for size in resources.ICON_SIZES)]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_wheel_carries_every_resource_under_workbench_resources(tmp_path):
    source = tmp_path / "src"  # a copy: building in the shared tree would leave build/ and egg-info there
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("workbench", "ui", "resources"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                             "-w", str(tmp_path / "dist"), "-q"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    wheel = next((tmp_path / "dist").glob("workbench-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in BUNDLED if f"workbench/resources/{name}" not in names]
    assert not missing, missing
    assert "workbench/resources/__init__.py" in names and "ui/main.py" in names
    assert not any(name.startswith("resources/") for name in names)  # no top-level package named "resources"


def test_resources_are_found_through_importlib_resources():
    for name in BUNDLED:
        assert resources.data(name), name
    assert "FROM" in resources.text("default.Modelfile")
    assert resources.text("quality_text.txt").startswith("It is a truth universally acknowledged")
    for size in resources.ICON_SIZES:  # each PNG is the size its name says
        image = QImage(resources.path(f"icons/workbench-{size}.png"))
        assert (image.width(), image.height()) == (size, size)


def test_desktop_entry_metainfo_and_mime_types_agree():
    entry = configparser.ConfigParser(interpolation=None)
    entry.read_string(resources.text("linux/workbench.desktop"))
    desktop = entry["Desktop Entry"]
    assert desktop["Exec"].endswith("gui %f") and desktop["Icon"] == "workbench"
    types = {t for t in desktop["MimeType"].split(";") if t}
    mime = ET.fromstring(resources.data("linux/workbench-mime.xml"))
    ns = "{http://www.freedesktop.org/standards/shared-mime-info}"
    declared = {m.get("type"): [g.get("pattern") for g in m.iter(f"{ns}glob")] for m in mime.iter(f"{ns}mime-type")}
    assert types == set(declared) and declared["application/x-gguf"] == ["*.gguf"]
    assert declared["application/x-workbench-bundle"] == ["*.wbundle"]
    meta = ET.fromstring(resources.data("linux/workbench.metainfo.xml"))
    assert {m.text for m in meta.iter("mediatype")} == types
    assert meta.find("launchable").text == "workbench.desktop"


def test_desktop_install_writes_entry_icons_and_types_into_xdg_data_home(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    code, out, _ = run(capsys, "desktop-install")
    assert code == 0 and str(tmp_path / "share") in out
    share = tmp_path / "share"
    entry = configparser.ConfigParser(interpolation=None)
    entry.read(share / "applications" / "workbench.desktop")
    exec_line = entry["Desktop Entry"]["Exec"]
    program = exec_line.split(" gui ")[0].strip('"')
    assert exec_line.endswith(" gui %f") and os.access(program, os.X_OK), exec_line
    assert entry["Desktop Entry"]["TryExec"] == program
    for size in resources.ICON_SIZES:
        icon = QImage(str(share / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "workbench.png"))
        assert icon.width() == size
    assert (share / "icons" / "hicolor" / "scalable" / "apps" / "workbench.svg").is_file()
    assert (share / "mime" / "packages" / "workbench.xml").read_bytes() == resources.data("linux/workbench-mime.xml")
    if shutil.which("update-mime-database"):  # the desktop's MIME cache now maps the globs to the types
        globs = (share / "mime" / "globs2").read_text()
        assert "application/x-gguf:*.gguf" in globs and "application/x-workbench-bundle:*.wbundle" in globs
    code, out, _ = run(capsys, "desktop-install", "--remove")
    assert code == 0 and not (share / "applications" / "workbench.desktop").exists()
    assert not (share / "icons" / "hicolor" / "48x48" / "apps" / "workbench.png").exists()


def test_desktop_entry_runs_the_command_it_names(tmp_path):
    """The Exec line's program, run as the desktop would (without the gui verb), is this install's CLI."""
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "share")}
    script = Path(sys.executable).with_name("workbench")
    subprocess.run([str(script), "desktop-install"], env=env, check=True, capture_output=True, timeout=120)
    entry = configparser.ConfigParser(interpolation=None)
    entry.read(tmp_path / "share" / "applications" / "workbench.desktop")
    program = entry["Desktop Entry"]["Exec"].split(" gui ")[0].strip('"')
    result = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0 and "workbench" in result.stdout.lower()


# -- the startup check ------------------------------------------------------------------------------------
def test_a_missing_library_is_named_with_its_packages():
    report = check(env={"DISPLAY": ":0"}, probe=("libworkbench-absent-for-tests.so.0",))
    assert not report.ok and report.platform == "xcb"
    assert report.missing[0] == "libworkbench-absent-for-tests.so.0"
    assert "libworkbench-absent-for-tests.so.0" in report.message()
    present = check(env={"DISPLAY": ":0"}, probe=("libc.so.6",))
    assert present.ok, present.message()


def test_the_message_gives_apt_dnf_and_pacman_names():
    report = PlatformReport("xcb", ["libxcb-cursor.so.0", "libxcb-icccm.so.4"], "Qt's xcb platform plugin needs …")
    text = report.message()
    assert "sudo apt install libxcb-cursor0 libxcb-icccm4" in text
    assert "sudo dnf install xcb-util-cursor xcb-util-wm" in text
    assert "sudo pacman -S xcb-util-cursor xcb-util-wm" in text


def test_a_missing_platform_plugin_is_named(tmp_path):
    report = check(env={"DISPLAY": ":0"}, plugins=tmp_path)
    assert not report.ok and "libqxcb.so is missing" in report.message() and "reinstall PySide6" in report.message()


def test_headless_platforms_and_a_wayland_session_are_judged_like_qt_does():
    assert check(env={"QT_QPA_PLATFORM": "offscreen"}, probe=("libworkbench-absent-for-tests.so.0",)).ok
    wayland = check(env={"WAYLAND_DISPLAY": "wayland-0"}, probe=("libworkbench-absent-for-tests.so.0",))
    assert not wayland.ok and wayland.platform == "xcb"  # both candidates tried, xcb (the fallback) reported
    nothing = check(env={})
    assert not nothing.ok and "xvfb-run" in nothing.message()


def _no_display_env() -> dict[str, str]:
    drop = {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def test_gui_without_a_display_says_so_and_exits_1_instead_of_aborting():
    env = _no_display_env()
    # what the check prevents: Qt itself aborts (SIGABRT, a core dump) when no platform plugin can start
    bare = subprocess.run([sys.executable, "-c", "from PySide6.QtWidgets import QApplication; QApplication([])"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert bare.returncode < 0 or bare.returncode > 1, bare.returncode
    result = subprocess.run([str(Path(sys.executable).with_name("workbench")), "gui"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "cannot start" in result.stderr and "xvfb-run" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("name", "problem"), [("notes.txt", "opens .gguf models and .wbundle bundles"),
                                               ("absent.gguf", "no such file")])
def test_gui_refuses_a_file_it_cannot_open(capsys, tmp_path, name, problem):
    if name.endswith(".txt"):
        (tmp_path / name).write_text("hello")
    code, _, err = run(capsys, "gui", tmp_path / name)
    assert code == 1 and problem in err
