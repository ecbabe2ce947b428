"""The database schema as SQLAlchemy 2.x ORM classes.

The schema itself is created and upgraded only by the Alembic migrations in
`migrations/versions`; these classes describe the newest version for queries.
A test (tests/core/test_migrations.py) fails if the two disagree.

Conventions that keep the hot paths fast and correct:
- File paths are stored as the exact bytes the OS uses (`FsPath`), because Linux
  names need not be valid UTF-8. `name`/`folder` hold a lossy text copy for display
  and search.
- Times we create are epoch seconds (REAL). `taken_at` is naive local ISO text
  from EXIF ("2024-05-03T14:22:01"), which sorts and range-filters as text.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class FsPath(TypeDecorator[str]):
    """A filesystem path kept byte-exact in a BLOB (round-trips undecodable names)."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> bytes | None:
        if value is None or isinstance(value, bytes):
            return value
        return os.fsencode(value)

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else os.fsdecode(value)


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Root(Base):
    """A folder the user added to the library."""

    __tablename__ = "roots"

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(FsPath, unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("1"))
    added_at: Mapped[float] = mapped_column(Float)
    last_scan_at: Mapped[float | None] = mapped_column(Float)
    # "watching", "polling" (watch failed; periodic rescans), "off"; shown in the sidebar.
    watch_state: Mapped[str] = mapped_column(String(16), default="off", server_default="off")
    watch_note: Mapped[str | None] = mapped_column(Text)


