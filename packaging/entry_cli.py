"""The frozen app's `workbench` executable: the CLI (packaging/*.spec build it)."""

from workbench.cli import entry

entry()
