"""Fine-tuning: the adapters trained on the user's corrections, and corrections the
user left out of training.

1. `adapters`: one row per GGUF LoRA adapter that finished training, export and
   verification (a cancelled or failed run never gets a row). `version` counts per
   base model. At most one adapter per model is active (a partial unique index, so
   two writers cannot both activate one). `activated_at` is the stack rollback walks:
   activating stamps it, rolling back clears the stamp of the adapter it leaves, so a
   second rollback goes one step further back instead of bouncing between two.
2. `finetune_exclusions`: "leave this correction out of fine-tuning", per item or
   video moment. A mark, not a flag on the caption: captions are immutable history.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from app.core.storage.schema import FsPath

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "adapters",
        sa.Column("id", sa.String(96), primary_key=True),
        sa.Column("model_id", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("gguf_path", FsPath, nullable=False),
        sa.Column("peft_dir", FsPath),
        sa.Column("base_gguf", FsPath, nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("corrections_used", sa.Integer, nullable=False),
        sa.Column("heldout_count", sa.Integer, nullable=False),
        sa.Column("metrics_before", sa.JSON),
        sa.Column("metrics_after", sa.JSON),
        sa.Column("samples", sa.JSON),
        sa.Column("train_seconds", sa.Float),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("0")),
        sa.Column("activated_at", sa.Float),
        sa.UniqueConstraint("model_id", "version", name="uq_adapters_model_id_version"),
    )
    op.create_index(
        "uq_adapters_active_per_model",
        "adapters",
        ["model_id"],
        unique=True,
        sqlite_where=sa.text("active = 1"),
    )
    op.create_table(
        "finetune_exclusions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "item_id",
            sa.Integer,
            sa.ForeignKey(
                "media_items.id",
                ondelete="CASCADE",
                name="fk_finetune_exclusions_item_id_media_items",
            ),
            nullable=False,
        ),
        sa.Column(
            "keyframe_id",
            sa.Integer,
            sa.ForeignKey(
                "keyframes.id",
                ondelete="CASCADE",
                name="fk_finetune_exclusions_keyframe_id_keyframes",
            ),
        ),
        sa.Column("excluded_at", sa.Float, nullable=False),
    )
    op.create_index("ix_finetune_exclusions_item_id", "finetune_exclusions", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_finetune_exclusions_item_id", "finetune_exclusions")
    op.drop_table("finetune_exclusions")
    op.drop_index("uq_adapters_active_per_model", "adapters")
    op.drop_table("adapters")
