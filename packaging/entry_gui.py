"""The frozen app's `workbench-gui` executable: `workbench gui [FILE]`, with the startup check first (what a
desktop entry, a macOS .app or a Windows shortcut starts)."""

import sys

from workbench.cli import main

sys.exit(main(["gui", *sys.argv[1:]]))
