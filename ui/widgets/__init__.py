"""Widgets the pages are built from: the chat transcript, settings panel and streaming buffer, compare panes, the
Modelfile editor, diff view, downloads panel, audit panel, bundle dialog and layout helpers.
"""
