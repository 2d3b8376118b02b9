"""Widgets shared by pages: the downloads panel, the Modelfile editor, the diff view."""
