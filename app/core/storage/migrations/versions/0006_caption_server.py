"""Which inference server made a caption (issue 13).

`captions.server`: the name of the server (llama-server, vLLM, Ollama…) that made a
model caption, beside its model, prompt and adapter; NULL for captions made on this
computer, which is every caption made before this revision.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ALTER TABLE ADD COLUMN: a batch (copy and rename) would drop the
    # search index's triggers on captions.
    op.add_column("captions", sa.Column("server", sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE captions DROP COLUMN server")
