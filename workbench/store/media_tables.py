"""Migration 8's DDL and ORM class: a model's paired projector, and the images a session's messages carry.

Images are stored content-addressed in the data folder (`media/sha256-<hex>`, chat/sessions.py writes them);
a row only says which message holds which image, in which place, so the same picture in many turns is one file.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .tables import Base

PROJECTORS_AND_MESSAGE_MEDIA = (
    "ALTER TABLE models ADD COLUMN projector_path TEXT",
    "ALTER TABLE models ADD COLUMN projector_sha256 VARCHAR(64)",
    "ALTER TABLE models ADD COLUMN projector_modalities VARCHAR(32)",
    """
    CREATE TABLE message_media (
        message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        sha256 VARCHAR(64) NOT NULL,
        kind VARCHAR(16) NOT NULL,
        mime VARCHAR(64) NOT NULL,
        size_bytes BIGINT NOT NULL,
        PRIMARY KEY (message_id, position)
    )
    """,
    "CREATE INDEX ix_message_media_sha256 ON message_media (sha256)",
)


class MessageMediaRow(Base):
    """One image (or audio clip) of a message, by content address; the bytes live in the media folder."""

    __tablename__ = "message_media"

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    mime: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
