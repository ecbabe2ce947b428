"""Accepted model captions, and items the user removed from the library.

1. `media_items.reviewed_caption_id`: the model caption the user accepted as it is
   ("Accept caption"). The gallery's "Needs review" view lists items whose current
   caption is a model caption other than this one, so a new model caption (a
   recaption) needs review again. Captions themselves stay immutable.
2. Item state 'removed' ("Remove from library"): the file stays on disk and in the
   table (captions and history kept), but leaves every view and the search index;
   rescans leave it removed while the file is unchanged. The search triggers are
   those of 0003 with 'removed' added to the states that are not indexed; they are
   built by 0003's own functions (loaded from its file, which never changes), so the
   SQL is not repeated a third time.

Revision ID: 0004
Revises: 0003
"""

import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NOT_INDEXED_0004 = "{m}.state NOT IN ('new', 'missing', 'removed')"


def _revision_0003() -> ModuleType:
    path = Path(__file__).with_name("0003_index_probed_items.py")
    spec = importlib.util.spec_from_file_location("captionist_migration_0003", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.INDEXED["0004"] = NOT_INDEXED_0004
    return module


def _replace_triggers(m0003: ModuleType, revision: str) -> None:
    for name in m0003.triggers(revision):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    m0003.create_triggers(revision)


def upgrade() -> None:
    # A plain ALTER TABLE ADD COLUMN: a batch (copy and rename) would drop the triggers.
    op.add_column("media_items", sa.Column("reviewed_caption_id", sa.Integer(), nullable=True))
    _replace_triggers(_revision_0003(), "0004")


def downgrade() -> None:
    m0003 = _revision_0003()
    for name in m0003.triggers("0004"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("ALTER TABLE media_items DROP COLUMN reviewed_caption_id")
    # 0003 knows no 'removed': such items are ordinary items again, back in the index.
    indexed = m0003.INDEXED["0003"]
    op.execute("UPDATE media_items SET state = 'ok' WHERE state = 'removed'")
    m0003.create_triggers("0003")
    op.execute(m0003.item_rows("m.id NOT IN (SELECT rowid FROM search_index)", indexed))
    op.execute(m0003.moment_rows("-k.id NOT IN (SELECT rowid FROM search_index)", indexed))
