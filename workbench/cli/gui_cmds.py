"""`workbench gui [FILE]` (start the desktop app, optionally opening a model or bundle) and
`workbench desktop-install` (put the app into the Linux desktop's menu and file associations).

`gui` is the only command that imports the Qt app, and only when run; before the QApplication exists it checks
that a Qt platform plugin can load (ui/platform_check.py), so a machine missing system libraries gets the
package names to install and exit code 1 instead of Qt's abort.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import WorkbenchError
from .common import app, console, console_err

OPENABLE = (".gguf", ".wbundle")


@app.command("gui")
def gui(file: Path | None = typer.Argument(None, help="a .gguf model to import or a .wbundle to import",
                                           show_default=False)) -> None:
    """Open the desktop app (one window per data folder; the bundled model is prepared on first start)."""
    if file is not None:
        if file.suffix.lower() not in OPENABLE:
            raise WorkbenchError(f"{file}: the app opens .gguf models and .wbundle bundles, not this kind of file")
        if not file.is_file():
            raise WorkbenchError(f"{file}: no such file")
    try:
        from ui.platform_check import check  # imports QtCore only
    except ImportError as exc:  # a broken Qt install is a setup problem a person can fix
        raise WorkbenchError(f"the desktop app cannot start: {exc} (reinstall with scripts/setup.sh)") from exc
    report = check()
    if not report.ok:
        console_err.print(report.message(), highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1)
    from ui.main import main as gui_main  # lazy: every other command stays free of PySide6

    raise typer.Exit(gui_main(["workbench"], open_file=file.resolve() if file else None))


@app.command("desktop-install")
def desktop_install(remove: bool = typer.Option(False, "--remove", help="take the entry, icons and types out")
                    ) -> None:
    """Add Workbench to the desktop's menu (Linux): .desktop entry, icons, .gguf/.wbundle types, in $XDG_DATA_HOME."""
    from ..desktop import desktop_install as install
    from ..desktop import desktop_uninstall as uninstall
    from ..desktop.install import data_home

    paths = uninstall() if remove else install()
    verb = "removed" if remove else "wrote"
    console.print(f"{verb} {len(paths)} files under {data_home()}", highlight=False)
    if not remove:
        console.print("Workbench is in the application menu; .gguf and .wbundle files open with it.")
