"""Small layout builders: a margin-less column or row of widgets and layouts, with optional stretch factors."""

from __future__ import annotations

from PySide6.QtWidgets import QBoxLayout, QHBoxLayout, QLayout, QVBoxLayout, QWidget


def _fill(layout: QBoxLayout, items) -> QBoxLayout:
    for item in items:
        thing, stretch = item if isinstance(item, tuple) else (item, 0)
        if isinstance(thing, QLayout):
            layout.addLayout(thing, stretch)
        else:
            layout.addWidget(thing, stretch)
    return layout


def vcolumn(*items) -> QWidget:
    """A widget holding `items` top to bottom; an item is a widget, a layout, or (widget or layout, stretch)."""
    box = QWidget()
    layout = _fill(QVBoxLayout(box), items)
    layout.setContentsMargins(0, 0, 0, 0)
    return box


def hrow(*items) -> QHBoxLayout:
    """A horizontal layout of `items` (same forms as `vcolumn`)."""
    return _fill(QHBoxLayout(), items)
