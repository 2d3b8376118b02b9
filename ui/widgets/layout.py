"""Small layout builders: a margin-less column or row of widgets and layouts, with optional stretch factors, and
the read-only list table the pages share."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QBoxLayout,
    QHBoxLayout,
    QHeaderView,
    QLayout,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)


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


def list_table(headers: list[str]) -> QTableWidget:
    """A read-only table of whole-row single selection; the first column stretches, the others fit their text."""
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.setWordWrap(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for column in range(1, len(headers)):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
    return table
