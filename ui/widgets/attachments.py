"""Images attached to a chat message in the app: the "Attach…" button, removable thumbnails under the message
box, pasting or dropping images (or image files) into the box, and the thumbnails of a stored message's images.

Each image is checked by the core (`Media.from_path` / `Media.from_bytes`, workbench/chat/media.py) the moment it
is attached, so a file that is not an image is refused at once with the core's message; nothing is stored until
the message is sent (docs/design.md §6.4).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPlainTextEdit, QToolButton, QVBoxLayout, QWidget

from workbench.chat.media import Media
from workbench.errors import WorkbenchError

THUMBNAIL = 72  # pixels, the longer side
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.gif *.bmp *.tif *.tiff);;All files (*)"


def thumbnail(data: bytes, size: int = THUMBNAIL) -> QLabel:
    """A label showing the image scaled to `size` (the bytes were checked to be an image already)."""
    pixmap = QPixmap()
    pixmap.loadFromData(data)
    label = QLabel()
    if pixmap.isNull():  # a format Pillow reads but Qt's image plugins do not (e.g. some TIFFs)
        label.setText("[image]")
    else:
        label.setPixmap(pixmap.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                      Qt.TransformationMode.SmoothTransformation))
    return label


class AttachmentBar(QWidget):
    """The images waiting to be sent with the next message, each with a remove button; hidden while empty."""

    rejected = Signal(str)  # why an attachment was refused (not an image, too large, unreadable)
    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._items: list[tuple[Media, QWidget]] = []
        self.model_of: Callable[[], object | None] | None = None  # the page's current model (for the note below)
        # plain text: an emoji paper clip renders as a missing-glyph box where no emoji font is installed
        self.clip = QToolButton(text="Attach…", clicked=self.pick)  # the button lives in the page's button row
        self.clip.setToolTip("Attach images (or paste or drop them into the message box)")
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(0, 0, 0, 0)
        self.note = QLabel(wordWrap=True)  # said at once, not only when Send is refused
        self.note.setStyleSheet("color: #c0392b")
        self.row.addWidget(self.note, 1)
        self.setVisible(False)

    def pick(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Attach images", "", IMAGE_FILTER)
        self.add_paths(paths)

    def add_paths(self, paths) -> int:
        """Attach image files; each one that is no image is refused (`rejected`) and the others are kept."""
        return sum(self._attach(lambda p=p: Media.from_path(Path(p), kind_hint="image")) for p in paths)

    def add_bytes(self, data: bytes) -> bool:
        return self._attach(lambda: Media.from_bytes(data, kind_hint="image"))

    def _attach(self, load: Callable[[], Media]) -> bool:
        try:
            media = load()
        except WorkbenchError as exc:
            self.rejected.emit(str(exc))
            return False
        if any(m.sha256 == media.sha256 for m, _ in self._items):
            return True  # the same picture twice is one attachment
        self._items.append((media, self._tile(media)))
        self.setVisible(True)
        self._update_note()
        self.changed.emit()
        return True

    def _tile(self, media: Media) -> QWidget:
        tile = QWidget()
        layout = QVBoxLayout(tile)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(thumbnail(media.data))
        remove = QToolButton(text="✕", clicked=lambda: self.remove(media.sha256))
        remove.setToolTip("Remove this image")
        layout.addWidget(remove, 0, Qt.AlignmentFlag.AlignHCenter)
        self.row.insertWidget(self.row.count() - 1, tile)  # before the note
        return tile

    def remove(self, sha256: str) -> None:
        for media, tile in [item for item in self._items if item[0].sha256 == sha256]:
            self._items.remove((media, tile))
            tile.deleteLater()
        self.setVisible(bool(self._items))
        self._update_note()
        self.changed.emit()

    def _update_note(self) -> None:
        model = None
        if self._items and self.model_of is not None:
            with contextlib.suppress(WorkbenchError):
                model = self.model_of()
        blind = model is not None and model.projector_path is None
        self.note.setText(f"{model.name} has no projector, so it cannot see images: pair one "
                          "(workbench import --mmproj) or chat with a vision model" if blind else "")

    def media(self) -> list[Media]:
        return [m for m, _ in self._items]

    def clear(self) -> None:
        for media, _ in list(self._items):
            self.remove(media.sha256)


class AttachingTextEdit(QPlainTextEdit):
    """The message box: a pasted or dropped image (or image file) is attached to `bar` instead of inserted."""

    def __init__(self, bar: AttachmentBar, **kwargs):
        super().__init__(**kwargs)
        self.bar = bar

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        return source.hasImage() or bool(_local_files(source)) or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:  # paste, and drop (Qt routes drops through here)
        files = _local_files(source)
        if files:
            self.bar.add_paths(files)
        elif source.hasImage():
            self.bar.add_bytes(_png_bytes(QImage(source.imageData())))
        else:
            super().insertFromMimeData(source)


def _local_files(source: QMimeData) -> list[str]:
    return [url.toLocalFile() for url in source.urls() if url.isLocalFile()] if source.hasUrls() else []


def _png_bytes(image: QImage) -> bytes:
    """A pasted bitmap (the clipboard holds pixels, not a file) encoded as PNG for storing."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


def add_thumbnails(view: QWidget, load: Callable[[], list[Media]]) -> None:
    """Thumbnails of a stored message's images under its text (a ChatMessageView: after its `body`)."""
    strip = QWidget()
    row = QHBoxLayout(strip)
    row.setContentsMargins(0, 0, 0, 0)
    try:
        for media in load():
            row.addWidget(thumbnail(media.data))
    except WorkbenchError as exc:  # the file was removed outside Workbench: say so where the image was
        row.addWidget(QLabel(str(exc), wordWrap=True))
    row.addStretch(1)
    layout = view.layout()
    layout.insertWidget(layout.indexOf(view.body) + 1, strip)
    view.thumbnails = strip
