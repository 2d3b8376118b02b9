"""What the Chat page shows before a conversation has any message: what to do first, in three steps, with
links to the Hub and Library pages (the page turns a link into a page switch)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

_STEPS = """
<ol>
<li>Pick what to chat with in the list under the sessions: the <b>default</b> preset runs the bundled
gemma-3-270m, offline.</li>
<li>Type a question below and press <b>Ctrl+Enter</b>. A new chat starts by itself and is named after it.</li>
<li>For better answers, pull an instruct model on the <a href="Hub">Hub</a> page or import a .gguf file on the
<a href="Library">Library</a> page.</li>
</ol>
"""
_NO_MODELS = """
<p>There is no model in the library yet. Pull one on the <a href="Hub">Hub</a> page, or import a .gguf file
you already have on the <a href="Library">Library</a> page (drag and drop works).</p>
"""


class ChatEmptyState(QFrame):
    """Two texts: the first steps, or, with an empty library, where to get a model."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("empty-state")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 32, 32, 32)
        heading = QLabel("Start a conversation")
        heading.setObjectName("empty-state-title")
        self.body = QLabel(wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.body.setObjectName("empty-state-body")
        self.link_activated = self.body.linkActivated  # the page name of a clicked link
        layout.addWidget(heading)
        layout.addWidget(self.body)
        self.set_library_empty(False)

    def set_library_empty(self, empty: bool) -> None:
        self.body.setText(_NO_MODELS if empty else _STEPS)
