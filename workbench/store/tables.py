"""SQLAlchemy 2.0 typed ORM classes: the *latest* schema, mirroring `migrations.py` (a test checks they agree)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ModelRow(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(Text)
    in_place: Mapped[bool] = mapped_column(Boolean)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    architecture: Mapped[str | None] = mapped_column(String(64))
    parameter_count: Mapped[int | None] = mapped_column(BigInteger)
    quantization: Mapped[str | None] = mapped_column(String(32))
    context_length: Mapped[int | None] = mapped_column(Integer)
    embedding_length: Mapped[int | None] = mapped_column(Integer)
    block_count: Mapped[int | None] = mapped_column(Integer)
    head_count: Mapped[int | None] = mapped_column(Integer)
    head_count_kv: Mapped[int | None] = mapped_column(Integer)
    tokenizer_model: Mapped[str | None] = mapped_column(String(64))
    chat_template_sha256: Mapped[str | None] = mapped_column(String(64))
    license: Mapped[str | None] = mapped_column(Text)
    general_name: Mapped[str | None] = mapped_column(Text)
    tensor_count: Mapped[int | None] = mapped_column(Integer)
    split_paths: Mapped[str] = mapped_column(Text, default="[]")
    split_sha256: Mapped[str] = mapped_column(Text, default="[]")
    metadata_json: Mapped[str] = mapped_column(Text, default="{}")
    source_repo: Mapped[str | None] = mapped_column(Text)
    source_revision: Mapped[str | None] = mapped_column(String(64))
    source_file: Mapped[str | None] = mapped_column(Text)
    parent_sha256: Mapped[str | None] = mapped_column(String(64))
    requantized: Mapped[bool] = mapped_column(Boolean, default=False)
    added_at: Mapped[datetime] = mapped_column(DateTime)
    projector_path: Mapped[str | None] = mapped_column(Text)  # migration 8: the paired mmproj file
    projector_sha256: Mapped[str | None] = mapped_column(String(64))
    projector_modalities: Mapped[str | None] = mapped_column(String(32))  # "vision", "audio", "vision,audio"


class DownloadRow(Base):
    """Resumable state of one Hub file download (migration 2); the partial file itself is the byte count's truth."""

    __tablename__ = "downloads"
    __table_args__ = (Index("ix_downloads_repo_filename", "repo", "filename"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    repo: Mapped[str] = mapped_column(Text)
    revision: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    expected_sha256: Mapped[str | None] = mapped_column(String(64))
    etag: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    partial_path: Mapped[str] = mapped_column(Text)
    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
