"""`workbench gui`: start the desktop app (the only command that imports the Qt app, and only when run)."""

from __future__ import annotations

import typer

from .common import app


@app.command("gui")
def gui() -> None:
    """Open the desktop app (one window per data folder; the bundled model is prepared on first start)."""
    try:
        from ui.main import main as gui_main  # lazy: every other command stays free of PySide6
    except ImportError as exc:  # a broken Qt install is a setup problem a person can fix
        from ..errors import WorkbenchError

        raise WorkbenchError(f"the desktop app cannot start: {exc} (reinstall with scripts/setup.sh)") from exc
    raise typer.Exit(gui_main(["workbench"]))
