"""The app's place on a Linux desktop: the menu entry, icons, file types (`workbench desktop-install`)."""

from .install import DESKTOP_ID, desktop_install, desktop_uninstall, exec_command

__all__ = ["DESKTOP_ID", "desktop_install", "desktop_uninstall", "exec_command"]