class MediaItem(Base):
    """One photo or video file."""

    __tablename__ = "media_items"
    __table_args__ = (
        Index("ix_media_items_root_id", "root_id"),
        Index("ix_media_items_size_mtime", "size", "mtime_ns"),
        Index("ix_media_items_fingerprint", "fingerprint"),
        Index("ix_media_items_state", "state"),
        Index("ix_media_items_taken_at", "taken_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    root_id: Mapped[int] = mapped_column(ForeignKey("roots.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(FsPath, unique=True)
    name: Mapped[str] = mapped_column(Text)
    folder: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(8))  # "photo" | "video"
    size: Mapped[int] = mapped_column(Integer)
    mtime_ns: Mapped[int] = mapped_column(Integer)
    # "<size>:<blake2b of head and tail>"; NULL until probed. Identifies moved files.
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    duration: Mapped[float | None] = mapped_column(Float)
    taken_at: Mapped[str | None] = mapped_column(String(19))
    added_at: Mapped[float] = mapped_column(Float)
    # "new" (found, not yet probed) | "ok" | "error" | "missing" | "removed" (by the user)
    state: Mapped[str] = mapped_column(String(8), default="new", server_default="new")
    last_error: Mapped[str | None] = mapped_column(Text)
    # The model caption the user accepted as it is ("Needs review" leaves it out).
    reviewed_caption_id: Mapped[int | None] = mapped_column(Integer)


class Keyframe(Base):
    """A moment of a video: its timestamp and stored thumbnail."""

    __tablename__ = "keyframes"
    __table_args__ = (Index("ix_keyframes_item_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("media_items.id", ondelete="CASCADE"))
    timestamp: Mapped[float] = mapped_column(Float)
    thumbnail_path: Mapped[str | None] = mapped_column(FsPath)


class Caption(Base):
    """One caption version. Never updated or deleted: history is the table itself."""

    __tablename__ = "captions"
    __table_args__ = (
        Index("ix_captions_item_id", "item_id", "keyframe_id"),
        Index("ix_captions_edited_from_id", "edited_from_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("media_items.id", ondelete="CASCADE"))
    keyframe_id: Mapped[int | None] = mapped_column(ForeignKey("keyframes.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(8))  # "model" | "user"
    model_id: Mapped[str | None] = mapped_column(Text)
    prompt_id: Mapped[str | None] = mapped_column(Text)
    adapter_id: Mapped[str | None] = mapped_column(Text)
    # The inference server that made a model caption (its name); None: this computer.
    server: Mapped[str | None] = mapped_column(Text)
    # For a user caption: the caption shown when the user edited it. A model caption
    # here makes the pair (model output -> user's correction) the fine-tuner trains on.
    edited_from_id: Mapped[int | None] = mapped_column(ForeignKey("captions.id"))
    created_at: Mapped[float] = mapped_column(Float)


class Job(Base):
    """A persistent queue entry (caption an item, ...)."""

    __tablename__ = "jobs"
    __table_args__ = (
        # The worker's claim query: highest priority, oldest first, among queued jobs.
        Index("ix_jobs_claim", "state", "priority", "id"),
        Index("ix_jobs_item_id", "item_id"),
        # At most one open job of a kind per item, so rescans never duplicate work.
        Index(
            "uq_jobs_open_per_item",
            "kind",
            "item_id",
            unique=True,
            sqlite_where=text("state IN ('queued', 'running')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("media_items.id", ondelete="CASCADE"))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # "queued" | "running" | "done" | "failed" | "cancelled"
    state: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)


class Setting(Base):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class Adapter(Base):
    """A GGUF LoRA adapter trained on the user's corrections (see migration 0005)."""

    __tablename__ = "adapters"
    __table_args__ = (
        UniqueConstraint("model_id", "version", name="uq_adapters_model_id_version"),
        # At most one active adapter per model, whoever writes.
        Index(
            "uq_adapters_active_per_model", "model_id", unique=True, sqlite_where=text("active = 1")
        ),
    )

    id: Mapped[str] = mapped_column(String(96), primary_key=True)  # "<model id>-v<version>"
    model_id: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)
    gguf_path: Mapped[str] = mapped_column(FsPath)
    peft_dir: Mapped[str | None] = mapped_column(FsPath)
    base_gguf: Mapped[str] = mapped_column(FsPath)  # the model GGUF it was trained over
    method: Mapped[str] = mapped_column(String(8))  # "lora" | "qlora"
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    corrections_used: Mapped[int] = mapped_column(Integer)
    heldout_count: Mapped[int] = mapped_column(Integer)
    metrics_before: Mapped[dict[str, float] | None] = mapped_column(JSON)
    metrics_after: Mapped[dict[str, float] | None] = mapped_column(JSON)
    # Held-out captions before and after: {"before": [{id, reference, candidate}], "after": …}
    samples: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    train_seconds: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("0"))
    activated_at: Mapped[float | None] = mapped_column(Float)


class FinetuneExclusion(Base):
    """A correction (item, or one video moment) the user left out of fine-tuning."""

    __tablename__ = "finetune_exclusions"
    __table_args__ = (Index("ix_finetune_exclusions_item_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("media_items.id", ondelete="CASCADE"))
    keyframe_id: Mapped[int | None] = mapped_column(ForeignKey("keyframes.id", ondelete="CASCADE"))
    excluded_at: Mapped[float] = mapped_column(Float)


class EmbeddingModel(Base):
    """A text-embedding model whose vectors the library holds (see migration 0007)."""

    __tablename__ = "embedding_models"
    __table_args__ = (UniqueConstraint("model_key", name="uq_embedding_models_model_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_key: Mapped[str] = mapped_column(Text)  # the weights' identity (TextEmbedder.model_id)
    label: Mapped[str] = mapped_column(Text)  # what users are told: a catalog name or file name
    path: Mapped[str] = mapped_column(FsPath)  # the GGUF, for embedding queries
    query_prefix: Mapped[str] = mapped_column(Text)
    dimension: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(Text)  # "filling" | "ready" | "retired"
    created_at: Mapped[float] = mapped_column(Float)


class Embedding(Base):
    """The vector of one search index row under one model."""

    __tablename__ = "embeddings"
    __table_args__ = (
        UniqueConstraint("row_key", "model", name="uq_embeddings_row_key_model"),
        Index("ix_embeddings_model_seq", "model", "seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[int] = mapped_column(ForeignKey("embedding_models.id", ondelete="CASCADE"))
    row_key: Mapped[int] = mapped_column(Integer)  # search_index rowid: item id or -keyframe id
    text_hash: Mapped[bytes] = mapped_column(LargeBinary)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float16, L2-normalised
    code: Mapped[bytes] = mapped_column(LargeBinary)  # sign bits, packed
    seq: Mapped[int] = mapped_column(Integer)


class EmbeddingPending(Base):
    """An index row whose text changed since it was embedded (filled by triggers)."""

    __tablename__ = "embedding_pending"
    __table_args__ = (Index("ix_embedding_pending_seq", "seq"),)

    row_key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
