"""Initial library schema: roots, media items, keyframes, captions, jobs, settings.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from app.core.storage.schema import FsPath

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roots",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", FsPath, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.text("1")),
        sa.Column("added_at", sa.Float, nullable=False),
        sa.Column("last_scan_at", sa.Float),
        sa.Column("watch_state", sa.String(16), nullable=False, server_default="off"),
        sa.Column("watch_note", sa.Text),
        sa.UniqueConstraint("path", name="uq_roots_path"),
    )
    op.create_table(
        "media_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "root_id",
            sa.Integer,
            sa.ForeignKey("roots.id", ondelete="CASCADE", name="fk_media_items_root_id_roots"),
            nullable=False,
        ),
        sa.Column("path", FsPath, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("folder", sa.Text, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("mtime_ns", sa.Integer, nullable=False),
        sa.Column("fingerprint", sa.String(64)),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.Column("duration", sa.Float),
        sa.Column("taken_at", sa.String(19)),
        sa.Column("added_at", sa.Float, nullable=False),
        sa.Column("state", sa.String(8), nullable=False, server_default="new"),
        sa.Column("last_error", sa.Text),
        sa.UniqueConstraint("path", name="uq_media_items_path"),
    )
    op.create_index("ix_media_items_root_id", "media_items", ["root_id"])
    op.create_index("ix_media_items_size_mtime", "media_items", ["size", "mtime_ns"])
    op.create_index("ix_media_items_fingerprint", "media_items", ["fingerprint"])
    op.create_index("ix_media_items_state", "media_items", ["state"])
    op.create_index("ix_media_items_taken_at", "media_items", ["taken_at"])

    op.create_table(
        "keyframes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "item_id",
            sa.Integer,
            sa.ForeignKey(
                "media_items.id", ondelete="CASCADE", name="fk_keyframes_item_id_media_items"
            ),
            nullable=False,
        ),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("thumbnail_path", FsPath),
    )
    op.create_index("ix_keyframes_item_id", "keyframes", ["item_id"])

    op.create_table(
        "captions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "item_id",
            sa.Integer,
            sa.ForeignKey(
                "media_items.id", ondelete="CASCADE", name="fk_captions_item_id_media_items"
            ),
            nullable=False,
        ),
        sa.Column(
            "keyframe_id",
            sa.Integer,
            sa.ForeignKey(
                "keyframes.id", ondelete="CASCADE", name="fk_captions_keyframe_id_keyframes"
            ),
        ),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("language", sa.String(16)),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("model_id", sa.Text),
        sa.Column("prompt_id", sa.Text),
        sa.Column("adapter_id", sa.Text),
        sa.Column(
            "edited_from_id",
            sa.Integer,
            sa.ForeignKey("captions.id", name="fk_captions_edited_from_id_captions"),
        ),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_captions_item_id", "captions", ["item_id", "keyframe_id"])
    op.create_index("ix_captions_edited_from_id", "captions", ["edited_from_id"])
    # History is never rewritten: a correction is a new row, so nothing the user
    # wrote can be lost by an UPDATE.
    op.execute(
        """
        CREATE TRIGGER captions_are_history BEFORE UPDATE ON captions
        BEGIN
            SELECT RAISE(ABORT, 'captions are history: add a new version instead');
        END
        """
    )

    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column(
            "item_id",
            sa.Integer,
            sa.ForeignKey("media_items.id", ondelete="CASCADE", name="fk_jobs_item_id_media_items"),
        ),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("params", sa.JSON),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
    )
    op.create_index("ix_jobs_claim", "jobs", ["state", "priority", "id"])
    op.create_index("ix_jobs_item_id", "jobs", ["item_id"])
    op.create_index(
        "uq_jobs_open_per_item",
        "jobs",
        ["kind", "item_id"],
        unique=True,
        sqlite_where=sa.text("state IN ('queued', 'running')"),
    )

    op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON),
    )


def downgrade() -> None:
    for table in ("settings", "jobs", "captions", "keyframes", "media_items", "roots"):
        op.drop_table(table)
