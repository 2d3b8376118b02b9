"""One message of a chat transcript: Markdown body, a collapsible "Thinking" block (a reasoning model's thinking,
with its token count and time), sibling arrows, actions, stats and a provenance popover.

Markdown is rendered to Qt rich text (code highlighted by Pygments, in monospace, with a "Copy" link); raw
HTML in a message is escaped, never interpreted. While streaming only the unfinished tail is re-rendered
(docs/design.md §3). The widget emits signals the chat page handles; it never talks to the core.
"""

from __future__ import annotations

import html
import json
import re
from urllib.parse import quote, unquote

import markdown
from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication, QPalette, QTextCursor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.records import Message

_ROLE_TITLES = {"user": "You", "assistant": "Assistant", "system": "System"}


COPY_SCHEME = "copy:"  # a code block's "Copy" link: copy:<the code, percent-encoded>
_CODE_BLOCK = re.compile(r'<div class="codehilite"[^>]*>(<pre[^>]*>.*?</pre>)</div>', re.DOTALL)
# Code blocks are dark in both themes (as most chat apps draw them), so a message rendered before a theme switch
# stays readable without being rendered again; their text and link colours are set here, never the palette's.
_CODE_STYLE = {"background": "#1e1f22", "text": "#e6e6e6", "link": "#8fb0f7", "pygments": "monokai"}


def render_markdown(text: str) -> str:
    """Markdown → Qt rich text; raw HTML is shown as text. Code blocks get a "Copy" link and a shaded box
    (Qt's rich text has no widgets inside a document, so the button is a link the view handles)."""
    md = markdown.Markdown(extensions=["fenced_code", "codehilite", "tables", "sane_lists"],
                           extension_configs={"codehilite": {"noclasses": True, "guess_lang": False,
                                                             "pygments_style": _CODE_STYLE["pygments"]}})
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    rendered = md.convert(text).replace("\n</code></pre>", "</code></pre>")  # no blank last line in code blocks
    return _CODE_BLOCK.sub(lambda m: _code_box(m.group(1)), rendered)


def _code_box(pre: str) -> str:
    code = html.unescape(re.sub(r"<[^>]+>", "", pre))
    link = (f'<a href="{COPY_SCHEME}{quote(code, safe="")}" style="color: {_CODE_STYLE["link"]}">Copy</a>')
    return (f'<table width="100%" cellspacing="0" cellpadding="6" bgcolor="{_CODE_STYLE["background"]}">'
            f'<tr><td align="right" style="font-size: small">{link}</td></tr>'
            f'<tr><td style="color: {_CODE_STYLE["text"]}">{pre}</td></tr></table>')


def copied_code(url: QUrl) -> str | None:
    """The code a "Copy" link carries, or None for any other link."""
    encoded = url.toString(QUrl.ComponentFormattingOption.FullyEncoded)
    return unquote(encoded[len(COPY_SCHEME):]) if encoded.startswith(COPY_SCHEME) else None


LONG_TAIL = 1500  # characters: past this, a single line break also ends the re-rendered tail


def stable_cut(text: str, start: int = 0) -> int:
    """End of the last finished Markdown block at or after `start`: just past a blank line outside ``` fences.

    A tail longer than LONG_TAIL (a long paragraph or list) is also cut after its last line break outside a
    fence, so the part re-rendered per update stays short; the whole answer is rendered again when it ends.
    """
    cut, pos = start, text.find("\n\n", start)
    while pos != -1:
        if text.count("```", 0, pos) % 2 == 0:
            cut = pos + 2
        pos = text.find("\n\n", pos + 2)
    if len(text) - cut > LONG_TAIL:
        line = text.rfind("\n", cut)
        if line > cut and text.count("```", 0, line) % 2 == 0:
            cut = line + 1
    return cut


