"""The Chat page: sessions with search, a streaming Markdown transcript with branches, the session's settings.

Answers go through `wb.chat` (workbench/chat/service.py), so they are stored exactly like `workbench run`'s or
the endpoint's. The answer stream is iterated on a TaskRunner worker and reaches the GUI through a PieceBuffer
(docs/design.md §3); Stop (Esc) calls `AnswerStream.cancel()` directly, never through a signal.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QScrollArea,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import WorkbenchError

from ..widgets.attachments import AttachingTextEdit, AttachmentBar, add_thumbnails
from ..widgets.chat_empty_state import ChatEmptyState
from ..widgets.chat_message import ChatMessageView
from ..widgets.chat_settings import FIELDS, ChatSettingsPanel
from ..widgets.chat_stream import PieceBuffer
from .base import Page


def _pump(stream, buffer: PieceBuffer):
    """Worker side: iterate the answer, hand pieces to the buffer (thinking under (id, "thinking")); the stored
    Message is the result."""
    for kind, piece in stream.pieces():
        buffer.append(stream.assistant_id if kind == "answer" else (stream.assistant_id, kind), piece)
    return stream.result


def _unchanged(view: ChatMessageView, message, siblings) -> bool:
    shown = view.message
    return (shown.content, shown.status, shown.provenance) == (message.content, message.status, message.provenance) \
        and [m.id for m in view.siblings] == [m.id for m in siblings] and view.editor is None


class ChatPage(Page):
    name = "Chat"
    answer_finished = Signal(object)  # the stored assistant Message; its status says how it ended

    def __init__(self, window):
        super().__init__(window)
        self.session_id: int | None = None
        self.stream = None  # the AnswerStream being generated
        self.task = None
        self.views: dict[int, ChatMessageView] = {}
        self.buffer = PieceBuffer(self)
        self.buffer.flushed.connect(self._on_pieces)
        splitter = QSplitter()
        splitter.addWidget(self._build_sessions())
        splitter.addWidget(self._build_transcript())
        self.settings_panel = ChatSettingsPanel()
        self.settings_panel.apply_requested.connect(self.apply_settings)
        splitter.addWidget(self.settings_panel)
        splitter.setSizes([220, 640, 260])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        QShortcut(QKeySequence("Ctrl+Return"), self.input, self.send,
                  context=Qt.ShortcutContext.WidgetShortcut)
        QShortcut(QKeySequence("Ctrl+Enter"), self.input, self.send, context=Qt.ShortcutContext.WidgetShortcut)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.stop,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        for keys, step in (("Alt+Left", -1), ("Alt+Right", 1)):  # the last answer's alternatives
            QShortcut(QKeySequence(keys), self, lambda step=step: self.step_last_answer(step),
                      context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.refresh_targets()
        self.refresh_sessions()
        self.update_empty_state()
        self._set_busy(False)

    # -- building ----------------------------------------------------------------------------------------
    def _build_sessions(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        self.search = QLineEdit(placeholderText="Search all messages (Ctrl+F)", clearButtonEnabled=True)
        self._search_timer = QTimer(self, singleShot=True, interval=150, timeout=self.refresh_sessions)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.sessions = QListWidget()
        self.sessions.itemActivated.connect(self._open_item)
        self.sessions.itemClicked.connect(self._open_item)
        self.target_combo = QComboBox()
        self.target_combo.setToolTip("What a new session runs on: a preset (latest version) or a bare model")
        new = QPushButton("New chat (Ctrl+N)", clicked=self.new_session)
        self.raw_box = QCheckBox("Raw prompt (no chat template)")
        self.raw_box.setToolTip("A new session sends each message as-is for the model to continue — for base "
                                "models and prompt work; the preset's parameters still apply")
        rename = QPushButton("Rename", clicked=self._ask_rename)
        delete = QPushButton("Delete", clicked=self.delete_session)
        buttons = QHBoxLayout()
        buttons.addWidget(new, 1)
        buttons.addWidget(rename)
        buttons.addWidget(delete)
        for widget in (self.search, self.sessions, self.target_combo, self.raw_box):
            layout.addWidget(widget)
        layout.addLayout(buttons)
        return box

    def _build_transcript(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        self.title = QLabel("<b>No session</b> — pick one, or start a new chat")
        layout.addWidget(self.title)
        self.scroll = QScrollArea(widgetResizable=True)
        self.messages_box = QWidget()
        self.messages_layout = QVBoxLayout(self.messages_box)
        self.messages_layout.setAlignment(Qt.AlignmentFlag.AlignTop)  # each message as tall as its text
        self.empty_state = ChatEmptyState()  # shown while no message is on screen
        self.empty_state.link_activated.connect(self.window_.show_page)
        self.messages_layout.addWidget(self.empty_state)
        self.messages_layout.addStretch(1)
        self.scroll.setWidget(self.messages_box)
        layout.addWidget(self.scroll, 1)
        self.attachments = AttachmentBar()  # images for the next message (ui/widgets/attachments.py)
        self.attachments.rejected.connect(lambda message: self.window_.show_error("Attach image", message))
        self.attachments.model_of = lambda: self.session_id and self.wb.chat.target(
            self.wb.sessions.get(self.session_id)).model
        layout.addWidget(self.attachments)
        self.input = AttachingTextEdit(self.attachments, placeholderText="Message (Ctrl+Enter sends, Esc stops)")
        self.input.setMaximumHeight(110)
        layout.addWidget(self.input)
        row = QHBoxLayout()
        row.addWidget(self.attachments.clip)
        self.status = QLabel()
        row.addWidget(self.status, 1)
        self.export_button = QToolButton(text="Export", popupMode=QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        menu.addAction("Markdown…", lambda: self.export("md"))
        menu.addAction("JSON (with provenance)…", lambda: self.export("json"))
        self.export_button.setMenu(menu)
        self.stop_button = QPushButton("Stop (Esc)", clicked=self.stop)
        self.send_button = QPushButton("Send", clicked=self.send)
        for widget in (self.export_button, self.stop_button, self.send_button):
            row.addWidget(widget)
        layout.addLayout(row)
        return box

    # -- window hooks ------------------------------------------------------------------------------------
    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def library_changed(self) -> None:
        self.refresh_targets()
        self.update_empty_state()

    def showEvent(self, event) -> None:  # presets made on the Presets page since: offer them
        super().showEvent(event)
        self.refresh_targets()

    def window_closing(self) -> None:
        self.stop()

    # -- sessions ----------------------------------------------------------------------------------------
    def refresh_targets(self) -> None:
        current = self.target_combo.currentData()
        self.target_combo.clear()
        for preset in self.wb.presets.list():
            self.target_combo.addItem(f"Preset: {preset.name}", f"preset:{preset.latest.ref}")
        for model in self.wb.library.list():
            self.target_combo.addItem(f"Model: {model.name}", f"model:{model.name}")
        for remote in self.wb.remotes.list():  # Settings › Remote endpoints: answered by that server
            self.target_combo.addItem(f"Remote: {remote.name} ({remote.model})", f"model:{remote.ref}")
        index = self.target_combo.findData(current)
        if index >= 0:
            self.target_combo.setCurrentIndex(index)

    def refresh_sessions(self) -> None:
        self.sessions.clear()
        query = self.search.text().strip()
        try:
            rows = ([(f"{h.session_title} — {h.snippet}", (h.session_id, h.message_id))
                     for h in self.wb.sessions.search(query)] if query else
                    [(s.title, (s.id, None)) for s in self.wb.sessions.list()])
        except WorkbenchError as exc:  # a query FTS cannot read: say so where the user typed it
            self.status.setText(str(exc))
            return
        for text, data in rows:
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, data)
            self.sessions.addItem(item)
            if data[0] == self.session_id and data[1] is None:
                self.sessions.setCurrentItem(item)

    def _open_item(self, item: QListWidgetItem) -> None:
        session_id, message_id = item.data(Qt.ItemDataRole.UserRole)
        if self.stream is None:
            self.open_session(session_id, message_id)

    def new_session(self) -> int | None:
        data = self.target_combo.currentData()
        if data is None:
            self.window_.show_error("New chat", "There is no model yet: import or pull one on the Library or "
                                    "Hub page first.")
            return None
        kind, ref = data.split(":", 1)
        return self._create(preset_ref=ref) if kind == "preset" else self._create(model_name=ref)

    def open_preset(self, preset_ref: str) -> int | None:
        """A new session on a preset version (the Presets page's "Try it")."""
        return self._create(preset_ref=preset_ref)

    def _create(self, **target) -> int | None:
        try:
            session = self.wb.sessions.create(**target, kind="prompt" if self.raw_box.isChecked() else "chat")
        except WorkbenchError as exc:
            self.window_.show_error("New chat", str(exc))
            return None
        self.open_session(session.id)
        self.refresh_sessions()
        self.input.setFocus()
        return session.id

    def _ask_rename(self) -> None:
        if self.session_id is not None:
            title, ok = QInputDialog.getText(self, "Rename session", "Title:",
                                             text=self.wb.sessions.get(self.session_id).title)
            if ok:
                self.rename_session(title)

    def rename_session(self, title: str) -> None:
        try:
            self.wb.sessions.rename(self.session_id, title)
        except WorkbenchError as exc:
            self.status.setText(str(exc))
            return
        self.render()
        self.refresh_sessions()

    def delete_session(self) -> None:
        if self.session_id is None or self.stream is not None:
            return
        self.wb.sessions.delete(self.session_id)
        self.session_id = None
        self._clear()
        self.title.setText("<b>No session</b>")
        self.settings_panel.setEnabled(False)
        self.refresh_sessions()

    def open_session(self, session_id: int, message_id: int | None = None) -> None:
        if message_id is not None:  # a search hit: show the branch that holds it
            self.wb.sessions.switch_to(message_id)
        self.session_id = session_id
        self.render()
        self._load_settings()
        session = self.wb.sessions.get(session_id)
        self.window_.preload(session.preset_ref or session.model_name)  # before the first question is typed

    def _load_settings(self) -> None:
        session = self.wb.sessions.get(self.session_id)
        label = f"Preset {session.preset_ref}" if session.preset_ref else f"Model {session.model_name}"
        try:
            target = self.wb.chat.target(session)
            base, preset_system = target.base_parameters(), target.modelfile.system if target.modelfile else None
            label += f"<br><small>model {target.model.name} · sha256 {target.model.sha256[:12]}</small>"
        except WorkbenchError as exc:
            base, preset_system = {}, None
            label += f"<br><small>{html.escape(str(exc))}</small>"
        self.settings_panel.load(label, session.system_override, preset_system, session.parameter_overrides, base)

    def apply_settings(self, system: str, values: dict) -> None:
        if self.session_id is None:
            return
        session = self.wb.sessions.get(self.session_id)
        kept = {k: v for k, v in session.parameter_overrides.items() if k not in FIELDS}  # set elsewhere (CLI)
        self.wb.sessions.set_overrides(self.session_id, system=system, parameters={**kept, **values})
        self.status.setText("Settings apply to the next answer")

    # -- the transcript ----------------------------------------------------------------------------------
    def _clear(self) -> None:
        for view in self.views.values():
            view.deleteLater()
        self.views = {}
        self.update_empty_state()

    def update_empty_state(self) -> None:
        self.empty_state.set_library_empty(not self.wb.library.list())
        self.empty_state.setVisible(not self.views)

    def render(self) -> None:
        """Show the session's current branch, rebuilding only the messages that changed.

        Sending adds two messages under the ones on screen and the end of an answer changes one: those update
        in place, so a long transcript costs nothing extra per turn. Another branch rebuilds the whole view.
        """
        session = self.wb.sessions.get(self.session_id)
        target = session.preset_ref or session.model_name
        title = f"<b>{html.escape(session.title)}</b>"  # a title is user text, never markup
        kind = " · raw prompt" if session.kind == "prompt" else ""
        self.title.setText(title + (f" · {html.escape(target)}" if target != session.title else "") + kind)
        messages = self.wb.sessions.messages(self.session_id)
        path = self.wb.sessions.path(self.session_id)
        if [m.id for m in path][:len(self.views)] != list(self.views):
            self._clear()
        for m in path:
            siblings = [s for s in messages if s.parent_id == m.parent_id and s.role == m.role]
            old = self.views.get(m.id)
            if old is not None and _unchanged(old, m, siblings):
                old.set_busy(self.stream is not None)
                continue
            view = self._message_view(m, siblings)
            index = self.messages_layout.indexOf(old) if old is not None else self.messages_layout.count() - 1
            if old is not None:
                old.deleteLater()
            self.messages_layout.insertWidget(index, view)
            self.views[m.id] = view
        self.empty_state.setVisible(not self.views)
        QTimer.singleShot(0, self._scroll_to_end)

    def _message_view(self, message, siblings) -> ChatMessageView:
        view = ChatMessageView(message, siblings)
        view.switch_requested.connect(self.switch_to)
        view.regenerate_requested.connect(self.regenerate)
        view.edit_requested.connect(self.edit)
        view.set_busy(self.stream is not None)
        if message.media:
            add_thumbnails(view, lambda: self.wb.sessions.images(message))
        return view

    def _scroll_to_end(self) -> None:
        bar = self.scroll.verticalScrollBar()
        bar.setValue(bar.maximum())

    def step_last_answer(self, step: int) -> None:
        """Show the previous/next alternative of the last answer on screen (Alt+Left / Alt+Right)."""
        answers = [v for v in self.views.values() if v.message.role == "assistant"]
        if not answers:
            return
        siblings = answers[-1].siblings
        index = [m.id for m in siblings].index(answers[-1].message.id) + step
        if 0 <= index < len(siblings):
            self.switch_to(siblings[index].id)

    def switch_to(self, message_id: int) -> None:
        if self.stream is None:
            self.wb.sessions.switch_to(message_id)
            self.render()

    # -- answers -----------------------------------------------------------------------------------------
    def send(self) -> None:
        text, images = self.input.toPlainText(), self.attachments.media()
        if self.session_id is None and self.new_session() is None:
            return
        if self.stream is None and (text.strip() or images) and \
                self._answer(lambda: self.wb.chat.send(self.session_id, text, images=images)):
            self.input.clear()
            self.attachments.clear()

    def regenerate(self, assistant_id: int) -> None:
        self._answer(lambda: self.wb.chat.regenerate(assistant_id))

    def edit(self, user_id: int, text: str) -> None:
        self._answer(lambda: self.wb.chat.edit(user_id, text))

    def _answer(self, start) -> bool:
        if self.stream is not None:
            return False
        try:
            stream = start()
        except WorkbenchError as exc:
            self.window_.show_error("Chat", str(exc))
            return False
        self.stream = stream
        self._set_busy(True)
        self.render()  # shows the new user message and the empty answer that is about to stream
        self.refresh_sessions()  # a first question names the session
        self.buffer.start()
        self.task = self.window_.runner.submit("Answer", _pump, stream, self.buffer, progress=False)
        self.task.failed.connect(lambda message, details: self.window_.show_error("Chat", message, details))
        self.task.done.connect(self._answer_done)
        return True

    def _on_pieces(self, pieces: dict) -> None:
        at_end = self.scroll.verticalScrollBar().value() >= self.scroll.verticalScrollBar().maximum() - 4
        for key, text in pieces.items():
            thinking = isinstance(key, tuple)
            view = self.views.get(key[0] if thinking else key)
            if view is not None:
                (view.append_thinking if thinking else view.append_text)(text)
        if at_end:
            QTimer.singleShot(0, self._scroll_to_end)

    def _answer_done(self) -> None:
        self.buffer.stop()
        stream, self.stream, self.task = self.stream, None, None
        self._set_busy(False)
        self.render()
        self.refresh_sessions()
        self.answer_finished.emit(stream.result)

    def stop(self) -> None:
        if self.stream is not None:
            self.stream.cancel()

    def _set_busy(self, busy: bool) -> None:
        self.send_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
        self.status.setText("Generating…" if busy else "")

    # -- export ------------------------------------------------------------------------------------------
    def export(self, fmt: str, path: str | Path | None = None) -> Path | None:
        """Write the session as Markdown (the branch on screen) or JSON (the whole tree with provenance)."""
        if self.session_id is None:
            return None
        if path is None:
            filters = "Markdown (*.md)" if fmt == "md" else "JSON (*.json)"
            path, _ = QFileDialog.getSaveFileName(self, "Export session", f"session-{self.session_id}.{fmt}",
                                                  filters)
            if not path:
                return None
        path = Path(path)
        if fmt == "md":
            path.write_text(self.wb.sessions.export_markdown(self.session_id), encoding="utf-8")
        else:
            data = self.wb.sessions.export_json(self.session_id)
            path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
        self.status.setText(f"Exported to {path}")
        return path
