"""The first-start notice: the bundled model is a tiny base model for trying things out, and where a real one is.

Shown once, when the bundled gemma-3-270m has just been prepared on a new data folder; "Open the Hub page" and
"Dismiss" both close it.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton

NOTICE = (
    "<b>Ready to chat offline with gemma-3-270m</b>, the bundled model: a tiny <i>base</i> model for trying things "
    "out. Its <code>default</code> preset asks it short questions in a question-and-answer form, so expect short "
    "answers that are sometimes wrong. For a real assistant, pull an instruct model on the <b>Hub</b> page "
    "(for example <code>bartowski/Qwen2.5-0.5B-Instruct-GGUF</code>, 0.4 GB)."
)


class FirstStartNotice(QFrame):
    def __init__(self, open_hub: Callable[[], None]):
        super().__init__()
        self.setObjectName("firstStartNotice")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.text = QLabel(NOTICE, wordWrap=True)
        self.hub_button = QPushButton("Open the Hub page", clicked=lambda: (self.hide(), open_hub()))
        self.dismiss_button = QPushButton("Dismiss", clicked=self.hide)
        layout = QHBoxLayout(self)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.hub_button)
        layout.addWidget(self.dismiss_button)
        self.hide()