class MarkdownView(QTextBrowser):
    """A read-only rich-text body as tall as its content (the transcript scrolls, not each message)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setOpenLinks(False)  # a link in model output is shown, not followed
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont).family()
        self.document().setDefaultStyleSheet(f"pre, code {{ font-family: '{fixed}'; }}")  # code in monospace
        self.anchorClicked.connect(self._copy_code)
        self.html = ""
        self._stable = 0  # characters of the streamed text already rendered for good
        self._tail_at = 0  # document position where the re-rendered tail starts

    def _fit(self, size) -> None:
        self.setFixedHeight(int(size.height()) + 4)

    def _copy_code(self, url: QUrl) -> None:
        code = copied_code(url)
        if code is not None:
            QGuiApplication.clipboard().setText(code)

    def show_markdown(self, text: str) -> None:
        """Render the whole text (a finished message)."""
        self.html = render_markdown(text) if text else "<i>…</i>"
        self.setHtml(self.html)
        self._stable = self._tail_at = 0

    def stream_markdown(self, text: str) -> None:
        """The streamed text so far: render only what changed since the last call (docs/design.md §3)."""
        if self._stable == 0 and self._tail_at == 0:
            self.clear()
        cut = stable_cut(text, self._stable)
        if cut > self._stable:
            cursor = self._tail()
            cursor.insertHtml(render_markdown(text[self._stable:cut]))
            cursor.insertBlock()
            self._stable, self._tail_at = cut, cursor.position()
        tail = text[cut:]
        cursor = self._tail()
        if tail.strip():
            cursor.insertHtml(render_markdown(tail))
        self.html = ""

    def _tail(self) -> QTextCursor:
        cursor = QTextCursor(self.document())
        cursor.setPosition(self._tail_at)
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        return cursor


def stats_text(message: Message) -> str:
    """The per-answer line under an assistant message: tokens, TTFT, tok/s and status."""
    p = message.provenance_record
    parts = []
    if p.completion_tokens is not None:
        parts.append(f"{p.completion_tokens} tokens")
    if p.ttft_seconds is not None:
        parts.append(f"TTFT {p.ttft_seconds:.2f} s")
    if p.tokens_per_second is not None:
        parts.append(f"{p.tokens_per_second:.1f} tok/s")
    if p.speculation_text:
        parts.append(p.speculation_text)
    if message.status != "complete":
        parts.append(message.status + (f": {p.error}" if p.error else ""))
    return " · ".join(parts)


def provenance_lines(message: Message) -> list[str]:
    """Every recorded provenance field, one "key: value" line each (nested values as compact JSON)."""
    lines = [f"status: {message.status}", f"message id: {message.id}"]
    for key, value in sorted(message.provenance_record.as_dict().items()) if message.provenance else ():
        shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        lines.append(f"{key}: {shown}")
    return lines


class ProvenancePopup(QFrame):
    """A popup (closes on any click outside) listing an answer's provenance."""

    def __init__(self, message: Message, parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>What produced this answer</b>"))
        self.text = QPlainTextEdit("\n".join(provenance_lines(message)))
        self.text.setReadOnly(True)
        self.text.setMinimumSize(520, 320)
        layout.addWidget(self.text)


def thinking_summary(message: Message) -> str:
    """The Thinking block's title: "Thinking · 812 tokens · 9.4 s" (what the answer's provenance recorded)."""
    extra = message.provenance_record.extra
    parts = ["Thinking"]
    if extra.get("thinking_tokens") is not None:
        parts.append(f"{extra['thinking_tokens']} tokens")
    if extra.get("thinking_seconds") is not None:
        parts.append(f"{extra['thinking_seconds']:.1f} s")
    return " · ".join(parts)


class ThinkingBlock(QWidget):
    """A reasoning model's thinking: a toggle line with its summary over the (dimmed) text, collapsed once the
    answer is stored and open while it streams."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.toggle = QToolButton(checkable=True, autoRaise=True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.toggled.connect(self._show_body)
        self.body = QLabel(wordWrap=True, textFormat=Qt.TextFormat.PlainText)
        self.body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout.addWidget(self.toggle, alignment=Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.body)
        self.text = ""
        self.set_text("", "Thinking…", expanded=True)

    def set_text(self, text: str, summary: str, *, expanded: bool) -> None:
        self.text = text
        self.body.setText(text)
        self.toggle.setText(summary)
        self.toggle.setChecked(expanded)
        self._show_body(expanded)
        self.setVisible(bool(text))

    def append(self, piece: str) -> None:
        self.text += piece
        self.body.setText(self.text)
        self.setVisible(bool(self.text))

    def _show_body(self, shown: bool) -> None:
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.body.setVisible(shown)

    @property
    def expanded(self) -> bool:
        return self.toggle.isChecked()


class ChatMessageView(QFrame):
    switch_requested = Signal(int)  # a sibling's message id
    regenerate_requested = Signal(int)  # assistant message id
    edit_requested = Signal(int, str)  # user message id, new text

    def __init__(self, message: Message, siblings: list[Message], parent: QWidget | None = None):
        super().__init__(parent)
        self.message = message
        self.siblings = siblings
        self.popup: ProvenancePopup | None = None
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)  # as tall as the text
        self.setObjectName(f"message-{message.role}")
        layout = QVBoxLayout(self)
        layout.addLayout(self._header())
        self.thinking = ThinkingBlock()
        layout.addWidget(self.thinking)
        self.thinking.set_text(message.thinking, thinking_summary(message), expanded=message.status == "streaming")
        self.body = MarkdownView()
        layout.addWidget(self.body)
        self.editor: QPlainTextEdit | None = None
        self.stats = QLabel()
        self.stats.setObjectName("stats")
        layout.addWidget(self.stats)
        self.set_text(message.content)
        self.stats.setText(stats_text(message) if message.role == "assistant" else "")
        self.stats.setVisible(bool(self.stats.text()))  # an empty line would pad the bubble

    def _header(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel(f"<b>{_ROLE_TITLES.get(self.message.role, self.message.role)}</b>"))
        self.position = QLabel()
        self.prev_button = QToolButton(text="‹", toolTip="Previous alternative", autoRaise=True)
        self.next_button = QToolButton(text="›", toolTip="Next alternative", autoRaise=True)
        index = [m.id for m in self.siblings].index(self.message.id) if len(self.siblings) > 1 else 0
        if len(self.siblings) > 1:
            self.position.setText(f"{index + 1}/{len(self.siblings)}")
            self.prev_button.setEnabled(index > 0)
            self.next_button.setEnabled(index < len(self.siblings) - 1)
            self.prev_button.clicked.connect(lambda: self.switch_requested.emit(self.siblings[index - 1].id))
            self.next_button.clicked.connect(lambda: self.switch_requested.emit(self.siblings[index + 1].id))
            for w in (self.prev_button, self.position, self.next_button):
                row.addWidget(w)
        row.addStretch(1)
        if self.message.role == "assistant":
            self.provenance_button = QToolButton(text="Details", toolTip="Provenance: what produced this answer",
                                                 autoRaise=True)
            self.provenance_button.clicked.connect(self.show_provenance)
            self.regenerate_button = QToolButton(text="Regenerate", toolTip="Another answer (a sibling)",
                                                 autoRaise=True)
            self.regenerate_button.clicked.connect(lambda: self.regenerate_requested.emit(self.message.id))
            row.addWidget(self.provenance_button)
            row.addWidget(self.regenerate_button)
        elif self.message.role == "user":
            self.edit_button = QToolButton(text="Edit", toolTip="Edit and resend (a new branch)", autoRaise=True)
            self.edit_button.clicked.connect(self.start_edit)
            row.addWidget(self.edit_button)
        return row

    def set_text(self, text: str) -> None:
        self.text = text
        self.body.show_markdown(text)

    def append_thinking(self, piece: str) -> None:
        """A streamed piece of the thinking."""
        self.thinking.append(piece)

    def append_text(self, piece: str) -> None:
        """A streamed piece: incremental rendering."""
        self.text += piece
        self.body.stream_markdown(self.text)

    def set_busy(self, busy: bool) -> None:
        for name in ("regenerate_button", "edit_button"):
            button = getattr(self, name, None)
            if button is not None:
                button.setEnabled(not busy)

    def show_provenance(self) -> ProvenancePopup:
        self.popup = ProvenancePopup(self.message, self)
        self.popup.move(self.provenance_button.mapToGlobal(self.provenance_button.rect().bottomLeft()))
        self.popup.show()
        return self.popup

    def start_edit(self) -> QPlainTextEdit:
        """Swap the body for an editor; saving emits edit_requested (the page branches)."""
        if self.editor is not None:
            return self.editor
        self.editor = QPlainTextEdit(self.message.content)
        save = self.save_edit_button = QPushButton("Save and send")
        cancel = QPushButton("Cancel")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(save)
        self._edit_box = QWidget()
        box = QVBoxLayout(self._edit_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.editor)
        box.addLayout(buttons)
        self.layout().insertWidget(3, self._edit_box)
        self.body.hide()
        save.clicked.connect(lambda: self.edit_requested.emit(self.message.id, self.editor.toPlainText()))
        cancel.clicked.connect(self.cancel_edit)
        self.editor.setFocus()
        return self.editor

    def cancel_edit(self) -> None:
        if self.editor is not None:
            self._edit_box.deleteLater()
            self.editor = None
            self.body.show()
