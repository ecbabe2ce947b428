"""Full-text search index over current captions, tags, moments and file names.

One FTS5 table holds a row per item (rowid = item id: its current caption and
tags, file name and folder) and a row per captioned video moment
(rowid = -keyframe id: that keyframe's current caption). Triggers keep it in step
with every write to items, captions and keyframes, whichever process makes it, so
the index cannot drift from the tables. The "current" caption is the newest user
caption, else the newest model caption (newest = highest id: the order of insertion).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CURRENT_CAPTION = """(SELECT id FROM captions
    WHERE item_id = {item} AND keyframe_id IS {keyframe}
    ORDER BY source = 'user' DESC, id DESC LIMIT 1)"""
TAG_TEXT = "coalesce((SELECT group_concat(value, ' ') FROM json_each(c.tags)), '')"


def item_rows(item_filter: str) -> str:
    """SQL inserting the item rows of the items matching `item_filter` (alias m)."""
    current = CURRENT_CAPTION.format(item="m.id", keyframe="NULL")
    return f"""
    INSERT INTO search_index(rowid, caption, tags, name, folder, item_id, keyframe_id, source)
        SELECT m.id, coalesce(c.text, ''), {TAG_TEXT}, m.name, m.folder, m.id, NULL,
               coalesce(c.source, '')
        FROM media_items m LEFT JOIN captions c ON c.id = {current}
        WHERE {item_filter} AND m.state != 'missing';
    """


def moment_rows(keyframe_filter: str) -> str:
    """SQL inserting the moment rows of captioned keyframes matching `keyframe_filter` (k)."""
    current = CURRENT_CAPTION.format(item="k.item_id", keyframe="k.id")
    return f"""
    INSERT INTO search_index(rowid, caption, tags, name, folder, item_id, keyframe_id, source)
        SELECT -k.id, c.text, {TAG_TEXT}, '', '', k.item_id, k.id, c.source
        FROM keyframes k
        JOIN media_items m ON m.id = k.item_id
        JOIN captions c ON c.id = {current}
        WHERE {keyframe_filter} AND m.state != 'missing';
    """


def item_refresh(item_id: str) -> str:
    """SQL that rewrites the item row of `item_id` (missing files are not searchable)."""
    return f"DELETE FROM search_index WHERE rowid = {item_id}; {item_rows(f'm.id = {item_id}')}"


def moments_refresh(keyframe_filter: str) -> str:
    """SQL that rewrites the moment rows of the keyframes matching `keyframe_filter`."""
    return (
        "DELETE FROM search_index WHERE rowid IN "
        f"(SELECT -k.id FROM keyframes k WHERE {keyframe_filter}); " + moment_rows(keyframe_filter)
    )


TRIGGERS = {
    "search_item_insert": f"AFTER INSERT ON media_items BEGIN {item_refresh('NEW.id')} END",
    "search_item_update": f"""AFTER UPDATE OF name, folder, state ON media_items
        WHEN OLD.name IS NOT NEW.name OR OLD.folder IS NOT NEW.folder
          OR (OLD.state = 'missing') != (NEW.state = 'missing')
        BEGIN {item_refresh("NEW.id")} {moments_refresh("k.item_id = NEW.id")} END""",
    # Moment rows go with their keyframes, which the foreign key cascades delete.
    "search_item_delete": """AFTER DELETE ON media_items BEGIN
        DELETE FROM search_index WHERE rowid = OLD.id;
        END""",
    "search_caption_insert": f"""AFTER INSERT ON captions WHEN NEW.keyframe_id IS NULL
        BEGIN {item_refresh("NEW.item_id")} END""",
    "search_moment_caption_insert": f"""AFTER INSERT ON captions
        WHEN NEW.keyframe_id IS NOT NULL
        BEGIN {moments_refresh("k.id = NEW.keyframe_id")} END""",
    "search_caption_delete": f"""AFTER DELETE ON captions WHEN OLD.keyframe_id IS NULL
        BEGIN {item_refresh("OLD.item_id")} END""",
    "search_moment_caption_delete": f"""AFTER DELETE ON captions
        WHEN OLD.keyframe_id IS NOT NULL
        BEGIN {moments_refresh("k.id = OLD.keyframe_id")} END""",
    "search_keyframe_delete": """AFTER DELETE ON keyframes BEGIN
        DELETE FROM search_index WHERE rowid = -OLD.id;
        END""",
}


def upgrade() -> None:
    # porter: "dogs" finds "dog"; remove_diacritics: "cafe" finds "café";
    # prefix indexes keep as-you-type prefix queries fast.
    op.execute(
        """
        CREATE VIRTUAL TABLE search_index USING fts5(
            caption, tags, name, folder,
            item_id UNINDEXED, keyframe_id UNINDEXED, source UNINDEXED,
            tokenize = 'porter unicode61 remove_diacritics 2',
            prefix = '2 3'
        )
        """
    )
    for name, body in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")
    # Index what an older library already holds.
    op.execute(item_rows("1"))
    op.execute(moment_rows("1"))


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    op.execute("DROP TABLE search_index")
