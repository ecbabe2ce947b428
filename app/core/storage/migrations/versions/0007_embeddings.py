"""Caption vectors for search by meaning (issue 14).

1. `embedding_models`: each text-embedding model whose vectors the library holds,
   by the model's identity (`model_key`: file name, size and a hash of its start), with
   its dimension and a state: 'filling' while the worker embeds the library with it,
   'ready' once every index row has its vector (searches use the ready model, so
   the old vectors keep answering while a new model fills), 'retired' when replaced.
2. `embeddings`: one vector per search index row (`row_key`: the item id, or minus
   the keyframe id for a video moment, as search_index's rowid) and model: the
   L2-normalised float16 vector, its sign bits (`code`, what the in-memory index
   scans), a hash of the text embedded (a re-queued row whose text did not change is
   not embedded again) and `seq`, which grows with every write, so a searcher loads
   only what changed since it last looked.
3. `embedding_pending`: rows whose text changed since they were embedded, filled by
   triggers on captions (a new caption, an edit, an undo or restore, a deletion) in the
   writer's own transaction, so nothing is lost if the worker is killed: it deletes a
   pending row only after storing its vector, and only if it was not queued again
   meanwhile (same `seq`). Deleting an item or a keyframe deletes its vectors.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The pending row of an index row, queued again with a newer seq if already there.
QUEUE = """INSERT OR REPLACE INTO embedding_pending(row_key, seq) VALUES ({key},
    coalesce((SELECT max(seq) FROM embedding_pending), 0) + 1);"""
ROW_OF_CAPTION = "CASE WHEN {c}.keyframe_id IS NULL THEN {c}.item_id ELSE -{c}.keyframe_id END"

TRIGGERS = {
    "embedding_caption_insert": f"""AFTER INSERT ON captions BEGIN
        {QUEUE.format(key=ROW_OF_CAPTION.format(c="NEW"))} END""",
    "embedding_caption_delete": f"""AFTER DELETE ON captions BEGIN
        {QUEUE.format(key=ROW_OF_CAPTION.format(c="OLD"))} END""",
    "embedding_item_delete": """AFTER DELETE ON media_items BEGIN
        DELETE FROM embeddings WHERE row_key = OLD.id;
        DELETE FROM embedding_pending WHERE row_key = OLD.id; END""",
    "embedding_keyframe_delete": """AFTER DELETE ON keyframes BEGIN
        DELETE FROM embeddings WHERE row_key = -OLD.id;
        DELETE FROM embedding_pending WHERE row_key = -OLD.id; END""",
}


def upgrade() -> None:
    op.execute(
        """CREATE TABLE embedding_models (
            id INTEGER NOT NULL PRIMARY KEY,
            model_key TEXT NOT NULL,
            label TEXT NOT NULL,
            path BLOB NOT NULL,
            query_prefix TEXT NOT NULL,
            dimension INTEGER NOT NULL,
            state TEXT NOT NULL,
            created_at FLOAT NOT NULL,
            CONSTRAINT uq_embedding_models_model_key UNIQUE (model_key)
        )"""
    )
    op.execute(
        """CREATE TABLE embeddings (
            id INTEGER NOT NULL PRIMARY KEY,
            model INTEGER NOT NULL REFERENCES embedding_models (id) ON DELETE CASCADE,
            row_key INTEGER NOT NULL,
            text_hash BLOB NOT NULL,
            vector BLOB NOT NULL,
            code BLOB NOT NULL,
            seq INTEGER NOT NULL,
            CONSTRAINT uq_embeddings_row_key_model UNIQUE (row_key, model)
        )"""
    )
    op.execute("CREATE INDEX ix_embeddings_model_seq ON embeddings (model, seq)")
    op.execute(
        """CREATE TABLE embedding_pending (
            row_key INTEGER NOT NULL PRIMARY KEY,
            seq INTEGER NOT NULL
        )"""
    )
    op.execute("CREATE INDEX ix_embedding_pending_seq ON embedding_pending (seq)")
    for name, body in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE embedding_pending")
    op.execute("DROP TABLE embeddings")
    op.execute("DROP TABLE embedding_models")
