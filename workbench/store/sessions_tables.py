"""ORM classes for sessions and their message trees."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .tables import Base


class SessionRow(Base):
    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), default="chat")
    preset_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("preset_versions.id", ondelete="RESTRICT"), index=True)
    model_name: Mapped[str | None] = mapped_column(String(200))
    system_override: Mapped[str | None] = mapped_column(Text)
    parameter_overrides: Mapped[str] = mapped_column(Text, default="{}")
    current_leaf_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class MessageRow(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    thinking: Mapped[str | None] = mapped_column(Text)  # a reasoning model's thinking (None: none)
    status: Mapped[str] = mapped_column(String(16), default="complete")
    provenance: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
